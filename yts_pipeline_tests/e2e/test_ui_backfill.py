"""The UI path end to end: ``dagster-webserver`` and ``dagster-daemon`` as their own processes, a
partition backfill launched through GraphQL the way the UI launches it, and the daemon running it
against the replay API into a real Postgres.

The in-process tests never exercise what only the deployed processes do: load the code location
from ``workspace.yaml``, read EnvVar resources from the process environment, apply the backfill policy, queue,
launch and finish runs. This test does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest
import requests
from sqlalchemy import select

from yts_pipeline.cli.instance import LOCAL_DAGSTER_YAML
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
WORKSPACE = str(Path(__file__).resolve().parents[2] / "workspace.yaml")  # as the README runs the services
BIN = Path(sys.executable).parent
PAGES = ["00001", "00002"]
MOVIES_PER_PAGE = 50
SYNC_ASSETS = ["raw_list_pages", "movies", "movie_details"]
# The run takes 30-60 s on two cores (each of its 7 steps starts a Python process) and the backfill
# daemon looks every 30 s, so COMPLETED comes 60-90 s after the launch.
BACKFILL_TIMEOUT = 150
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Service:
    """A Dagster process in its own session, its output in a file, never left running."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path):
        self.name, self.log = name, log_dir / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as a supervisor stops it; the exit status once it has stopped."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def session_processes(self, timeout: float = 15) -> list[str]:
        """What still runs in the process's session after ``timeout``: its code servers should stop too."""
        deadline = time.monotonic() + timeout
        while True:
            left = []
            for pid in psutil.pids():
                try:
                    if os.getsid(pid) == self.process.pid:
                        left.append(" ".join(psutil.Process(pid).cmdline()))
                except (ProcessLookupError, psutil.Error):
                    pass
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.5)

    def kill_leftovers(self) -> None:
        """SIGKILL the session: the process and whatever it started (code servers, run workers)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"----- {self.name} (last {len(text)} lines of {self.log}) -----\n" + "\n".join(text)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh instance with the project's own dagster.yaml (SQLite storage, the yts_api pool limit)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(LOCAL_DAGSTER_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


class Services:
    """Starts the Dagster processes with the test's environment; whatever is left is killed at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir, self.started = env, log_dir, []

    def start(self, name: str, *args: str) -> Service:
        service = Service(name, [str(BIN / name), *args], self.env, self.log_dir)
        self.started.append(service)
        return service


@pytest.fixture
def services(tmp_path: Path, dagster_home: Path, database_url: str, replay_server) -> Iterator[Services]:
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "DATABASE_URL": database_url,
           "YTS_API_URL": replay_server.base_url, "YTS_REQUESTS_PER_SECOND": "0"}
    services = Services(env, tmp_path)
    yield services
    for service in services.started:
        service.kill_leftovers()


def graphql(port: int, query: str, variables: dict) -> dict:
    response = requests.post(f"http://{HOST}:{port}/graphql", json={"query": query, "variables": variables},
                             timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_for_webserver(webserver: Service, port: int, timeout: float = 60) -> None:
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
    return {c.laddr.ip for c in psutil.Process(process.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def wait_for_backfill(port: int, backfill_id: str, services: list[Service]) -> dict:
    """The backfill once it has finished, or as it stands after ``BACKFILL_TIMEOUT``."""
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while True:
        backfill = graphql(port, BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]
        if backfill.get("status") in FINISHED or time.monotonic() > deadline:
            return backfill
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


def test_backfill_launched_through_graphql_syncs_its_pages(services, dagster_home, database_url,
                                                          replay_server) -> None:
    port = free_port()
    webserver = services.start("dagster-webserver", "-h", HOST, "-p", str(port), "-w", WORKSPACE)
    wait_for_webserver(webserver, port)
    assert listening_addresses(webserver.process, port) == {HOST}

    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("pages", PAGES)
        launched = graphql(port, LAUNCH_BACKFILL, {"backfillParams": {
            "assetSelection": [{"path": [name]} for name in SYNC_ASSETS],
            "partitionNames": PAGES,
            "fromFailure": False,
            "tags": [],
        }})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        # The backfill daemon wakes every 30 s and handles a backfill on its first pass, so starting it
        # after the launch saves one whole interval.
        daemon = services.start("dagster-daemon", "run", "-w", WORKSPACE)
        backfill = wait_for_backfill(port, launched["backfillId"], [webserver, daemon])
        if backfill.get("status") not in ("COMPLETED", "COMPLETED_SUCCESS"):
            pytest.fail(f"backfill not completed successfully (waited <= {BACKFILL_TIMEOUT} s): {backfill}\n"
                        f"{run_failures(instance)}\n{webserver.tail()}\n{daemon.tail()}")
        runs = instance.get_runs()

    assert backfill["numPartitions"] == len(PAGES)
    assert len(runs) == 1, "multi_run(25) puts both pages in one run"
    assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]
    assert sorted(replay_server.list_calls) == [1, 2]
    expected = replay_server.catalog.ids()[:len(PAGES) * MOVIES_PER_PAGE]
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
