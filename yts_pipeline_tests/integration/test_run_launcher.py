"""MonitoredRunLauncher's health check, the answer run monitoring acts on: a run whose process is gone is
FAILED (so it is failed, its slots freed and the run retried); a live one, or one it cannot judge, RUNNING.

The whole path (the daemon's monitoring, retries, the freed pool slot) runs in
``reliability/test_daemon_crash.py``; this checks each answer against a real process in seconds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus

from yts_pipeline.cli.run_launcher import WORKER_HOST_TAG, MonitoredRunLauncher


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(
        overrides={"run_launcher": {"module": "yts_pipeline.cli.run_launcher", "class": "MonitoredRunLauncher"}}
    ) as instance:
        yield instance


@pytest.fixture
def worker() -> Iterator[subprocess.Popen]:
    """A process standing in for a run worker."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def started_run(
    instance: dg.DagsterInstance, pid: int, host: str | None = None, at: float | None = None
) -> dg.DagsterRun:
    """A STARTED run whose RUN_START event came from ``pid`` (as the run worker's own event does)."""
    run = instance.create_run_for_job(
        dg.GraphDefinition(name="g").to_job(), tags={WORKER_HOST_TAG: host or socket.gethostname()}
    )
    start = dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=run.job_name, pid=pid)
    instance.report_dagster_event(start, run.run_id, timestamp=at)
    return instance.get_run_by_id(run.run_id)


def health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> WorkerStatus:
    launcher = instance.run_launcher
    assert isinstance(launcher, MonitoredRunLauncher) and launcher.supports_check_run_worker_health
    return launcher.check_run_worker_health(run).status


def test_a_live_run_process_is_running_and_a_killed_one_failed(instance, worker) -> None:
    run = started_run(instance, worker.pid)
    assert run.status == dg.DagsterRunStatus.STARTED
    assert health(instance, run) == WorkerStatus.RUNNING
    worker.kill()
    worker.wait()
    assert health(instance, run) == WorkerStatus.FAILED
    assert "is gone" in instance.run_launcher.check_run_worker_health(run).msg


def test_a_pid_reused_by_a_newer_process_is_not_the_run(instance, worker) -> None:
    run = started_run(instance, worker.pid, at=time.time() - 3600)  # the run started before this process did
    assert health(instance, run) == WorkerStatus.FAILED


def test_a_run_on_another_host_is_not_judged_by_a_local_pid(instance) -> None:
    run = started_run(instance, pid=2**22 + 1, host="elsewhere")  # no such pid here
    assert health(instance, run) == WorkerStatus.RUNNING
