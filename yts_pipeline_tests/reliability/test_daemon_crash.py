"""Crashes: ``kill -9`` of ``dagster-daemon`` in the middle of a backfill on the production instance
(``deploy/dagster.yaml``, Postgres storage), then a restart.

Runs launched by the daemon live in processes of the code server the daemon spawned (DefaultRunLauncher):
daemon -> code server -> run worker -> one process per step. Two kills:

- the daemon's process alone: its code server and runs live on (the code server stops once no heartbeat
  came for 20 s and its runs have finished), the restarted daemon launches the queued runs;
- the daemon with its process group, as systemd (``KillMode=control-group``) or ``docker kill`` stop a
  service: the runs in flight die with it, holding the ``yts_api`` pool slot. Run monitoring
  (``MonitoredRunLauncher``'s health check) marks them failed, the slot is freed, ``run_retries``
  launches each again from its failed step.

Either way the backfills complete, every page is materialized once more at most, and the mirror equals a
clean ``sync`` of the same catalog.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from yts_pipeline_tests.e2e.production import (
    API_STEPS,
    RETRY_OF,
    Production,
    materialized,
    overlapping_pairs,
    production,  # noqa: F401  (fixture)
    reference_sync,  # noqa: F401  (fixture)
    requests_outside_their_step,
    step_spans,
    unrecovered_runs,
)
from yts_pipeline_tests.e2e.services import SUCCEEDED, run_failures, wait_for_backfills
from yts_pipeline_tests.reliability.support import assert_same_database, integrity_problems, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BACKFILL_TIMEOUT = 1200
KILLS = {
    "daemon": "kill -9 of the dagster-daemon process alone",
    "service": "kill -9 of dagster-daemon and its whole process group (code server, run workers, step "
    "processes), as systemd (KillMode=control-group) or `docker kill` stop the service",
}


def api_slot_holders(instance) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info("yts_api").claimed_slots}


def details_step_under_way(production: Production, instance) -> bool:
    """A movie_details step is calling the API (some details answered) and holds the pool slot."""
    return sum(production.replay.details_calls.values()) >= 10 and bool(api_slot_holders(instance))


@pytest.mark.timeout(BACKFILL_TIMEOUT + 600)
@pytest.mark.parametrize("kill", list(KILLS))
def test_daemon_killed_mid_backfill(scenario, production: Production, reference_sync, kill: str) -> None:
    scenario.describe(
        "Crashes",
        f"kill -9 of dagster-daemon mid-backfill ({'process group' if kill == 'service' else 'alone'}), "
        "production instance (Postgres storage)",
        injected=f"{KILLS[kill]}, while a movie_details step of a 12-page backfill (4 runs of 3 pages, "
        "deploy/dagster.yaml) calls the API and holds the yts_api pool slot; then the daemon started again",
        checked="every backfill completes; every page materialized; canonical dump equal to a clean sync, no "
        "duplicate or orphan; runs whose process died marked failed and retried by run_retries, the "
        "pool slot they held freed; never two API-calling steps at once; no process of the killed "
        "daemon left",
    )
    instance, port = production.start()
    expected = reference_sync.dump()
    backfill_ids = [production.launch_backfill(port)]
    daemon = production.services.daemon()
    wait_for(
        lambda: details_step_under_way(production, instance), 900, "a movie_details step calling the API", interval=0.1
    )
    holders = api_slot_holders(instance)
    in_flight = [run.run_id for run in instance.get_runs() if run.status.value in ("STARTING", "STARTED")]
    session = daemon.session()
    killed_at = time.time()
    if kill == "daemon":
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.process.wait(10)
    else:
        daemon.kill_session()
    scenario.figure("details answered before the kill", sum(production.replay.details_calls.values()))
    scenario.figure("processes in the daemon's group at the kill", len(session))
    time.sleep(2)
    survivors = [p for p in session if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    scenario.figure("of them alive 2 s after the kill", len(survivors))

    restarted = production.services.daemon("dagster-daemon-restarted")
    backfills = wait_for_backfills(port, backfill_ids, [restarted], BACKFILL_TIMEOUT)
    if any(b.get("status") not in SUCCEEDED for b in backfills):
        pytest.fail(
            f"backfills not all completed after the restart: {backfills}\n{run_failures(instance)}\n{restarted.tail()}"
        )
    scenario.figure("seconds from the kill to all backfills completed", round(time.time() - killed_at))

    for asset in ("raw_list_pages", "movies", "movie_details"):
        assert materialized(instance, asset) == production.keys, asset
    assert_same_database(expected, production.mirror_url)
    assert integrity_problems(production.mirror_url) == {}

    runs = {run.run_id: run for run in instance.get_runs()}
    retries = {run.tags[RETRY_OF]: run for run in runs.values() if RETRY_OF in run.tags}
    scenario.figure("runs in flight at the kill", len(in_flight))
    scenario.figure("runs", len(runs))
    scenario.figure("retries", len(retries))
    assert unrecovered_runs(instance) == [], run_failures(instance)
    if kill == "service":
        assert holders <= set(in_flight) and all(runs[run_id].status.value == "FAILURE" for run_id in in_flight)
        assert all(run_id in retries for run_id in in_flight), "every run that died was retried"
        reasons = [
            record.dagster_event.message
            for run_id in in_flight
            for record in instance.all_logs(run_id)
            if record.dagster_event is not None and record.dagster_event.event_type_value == "PIPELINE_FAILURE"
        ]
        scenario.figure("why they failed", sorted({(reason or "").split(". ")[0][:120] for reason in reasons}))
        assert any("is gone" in (reason or "") for reason in reasons), reasons
        after = [span for span in step_spans(instance, API_STEPS) if span.start > killed_at]
        scenario.figure("seconds from the kill to the next API step", round(after[0].start - killed_at))
    else:
        assert all(runs[run_id].status.value == "SUCCESS" and run_id not in retries for run_id in in_flight), (
            "the runs in flight outlived the daemon under its code server"
        )
    info = instance.event_log_storage.get_concurrency_info("yts_api")
    assert info.claimed_slots == [] and info.pending_steps == [], "a pool slot or step left behind"
    spans = [span for span in step_spans(instance, API_STEPS)]
    assert overlapping_pairs(spans, until=killed_at) == []
    assert requests_outside_their_step(instance, production.replay) == []
    scenario.figure("API steps, none overlapping", len(spans))
    assert [p.pid for p in session if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == [], (
        "a process of the killed daemon is still running"
    )
