"""The whole catalog mirrored through the Dagster UI path, as a rehearsal of the first production sync.

    .venv/bin/python benchmarks/rehearse_catalog.py [MOVIES]   (default 75,000 movies, 1,500 pages; hours)

Not part of `make bench`: it takes long and fills a machine. On a fresh database and local instance:
the replay API as its own process (`yts-pipeline replay-api`, no latency, YTS_REQUESTS_PER_SECOND=0),
`yts-pipeline sync --skip-embeddings --max-pages 1` (every page registered, the first stored), then
dagster-webserver and dagster-daemon as `dg dev` starts them, a backfill of the other pages over
raw_list_pages, movies and movie_details, then a backfill of every page over movie_embeddings, both
launched through GraphQL as the Materialize dialog does. Reported: each stage's wall time, the peak
memory of every process (sampled, see _memory.py), the size of Dagster's storage (DAGSTER_HOME) and
of the database afterwards, and how long headless Chromium takes to show the asset graph, an asset's
page, its partitions view (every page a partition) and a backfill run's log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg  # noqa: E402
from _dagster_ui import start_benchmark, wait_for_daemons  # noqa: E402
from _memory import INTERVAL, MemorySampler, Peaks  # noqa: E402
from _pg import ScratchPostgres  # noqa: E402
from bench_ui import YTS_PIPELINE, backfill, fresh_setup, stored_movies  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from yts_pipeline.defs.page_assets import GROUP  # noqa: E402
from yts_pipeline_tests.e2e.services import HOST, Services, wait_for_webserver  # noqa: E402
from yts_pipeline_tests.e2e.test_serve_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from yts_pipeline_tests.support.ports import free_port  # noqa: E402

EMBEDDINGS = ["movie_embeddings"]
BACKFILL_TIMEOUT = 6 * 3600
RENDER_TIMEOUT_MS = 600_000
LOCATION = "yts_pipeline"  # as workspace.yaml names it


def start_replay(movies: int, work: Path) -> tuple[subprocess.Popen, str]:
    """`yts-pipeline replay-api` in its own session, and its base URL once it serves."""
    log = work / "replay.log"
    with log.open("wb") as out:
        argv = [YTS_PIPELINE, "replay-api", "--movies", str(movies), "--port", str(free_port())]
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = re.search(r"YTS_API_URL=(\S+)", log.read_text())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"replay-api exited {process.returncode}:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    raise TimeoutError("replay-api did not serve within 600 s")


def stop_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def render_times(port: int, pages: int, run_id: str) -> list[tuple[str, float]]:
    """Seconds from navigation to what a user waits for on each page (visible, and the network quiet)."""
    from playwright.sync_api import sync_playwright

    base = f"http://{HOST}:{port}"
    views = [
        ("asset graph (the page assets' group)", f"/locations/{LOCATION}/asset-groups/{GROUP}", "100% filled"),
        ("asset page (movies)", "/assets/movies", "Latest materialization"),
        (
            f"partitions view (movies, {pages} partitions)",
            "/assets/movies?view=partitions",
            re.compile(rf"Materialized \(({pages}|{pages:,})\)"),
        ),
        ("a backfill run's log", f"/runs/{run_id}", "RUN_SUCCESS"),
    ]
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        page.goto(f"{base}/overview")  # the app's scripts cached, as for a user already in the UI
        page.wait_for_load_state("networkidle")
        for name, path, marker in views:
            started = time.perf_counter()
            page.goto(base + path)
            page.get_by_text(marker).first.wait_for()
            page.wait_for_load_state("networkidle")
            times.append((name, time.perf_counter() - started))
        browser.close()
    return times


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def database_bytes(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT pg_database_size(current_database())"))
    finally:
        engine.dispose()


def record(stages: list[tuple[str, float]], name: str, seconds: float) -> None:
    """A stage's time, printed at once: a rehearsal stopped midway still shows the stages it finished."""
    stages.append((name, seconds))
    print(f"  {name}: {seconds:,.1f} s", flush=True)


def ui_stages(env: dict[str, str], pages: int, work: Path, stages: list) -> list[tuple[str, float]]:
    """Start the UI's processes, run both backfills, time the views; stages appended to ``stages``."""
    services = Services(env, work / "ui")
    try:
        started = time.perf_counter()
        webserver, port = services.webserver()
        services.daemon()
        wait_for_webserver(webserver, port)
        wait_for_daemons(port)
        record(stages, "webserver and daemon up, daemons healthy", time.perf_counter() - started)
        keys = [f"{page:05d}" for page in range(1, pages + 1)]
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            backfill_id, launched, completed = backfill(port, keys[1:], services, instance, timeout=BACKFILL_TIMEOUT)
            record(stages, f"backfill of pages 2-{pages}: fetch, save, details", completed - launched)
            _, launched, completed = backfill(port, keys, services, instance, EMBEDDINGS, BACKFILL_TIMEOUT)
            record(stages, f"backfill of pages 1-{pages}: embeddings", completed - launched)
            by_backfill = dg.RunsFilter(tags={"dagster/backfill": backfill_id})
            run_id = instance.get_run_records(by_backfill, limit=1)[0].dagster_run.run_id
        return render_times(port, pages, run_id)
    finally:
        services.close()


def rehearse(movies: int, pages: int, pg: ScratchPostgres, work: Path) -> dict:
    stages: list[tuple[str, float]] = []
    started = time.perf_counter()
    replay, api_url = start_replay(movies, work)
    try:
        record(stages, "replay API up", time.perf_counter() - started)
        started = time.perf_counter()
        env = fresh_setup("ui", pg, api_url, work)
        record(stages, "sync --max-pages 1: pages registered, page 1 stored", time.perf_counter() - started)
        renders = ui_stages(env, pages, work, stages)
    finally:
        stop_group(replay)
    assert stored_movies(env["DATABASE_URL"]) == movies, "the rehearsal did not store every movie"
    return {
        "stages": stages,
        "renders": renders,
        "dagster_bytes": folder_bytes(Path(env["DAGSTER_HOME"])),
        "database_bytes": database_bytes(env["DATABASE_URL"]),
    }


def print_report(result: dict) -> None:
    print("\n  stage | wall s")
    for name, seconds in result["stages"]:
        print(f"  {name} | {seconds:,.1f}")
    print("\n  headless Chromium view | s to show it")
    for name, seconds in result["renders"]:
        print(f"  {name} | {seconds:.1f}")
    print(
        f"\n  Dagster's storage (DAGSTER_HOME) afterwards: {result['dagster_bytes'] / 2**20:,.1f} MiB; "
        f"the database: {result['database_bytes'] / 2**20:,.1f} MiB"
    )


def print_memory(peaks: Peaks) -> None:
    print(
        f"\n  process (role) | processes | peak RSS of one, MiB | peak RSS of all at once, MiB  "
        f"(sampled every {INTERVAL} s: a shorter peak can be missed)"
    )
    for name in sorted(peaks.single, key=lambda n: -peaks.together[n]):
        print(
            f"  {name} | {len(peaks.pids[name])} | {peaks.single[name] / 2**20:,.0f} | "
            f"{peaks.together[name] / 2**20:,.0f}"
        )


def main() -> None:
    movies, pages = start_benchmark(75_000)
    print(
        f"rehearse_catalog: {movies:,} replay movies ({pages:,} pages) through the UI path; load average "
        f"{os.getloadavg()[0]:.1f} at the start",
        flush=True,
    )
    work, sampler = Path(tempfile.mkdtemp(prefix="yts-rehearse-")), MemorySampler()
    try:
        with ScratchPostgres() as pg, sampler:
            sampler.extra_roots.add(int((pg.root / "pgdata" / "postmaster.pid").read_text().split()[0]))
            result = rehearse(movies, pages, pg, work)
        print_report(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print_memory(sampler.peaks)  # also when the rehearsal was stopped midway
        print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
