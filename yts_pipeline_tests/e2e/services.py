"""Dagster's own processes for the end-to-end tests: ``dagster-webserver`` and ``dagster-daemon`` started
as docs/production.md runs them (``-w workspace.yaml`` from the checkout), their GraphQL API, and backfills
launched through it the way the UI launches them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
import requests

from yts_pipeline_tests.support.ports import free_port

HOST = "127.0.0.1"
CHECKOUT = Path(__file__).resolve().parents[2]
WORKSPACE = str(CHECKOUT / "workspace.yaml")
BIN = Path(sys.executable).parent
SYNC_ASSETS = ["raw_list_pages", "movies", "movie_details"]
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
SUCCEEDED = {"COMPLETED", "COMPLETED_SUCCESS"}

# The UI's own mutation (ui-core LaunchAssetChoosePartitionsDialog): assets plus partition names.
LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
    ... on PythonError { stack }
  }
}
"""
BACKFILL_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      error { message stack }
      runs(limit: 10) { runId status }
    }
    ... on Error { message }
  }
}
"""


class Service:
    """A Dagster process in its own session, its output in a file, never left running."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path):
        self.name, self.log = name, log_dir / f"{name}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as a supervisor stops it; the exit status once it has stopped."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def session_processes(self, timeout: float = 60) -> list[str]:
        """What still runs in the process's session after ``timeout``: its code servers should stop too."""
        deadline = time.monotonic() + timeout
        while True:
            left = [" ".join(process.cmdline()) for process in self.session()]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.5)

    def session(self) -> list[psutil.Process]:
        """The live processes of this service's session (the service, its code servers, their runs)."""
        found = []
        for pid in psutil.pids():
            try:
                if os.getsid(pid) == self.process.pid:
                    process = psutil.Process(pid)
                    if process.status() != psutil.STATUS_ZOMBIE:
                        found.append(process)
            except (ProcessLookupError, psutil.Error):
                pass
        return found

    def kill_session(self) -> None:
        """SIGKILL the session: the process and whatever it started (code servers, run workers)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"----- {self.name} (last {len(text)} lines of {self.log}) -----\n" + "\n".join(text)


class Services:
    """Starts the Dagster processes with the test's environment; whatever is left is killed at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir, self.started = env, log_dir, []

    def start(self, name: str, *args: str, log_name: str | None = None) -> Service:
        service = Service(log_name or name, [str(BIN / name), *args], self.env, self.log_dir)
        self.started.append(service)
        return service

    def webserver(self, name: str = "dagster-webserver") -> tuple[Service, int]:
        """A webserver on a free loopback port, once it answers."""
        port = free_port()
        service = self.start("dagster-webserver", "-h", HOST, "-p", str(port), "-w", WORKSPACE, log_name=name)
        return service, port

    def daemon(self, name: str = "dagster-daemon") -> Service:
        return self.start("dagster-daemon", "run", "-w", WORKSPACE, log_name=name)

    def close(self) -> None:
        for service in self.started:
            service.kill_session()


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    response = requests.post(
        f"http://{HOST}:{port}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_for_webserver(webserver: Service, port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert webserver.process.poll() is None, "dagster-webserver exited early\n" + webserver.tail()
        try:
            if requests.get(f"http://{HOST}:{port}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer within {timeout} s\n" + webserver.tail())


def listening_addresses(process: subprocess.Popen, port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.Process(process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def launch_backfill(port: int, partitions: list[str], assets: list[str] = SYNC_ASSETS) -> str:
    """A backfill of ``assets`` over ``partitions``, launched as the UI's *Materialize* dialog does."""
    launched = graphql(
        port,
        LAUNCH_BACKFILL,
        {
            "backfillParams": {
                "assetSelection": [{"path": [name]} for name in assets],
                "partitionNames": partitions,
                "fromFailure": False,
                "tags": [],
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def backfill_status(port: int, backfill_id: str) -> dict:
    return graphql(port, BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]


def wait_for_backfills(port: int, backfill_ids: list[str], services: list[Service], timeout: float) -> list[dict]:
    """The backfills once all have finished, or as they stand after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        backfills = [backfill_status(port, backfill_id) for backfill_id in backfill_ids]
        if all(b.get("status") in FINISHED for b in backfills) or time.monotonic() > deadline:
            return backfills
        for service in services:
            assert service.process.poll() is None, f"{service.name} exited mid-backfill\n" + service.tail()
        time.sleep(1)


def run_failures(instance: dg.DagsterInstance) -> str:
    """Every run of the instance with its status and the error messages of its failed steps."""
    lines = []
    for run in instance.get_runs():
        lines.append(f"run {run.run_id} {run.job_name} {run.status.value} {dict(run.tags)}")
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is not None and event.is_failure:
                error = getattr(event.event_specific_data, "error", None)
                message = error.message if error else event.message
                lines.append(f"  {event.event_type_value} {event.step_key}: {message}")
    return "\n".join(lines) or "no runs"
