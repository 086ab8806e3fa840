"""The local Dagster instance (``DAGSTER_HOME``): created on first use with the project's dagster.yaml."""

from __future__ import annotations

import os
from pathlib import Path

from yts_pipeline.settings import DatabaseSettings

LOCAL_DAGSTER_YAML = """\
# Local instance for yts_pipeline (SQLite run and event storage under this folder).
# For production (dagster-postgres storage, run retries) see deploy/dagster.yaml in the repository.
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    default_limit: 1  # the yts_api pool: one API-calling step at a time across all runs
"""


def dagster_home() -> Path:
    """``DAGSTER_HOME`` when set, else ``<YTS_DATA_DIR>/dagster_home``; created with a dagster.yaml if new."""
    home = Path(os.environ.get("DAGSTER_HOME") or DatabaseSettings.from_env().data_dir / "dagster_home")
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
