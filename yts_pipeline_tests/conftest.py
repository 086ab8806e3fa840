"""Shared fixtures: one real Postgres 18 + pgvector for the session, a fresh database per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from yts_pipeline.cli.instance import local_dagster_yaml
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.samples import SAMPLES_DIR

TEMPLATE = "yts_template"

# A test run started in the background (`nohup make reliability &`, `cmd &` in a script) inherits SIGINT
# ignored, and so would every process a test starts, which then shrugs off the Ctrl-C a test sends it.
# The tests' processes take SIGINT as from a terminal.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ScratchPostgres]:
    server = ScratchPostgres()
    with server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
    DatabaseManager(server.url(TEMPLATE)).close_all()
    yield server
    server.close()


@pytest.fixture
def database_url(postgres: ScratchPostgres) -> Iterator[str]:
    """A fresh database holding the schema (a copy of the session's template)."""
    name = postgres.create_database(TEMPLATE)
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture
def empty_database_url(postgres: ScratchPostgres) -> Iterator[str]:
    """A fresh database with nothing in it, not even the vector extension."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture
def db(database_url: str) -> Iterator[DatabaseManager]:
    manager = DatabaseManager(database_url)
    yield manager
    manager.close_all()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"the shared API samples are missing: expected {SAMPLES_DIR} (../shared beside the clone)")
    return SAMPLES_DIR


TEST_DATA_DIR = Path("/tmp") / f"yts-test-data-{os.getpid()}"
DEVELOPER_SETTINGS = ("DATABASE_URL", "YTS_API_URL", "YTS_REQUESTS_PER_SECOND", "EMBEDDING_MODEL", "EMBEDDING_BACKEND")


@pytest.fixture(scope="session", autouse=True)
def _isolated_session() -> Iterator[None]:
    """Session fixtures (the loaded model, its export) see the test settings too; the export goes at the end."""
    with pytest.MonkeyPatch.context() as patch:
        for name in DEVELOPER_SETTINGS:
            patch.delenv(name, raising=False)
        patch.setenv("YTS_DATA_DIR", str(TEST_DATA_DIR))
        yield
    shutil.rmtree(TEST_DATA_DIR / "models", ignore_errors=True)
    with contextlib.suppress(OSError):
        TEST_DATA_DIR.rmdir()  # unless a test left something else there


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own settings or touches their data dir."""
    for name in DEVELOPER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YTS_DATA_DIR", str(TEST_DATA_DIR))


@pytest.fixture(autouse=True)
def _no_dagster_instance_left_open() -> Iterator[None]:
    """A test leaves Dagster's current defs-state storage as it found it.

    An instance opened and not closed (a schedule context used without ``with``) is closed later by the
    garbage collector, at any line of any later test, and puts back a storage of a dead instance.
    """
    from dagster._core.storage.defs_state.base import DefsStateStorage

    before = DefsStateStorage.get()
    yield
    assert DefsStateStorage.get() is before, "a Dagster instance (or a context that opens one) was left open"


@pytest.fixture
def replay_server() -> Iterator:
    """A replay of the YTS API: 120 synthetic movies (3 pages of 50), no latency, no faults."""
    from yts_pipeline.yts.replay import Catalog, ReplayServer

    with ReplayServer(Catalog.synthetic(120, seed=11), retry_after_seconds=0) as server:
        yield server


@pytest.fixture
def pipeline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, replay_server) -> Path:
    """Environment for in-process runs: the test database, the replay API, a temporary DAGSTER_HOME (the project's
    dagster.yaml)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))  # as `yts-pipeline sync` creates it
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("YTS_API_URL", replay_server.base_url)
    monkeypatch.setenv("YTS_REQUESTS_PER_SECOND", "0")
    monkeypatch.setenv("YTS_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("YTS_MAX_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("YTS_HTTP_TIMEOUT", "2")
    return home
