"""The code location loads, and its sensor and schedules ask for the runs they should, against the replay API.

The daemon evaluates these in production; here they are evaluated directly on a real instance
after real syncs, so their decisions are checked against what the instance and the database hold.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
from sqlalchemy import select

from yts_pipeline.cli.instance import local_dagster_yaml
from yts_pipeline.cli.sync import run_sync
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie, MovieCast
from yts_pipeline.definitions import defs as load_definitions
from yts_pipeline.defs.automation import daily_incremental_sync, page_discovery_sensor, weekly_full_sync
from yts_pipeline.defs.page_runs import RANGE_END_TAG, RANGE_START_TAG, range_tags
from yts_pipeline.defs.partitions import PAGES
from yts_pipeline_tests.support.ticks import schedule_context, sensor_context

DG = str(Path(sys.executable).with_name("dg"))
CHECKOUT = Path(__file__).resolve().parents[2]
defs = load_definitions()


def sync() -> None:
    run_sync(out=io.StringIO(), skip_embeddings=True)


def ranges(run_requests: list[dg.RunRequest]) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in run_requests]


def dg_command(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    """``dg`` as a user runs it: in the checkout, with the project's venv active."""
    return subprocess.run(
        [DG, *args],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DAGSTER_HOME": str(home), "VIRTUAL_ENV": sys.prefix, **env},
    )


def local_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    return home


def test_dg_checks_and_lists_the_code_location(tmp_path: Path) -> None:
    home = local_home(tmp_path)
    checked = dg_command("check", "defs", home=home)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = dg_command("list", "defs", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assets = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert assets == {
        "raw_list_pages",
        "movies",
        "movie_details",
        "movie_embeddings",
        "movie_neighbours",
        "catalog_sweep",
    }


def test_definitions_load_with_their_jobs_schedules_and_sensor() -> None:
    dg.Definitions.validate_loadable(defs)
    assert {job.name for job in defs.resolve_all_job_defs()} >= {
        "sync_pages",
        "sync_pages_without_embeddings",
        "list_pass",
        "details_pass",
        "sweep_removed_movies",
    }
    assert defs.resolve_schedule_def("daily_incremental_sync").cron_schedule == "0 3 * * *"
    assert defs.resolve_schedule_def("daily_integrity_checks").job_name == "integrity_checks"
    assert defs.resolve_sensor_def("page_discovery_sensor").job_name == "sync_pages"


def test_discovery_sensor_adds_new_pages_once(pipeline_env) -> None:
    with dg.DagsterInstance.get() as instance:
        with sensor_context(instance) as context:
            result = page_discovery_sensor(context)
        # Registered by the tick itself (under the lock sync takes), not left to the daemon as a request.
        assert instance.get_dynamic_partitions(PAGES.name) == ["00001", "00002", "00003"]
        assert not result.dynamic_partitions_requests
        assert ranges(result.run_requests) == [("00001", "00003")]

        with sensor_context(instance) as context:
            again = page_discovery_sensor(context)
        assert not again.run_requests and not again.dynamic_partitions_requests
        assert again.skip_reason is not None


def test_schedules_after_the_catalog_grows_by_a_page(pipeline_env, replay_server) -> None:
    sync()
    replay_server.catalog.add_movies(50)  # 170 movies: page 4 appears
    with dg.DagsterInstance.get() as instance:
        with schedule_context(instance) as context:
            daily = daily_incremental_sync(context)
        assert ranges(daily) == [("00003", "00004")]  # the last stored page and the new one
        assert instance.get_dynamic_partitions(PAGES.name) == ["00001", "00002", "00003", "00004"]
        with schedule_context(instance) as context:
            weekly = weekly_full_sync(context)
        assert [r.tags for r in weekly] == [{**range_tags("00001", "00004"), "yts/reason": "weekly full sync"}]


def test_daily_sync_includes_pages_whose_details_never_ran(pipeline_env, replay_server) -> None:
    sync()
    replay_server.catalog.add_movies(100)  # pages 4 and 5
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(PAGES.name, ["00004"])
        # Page 4 got the fast list pass only: raw page and movies, no movie_details.
        fast_pass = defs.resolve_job_def("list_pass")
        assert fast_pass.execute_in_process(instance=instance, partition_key="00004").success
        with schedule_context(instance) as context:
            requests = daily_incremental_sync(context)
    # Last stored page 3, unfinished page 4, new page 5: one run. Without page 4 it would be two.
    assert ranges(requests) == [("00003", "00005")]


def test_dg_launch_stores_a_page_on_the_instance_of_a_headless_sync(
    tmp_path: Path, database_url: str, replay_server
) -> None:
    home = local_home(tmp_path)
    env = {"DATABASE_URL": database_url, "YTS_API_URL": replay_server.base_url, "YTS_REQUESTS_PER_SECOND": "0"}
    synced = subprocess.run(
        [str(Path(sys.executable).with_name("yts-pipeline")), "sync", "--pages", "1-1", "--skip-embeddings"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DAGSTER_HOME": str(home), **env},
    )
    assert synced.returncode == 0, synced.stderr
    launched = dg_command(
        "launch", "--assets", "raw_list_pages,movies,movie_details", "--partition", "00002", home=home, **env
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    page_two = replay_server.catalog.ids()[50:100]
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            detailed = session.scalars(
                select(Movie.external_id).where(Movie.external_id.in_(page_two), Movie.details_fetched_at.isnot(None))
            ).all()
            with_cast = session.scalars(
                select(Movie.external_id)
                .join(MovieCast, MovieCast.movie_id == Movie.id)
                .where(Movie.external_id.in_(page_two))
                .distinct()
            ).all()
    finally:
        db.close_all()
    assert sorted(detailed) == sorted(page_two)
    assert with_cast and set(with_cast) <= set(page_two)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the same instance the sync used
        assert sorted(instance.get_materialized_partitions(dg.AssetKey("movie_details"))) == ["00001", "00002"]


def test_the_assets_the_daily_sync_keeps_fresh_warn_when_it_has_not_run() -> None:
    """A daily run keeps them fresh (warned after a day and an hour); a sync that did not run shows as late."""
    schedule = defs.resolve_schedule_def("daily_incremental_sync")
    kept_fresh = defs.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys
    policies = {spec.key: spec.freshness_policy for spec in defs.resolve_all_asset_specs()}
    assert {key for key, policy in policies.items() if policy is not None} == set(kept_fresh)
    for key in kept_fresh:
        policy = policies[key]
        assert timedelta(hours=24) < policy.warn_window.to_timedelta() <= timedelta(hours=26), key
        assert policy.fail_window.to_timedelta() > policy.warn_window.to_timedelta(), key
