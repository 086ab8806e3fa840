"""The UI path end to end: ``dagster-webserver`` and ``dagster-daemon`` as their own processes, a
partition backfill launched through GraphQL the way the UI launches it, and the daemon running it
against the replay API into a real Postgres.

The in-process tests never exercise what only the deployed processes do: load the code location
from ``workspace.yaml``, read EnvVar resources from the process environment, apply the backfill policy, queue,
launch and finish runs. This test does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select

from yts_pipeline.cli.instance import local_dagster_yaml
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie
from yts_pipeline_tests.e2e.services import (
    HOST,
    SUCCEEDED,
    Services,
    launch_backfill,
    listening_addresses,
    run_failures,
    wait_for_backfills,
    wait_for_webserver,
)

pytestmark = pytest.mark.e2e

PAGES = ["00001", "00002"]
MOVIES_PER_PAGE = 50
# The run takes 30-60 s on two quiet cores (each of its 7 steps starts a Python process) and the backfill
# daemon looks every 30 s, so COMPLETED comes 60-90 s after the launch; on this shared host under load
# it took over 150 s. The wait is a poll: it ends as soon as the backfill does.
BACKFILL_TIMEOUT = 900


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh instance with the project's own dagster.yaml (SQLite storage, the yts_api pool limit)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def services(tmp_path: Path, dagster_home: Path, database_url: str, replay_server) -> Iterator[Services]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "DATABASE_URL": database_url,
        "YTS_API_URL": replay_server.base_url,
        "YTS_REQUESTS_PER_SECOND": "0",
    }
    services = Services(env, tmp_path)
    yield services
    services.close()


@pytest.mark.timeout(BACKFILL_TIMEOUT + 300)
def test_backfill_launched_through_graphql_syncs_its_pages(services, dagster_home, database_url, replay_server) -> None:
    webserver, port = services.webserver()
    wait_for_webserver(webserver, port)
    assert listening_addresses(webserver.process, port) == {HOST}

    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("pages", PAGES)
        backfill_id = launch_backfill(port, PAGES)
        # The backfill daemon wakes every 30 s and handles a backfill on its first pass, so starting it
        # after the launch saves one whole interval.
        daemon = services.daemon()
        [backfill] = wait_for_backfills(port, [backfill_id], [webserver, daemon], BACKFILL_TIMEOUT)
        if backfill.get("status") not in SUCCEEDED:
            pytest.fail(
                f"backfill not completed successfully (waited <= {BACKFILL_TIMEOUT} s): {backfill}\n"
                f"{run_failures(instance)}\n{webserver.tail()}\n{daemon.tail()}"
            )
        runs = instance.get_runs()

    assert backfill["numPartitions"] == len(PAGES)
    assert len(runs) == 1, "multi_run(25) puts both pages in one run"
    assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]
    assert sorted(replay_server.list_calls) == [1, 2]
    expected = replay_server.catalog.ids()[: len(PAGES) * MOVIES_PER_PAGE]
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            stored = dict(session.execute(select(Movie.external_id, Movie.details_fetched_at)).all())
    finally:
        db.close_all()
    assert sorted(stored) == sorted(expected)
    assert all(fetched is not None for fetched in stored.values())
    assert sorted(replay_server.details_calls) == sorted(expected)
    assert set(replay_server.details_calls.values()) == {1}

    for service in (daemon, webserver):
        assert service.terminate() == 0, service.tail()
        assert service.session_processes() == []
