"""save_movies (staged with COPY, merged in SQL) versus a per-movie save_movie loop: same payloads, fresh
databases, one run.

    python benchmarks/bench_save.py [N]      (default N = 5000; `make bench` runs it)

Besides the one call (the headline, parsing of the payloads included) it times the same call one batch
at a time, from already parsed records (what the pipeline's steps pass), in pages of 50 (how the
pipeline saves), and a no-op rerun, which must write nothing. CPU seconds are split between this
process and the Postgres server, whose processes are read from /proc (Linux).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pg import ScratchPostgres  # noqa: E402
from sqlalchemy import text  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.db.saving import SaveResult, to_records  # noqa: E402
from yts_pipeline.yts.replay import Catalog  # noqa: E402

TARGET_MOVIES_PER_SECOND = 2000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def realistic_payloads(n: int) -> list[dict]:
    """Details answers of a synthetic catalog: torrents, genres and cast, as the API serves them."""
    catalog = Catalog.synthetic(n, seed=7)
    return [catalog.movie(movie_id) for movie_id in catalog.ids()]


def server_cpu_seconds(postmaster: int) -> float:
    """CPU of the Postgres server: the postmaster, its live children and the children it reaped."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == postmaster:
            ticks += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def postmaster_of(db: DatabaseManager) -> int:
    with db.engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def timed(
    label: str,
    url: str,
    save: Callable[[DatabaseManager], list[object]],
    n: int,
    prepare: Callable[[DatabaseManager], object] | None = None,
) -> float:
    db = DatabaseManager(url)
    try:
        if prepare:
            prepare(db)
        postmaster = postmaster_of(db)
        server_before, started, cpu = server_cpu_seconds(postmaster), time.perf_counter(), time.process_time()
        results = save(db)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        server = server_cpu_seconds(postmaster) - server_before
        stats = db.get_stats()
    finally:
        db.close_all()
    counted = [r.rows_written for r in results if isinstance(r, SaveResult)]
    written = str(sum(counted)) if counted else "-"
    print(
        f"  {label:<34} {seconds:7.2f} s {n / seconds:8,.0f}/s   CPU: python {cpu:5.2f} s, postgres {server:5.2f} s"
        f"   rows written {written:>6}   movies={stats['movies']} torrents={stats['torrents']}"
        f" cast={stats['cast']}"
    )
    return seconds


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    payloads = realistic_payloads(n)
    records, _ = to_records(payloads)
    print(f"bench_save: {n} details payloads with torrents, genres and cast, into fresh databases")
    with ScratchPostgres() as pg:
        batch = timed("save_movies (one call)", pg.fresh_database(), lambda db: [db.save_movies(payloads)], n)
        timed("  one batch at a time", pg.fresh_database(), lambda db: [db.save_movies(payloads, workers=1)], n)
        timed("  from parsed records", pg.fresh_database(), lambda db: [db.save_movies(records)], n)
        timed(
            "  in pages of 50",
            pg.fresh_database(),
            lambda db: [db.save_movies(payloads[i : i + 50]) for i in range(0, n, 50)],
            n,
        )
        rerun = timed(
            "  rerun, nothing changed",
            pg.fresh_database(),
            lambda db: [db.save_movies(payloads)],
            n,
            prepare=lambda db: db.save_movies(payloads),
        )
        loop = timed(
            "save_movie per-movie loop (baseline)",
            pg.fresh_database(),
            lambda db: [db.save_movie(p) for p in payloads],
            n,
        )
    print()
    verdict = "met" if n / batch >= TARGET_MOVIES_PER_SECOND else "MISSED"
    print(
        f"  save_movies {n / batch:,.0f} movies/s (target {TARGET_MOVIES_PER_SECOND:,}: {verdict}), "
        f"{loop / batch:.1f}x the per-movie loop ({n / loop:,.0f} movies/s); no-op rerun {n / rerun:,.0f} movies/s"
    )


if __name__ == "__main__":
    main()
