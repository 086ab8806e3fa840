"""`yts-pipeline sync --skip-embeddings` end to end: a replay catalog into a fresh database, then a rerun.

    python benchmarks/bench_sync.py [MOVIES] [PAGES_PER_RUN ...]   (default: 5000, pages per run 10 and 25)

The command runs as a subprocess, exactly as a user runs it, so its time includes interpreter start,
imports and every Dagster run, and its peak memory is that of the whole command (``wait4``'s
``ru_maxrss``: the largest process of the tree; the in-process runs start no other). Per-asset
seconds are the ``duration_seconds`` each page reports, summed from the instance; with the runs' own
start and end times they split the wall time into page work, Dagster's cost inside the runs, and
what happens outside them. The replay API (in this process, so it does not share the command's CPU
time) answers without latency and the rate limit is off: these are the pipeline's own costs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg  # noqa: E402
from _pg import ScratchPostgres  # noqa: E402

from yts_pipeline.cli.instance import LOCAL_DAGSTER_YAML  # noqa: E402
from yts_pipeline.yts.replay import Catalog, ReplayServer  # noqa: E402

ASSETS = ("raw_list_pages", "movies", "movie_details")
COMMAND = [str(Path(sys.executable).with_name("yts-pipeline")), "sync", "--skip-embeddings"]
TARGET_MOVIES_PER_SECOND = 300
TARGET_RERUN_SHARE = 1 / 3
TARGET_PEAK_BYTES = 1 << 30


@dataclass
class Measure:
    label: str
    pages_per_run: int
    seconds: float
    peak_bytes: int
    runs: int
    in_runs_seconds: float
    asset_seconds: dict[str, float]
    api_calls: dict[str, int]

    @property
    def dagster_in_runs_seconds(self) -> float:
        """Run time the assets did not spend on their pages: events, logs, checks, step bookkeeping."""
        return self.in_runs_seconds - sum(self.asset_seconds.values())

    @property
    def outside_runs_seconds(self) -> float:
        """Interpreter start, imports, discovery, run creation (planned events) and the gaps between runs."""
        return self.seconds - self.in_runs_seconds


def run_command(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS in bytes of ``argv``; raises with its output if it fails."""
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{log.read_text()[-4000:]}")
    return seconds, usage.ru_maxrss * 1024


def asset_seconds(instance: dg.DagsterInstance, since: datetime) -> dict[str, float]:
    """Per asset, the sum of the pages' own ``duration_seconds`` recorded after ``since``.

    A range run records each page twice (the run's totals, then the page's own figures), so only the
    latest event per page counts.
    """
    totals = {}
    for asset in ASSETS:
        records = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since.timestamp())
        per_page, cursor = {}, None
        while True:
            batch = instance.fetch_materializations(records, limit=10_000, cursor=cursor, ascending=True)
            per_page.update({r.partition_key: r.asset_materialization.metadata["duration_seconds"].value
                             for r in batch.records})
            if not batch.has_more:
                break
            cursor = batch.cursor
        totals[asset] = sum(per_page.values())
    return totals


def sync(label: str, pages_per_run: int, env: dict[str, str], work: Path, replay: ReplayServer) -> Measure:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        started = datetime.now(UTC)
        replay.reset_counters()
        seconds, peak = run_command([*COMMAND, "--pages-per-run", str(pages_per_run)], env,
                                    work / f"{label.replace(' ', '_')}_{pages_per_run}.log")
        runs = instance.get_run_records(dg.RunsFilter(created_after=started))
        in_runs = sum(r.end_time - r.start_time for r in runs)
        return Measure(label, pages_per_run, seconds, peak, len(runs), in_runs,
                       asset_seconds(instance, started), dict(replay.calls))


def measure(pages_per_run: int, pg: ScratchPostgres, replay: ReplayServer, work: Path) -> list[Measure]:
    """A first sync into a fresh database and a fresh DAGSTER_HOME, then a rerun with nothing changed."""
    home = work / f"dagster_home_{pages_per_run}"
    home.mkdir()
    env = {**os.environ, "DATABASE_URL": pg.fresh_database(), "YTS_API_URL": replay.base_url,
           "YTS_REQUESTS_PER_SECOND": "0", "DAGSTER_HOME": str(home)}
    (home / "dagster.yaml").write_text(LOCAL_DAGSTER_YAML)
    return [sync(label, pages_per_run, env, work, replay) for label in ("first sync", "rerun")]


def row(m: Measure, movies: int) -> dict[str, str]:
    return {
        "": m.label,
        "pages/run": str(m.pages_per_run),
        "runs": str(m.runs),
        "wall s": f"{m.seconds:.1f}",
        "movies/s": f"{movies / m.seconds:,.0f}",
        **{f"{asset} s": f"{m.asset_seconds[asset]:.1f}" for asset in ASSETS},
        "Dagster in runs s": f"{m.dagster_in_runs_seconds:.1f}",
        "outside runs s": f"{m.outside_runs_seconds:.1f}",
        "peak MiB": f"{m.peak_bytes / 2**20:,.0f}",
        "list calls": str(m.api_calls.get("list_movies", 0)),
        "details calls": str(m.api_calls.get("movie_details", 0)),
    }


def print_table(movies: int, measures: list[Measure]) -> None:
    rows = [row(m, movies) for m in measures]
    widths = {name: max(len(name), *(len(r[name]) for r in rows)) for name in rows[0]}
    print("  " + " | ".join(name.rjust(width) for name, width in widths.items()))
    for r in rows:
        print("  " + " | ".join(r[name].rjust(width) for name, width in widths.items()))
    print("  asset s: the pages' own duration_seconds, summed. Dagster in runs: run time minus asset time "
          "(events, logs,\n  checks, steps). Outside runs: wall minus run time (interpreter, imports, "
          "discovery, run creation).")


def verdicts(movies: int, measures: list[Measure]) -> None:
    for first, rerun in zip(measures[::2], measures[1::2]):
        checks = {
            f">= {TARGET_MOVIES_PER_SECOND} movies/s": movies / first.seconds >= TARGET_MOVIES_PER_SECOND,
            "rerun < 1/3 of the first sync": rerun.seconds < first.seconds * TARGET_RERUN_SHARE,
            "rerun makes 0 details calls": rerun.api_calls.get("movie_details", 0) == 0,
            "peak memory < 1 GiB": max(first.peak_bytes, rerun.peak_bytes) < TARGET_PEAK_BYTES,
        }
        print(f"  pages/run {first.pages_per_run}: "
              + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks.items()))


def main() -> None:
    movies = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    variants = [int(a) for a in sys.argv[2:]] or [10, 25]
    work = Path(tempfile.mkdtemp(prefix="yts-bench-sync-"))
    print(f"bench_sync: {movies} replay movies ({-(-movies // 50)} pages), no latency, rate limit off; "
          f"command: YTS_API_URL=<replay> YTS_REQUESTS_PER_SECOND=0 DATABASE_URL=<fresh db> "
          f"DAGSTER_HOME=<fresh> {' '.join(['yts-pipeline', *COMMAND[1:]])} --pages-per-run N")
    try:
        with ScratchPostgres() as pg, ReplayServer(Catalog.synthetic(movies, seed=5)) as replay:
            measures = [m for n in variants for m in measure(n, pg, replay, work)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(movies, measures)
    print()
    verdicts(movies, measures)


if __name__ == "__main__":
    main()
