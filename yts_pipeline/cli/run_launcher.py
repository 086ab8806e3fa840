"""Dagster's DefaultRunLauncher with the worker health check run monitoring needs to see a dead run.

DefaultRunLauncher starts each run as a process of the code server the daemon spawned, on the daemon's
host, and cannot tell run monitoring whether that process lives: a run whose process was killed (the
daemon's service stopped with ``kill -9`` of its whole process group, as systemd and Docker do; the
out-of-memory killer) stays STARTED for ever and keeps its ``yts_api`` pool slot, so every later run
waits for that slot without end. This launcher remembers the host of each run it launches; run
monitoring then asks it about each STARTED run, and it answers from the process table: the process
that started the run (the pid of its RUN_START event) is gone, so the run is marked failed, its slots
are freed (``free_slots_after_run_end_seconds``) and ``run_retries`` launches it again.
"""

from __future__ import annotations

import socket

import psutil
from dagster import DagsterEventType, DefaultRunLauncher

# A run launcher's health check is typed only in dagster._core (Dagster exports DefaultRunLauncher, not what
# its hooks take and return); unit/test_dagster_internals.py fails when one of these names changes.
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
from dagster._core.storage.dagster_run import DagsterRun

WORKER_HOST_TAG = "yts/run_worker_host"
PID_REUSE_SLACK_SECONDS = 1.0


class MonitoredRunLauncher(DefaultRunLauncher):
    """Launches runs as DefaultRunLauncher does, and reports whether each run's process still lives."""

    def launch_run(self, context: LaunchRunContext) -> None:
        origin = context.dagster_run.remote_job_origin.repository_origin.code_location_origin
        if isinstance(origin, ManagedGrpcPythonEnvCodeLocationOrigin):  # a code server this process started
            self._instance.add_run_tags(context.dagster_run.run_id, {WORKER_HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        host = run.tags.get(WORKER_HOST_TAG)
        if host != socket.gethostname():
            # Launched elsewhere (another host, or a code server this launcher did not start): a pid says nothing.
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"run process on {host or 'an unknown host'}: not checked"
            )
        started = self._instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        if not started or started[-1].dagster_event is None or started[-1].dagster_event.pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run has not reported its process yet")
        pid, since = started[-1].dagster_event.pid, started[-1].timestamp
        if _alive_since(pid, since):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process (pid {pid} on {host}) is gone")


def _alive_since(pid: int, timestamp: float) -> bool:
    """Whether process ``pid`` runs and was already running at ``timestamp`` (so it is not a reused pid)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= timestamp + PID_REUSE_SLACK_SECONDS
    except psutil.Error:
        return False
