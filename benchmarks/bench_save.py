"""save_movies (set-based) versus a per-movie save_movie loop, same payloads, fresh databases, one run.

    python benchmarks/bench_save.py [N]      (default N = 5000; `make bench` runs it)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pg import ScratchPostgres  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.yts.replay import Catalog  # noqa: E402


def realistic_payloads(n: int) -> list[dict]:
    """Details answers of a synthetic catalog: torrents, genres and cast, as the API serves them."""
    catalog = Catalog.synthetic(n, seed=7)
    return [catalog.movie(movie_id) for movie_id in catalog.ids()]


def timed(label: str, url: str, save) -> float:
    db = DatabaseManager(url)
    try:
        started = time.perf_counter()
        save(db)
        seconds = time.perf_counter() - started
        stats = db.get_stats()
    finally:
        db.close_all()
    print(f"  {label:<26} {seconds:8.2f} s   movies={stats['movies']} torrents={stats['torrents']} "
          f"cast={stats['cast']} genres={stats['genres']}")
    return seconds


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    payloads = realistic_payloads(n)
    print(f"bench_save: {n} movies with torrents, genres and cast, into fresh databases")
    with ScratchPostgres() as pg:
        batch = timed("save_movies (one call)", pg.fresh_database(), lambda db: db.save_movies(payloads))
        rerun_url = pg.fresh_database()
        DatabaseManager(rerun_url).save_movies(payloads)
        rerun = timed("save_movies rerun (no-op)", rerun_url, lambda db: db.save_movies(payloads))
        loop = timed("save_movie per-movie loop", pg.fresh_database(),
                     lambda db: [db.save_movie(p) for p in payloads])
    print()
    print(f"  {'method':<26} {'movies/s':>10}")
    print(f"  {'save_movies':<26} {n / batch:>10,.0f}")
    print(f"  {'save_movies rerun':<26} {n / rerun:>10,.0f}")
    print(f"  {'save_movie loop':<26} {n / loop:>10,.0f}")
    print(f"  speed-up of save_movies over the loop: {loop / batch:.1f}x")


if __name__ == "__main__":
    main()
