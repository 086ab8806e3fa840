"""The local Dagster instance: created with the project's dagster.yaml, found by dg through the checkout's .env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from yts_pipeline.cli.dg_env import point_dg_at_default_instance
from yts_pipeline.cli.instance import local_dagster_home, prepare_local_instance


@pytest.fixture
def default_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither DAGSTER_HOME nor YTS_DATA_DIR set, as for a new user; HOME points at a scratch folder."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("YTS_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    return tmp_path


def checkout(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.dg]\ndirectory_type = "project"\n')
    return folder


def test_the_instance_is_created_with_the_projects_dagster_yaml(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    before = dict(os.environ)
    home = prepare_local_instance()
    assert home == tmp_path / "home" and dict(os.environ) == before  # no setting written as a side effect
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["nux"] == {"enabled": False} and config["telemetry"] == {"enabled": False}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_local_instance()
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"  # a user's own is kept


def test_the_default_home_lives_in_the_data_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("YTS_DATA_DIR", str(tmp_path / "data"))
    assert local_dagster_home() == tmp_path / "data" / "dagster_home"


def test_dg_is_pointed_at_the_default_instance(default_settings: Path) -> None:
    project = checkout(default_settings / "project")
    home = local_dagster_home()
    env_file = point_dg_at_default_instance(home, project)
    assert env_file == project / ".env"
    assert dotenv_values(env_file) == {"DAGSTER_HOME": str(home)}
    assert point_dg_at_default_instance(home, project) is None  # written once
    os.environ["DAGSTER_HOME"] = "/elsewhere"  # an exported DAGSTER_HOME still wins for dg
    try:
        assert dotenv_values(env_file) == {"DAGSTER_HOME": "/elsewhere"}
    finally:
        del os.environ["DAGSTER_HOME"]


def test_a_users_own_env_file_is_left_alone(default_settings: Path) -> None:
    project = checkout(default_settings / "project")
    (project / ".env").write_text("export DAGSTER_HOME=/srv/dagster\nYTS_API_URL=http://127.0.0.1:8000/api/v2/\n")
    assert point_dg_at_default_instance(local_dagster_home(), project) is None
    assert dotenv_values(project / ".env")["DAGSTER_HOME"] == "/srv/dagster"
    other = checkout(default_settings / "other")
    (other / ".env").write_text("YTS_REQUESTS_PER_SECOND=0\n")
    point_dg_at_default_instance(local_dagster_home(), other)
    assert dotenv_values(other / ".env") == {"YTS_REQUESTS_PER_SECOND": "0", "DAGSTER_HOME": str(local_dagster_home())}


def test_an_explicit_setting_is_not_written(default_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = checkout(default_settings / "project")
    monkeypatch.setenv("YTS_DATA_DIR", str(default_settings / "data"))
    assert point_dg_at_default_instance(local_dagster_home(), project) is None
    assert not (project / ".env").exists()


def test_the_local_run_queue_dequeues_every_second(monkeypatch, tmp_path: Path) -> None:
    """A click on Materialize waits for the queue's next pass: 1 s, not Dagster's default 5 s."""
    from yts_pipeline.cli.instance import open_instance

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with open_instance(prepare_local_instance()) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 3  # not ~60 processes
