"""Latency of ``similar`` and ``search`` (semantic) at 75,000 movies: HNSW index versus exact scan, recall@10.

    python benchmarks/bench_query.py [N] [--uniform]     (default N = 75000; `make bench` runs it)

Vectors are synthetic (no model run): by default clustered like sentence embeddings (topics with
spread), or uniformly random with ``--uniform``, the hardest case for HNSW. Movies are bulk-loaded
with COPY (the same vectors into the search and the plot table), then the HNSW indexes of
``db/models.py`` are built once (the build time printed is both). The exact baseline is the same
library call with index scans disabled for the database (``enable_indexscan = off``); its answers
are the ground truth for recall. Query-text encoding is left out (a stub model returns the
query vectors) and measured once on its own with the real model.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bulk import VECTOR_TABLES, build_vector_indexes, copy_vectors, synthetic_vectors  # noqa: E402
from _pg import ScratchPostgres  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS  # noqa: E402
from yts_pipeline.search import sql  # noqa: E402
from yts_pipeline.search.model import EmbeddingModel, get_model  # noqa: E402
from yts_pipeline.search.queries import Filters, search, similar  # noqa: E402

GENRES = [f"Genre{i:02d}" for i in range(20)]  # one per movie: a genre filter keeps 5%
QUERIES = 200
WARMUP = 20
K = 10
MODEL_NAME = "bench-synthetic"


def load_catalog(db: DatabaseManager, vectors: np.ndarray) -> float:
    """Bulk-load movies, genres and vectors; build the HNSW index afterwards; return its build seconds."""
    n = len(vectors)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in VECTOR_TABLES:
            cursor.execute(f"DROP INDEX ix_{table.__tablename__}_embedding_hnsw")
        movies = "".join(f"{i}\tMovie {i}\t{1950 + i % 75}\t{(i % 90) / 10 + 1:.1f}\n" for i in range(1, n + 1))
        cursor.copy_expert("COPY movies (external_id, title, year, rating) FROM STDIN", io.StringIO(movies))
        cursor.execute("INSERT INTO genres (name) SELECT unnest(%s) ORDER BY 1", (GENRES,))
        cursor.execute(
            "INSERT INTO movie_genres (movie_id, genre_id) SELECT m.id, g.id FROM movies m "
            "JOIN genres g ON g.name = 'Genre' || lpad((m.external_id % 20)::text, 2, '0')"
        )
        cursor.execute("SELECT id FROM movies ORDER BY external_id")
        movie_ids = np.array([row[0] for row in cursor.fetchall()])
        for table in VECTOR_TABLES:  # the same vectors: search reads one table, similar the other
            copy_vectors(cursor, table.__tablename__, movie_ids, vectors, MODEL_NAME)
        raw.commit()
    finally:
        raw.close()
    return build_vector_indexes(db)


class QueryVectors:
    """A stand-in for the model's encoder: ``encode`` hands out prepared query vectors."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors
        self.next = 0

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        vector = self.vectors[self.next % len(self.vectors)]
        self.next += 1
        return vector[None, :]


def timed_runs(run: Callable[[int], list]) -> tuple[list[float], list[list[int]]]:
    """Latency (ms) and result ids of ``QUERIES`` calls after ``WARMUP`` untimed ones."""
    for i in range(WARMUP):
        run(i)
    latencies, answers = [], []
    for i in range(QUERIES):
        started = time.perf_counter()
        results = run(i)
        latencies.append((time.perf_counter() - started) * 1000)
        answers.append([r.external_id for r in results])
    return latencies, answers


def set_index_scans(db: DatabaseManager, admin, enabled: bool) -> None:
    database = make_url(db.url).database
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" SET enable_indexscan = {"on" if enabled else "off"}'))
    db.engine.dispose()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 75_000
    uniform = "--uniform" in sys.argv
    rng = np.random.default_rng(42)
    vectors = synthetic_vectors(n, uniform, rng)
    query_vectors = synthetic_vectors(QUERIES + WARMUP, uniform, np.random.default_rng(7))
    if not uniform:  # queries near the data's topics, like a real query near real movies
        query_vectors = vectors[rng.integers(0, n, len(query_vectors))] + 0.5 * query_vectors
        query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    similar_ids = rng.integers(1, n + 1, QUERIES + WARMUP).tolist()
    stub = QueryVectors(query_vectors)
    model = EmbeddingModel(name=MODEL_NAME, encoder=stub)  # type: ignore[arg-type]
    library_ef_search = sql.EF_SEARCH

    print(
        f"bench_query: {n:,} movies, {'uniform random' if uniform else 'clustered'} {EMBEDDING_DIMENSIONS}-d "
        f"vectors, k={K}, {QUERIES} queries per row (after {WARMUP} warm-up)"
    )
    print(f"command: python benchmarks/bench_query.py {' '.join(sys.argv[1:])}".rstrip())
    with ScratchPostgres() as pg:
        db = DatabaseManager(pg.fresh_database())
        started = time.perf_counter()
        build = load_catalog(db, vectors)
        print(f"loaded in {time.perf_counter() - started:.1f} s (HNSW build {build:.1f} s, m=16, ef_construction=64)")
        genre = Filters(genre=GENRES[3])
        workloads: dict[str, Callable[[int], list]] = {
            "similar (YTS id)": lambda i: similar(db, similar_ids[i], k=K),
            "search semantic": lambda i: search(db, "q", mode="semantic", k=K, model=model),
            "search semantic+genre": lambda i: search(db, "q", mode="semantic", k=K, filters=genre, model=model),
        }

        set_index_scans(db, pg.admin, enabled=False)
        exact = {}
        for name, run in workloads.items():
            stub.next = 0
            exact[name] = timed_runs(run)
        set_index_scans(db, pg.admin, enabled=True)

        print()
        print(f"  {'query':<22} {'plan':<16} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10}")
        for name, run in workloads.items():
            latencies, truth = exact[name]
            print(f"  {name:<22} {'exact scan':<16} {_p(latencies, 50):>8.2f} {_p(latencies, 95):>8.2f} {'1.000':>10}")
            for ef_search in sorted({40, library_ef_search, 200}):
                sql.EF_SEARCH = ef_search
                stub.next = 0
                latencies, answers = timed_runs(run)
                recall = statistics.mean(len(set(a) & set(t)) / len(t) for a, t in zip(answers, truth) if t)
                label = f"hnsw ef={ef_search}" + (" *" if ef_search == library_ef_search else "")
                print(f"  {'':<22} {label:<16} {_p(latencies, 50):>8.2f} {_p(latencies, 95):>8.2f} {recall:>10.3f}")
            sql.EF_SEARCH = library_ef_search
        db.close_all()
    print(
        f"  * sql.EF_SEARCH, the library's setting. Encoding a text query with the real model "
        f"adds p50 {_encode_ms():.1f} ms."
    )


def _encode_ms() -> float:
    model = get_model()
    model.encode(["warm up"])
    times = []
    for text_ in ("a heist in space", "a lonely robot falls in love", "a tennis star recovers from injury") * 10:
        started = time.perf_counter()
        model.encode([text_])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _p(values: list[float], percent: int) -> float:
    return float(np.percentile(values, percent))


if __name__ == "__main__":
    main()
