"""The local Dagster instance (``DAGSTER_HOME``): created on first use with the project's dagster.yaml."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from sqlalchemy import event
from sqlalchemy.engine import Engine

from yts_pipeline.settings import DatabaseSettings

if TYPE_CHECKING:
    import dagster as dg

HOST_TAG, PID_TAG, STARTED_TAG = "yts/host", "yts/pid", "yts/process_started"

_LOCAL_DAGSTER_YAML = """\
# Local instance for yts_pipeline: Dagster's SQLite run and event storage in this folder, each file's
# connections kept open by the process (yts_pipeline/cli/sqlite_storage.py). For production
# (dagster-postgres storage, run retries) see deploy/dagster.yaml in the repository.
storage:
  custom:
    module: yts_pipeline.cli.sqlite_storage
    class: PooledSqliteStorage
    config:
      base_dir: {home}
# Runs wait in Dagster's queue until the daemon dequeues them, every 5 s by default: a click on
# Materialize would wait up to 5 s before its run even starts. Every second costs the daemon one
# cheap query. (The backfill daemon looks at new backfills every 30 s, a constant of Dagster's:
# the README says how to launch a few pages as one run instead.)
run_coordinator:
  module: dagster
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
telemetry:
  enabled: false  # nothing leaves this machine
nux:
  enabled: false  # no "what's new" pop-up over the UI
concurrency:
  pools:
    default_limit: 1  # the yts_api pool: one API-calling step at a time across all runs
"""


def local_dagster_yaml(home: Path) -> str:
    """The project's dagster.yaml for an instance stored in ``home``."""
    return _LOCAL_DAGSTER_YAML.format(home=json.dumps(str(Path(home).resolve())))


class InstanceError(RuntimeError):
    """The local Dagster instance cannot be set up; the message says which setting to change."""


def local_dagster_home() -> Path:
    """``DAGSTER_HOME`` when set, else ``<YTS_DATA_DIR>/dagster_home``."""
    home = os.environ.get("DAGSTER_HOME") or DatabaseSettings.from_env().data_dir / "dagster_home"
    return Path(home).expanduser().resolve()


def prepare_local_instance() -> Path:
    """Create the local instance's folder with the project's dagster.yaml (kept if there is one already)."""
    from yts_pipeline.defs.partitions import LOCK_FILE

    home = local_dagster_home()
    setting = "DAGSTER_HOME" if os.environ.get("DAGSTER_HOME") else "YTS_DATA_DIR"
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text(local_dagster_yaml(home))
        (home / LOCK_FILE).touch()  # proves the folder is writable, before Dagster's SQLite finds out
    except OSError as exc:
        raise InstanceError(f"cannot set up the Dagster instance in {home}: {exc.strerror}. "
                            f"Set {setting} to a folder you can write.") from None
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance stored in ``home`` (without reading or changing ``DAGSTER_HOME`` of this process)."""
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


def project_checkout() -> Path | None:
    """The dg project folder this package runs from (an editable install of the checkout), if any."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    return root if pyproject.is_file() and "[tool.dg]" in pyproject.read_text() else None


def point_dg_at_default_instance(home: Path, checkout: Path | None = None) -> Path | None:
    """Write ``DAGSTER_HOME`` into the checkout's ``.env``, so ``dg dev`` / ``dg launch`` run on this instance.

    dg reads ``.env`` from the folder it runs in before it opens the instance, and the default home is
    an absolute path per user, so it cannot be committed. Only the default (neither ``DAGSTER_HOME``
    nor ``YTS_DATA_DIR`` set) is written, as ``${DAGSTER_HOME:-...}`` so an exported one still wins;
    a ``.env`` that already names DAGSTER_HOME is left alone. Returns the file when it was written.
    """
    checkout = checkout or project_checkout()
    if checkout is None or os.environ.get("DAGSTER_HOME") or os.environ.get("YTS_DATA_DIR"):
        return None
    env_file = checkout / ".env"
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    if any(line.split("=", 1)[0].strip().removeprefix("export ").strip() == "DAGSTER_HOME" for line in lines):
        return None
    lines += ["# The Dagster instance of `yts-pipeline sync` / `ui`, for dg commands (written by yts-pipeline).",
              f"DAGSTER_HOME=${{DAGSTER_HOME:-{home}}}"]
    try:
        env_file.write_text("\n".join(lines) + "\n")
    except OSError:
        return None  # a read-only checkout: dg then needs DAGSTER_HOME exported
    return env_file


@contextmanager
def cheap_sqlite_writes(home: Path) -> Iterator[None]:
    """For its length, Dagster's SQLite files under ``home`` take a stored event in ~0.3 ms, not ~25.

    Dagster opens a new connection for every event it stores and closes it after; the last
    connection to a WAL database to close checkpoints the WAL into the file and deletes it, with
    fsyncs, and each commit is fsynced too (``synchronous=FULL``). So, while a sync runs, each such
    file is held open by one idle connection (the WAL stays, and is checkpointed as SQLite does on
    its own, and once at the end), and its connections commit with ``synchronous=NORMAL``: in WAL
    mode that loses nothing committed when the process is killed, and at worst the last commits,
    never the database, on a power cut. Files not in WAL mode, and every other database, are left
    as they are.
    """
    root, holders, lock = str(home.resolve()), {}, threading.Lock()

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        path = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
        if not path.startswith(root) or dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        with lock:
            if path not in holders:
                holder = holders[path] = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                holder.execute("PRAGMA schema_version").fetchone()  # opens the WAL; holds no transaction

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
        with lock:
            for holder in holders.values():
                holder.close()


def process_tags() -> dict[str, str]:
    """Tags naming the process that runs a run in-process, so another process can tell when it is gone."""
    me = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), STARTED_TAG: f"{me.create_time():.2f}"}


def _still_running(tags: dict[str, str]) -> bool:
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        return abs(process.create_time() - float(tags[STARTED_TAG])) < 1.0  # not a reused pid
    except (KeyError, ValueError, psutil.Error):
        return False


def release_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the in-process runs of this host whose process died (``kill -9``) and free their pool slots.

    A killed sync leaves its run "started" forever, holding the ``yts_api`` pool slot; every later
    run would wait for that slot without end.
    """
    import dagster as dg

    released = []
    runs = instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED], tags={HOST_TAG: socket.gethostname()}))
    for run in runs:
        if _still_running(run.tags):
            continue
        instance.report_run_failed(run, f"the process that ran it (pid {run.tags.get(PID_TAG)}) is gone, "
                                        "probably killed; its pool slots are freed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released
