"""In-process runs whose process was killed: found by the tags their process wrote, failed, their slots freed."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    import dagster as dg

HOST_TAG, PID_TAG, STARTED_TAG = "yts/host", "yts/pid", "yts/process_started"


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
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED], tags={HOST_TAG: socket.gethostname()}
        )
    )
    for run in runs:
        if _still_running(run.tags):
            continue
        instance.report_run_failed(
            run,
            f"the process that ran it (pid {run.tags.get(PID_TAG)}) is gone, probably killed; its pool slots are freed",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released
