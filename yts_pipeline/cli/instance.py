"""The local Dagster instance (``DAGSTER_HOME``): created on first use with the project's dagster.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from yts_pipeline.settings import DagsterSettings

if TYPE_CHECKING:
    import dagster as dg

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
  # A backfill of the whole catalog queues ~60 runs at once. Unlimited, each would start its own
  # process (Dagster, the project, for embeddings the model: ~0.7 GB each) on two cores to wait for
  # the one API slot; three keep the API busy while the other runs save or embed.
  runs:
    max_concurrent_runs: 3
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
    return DagsterSettings.from_env().home


def prepare_local_instance() -> Path:
    """Create the local instance's folder with the project's dagster.yaml (kept if there is one already)."""
    from yts_pipeline.defs.partitions import LOCK_FILE

    settings = DagsterSettings.from_env()
    home, setting = settings.home, settings.chosen_by or "YTS_DATA_DIR"
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text(local_dagster_yaml(home))
        (home / LOCK_FILE).touch()  # proves the folder is writable, before Dagster's SQLite finds out
    except OSError as exc:
        raise InstanceError(
            f"cannot set up the Dagster instance in {home}: {exc.strerror}. Set {setting} to a folder you can write."
        ) from None
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance stored in ``home`` (without reading or changing ``DAGSTER_HOME`` of this process)."""
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))
