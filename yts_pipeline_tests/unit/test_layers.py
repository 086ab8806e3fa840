"""The layer rules of docs/architecture.md: the cores import no Dagster and no web framework, imports run one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "yts_pipeline"
CORES = ["yts", "db", "search", "mirror.py", "settings.py"]
FRAMEWORKS = ("dagster", "dagster_webserver", "dagster_postgres", "fastapi", "starlette", "uvicorn", "jinja2")
# What each layer must not import (its own modules, at any depth, lazily or not).
FORBIDDEN = {
    "cores": FRAMEWORKS + ("yts_pipeline.defs", "yts_pipeline.definitions", "yts_pipeline.cli", "yts_pipeline.serve"),
    "defs": ("yts_pipeline.cli", "yts_pipeline.serve", "fastapi", "starlette", "uvicorn"),
    "serve": ("dagster", "yts_pipeline.defs", "yts_pipeline.definitions", "yts_pipeline.cli"),
}


def modules(*parts: str) -> list[Path]:
    found = []
    for part in parts:
        path = PACKAGE / part
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    return found


def imported_names(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names in the file, wherever the statement is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.name} imports {name}"
        for path in paths
        for name in sorted(imported_names(path))
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    ]


@pytest.mark.parametrize("layer, paths", [("cores", CORES), ("defs", ["defs", "definitions.py"]), ("serve", ["serve"])])
def test_imports_run_one_way(layer: str, paths: list[str]) -> None:
    assert violations(modules(*paths), FORBIDDEN[layer]) == []


def test_the_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import json\n\ndef f():\n    from dagster._core import events\n")
    assert violations([bad], FORBIDDEN["cores"]) == ["bad.py imports dagster._core"]


def test_importing_every_core_loads_no_framework() -> None:
    """At run time too: a notebook that uses the cores never pays for (or depends on) Dagster."""
    core_modules = [
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in modules(*CORES)
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
