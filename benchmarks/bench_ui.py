"""The Dagster UI path beside `yts-pipeline sync`, on one replay catalog: issue 21's two targets.

    .venv/bin/python benchmarks/bench_ui.py [MOVIES]   (default 2,500 movies, 50 pages)   make bench runs it

Both paths start as the README's walkthrough does, each on a fresh database and a fresh local instance
(the project's dagster.yaml): `yts-pipeline sync --skip-embeddings --max-pages 1` registers every page
and stores the first. Then, on the same replay catalog (in this process, no latency, no rate limit):
- the baseline: `yts-pipeline sync --skip-embeddings --pages 2-N`, timed from the command's start to
  its exit;
- the UI: dagster-webserver and dagster-daemon on the project's workspace, as `dg dev` starts them, and
  once the daemons are healthy, a backfill of pages 2-N over raw_list_pages, movies and movie_details,
  launched through GraphQL as the Materialize dialog launches it; when it has completed, page 2
  materialized again as the dialog launches one partition (one run of the assets' common job, with
  the partition's tags and config).
The wait for the first run, the runs from the first start to the last end, and the backfill's
COMPLETED count from the launch; one page counts from the Launch click to its run's end. Where a run's
time goes is read from its event log (see _dagster_ui.run_phases). Every process started here runs in
its own session, killed as a group at the end, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg  # noqa: E402
from _dagster_ui import (  # noqa: E402
    RunPhases,
    backfill_end,
    launch_partition,
    launch_range,
    open_dialog,
    run_phases,
    start_benchmark,
    wait_for_daemons,
    wait_for_run,
)
from _pg import ScratchPostgres  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from yts_pipeline.cli.instance import local_dagster_yaml  # noqa: E402
from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.db.models import Movie  # noqa: E402
from yts_pipeline.yts.replay import Catalog, ReplayServer  # noqa: E402
from yts_pipeline_tests.e2e.services import (  # noqa: E402
    SUCCEEDED,
    SYNC_ASSETS,
    Services,
    launch_backfill,
    run_failures,
    wait_for_backfills,
    wait_for_webserver,
)

YTS_PIPELINE = str(Path(sys.executable).with_name("yts-pipeline"))
AGAIN_PAGE = "00002"
RANGE_JOB, RANGE = "sync_pages_without_embeddings", ("00002", "00005")  # the Launchpad's path for a few pages
TARGET_RUNS_RATIO = 1.2
TARGET_ONE_PAGE_SECONDS = 5.0
BACKFILL_TIMEOUT = 1800


def timed_command(argv: list[str], env: dict[str, str], log: Path) -> float:
    """Wall seconds of ``argv`` in its own session (killed as a group if this process stops first)."""
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = process.wait()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    if status != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {status}:\n{log.read_text()[-4000:]}")
    return time.perf_counter() - started


def fresh_setup(name: str, pg: ScratchPostgres, api_url: str, work: Path) -> dict[str, str]:
    """A fresh database and instance, every page registered and the first stored (the README's first step)."""
    home = work / name / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    env = {
        **os.environ,
        "DATABASE_URL": pg.fresh_database(),
        "YTS_API_URL": api_url,
        "YTS_REQUESTS_PER_SECOND": "0",
        "DAGSTER_HOME": str(home),
    }
    timed_command([YTS_PIPELINE, "sync", "--skip-embeddings", "--max-pages", "1"], env, work / name / "discover.log")
    return env


def stored_movies(database_url: str) -> int:
    """Movies stored with their details: what a finished mirror of the catalog holds."""
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            with_details = select(func.count()).select_from(Movie).where(Movie.details_fetched_at.isnot(None))
            return session.scalar(with_details)
    finally:
        db.close_all()


def runs_span(instance: dg.DagsterInstance, filters: dg.RunsFilter) -> tuple[int, float, float]:
    """How many runs, the first one's start and the last one's end (epoch seconds)."""
    runs = instance.get_run_records(filters)
    return len(runs), min(r.start_time for r in runs), max(r.end_time for r in runs)


@dataclass
class SyncMeasure:
    seconds: float
    runs: int
    runs_seconds: float


def measure_sync(pages: int, pg: ScratchPostgres, replay: ReplayServer, work: Path, movies: int) -> SyncMeasure:
    env = fresh_setup("sync", pg, replay.base_url, work)
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        since = datetime.now(UTC)
        seconds = timed_command(
            [YTS_PIPELINE, "sync", "--skip-embeddings", "--pages", f"2-{pages}"], env, work / "sync" / "sync.log"
        )
        count, first_start, last_end = runs_span(instance, dg.RunsFilter(created_after=since))
    assert stored_movies(env["DATABASE_URL"]) == movies, "sync did not store every movie with its details"
    return SyncMeasure(seconds, count, last_end - first_start)


@dataclass
class UiMeasure:
    launched: float  # epoch seconds
    first_run_wait: float
    runs: int
    runs_seconds: float
    completed: float
    one_page: float
    one_page_job: str
    one_page_phases: RunPhases
    backfill_phases: RunPhases
    pages_as_one_run: float


def backfill(
    port: int,
    keys: list[str],
    services: Services,
    instance: dg.DagsterInstance,
    assets: list[str] = SYNC_ASSETS,
    timeout: float = BACKFILL_TIMEOUT,
) -> tuple[str, float, float]:
    """The backfill launched as the dialog does; (its id, the launch time, its end time)."""
    launched = time.time()
    backfill_id = launch_backfill(port, keys, assets)
    [status] = wait_for_backfills(port, [backfill_id], services.started, timeout)
    if status.get("status") not in SUCCEEDED:
        raise RuntimeError(
            f"backfill {status}\n{run_failures(instance)}\n" + "\n".join(service.tail() for service in services.started)
        )
    _, ended = backfill_end(port, backfill_id)
    return backfill_id, launched, ended


def measure_ui(pages: int, pg: ScratchPostgres, replay: ReplayServer, work: Path, movies: int) -> UiMeasure:
    env = fresh_setup("ui", pg, replay.base_url, work)
    services = Services(env, work / "ui")
    try:
        webserver, port = services.webserver()
        services.daemon()
        wait_for_webserver(webserver, port)
        wait_for_daemons(port)
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            keys = [f"{page:05d}" for page in range(2, pages + 1)]
            backfill_id, launched, completed = backfill(port, keys, services, instance)
            by_backfill = dg.RunsFilter(tags={"dagster/backfill": backfill_id})
            count, first_start, last_end = runs_span(instance, by_backfill)
            first_run = min(instance.get_run_records(by_backfill), key=lambda r: r.create_timestamp)
            assert stored_movies(env["DATABASE_URL"]) == movies, "the backfill did not store every movie"

            dialog = open_dialog(port, SYNC_ASSETS)
            clicked = time.time()
            run_id = launch_partition(port, dialog, AGAIN_PAGE)
            status = wait_for_run(port, run_id, timeout=600)
            if status != "SUCCESS":
                raise RuntimeError(f"the one-page run {run_id} ended {status}\n{run_failures(instance)}")
            one_page = run_phases(instance, run_id)

            clicked_range = time.time()
            range_run = launch_range(port, dialog, RANGE_JOB, *RANGE)
            if wait_for_run(port, range_run, timeout=600) != "SUCCESS":
                raise RuntimeError(f"the range run {range_run} failed\n{run_failures(instance)}")
            pages_as_one_run = run_phases(instance, range_run).ended - clicked_range
            return UiMeasure(
                launched,
                first_start - launched,
                count,
                last_end - first_start,
                completed - launched,
                one_page.ended - clicked,
                dialog.job,
                one_page,
                run_phases(instance, first_run.dagster_run.run_id),
                pages_as_one_run,
            )
    finally:
        services.close()


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_tables(pages: int, sync: SyncMeasure, ui: UiMeasure) -> None:
    ratio = ui.runs_seconds / sync.seconds
    rows = [
        (f"sync --skip-embeddings --pages 2-{pages}: command wall", f"{sync.seconds:.1f} s", "baseline", ""),
        (f"  its {sync.runs} in-process runs, first start -> last end", f"{sync.runs_seconds:.1f} s", "", ""),
        (
            "backfill: launch -> first run enqueued (backfill daemon)",
            f"{ui.backfill_phases.created - ui.launched:.1f} s",
            "",
            "",
        ),
        ("backfill: launch -> first run starts", f"{ui.first_run_wait:.1f} s", "", ""),
        (
            f"backfill: its {ui.runs} runs, first start -> last end",
            f"{ui.runs_seconds:.1f} s ({ratio:.2f}x sync)",
            f"<= {TARGET_RUNS_RATIO}x sync",
            verdict(ratio <= TARGET_RUNS_RATIO),
        ),
        ("backfill: launch -> COMPLETED", f"{ui.completed:.1f} s ({ui.completed / sync.seconds:.2f}x sync)", "", ""),
        (
            f"one page ({AGAIN_PAGE}, job {ui.one_page_job}): click -> run end",
            f"{ui.one_page:.1f} s",
            f"<= {TARGET_ONE_PAGE_SECONDS:g} s",
            verdict(ui.one_page <= TARGET_ONE_PAGE_SECONDS),
        ),
        (
            f"pages {RANGE[0]}-{RANGE[1]} as one run ({RANGE_JOB} Launchpad, range tags): click -> run end",
            f"{ui.pages_as_one_run:.1f} s",
            "",
            "",
        ),
    ]
    print_rows(("figure", "measured", "target", ""), rows)
    print()
    click = ui.one_page_phases.created - (ui.one_page_phases.ended - ui.one_page)
    phases = [("click -> run enqueued (dialog queries, launch)", f"{click:.2f}", "")]
    phases += [
        (name, f"{one:.2f}", f"{first:.2f}")
        for (name, one), (_, first) in zip(ui.one_page_phases.phases, ui.backfill_phases.phases)
    ]
    print_rows(("where a run's time goes (s)", "one page", "backfill's 1st run"), phases)
    for label, run in (("one page", ui.one_page_phases), ("backfill's 1st run", ui.backfill_phases)):
        print(f"  steps of {label} (work, s): " + ", ".join(f"{key} {work:.2f}" for key, work in run.steps))


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main() -> None:
    movies, pages = start_benchmark(2500)
    print(
        f"bench_ui: {movies} replay movies ({pages} pages), no latency, YTS_REQUESTS_PER_SECOND=0; "
        f"load average {os.getloadavg()[0]:.1f} at the start; both paths store page 1 first "
        "(sync --max-pages 1)",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="yts-bench-ui-"))
    try:
        with ScratchPostgres() as pg, ReplayServer(Catalog.synthetic(movies, seed=5)) as replay:
            sync = measure_sync(pages, pg, replay, work, movies)
            print(f"  sync: {sync.seconds:.1f} s", flush=True)
            ui = measure_ui(pages, pg, replay, work, movies)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print_tables(pages, sync, ui)
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
