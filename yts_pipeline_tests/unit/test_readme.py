"""The README keeps its promises: every ``yts-pipeline`` command and ``make`` target it names exists, every
example command line in it parses, every relative path and link it names resolves in the checkout, and it
stays a screen or two (at most 150 lines). Commands are checked in-process through the CLI's own parser,
so the test is fast and never starts a server or a database."""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from yts_pipeline.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 150

COMMENT = re.compile(r"<!--.*?-->", re.S)
FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.I)
PROGRAM = re.compile(r"(?:^|(?<=[\s/(]))yts-pipeline(?=\s|$)")
MAKE = re.compile(r"(?:^|(?<=\s))make\s+(.*)")
SHELL_BREAK = re.compile(r"\s(?:#|\||&&|;)|;")
PATH_TOKEN = re.compile(r"[\w.~$*{}/-]+")
FILE_SUFFIXES = (".md", ".py", ".png", ".yaml", ".yml", ".toml", ".sql", ".cfg", ".txt", ".json", ".html", ".sh")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z0-9][\w.-]*(?:[ \t]+[A-Za-z0-9][\w.-]*)*)[ \t]*:(?!=)", re.M)


def split_code(text: str) -> tuple[list[str], list[str]]:
    """The README's fenced code blocks and its inline code spans (HTML comments left out)."""
    text = COMMENT.sub("", text)
    blocks = FENCED.findall(text)
    spans = INLINE.findall(FENCED.sub("", text))
    return blocks, spans


def _words(rest: str) -> list[str]:
    rest = SHELL_BREAK.split(rest, maxsplit=1)[0]
    try:
        return shlex.split(rest)
    except ValueError:  # an unbalanced quote in prose-like code: plain words will do
        return rest.split()


def command_lines(code: str) -> Iterator[list[str]]:
    """Each ``yts-pipeline ...`` invocation in ``code``: its arguments, up to a comment, pipe or ``&&``."""
    for line in code.splitlines():
        for found in PROGRAM.finditer(line):
            yield _words(line[found.end() :])


def subcommand(argv: list[str]) -> str | None:
    """The subcommand of an argument list (global options such as ``-v`` come first); None when bare."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def make_targets(code: str) -> Iterator[str]:
    """The target of each ``make ...`` in ``code`` (options and ``VAR=value`` skipped)."""
    for line in code.splitlines():
        for found in MAKE.finditer(line):
            words = _words(found.group(1))
            target = next((w for w in words if not w.startswith("-") and "=" not in w), None)
            if target is not None:
                yield target


def named_paths(code: str) -> Iterator[str]:
    """Relative paths named in ``code``: words with a slash or a file suffix, not URLs, absolute paths,
    URL routes (``/api/...``), variables or templates."""
    for token in PATH_TOKEN.findall(URL.sub(" ", code)):
        token = token.rstrip(".,")
        if not token or token[0] in "/~$-" or "{" in token or "$" in token:
            continue
        if "/" in token or token.lower().endswith(FILE_SUFFIXES):
            yield token


def link_targets(text: str) -> Iterator[str]:
    """Relative targets of Markdown links and images, without their ``#anchor``."""
    for target in LINK.findall(COMMENT.sub("", text)):
        if URL.match(target) or target.startswith(("#", "mailto:")):
            continue
        yield target.split("#", 1)[0]


def unresolved(paths: Iterator[str], root: Path) -> list[str]:
    """The paths that name nothing in the checkout at ``root`` (a glob must match something)."""
    missing = []
    for path in dict.fromkeys(paths):
        if path.startswith(("../", ".venv/", "dagster/")):
            continue  # outside the checkout (the shared samples), made by `make` (the virtualenv), a Dagster tag
        exists = glob.glob(str(root / path)) if "*" in path else (root / path).exists()
        if not exists:
            missing.append(path)
    return missing


def help_exit_status(parser: argparse.ArgumentParser, command: str) -> int:
    """What ``yts-pipeline <command> --help`` exits with, run through the parser in this process."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            parser.parse_args([command, "--help"])
        except SystemExit as exit_:
            return 0 if exit_.code is None else int(exit_.code)
    return 0


def parse_error(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """argparse's complaint about a command line, or None when it parses."""
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        try:
            parser.parse_args(argv)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                return stderr.getvalue().strip().splitlines()[-1]
    return None


def makefile_targets(makefile: Path) -> set[str]:
    return {name for names in MAKEFILE_TARGET.findall(makefile.read_text()) for name in names.split()}


def unknown_commands(text: str, parser: argparse.ArgumentParser) -> list[str]:
    blocks, spans = split_code(text)
    commands = {subcommand(argv) for code in blocks + spans for argv in command_lines(code)} - {None}
    return sorted(
        f"yts-pipeline {c} --help exits {status}" for c in commands if (status := help_exit_status(parser, c)) != 0
    )


def bad_example_lines(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """Whole command lines of the fenced examples that the parser refuses (an option renamed, say)."""
    blocks, _ = split_code(text)
    return [
        f"yts-pipeline {shlex.join(argv)}: {error}"
        for code in blocks
        for argv in command_lines(code)
        if argv and (error := parse_error(parser, argv)) is not None
    ]


def unknown_make_targets(text: str, targets: set[str]) -> list[str]:
    blocks, spans = split_code(text)
    named = {target for code in blocks + spans for target in make_targets(code)}
    return sorted(f"make {target}" for target in named - targets)


def missing_paths(text: str, root: Path) -> list[str]:
    blocks, spans = split_code(text)
    named = [path for code in blocks + spans for path in named_paths(code)]
    return unresolved(iter(named + list(link_targets(text))), root)


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


def test_the_readme_is_a_screen_or_two(readme: str) -> None:
    lines = len(readme.splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; keep it to {MAX_LINES} and move detail to docs/"


def test_every_yts_pipeline_command_it_names_exists(readme: str, parser: argparse.ArgumentParser) -> None:
    blocks, spans = split_code(readme)
    assert any(True for code in blocks + spans for _ in command_lines(code)), "no yts-pipeline command found"
    assert unknown_commands(readme, parser) == []


def test_every_example_command_line_parses(readme: str, parser: argparse.ArgumentParser) -> None:
    assert bad_example_lines(readme, parser) == []


def test_every_make_target_it_names_exists(readme: str) -> None:
    targets = makefile_targets(ROOT / "Makefile")
    blocks, spans = split_code(readme)
    named = {target for code in blocks + spans for target in make_targets(code)}
    assert {"run", "test"} <= named, "the README names the two commands, `make run` and `make test` (CI runs it)"
    assert unknown_make_targets(readme, targets) == []


def test_every_path_and_link_it_names_resolves(readme: str) -> None:
    assert missing_paths(readme, ROOT) == []


def test_the_checks_catch_what_is_missing(parser: argparse.ArgumentParser, tmp_path: Path) -> None:
    """A README naming a command, a target, a path and an image that do not exist fails each check."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("")
    text = "\n".join(
        [
            "```bash",
            "yts-pipeline sync --max-pages 1       # exists",
            "yts-pipeline search --no-such-option x",
            "make run",
            "```",
            "Run `yts-pipeline launch-rockets`, then `make deploy`; read `docs/here.md` and `docs/gone.md`.",
            "![A picture](docs/missing.png) and [a page](docs/here.md#part).",
            "Not paths: `/api/movies/{yts_id}`, `http://127.0.0.1:3000/x`, `$YTS_DATA_DIR/models/`.",
        ]
    )
    assert unknown_commands(text, parser) == ["yts-pipeline launch-rockets --help exits 2"]
    assert [line.split(":")[0] for line in bad_example_lines(text, parser)] == [
        "yts-pipeline search --no-such-option x"
    ]
    assert unknown_make_targets(text, {"run", "test"}) == ["make deploy"]
    assert missing_paths(text, tmp_path) == ["docs/gone.md", "docs/missing.png"]
