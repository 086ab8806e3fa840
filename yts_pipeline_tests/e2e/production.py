"""The production shape for end-to-end tests: ``deploy/dagster.yaml`` as shipped, its storage in a Postgres
database of its own, ``dagster-webserver`` and ``dagster-daemon`` as separate processes, the replay API
with latency, and the evidence a test reads afterwards (runs, step intervals, API requests, tables).

Used by ``e2e/test_production.py`` (CI) and by the daemon-crash scenarios in ``reliability/``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import make_url

from yts_pipeline.defs.page_runs import RANGE_END_TAG, RANGE_START_TAG
from yts_pipeline.defs.partitions import key_to_page, page_to_key, register_pages
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.e2e.services import CHECKOUT, Services, launch_backfill, wait_for_webserver
from yts_pipeline_tests.reliability.support import Processes, cli_env, comparable_dump, connection

DEPLOY_YAML = CHECKOUT / "deploy" / "dagster.yaml"
PAGES = 12
MOVIES = PAGES * 50
SEED = 14
LATENCY_MS = 30
PAGES_PER_RUN = 3  # see Production.launch_backfill
API_STEPS = ("raw_list_pages", "movie_details")  # the assets in the yts_api pool
# Never shown anywhere: the test server trusts local connections, so any password in the URL works.
PG_PASSWORD = "pg-Secret-4e2e-not-shown"


@dataclass
class Production:
    """One production instance: its DAGSTER_HOME, databases, replay API and processes."""

    home: Path
    dagster_url: str
    mirror_url: str
    replay: ReplayServer
    services: Services
    keys: list[str] = field(default_factory=lambda: [page_to_key(p) for p in range(1, PAGES + 1)])

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def start(self) -> tuple[dg.DagsterInstance, int]:
        """The webserver (answering), the pages registered; the daemon is left to the test."""
        webserver, port = self.services.webserver()
        instance = self.instance()
        register_pages(instance, self.keys)
        wait_for_webserver(webserver, port)
        return instance, port

    def launch_backfill(self, port: int) -> str:
        """One backfill of the 12 pages through GraphQL, as the UI's *Materialize* dialog launches it.

        With ``YTS_PAGES_PER_RUN=3`` the page assets' backfill policy makes it 4 runs of 3 consecutive pages:
        more runs than ``max_concurrent_runs: 3``, so some queue, and enough to run concurrently.
        """
        return launch_backfill(port, self.keys)


@pytest.fixture
def production(tmp_path: Path, postgres, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Production]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    storage_db = postgres.create_database()
    dagster_url = make_url(postgres.url(storage_db)).set(password=PG_PASSWORD).render_as_string(hide_password=False)
    with ReplayServer(Catalog.synthetic(MOVIES, seed=SEED), latency_ms=LATENCY_MS, retry_after_seconds=0) as replay:
        env = cli_env(
            replay.base_url,
            database_url=database_url,
            dagster_home=home,
            DAGSTER_PG_URL=dagster_url,
            YTS_PAGES_PER_RUN=str(PAGES_PER_RUN),
        )
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)
        services = Services(env, tmp_path)
        try:
            yield Production(home, dagster_url, database_url, replay, services)
        finally:
            services.close()
    postgres.drop_database(storage_db)


class ReferenceSync:
    """``yts-pipeline sync`` of the same catalog into another database, started now, read with ``dump``."""

    def __init__(self, catalog: Catalog, postgres, folder: Path):
        from yts_pipeline_tests.conftest import TEMPLATE

        folder.mkdir()
        self.postgres, self.name = postgres, postgres.create_database(TEMPLATE)
        self._group = Processes(folder)
        self._server = ReplayServer(catalog, retry_after_seconds=0).start()
        env = cli_env(self._server.base_url, database_url=postgres.url(self.name), dagster_home=folder / "home")
        self.proc = self._group.start("reference-sync", ["sync", "--skip-embeddings"], env)

    def dump(self) -> dict:
        try:
            assert self.proc.wait(600) == 0, self.proc.describe()
            return comparable_dump(self.postgres.url(self.name))
        finally:
            self.close()

    def close(self) -> None:
        if self._server is not None:
            self._group.close()
            self._server.stop()
            self.postgres.drop_database(self.name)
            self._server = None


@pytest.fixture
def reference_sync(production: Production, postgres, tmp_path: Path) -> Iterator[ReferenceSync]:
    reference = ReferenceSync(production.replay.catalog, postgres, tmp_path / "reference")
    yield reference
    reference.close()


# -- evidence ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Something that ran from ``start`` to ``end`` (wall-clock seconds; ``end`` None: it never ended)."""

    run_id: str
    name: str
    start: float
    end: float | None

    def covers(self, moment: float, slack: float) -> bool:
        return self.start - slack <= moment <= (self.end if self.end is not None else float("inf")) + slack


def run_pages(run: dg.DagsterRun) -> list[str]:
    start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    if start is None or end is None:
        return [run.tags["dagster/partition"]] if "dagster/partition" in run.tags else []
    return [page_to_key(p) for p in range(key_to_page(start), key_to_page(end) + 1)]


def step_spans(instance: dg.DagsterInstance, steps: tuple[str, ...] = API_STEPS) -> list[Span]:
    """Every execution of ``steps`` in every run, from STEP_START to its success or failure event."""
    spans = []
    of_type = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    for run in instance.get_runs():
        started: dict[str, float] = {}
        for record in instance.all_logs(run.run_id, of_type=of_type):
            step = record.dagster_event.step_key
            if step not in steps:
                continue
            if record.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                started[step] = record.timestamp
            elif step in started:
                spans.append(Span(run.run_id, step, started.pop(step), record.timestamp))
        spans += [Span(run.run_id, step, start, None) for step, start in started.items()]
    return sorted(spans, key=lambda span: span.start)


def run_spans(instance: dg.DagsterInstance) -> list[Span]:
    """Every run from its start to its end (``RunRecord`` times)."""
    return sorted(
        (
            Span(r.dagster_run.run_id, r.dagster_run.job_name, r.start_time, r.end_time)
            for r in instance.get_run_records()
            if r.start_time is not None
        ),
        key=lambda span: span.start,
    )


def queued_seconds(instance: dg.DagsterInstance) -> dict[str, float | None]:
    """Per run, the seconds from its first RUN_ENQUEUED to its last RUN_STARTING (a launch the code server
    did not answer puts the run back in the queue); None for a run that never went through the queue."""
    waited: dict[str, float | None] = {}
    of_type = {dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING}
    for run in instance.get_runs():
        events = instance.all_logs(run.run_id, of_type=of_type)
        enqueued = [r.timestamp for r in events if r.dagster_event.event_type == dg.DagsterEventType.RUN_ENQUEUED]
        starting = [r.timestamp for r in events if r.dagster_event.event_type == dg.DagsterEventType.RUN_STARTING]
        waited[run.run_id] = round(max(starting) - min(enqueued), 1) if enqueued and starting else None
    return waited


RETRY_OF = "dagster/parent_run_id"


def unrecovered_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs that did not succeed and whose retries (``run_retries``) did not either."""
    runs = {run.run_id: run for run in instance.get_runs()}
    retried = {run.tags[RETRY_OF]: run.run_id for run in runs.values() if RETRY_OF in run.tags}

    def recovered(run_id: str) -> bool:
        return runs[run_id].status == dg.DagsterRunStatus.SUCCESS or (run_id in retried and recovered(retried[run_id]))

    return [f"{run_id} {runs[run_id].status.value}" for run_id in runs if not recovered(run_id)]


def executions_per_page(instance: dg.DagsterInstance, step: str) -> dict[int, int]:
    """Per page number, how many times ``step`` started in a run covering it."""
    pages = {run.run_id: run_pages(run) for run in instance.get_runs()}
    found: dict[int, int] = {}
    for span in step_spans(instance, (step,)):
        for key in pages[span.run_id]:
            found[key_to_page(key)] = found.get(key_to_page(key), 0) + 1
    return found


def most_at_once(spans: list[Span], until: float) -> int:
    """The largest number of ``spans`` open at one moment (a span without an end is open until ``until``)."""
    edges = sorted(
        [(s.start, 1) for s in spans] + [(s.end if s.end is not None else until, -1) for s in spans],
        key=lambda edge: (edge[0], edge[1]),
    )
    open_now = most = 0
    for _, change in edges:
        open_now += change
        most = max(most, open_now)
    return most


def overlapping_pairs(spans: list[Span], until: float) -> list[tuple[Span, Span]]:
    ordered = sorted(spans, key=lambda s: s.start)
    return [
        (a, b)
        for i, a in enumerate(ordered)
        for b in ordered[i + 1 :]
        if b.start < (a.end if a.end is not None else until)
    ]


def api_requests(replay: ReplayServer) -> list[tuple[float, str, str]]:
    """Every API request as (wall-clock time, the pool step that makes it, its page key)."""
    to_wall = time.time() - time.monotonic()  # the request log keeps this process's monotonic clock
    page_of = {movie_id: page_to_key(index // 50 + 1) for index, movie_id in enumerate(replay.catalog.ids())}
    found = []
    for arrived, endpoint, params, _status in list(replay.request_log):
        if endpoint == "list_movies":
            found.append((arrived + to_wall, "raw_list_pages", page_to_key(int(params["page"]))))
        elif endpoint == "movie_details":
            found.append((arrived + to_wall, "movie_details", page_of[int(params["movie_id"])]))
    return found


def requests_outside_their_step(instance: dg.DagsterInstance, replay: ReplayServer, slack: float = 0.5) -> list:
    """API requests made when no run covering their page had the step that makes them running."""
    pages = {run.run_id: set(run_pages(run)) for run in instance.get_runs()}
    spans = step_spans(instance)
    return [
        (moment, step, page)
        for moment, step, page in api_requests(replay)
        if not any(s.name == step and page in pages[s.run_id] and s.covers(moment, slack) for s in spans)
    ]


def storage_rows(dagster_url: str) -> dict[str, int]:
    """Row counts of Dagster's main tables in its Postgres database."""
    with connection(dagster_url) as conn:
        return {
            table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            for table in ("runs", "event_logs", "dynamic_partitions", "concurrency_limits", "kvs")
        }


def sqlite_files(home: Path) -> list[str]:
    return sorted(str(path.relative_to(home)) for path in home.rglob("*") if path.suffix in (".db", ".sqlite"))


def materialized(instance: dg.DagsterInstance, asset: str) -> list[str]:
    return sorted(instance.get_materialized_partitions(dg.AssetKey(asset)), key=key_to_page)
