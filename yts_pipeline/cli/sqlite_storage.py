"""Dagster's SQLite storage with one engine per database file, kept for the process.

Dagster's own SQLite storages make a new SQLAlchemy engine for every query and every stored event
(``poolclass=NullPool``): each is a new connection, SQLite's first-connect checks, and every
statement compiled again, about 1 ms before the query itself. A sync stores thousands of events and
asks the instance for the page partitions on every page. These subclasses only keep each file's
engine (a small pool of open connections, and its compiled-statement cache); the files, tables and
locking are Dagster's, so the UI, the daemon and a plain Dagster instance read them as before.
``storage: custom`` in the local instance's dagster.yaml selects it (``yts_pipeline/cli/instance.py``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Dagster has no public API for storage: a custom one subclasses its SQLite classes, which live only in
# dagster._core (unit/test_dagster_internals.py fails when a name or hook used here changes).
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30  # Dagster's own: how long a write waits for another process's lock
KEPT_ENGINES = 16  # the index, runs and schedules files, and the event files of the latest runs


class _Engines:
    """The engine of each SQLite URL, made on first use; the least recently used go past ``KEPT_ENGINES``."""

    def __init__(self) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, url: str) -> Engine:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's connections are not its own
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(url)
            if engine is None:
                engine = self._engines[url] = create_engine(
                    url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
                )
                event.listen(engine, "checkout", _commit_without_fsync_in_wal)
                while len(self._engines) > KEPT_ENGINES:
                    self._engines.popitem(last=False)[1].dispose()
            self._engines.move_to_end(url)
            return engine


def _commit_without_fsync_in_wal(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A WAL file's commits skip the fsync (``synchronous=NORMAL``), in every process of the instance.

    A UI run stores ~50 events a page step, each a commit that Dagster's ``synchronous=FULL`` fsyncs.
    In WAL mode NORMAL loses nothing committed when a process is killed, and at worst the last
    commits, never the database, on a power cut: what ``sync`` already accepted (sqlite_tuning.py).
    Checked at checkout, not connect: Dagster turns a new file to WAL on a connection already open.
    """
    if not record.info.get("normal") and dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        record.info["normal"] = True


ENGINES = _Engines()


@contextmanager
def _transaction(url: str) -> Iterator[Connection]:
    with ENGINES.get(url).connect() as conn, conn.begin():
        yield conn


class PooledSqliteRunStorage(SqliteRunStorage):
    def connect(self) -> Iterator[Connection]:
        return _transaction(self._conn_string)


class PooledSqliteScheduleStorage(SqliteScheduleStorage):
    def connect(self) -> Iterator[Connection]:
        return _transaction(self._conn_string)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Run-sharded event files and the index file as Dagster keeps them; their engines kept."""

    def __init__(self, base_dir: str, inst_data: Any = None):
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            url = self.conn_string_for_shard(shard)
            if shard not in self._initialized_dbs:
                self._initdb(ENGINES.get(url))
                self._initialized_dbs.add(shard)
            with _transaction(url) as conn:
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Asked for every stored asset event; a table once there stays (migrations only add them)."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage under ``base_dir`` (the same files as ``storage: sqlite``), engines kept."""

    def __init__(self, base_dir: str, inst_data: Any = None):  # DagsterSqliteStorage's, with the classes above
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict[str, str]) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
