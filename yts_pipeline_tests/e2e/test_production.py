"""The production configuration end to end: ``deploy/dagster.yaml`` as shipped (Postgres run, event and
schedule storage in a database of its own, the queued run coordinator with ``max_concurrent_runs: 3``,
the ``yts_api`` pool limit 1, run monitoring and retries), ``dagster-daemon`` and ``dagster-webserver``
as separate processes, 12 pages backfilled through GraphQL against the replay API with latency.

What it shows: every page materialized and the mirror equal to what ``sync`` stores; runs queued and
running concurrently while never more than one API-calling step ran at a time (Dagster's step events
and the replay API's request log agree); the runs and events in Postgres, not SQLite, and readable by
a second webserver; the storage password nowhere in what the services show or log.
"""

from __future__ import annotations

import time

import pytest

from yts_pipeline_tests.e2e.production import (
    API_STEPS,
    PAGES,
    PAGES_PER_RUN,
    PG_PASSWORD,
    RETRY_OF,
    Production,
    executions_per_page,
    materialized,
    most_at_once,
    overlapping_pairs,
    production,  # noqa: F401  (fixture)
    queued_seconds,
    reference_sync,  # noqa: F401  (fixture)
    requests_outside_their_step,
    run_pages,
    run_spans,
    sqlite_files,
    step_spans,
    storage_rows,
    unrecovered_runs,
)
from yts_pipeline_tests.e2e.services import SUCCEEDED, graphql, run_failures, wait_for_backfills, wait_for_webserver
from yts_pipeline_tests.reliability.support import assert_same_database, integrity_problems

pytestmark = pytest.mark.e2e

# Four runs of three pages, at most three at once, each of their steps a new Python process on two
# shared cores, and the backfill daemon looking every 30 s: 3-5 minutes on a quiet machine, 20+ under load.
BACKFILL_TIMEOUT = 1800
RUNS_QUERY = """
query { runsOrError { __typename ... on Runs { results { runId status tags { key value } } } } }
"""
INSTANCE_QUERY = "query { instance { info runQueuingSupported } }"


@pytest.mark.timeout(BACKFILL_TIMEOUT + 300)
def test_backfills_on_the_production_instance(production: Production, reference_sync) -> None:
    instance, port = production.start()
    expected = reference_sync.dump()  # before the backfills, not beside them: two cores
    backfill_ids = [production.launch_backfill(port)]
    daemon = production.services.daemon()  # after the launch: its first backfill pass finds it
    backfills = wait_for_backfills(port, backfill_ids, [daemon], BACKFILL_TIMEOUT)
    if any(b.get("status") not in SUCCEEDED for b in backfills):
        pytest.fail(
            f"backfills not all completed (waited <= {BACKFILL_TIMEOUT} s): {backfills}\n"
            f"{run_failures(instance)}\n{daemon.tail()}"
        )
    finished = time.time()

    # Every page materialized by every step; the mirror is what a sync stores, nothing twice; each page
    # fetched once per raw_list_pages step that covered it, each movie's details once.
    for asset in ("raw_list_pages", "movies", "movie_details"):
        assert materialized(instance, asset) == production.keys, asset
    assert_same_database(expected, production.mirror_url)
    assert integrity_problems(production.mirror_url) == {}
    assert dict(production.replay.list_calls) == executions_per_page(instance, "raw_list_pages")
    assert set(production.replay.details_calls.values()) == {1}

    # Queued, concurrent, and never two API-calling steps at once. A run that failed (here: a launch the
    # busy code server answered too late) must have been retried to success.
    assert unrecovered_runs(instance) == []
    first_tries = [run for run in instance.get_runs() if RETRY_OF not in run.tags]
    assert sorted(run_pages(run)[0] for run in first_tries) == production.keys[::PAGES_PER_RUN], (
        "one backfill of 12 pages made 4 runs of 3 consecutive pages (YTS_PAGES_PER_RUN=3)"
    )
    runs = run_spans(instance)
    waited = queued_seconds(instance)
    assert None not in waited.values(), f"every run goes through the queue: {waited}"
    assert 2 <= most_at_once(runs, finished) <= 3
    api_steps = step_spans(instance, API_STEPS)
    assert overlapping_pairs(api_steps, finished) == []
    assert requests_outside_their_step(instance, production.replay) == []
    slots = instance.event_log_storage.get_concurrency_info("yts_api")
    assert slots.slot_count == 1 and slots.claimed_slots == []

    # In Postgres, not SQLite; a second webserver on the same dagster.yaml reads the same runs.
    assert sqlite_files(production.home) == []
    rows = storage_rows(production.dagster_url)
    statuses = sorted((run.run_id, run.status.value) for run in instance.get_runs())
    assert rows["runs"] == len(statuses) and rows["event_logs"] > 0 and rows["dynamic_partitions"] == PAGES
    reader, reader_port = production.services.webserver("second-webserver")
    wait_for_webserver(reader, reader_port)
    seen = graphql(reader_port, RUNS_QUERY)["runsOrError"]["results"]
    assert sorted((r["runId"], r["status"]) for r in seen) == statuses
    info = graphql(reader_port, INSTANCE_QUERY)["instance"]
    assert info["runQueuingSupported"] and "PostgresRunStorage" in info["info"]
    for service in production.services.started:
        assert PG_PASSWORD not in service.log.read_text(errors="replace"), service.name
    assert PG_PASSWORD not in info["info"]

    print(
        f"\nruns {len(statuses)} ({len(runs)} started), most at once {most_at_once(runs, finished)}, "
        f"seconds queued {sorted(waited.values())}; API steps {len(api_steps)}, none overlapping; "
        f"{len(production.replay.request_log)} API requests, all inside their step; storage rows {rows}"
    )
    for service in production.services.started:
        assert service.terminate() == 0, service.tail()
        assert service.session_processes() == []
