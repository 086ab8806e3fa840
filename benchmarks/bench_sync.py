"""`yts-pipeline sync --skip-embeddings` end to end beside dlt's `rest_api` source, on one replay catalog.

    .venv/bin/python benchmarks/bench_sync.py [--rounds R] [MOVIES] [PAGES_PER_RUN ...]
    (default: 3 rounds, 5000 movies, 25 pages per run)     make bench runs it among the others

In one run, each into a fresh database: dlt loading the catalog (``dlt_peer.py``: a page-number
paginator plus a parallelized dependent details resource, merged into Postgres), then the project's
first sync and its no-change rerun (a fresh DAGSTER_HOME per pages-per-run variant). dlt is a
benchmark-only dependency: it lives in build/dlt-venv, created here on first use (pip, from PyPI).
This is repeated ``R`` times, interleaved, because a shared 2-core machine drifts by tens of percent
within minutes: the verdicts are on the medians of the rounds' ratios, and the table shows the round
whose sync ratio is the median.

Both run as subprocesses, as a user runs them, so their times include interpreter start and imports.
The replay API (in this process, shared by both) answers without latency; the project's client is
limited to 1,000 requests/s (dlt has no limiter). Per-asset seconds are the ``seconds`` each page
reports, summed from the instance; with the runs' own start and end times they split the project's
wall time into page work, Dagster inside the runs (events, logs, checks, steps) and the time outside
the runs (interpreter, imports, instance, discovery, run creation): the last two are Dagster's share.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
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

from yts_pipeline.cli.instance import local_dagster_yaml  # noqa: E402
from yts_pipeline.settings import pages_per_run  # noqa: E402
from yts_pipeline.yts.replay import Catalog, ReplayServer  # noqa: E402

ASSETS = ("raw_list_pages", "movies", "movie_details")
COMMAND = [str(Path(sys.executable).with_name("yts-pipeline")), "sync", "--skip-embeddings"]
BENCHMARKS = Path(__file__).resolve().parent
DLT_VENV = BENCHMARKS.parent / "build" / "dlt-venv"
DLT_REQUIREMENT = "dlt[postgres]==1.31.0"
REQUESTS_PER_SECOND = 1000
TARGET_DLT_RATIO = 1.0
TARGET_RERUN_SHARE = 0.25
TARGET_PEAK_BYTES = 1 << 30
ROUNDS = 3


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
    def page_work_seconds(self) -> float:
        return sum(self.asset_seconds.values())

    @property
    def dagster_in_runs_seconds(self) -> float:
        """Run time the assets did not spend on their pages: events, logs, checks, step bookkeeping."""
        return self.in_runs_seconds - self.page_work_seconds

    @property
    def outside_runs_seconds(self) -> float:
        """Interpreter start, imports, instance, discovery, run creation (planned events), gaps between runs."""
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
    """Per asset, the sum of the pages' own ``seconds`` recorded after ``since`` (one event per page)."""
    totals = {}
    for asset in ASSETS:
        records = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since.timestamp())
        seconds, cursor = 0.0, None
        while True:
            batch = instance.fetch_materializations(records, limit=10_000, cursor=cursor, ascending=True)
            seconds += sum(r.asset_materialization.metadata["seconds"].value for r in batch.records)
            if not batch.has_more:
                break
            cursor = batch.cursor
        totals[asset] = seconds
    return totals


def sync(label: str, pages_per_run: int, env: dict[str, str], work: Path, replay: ReplayServer) -> Measure:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        started = datetime.now(UTC)
        replay.reset_counters()
        seconds, peak = run_command(
            [*COMMAND, "--pages-per-run", str(pages_per_run)],
            env,
            work / f"{label.replace(' ', '_')}_{pages_per_run}.log",
        )
        runs = instance.get_run_records(dg.RunsFilter(created_after=started))
        in_runs = sum(r.end_time - r.start_time for r in runs)
        return Measure(
            label,
            pages_per_run,
            seconds,
            peak,
            len(runs),
            in_runs,
            asset_seconds(instance, started),
            dict(replay.calls),
        )


def measure(pages_per_run: int, pg: ScratchPostgres, replay: ReplayServer, work: Path) -> list[Measure]:
    """A first sync into a fresh database and a fresh DAGSTER_HOME, then a rerun with nothing changed."""
    home = work / f"dagster_home_{pages_per_run}"
    home.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": pg.fresh_database(),
        "YTS_API_URL": replay.base_url,
        "YTS_REQUESTS_PER_SECOND": str(REQUESTS_PER_SECOND),
        "DAGSTER_HOME": str(home),
    }
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    return [sync(label, pages_per_run, env, work, replay) for label in ("first sync", "rerun")]


def dlt_python() -> Path:
    """The dlt venv's interpreter, created (and the pinned dlt installed from PyPI) on first use or a new pin."""
    python, stamp = DLT_VENV / "bin" / "python", DLT_VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != DLT_REQUIREMENT:
        print(f"bench_sync: installing {DLT_REQUIREMENT} into {DLT_VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", DLT_REQUIREMENT], check=True)
        stamp.write_text(DLT_REQUIREMENT)
    return python


@dataclass
class PeerMeasure:
    seconds: float
    peak_bytes: int
    api_calls: dict[str, int]
    rows: dict[str, int]


def measure_dlt(pg: ScratchPostgres, replay: ReplayServer, work: Path) -> PeerMeasure:
    python, log = dlt_python(), work / "dlt.log"
    replay.reset_counters()
    argv = [
        str(python),
        str(BENCHMARKS / "dlt_peer.py"),
        replay.base_url,
        pg.fresh_database().replace("postgresql+psycopg2://", "postgresql://"),
        str(work / "dlt"),
    ]
    seconds, peak = run_command(argv, {**os.environ, "PYTHONWARNINGS": "ignore"}, log)
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return PeerMeasure(seconds, peak, dict(replay.calls), result["rows"])


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
        "Dagster share": f"{1 - m.page_work_seconds / m.seconds:.0%}",
        "peak MiB": f"{m.peak_bytes / 2**20:,.0f}",
        "list calls": str(m.api_calls.get("list_movies", 0)),
        "details calls": str(m.api_calls.get("movie_details", 0)),
    }


def print_table(movies: int, measures: list[Measure], peer: PeerMeasure) -> None:
    rows = [row(m, movies) for m in measures]
    rows.append(
        {
            **dict.fromkeys(rows[0], "-"),
            "": "dlt rest_api",
            "wall s": f"{peer.seconds:.1f}",
            "movies/s": f"{movies / peer.seconds:,.0f}",
            "peak MiB": f"{peer.peak_bytes / 2**20:,.0f}",
            "list calls": str(peer.api_calls.get("list_movies", 0)),
            "details calls": str(peer.api_calls.get("movie_details", 0)),
        }
    )
    widths = {name: max(len(name), *(len(r[name]) for r in rows)) for name in rows[0]}
    print("  " + " | ".join(name.rjust(width) for name, width in widths.items()))
    for r in rows:
        print("  " + " | ".join(r[name].rjust(width) for name, width in widths.items()))
    print(
        "  asset s: the pages' own seconds, summed (page work). Dagster in runs: run time minus page work "
        "(events, logs,\n  checks, steps). Outside runs: wall minus run time (interpreter, imports, instance, "
        "discovery, run creation).\n  Dagster share: (Dagster in runs + outside runs) / wall, what is not the "
        "pages' own work."
    )
    print(f"  dlt rows loaded: {', '.join(f'{table} {n}' for table, n in peer.rows.items())}")


def verdicts(rounds: list[tuple[PeerMeasure, list[Measure]]]) -> None:
    """Each round's ratios, then the targets judged on their medians over the rounds."""
    for index, variant in enumerate(rounds[0][1][::2]):
        pairs = [(peer, measures[2 * index], measures[2 * index + 1]) for peer, measures in rounds]
        ratios = [first.seconds / peer.seconds for peer, first, _ in pairs]
        shares = [rerun.seconds / first.seconds for _, first, rerun in pairs]
        ratio, share = statistics.median(ratios), statistics.median(shares)
        print(
            f"  pages/run {variant.pages_per_run}, each round: first sync / dlt "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + "; rerun / first sync "
            + ", ".join(f"{s:.2f}" for s in shares)
        )
        checks = {
            f"first sync / dlt = {ratio:.2f}, median (<= {TARGET_DLT_RATIO})": ratio <= TARGET_DLT_RATIO,
            f"rerun / first sync = {share:.2f}, median (<= {TARGET_RERUN_SHARE})": share <= TARGET_RERUN_SHARE,
            "reruns make 0 details calls": all(rerun.api_calls.get("movie_details", 0) == 0 for _, _, rerun in pairs),
            "peak memory < 1 GiB": all(max(f.peak_bytes, r.peak_bytes) < TARGET_PEAK_BYTES for _, f, r in pairs),
        }
        print(
            f"  pages/run {variant.pages_per_run}: "
            + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks.items())
        )


def parse_args(argv: list[str]) -> tuple[int, int, list[int]]:
    """``[--rounds R] [MOVIES] [PAGES_PER_RUN ...]`` as (rounds, movies, pages-per-run variants)."""
    rounds = ROUNDS
    if argv[:1] == ["--rounds"]:
        rounds, argv = int(argv[1]), argv[2:]
    movies = int(argv[0]) if argv else 5000
    return rounds, movies, [int(a) for a in argv[1:]] or [pages_per_run()]


def main() -> None:
    rounds, movies, variants = parse_args(sys.argv[1:])
    print(
        f"bench_sync: {movies} replay movies ({-(-movies // 50)} pages), no latency, {rounds} rounds, load "
        f"average {os.getloadavg()[0]:.1f} at the start; command: YTS_API_URL=<replay> "
        f"YTS_REQUESTS_PER_SECOND={REQUESTS_PER_SECOND} DATABASE_URL=<fresh db> DAGSTER_HOME=<fresh> "
        f"{' '.join(['yts-pipeline', *COMMAND[1:]])} --pages-per-run N; peer: dlt rest_api (benchmarks/dlt_peer.py)"
    )
    work = Path(tempfile.mkdtemp(prefix="yts-bench-sync-"))
    results: list[tuple[PeerMeasure, list[Measure]]] = []
    try:
        with ScratchPostgres() as pg, ReplayServer(Catalog.synthetic(movies, seed=5)) as replay:
            for index in range(rounds):
                folder = work / f"round_{index + 1}"
                folder.mkdir()
                peer = measure_dlt(pg, replay, folder)
                results.append((peer, [m for n in variants for m in measure(n, pg, replay, folder)]))
                print(
                    f"  round {index + 1}: dlt {peer.seconds:.1f} s, first sync {results[-1][1][0].seconds:.1f} s, "
                    f"rerun {results[-1][1][1].seconds:.1f} s",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by_ratio = sorted(results, key=lambda result: result[1][0].seconds / result[0].seconds)
    peer, measures = by_ratio[len(by_ratio) // 2]
    print()
    print_table(movies, measures, peer)
    print()
    verdicts(results)
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
