"""The Dagster internals the project builds on, named: a Dagster upgrade that moves or changes one fails here.

Only two modules reach into ``dagster._core``, each because no public API serves: the local
instance's SQLite storage (``cli/sqlite_storage.py``) and the production run launcher
(``cli/run_launcher.py``). Their behaviour is tested in test_sqlite_storage.py and
integration/test_run_launcher.py; this test says which name or hook broke.
"""

from __future__ import annotations

import inspect

from dagster import DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)


def test_the_sqlite_storage_hooks_the_pooled_storage_overrides_are_dagsters() -> None:
    assert list(inspect.signature(DagsterSqliteStorage.__init__).parameters) == ["self", "base_dir", "inst_data"]
    init = inspect.getsource(DagsterSqliteStorage.__init__)
    for attribute in ("self._run_storage", "self._event_log_storage", "self._schedule_storage", "self._inst_data"):
        assert attribute in init, attribute  # what PooledSqliteStorage.__init__ sets in its place
    assert [f("/x") for f in (_runs_directory, _event_logs_directory, _schedule_directory)] == [
        "/x/history/",
        "/x/history/runs/",
        "/x/schedules",
    ]
    for storage in (SqliteRunStorage, SqliteScheduleStorage):
        assert "self._conn_string" in inspect.getsource(storage.connect) and callable(storage.from_local)
    assert list(inspect.signature(SqliteEventLogStorage._connect).parameters) == ["self", "shard"]
    event_log = inspect.getsource(SqliteEventLogStorage)
    for hook in (
        "self._db_lock",
        "self._initialized_dbs",
        "def _initdb(",
        "def conn_string_for_shard(",
        "def has_table(",
    ):
        assert hook in event_log, hook


def test_the_run_launcher_hooks_are_dagsters() -> None:
    assert {"RUNNING", "FAILED"} <= {status.name for status in WorkerStatus}
    assert list(inspect.signature(CheckRunHealthResult).parameters)[:2] == ["status", "msg"]
    assert "dagster_run" in inspect.signature(LaunchRunContext).parameters
    assert callable(DefaultRunLauncher.launch_run) and "supports_check_run_worker_health" in dir(DefaultRunLauncher)
    assert "check_run_worker_health" in dir(DefaultRunLauncher) and "remote_job_origin" in dir(DagsterRun)
    assert inspect.isclass(ManagedGrpcPythonEnvCodeLocationOrigin)
