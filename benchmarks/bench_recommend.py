"""Recommendation quality and speed: ``similar`` / ``recommend`` beside pure cosine on today's documents, same run.

    python benchmarks/bench_recommend.py [--movies N] [--scale M]     (defaults 5000 and 75000)

Quality, on two catalogs saved and embedded (real model, ``embed_movies``) in a scratch Postgres:
the replay catalog (``Catalog.synthetic(N, seed=0)``) and the real movies of the shared samples.
Every movie is a query; its top 10 (itself excluded) are judged by:

    overlap@10      share of results sharing a genre with the query (queries with genres)
    jaccard@10      mean genre Jaccard of query and result
    title@10        share of results sharing a non-stopword title word with the query
    plot cos@10     mean plot cosine of query and result: what the re-rank gives up against "plot only"
    era@10          share of results within 5 years of the query
    rating@10       mean rating of the results (ratings known)
    coverage        share of the catalog that is in somebody's top 10

Rankings: "random" (chance level), "baseline" (pure cosine on the search document, title + year
+ genres + plot + cast: what ``similar`` did), "plot only" (pure cosine on the plot vector), the
blend of ``search/ranking.py`` with parts switched off (exact top-100 plot candidates, in
Python), and ``similar`` itself, through Postgres and the HNSW index. Then how often the top 10
from 100 candidates equals re-ranking the whole catalog, and what semantic ``search`` finds with
the search vector it keeps versus the plot vector. Latency: ``--scale`` movies bulk-loaded
(genres, years, ratings, torrents and plots of the replay generator; clustered synthetic
vectors, as in bench_query.py), p50/p95 of the former ``similar`` statement, the live ranking
(``similar_live``, ``recommend_live``: HNSW candidates re-ranked per call) and the stored lists
(``similar``, ``recommend``: the ``movie_neighbours`` table), after the lists' full rebuild (timed)
and an incremental update for one page of 50 changed movies (timed); then how often the lists' top 10
equals the live top 10 (``AGREEMENT_QUERIES`` movies; with a genre filter; recommend).
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bulk import build_vector_indexes, copy_vectors, synthetic_vectors  # noqa: E402
from _pg import ScratchPostgres  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.db.models import MovieEmbedding, MoviePlotEmbedding  # noqa: E402
from yts_pipeline.search import Filters, embed_movies, get_model, queries, recommend, similar  # noqa: E402
from yts_pipeline.search.neighbour_update import update_neighbour_lists  # noqa: E402
from yts_pipeline.search.neighbours import PROFILE_COLUMNS, as_profile  # noqa: E402
from yts_pipeline.search.queries import recommend_live, similar_live  # noqa: E402
from yts_pipeline.search.ranking import CANDIDATES, WEIGHTS, Profile, Weights, rank  # noqa: E402
from yts_pipeline.search.sql import QUALITY_ORDER, use_index_scans  # noqa: E402
from yts_pipeline.yts.replay import Catalog  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "yts-api" / "samples"
K = 10
STOPWORDS = {
    "a",
    "an",
    "and",
    "at",
    "by",
    "for",
    "from",
    "in",
    "of",
    "on",
    "or",
    "the",
    "to",
    "with",
    "part",
    "ii",
    "iii",
    "iv",
}
FULL_RERANK_QUERIES = 300
SEARCH_QUERIES = 300
LATENCY_QUERIES, WARMUP = 200, 20
AGREEMENT_QUERIES, EXACT_QUERIES = 500, 200
SYNTHETIC_MODEL = "bench-synthetic"  # the model name bulk_load gives the synthetic vectors
ABLATIONS = {  # name -> weights, each row adding one part of the blend
    "genre tier + plot": replace(WEIGHTS, jaccard=0.0, era=0.0, quality=0.0),
    "  + jaccard": replace(WEIGHTS, era=0.0, quality=0.0),
    "  + era": replace(WEIGHTS, quality=0.0),
    "  + rating prior (= library)": WEIGHTS,
}
FORMER_SIMILAR = """
    WITH nearest AS MATERIALIZED (
        SELECT m.id, e.embedding <=> (SELECT embedding FROM movie_embeddings WHERE movie_id = :target) AS distance
        FROM movie_embeddings e JOIN movies m ON m.id = e.movie_id
        WHERE e.model = (SELECT model FROM movie_embeddings WHERE movie_id = :target)
          AND m.removed_at IS NULL AND m.id <> :target
        ORDER BY e.embedding <=> (SELECT embedding FROM movie_embeddings WHERE movie_id = :target)
        LIMIT 10)
    SELECT m.external_id, m.title, m.year, m.rating,
           ARRAY(SELECT g.name FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id
                 WHERE mg.movie_id = m.id ORDER BY g.name) AS genres,
           (SELECT t.quality FROM torrents t WHERE t.movie_id = m.id
            ORDER BY array_position(CAST(:qualities AS text[]), t.quality) NULLS LAST, t.quality LIMIT 1),
           1 - n.distance AS score
    FROM nearest n JOIN movies m ON m.id = n.id ORDER BY score DESC, m.external_id"""


@dataclass
class Embedded:
    """A catalog saved and embedded, read back: profiles, both vectors, title words, cast, by row."""

    db: DatabaseManager
    movies: list[Profile]
    search: np.ndarray
    plot: np.ndarray
    words: list[set[str]]
    cast: list[set[str]]
    row_of: dict[int, int]  # external id -> row


def title_words(title: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", title.lower()) if len(w) > 1 and w not in STOPWORDS}


def embed_catalog(pg: ScratchPostgres, payloads: list[dict]) -> tuple[Embedded, float]:
    db = DatabaseManager(pg.fresh_database())
    db.save_movies(payloads)
    started = time.perf_counter()
    embed_movies(db)
    seconds = time.perf_counter() - started
    with db.get_session() as session:
        movies = [
            as_profile(row)
            for row in session.execute(
                text(f"SELECT {PROFILE_COLUMNS} FROM movies m ORDER BY m.id"), {"qualities": QUALITY_ORDER}
            )
        ]
        ids = [m.movie_id for m in movies]
        vectors = {
            table: dict(session.execute(select(table.movie_id, table.embedding)).all())
            for table in (MovieEmbedding, MoviePlotEmbedding)
        }
        cast: dict[int, set[str]] = {}
        for movie_id, name in session.execute(
            text("SELECT mc.movie_id, c.name FROM movie_casts mc JOIN casts c ON c.id = mc.cast_id")
        ):
            cast.setdefault(movie_id, set()).add(name)
    return Embedded(
        db=db,
        movies=movies,
        search=np.array([vectors[MovieEmbedding][i] for i in ids]),
        plot=np.array([vectors[MoviePlotEmbedding][i] for i in ids]),
        words=[title_words(m.title) for m in movies],
        cast=[cast.get(i, set()) for i in ids],
        row_of={m.external_id: row for row, m in enumerate(movies)},
    ), seconds


def nearest_rows(vectors: np.ndarray, n: int) -> np.ndarray:
    """Each row's ``n`` nearest other rows by cosine (exact), nearest first."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    n = min(n, len(vectors) - 1)
    top = np.argpartition(-similarity, n - 1, axis=1)[:, :n]
    order = np.take_along_axis(similarity, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def reranked(data: Embedded, query: int, rows: Sequence[int], weights: Weights, k: int = K) -> list[int]:
    cosines = data.plot[list(rows)] @ data.plot[query]
    candidates = [(data.movies[r], [float(c)]) for r, c in zip(rows, cosines, strict=True)]
    return [data.row_of[r.movie.external_id] for r in rank([data.movies[query]], [], candidates, k, weights=weights)]


def figures(data: Embedded, rankings: list[list[int]]) -> dict[str, float]:
    overlap, jaccard, title, plot, era, ratings = [], [], [], [], [], []
    for query, results in enumerate(rankings):
        q = data.movies[query]
        for r in (data.movies[row] for row in results):
            if q.genres:
                overlap.append(bool(q.genres & r.genres))
                jaccard.append(len(q.genres & r.genres) / len(q.genres | r.genres))
            if q.year and r.year:
                era.append(abs(q.year - r.year) <= WEIGHTS.same_era_years)
            if r.rating:
                ratings.append(r.rating)
        title += [bool(data.words[query] & data.words[row]) for row in results]
        plot += list(data.plot[results] @ data.plot[query]) if results else []
    shown = {row for results in rankings for row in results}
    return {
        "overlap": statistics.mean(overlap),
        "jaccard": statistics.mean(jaccard),
        "title": statistics.mean(title),
        "plot": float(statistics.mean(plot)),
        "era": statistics.mean(era),
        "rating": statistics.mean(ratings),
        "coverage": len(shown) / len(data.movies),
    }


def quality_section(name: str, data: Embedded, embed_seconds: float, rng: random.Random) -> dict[str, dict]:
    n = len(data.movies)
    print(
        f"\n{name}: {n:,} movies ({sum(m.has_plot for m in data.movies):,} with plot text), "
        f"embedded in {embed_seconds:.0f} s (two texts per movie)"
    )
    baseline = nearest_rows(data.search, K)
    plot_only = nearest_rows(data.plot, K)
    pools = nearest_rows(data.plot, 2 * CANDIDATES)
    rows: dict[str, list[list[int]]] = {
        "random": [rng.sample([r for r in range(n) if r != q], min(K, n - 1)) for q in range(n)],
        "baseline: cosine, search document": [list(r) for r in baseline],
        "plot only: cosine, plot vector": [list(r) for r in plot_only],
    }
    for label, weights in ABLATIONS.items():
        rows[label] = [reranked(data, q, pools[q][:CANDIDATES], weights) for q in range(n)]
    started = time.perf_counter()
    rows["similar() (library, HNSW)"] = [
        [data.row_of[r.external_id] for r in similar(data.db, m.external_id, k=K)] for m in data.movies
    ]
    library_ms = (time.perf_counter() - started) * 1000 / n
    table = {label: figures(data, rankings) for label, rankings in rows.items()}
    print(
        f"  {'ranking':<36} {'overlap':>8} {'jaccard':>8} {'title':>6} {'plot cos':>9} {'era':>6} "
        f"{'rating':>7} {'coverage':>9}"
    )
    for label, f in table.items():
        print(
            f"  {label:<36} {f['overlap']:>8.3f} {f['jaccard']:>8.3f} {f['title']:>6.3f} {f['plot']:>9.3f} "
            f"{f['era']:>6.3f} {f['rating']:>7.2f} {f['coverage']:>9.3f}"
        )
    sharing = [sum(bool(q.genres & m.genres) for m in data.movies if m is not q) for q in data.movies if q.genres]
    print(
        f"  best overlap@10 possible (movies sharing a genre are few): "
        f"{statistics.mean(min(K, count) / K for count in sharing):.3f}; title@10 of random movies with the "
        f"same genre set: {_same_genres_title_share(data, rng):.3f}"
    )
    print(
        f"  plot cos given up against plot only: "
        f"{table['plot only: cosine, plot vector']['plot'] - table['similar() (library, HNSW)']['plot']:.3f}; "
        f"similar() took {library_ms:.1f} ms per call here"
    )
    queries = rng.sample(range(n), min(FULL_RERANK_QUERIES, n))
    everything = {
        q: reranked(data, q, [r for r in np.argsort(-(data.plot @ data.plot[q])) if r != q], WEIGHTS) for q in queries
    }
    pool_sizes = sorted({100, CANDIDATES, 2 * CANDIDATES})
    agreement = [
        sum(reranked(data, q, pools[q][:size], WEIGHTS) == everything[q] for q in queries) / len(queries)
        for size in pool_sizes
    ]
    print(
        f"  top 10 equal to re-ranking all {n:,} movies ({len(queries)} queries), from "
        + ", ".join(f"{size} candidates {share:.0%}" for size, share in zip(pool_sizes, agreement, strict=True))
        + f" (the library takes {CANDIDATES})"
    )
    with_cast = [c for c in data.cast if c]
    sharing = sum(bool(data.cast[a] & data.cast[b]) for a in range(n) for b in range(a + 1, n)) if n <= 500 else None
    if sharing is not None:
        print(f"  cast: {len(with_cast)} movies with cast, {sharing} pairs of movies sharing a cast member")
    return table


def _same_genres_title_share(data: Embedded, rng: random.Random) -> float:
    """Title-word share between random movies of identical genres: the floor for a genre-faithful ranking
    (replay titles are made of their genre's nouns)."""
    by_genres: dict[frozenset[str], list[int]] = {}
    for row, movie in enumerate(data.movies):
        by_genres.setdefault(movie.genres, []).append(row)
    shares = []
    for query in rng.sample(range(len(data.movies)), min(FULL_RERANK_QUERIES, len(data.movies))):
        others = [row for row in by_genres[data.movies[query].genres] if row != query]
        shares += [bool(data.words[query] & data.words[row]) for row in rng.sample(others, min(K, len(others)))]
    return statistics.mean(shares) if shares else 0.0


def search_section(name: str, data: Embedded, rng: random.Random) -> None:
    """Semantic search keeps the search vector; what it would find with the plot vector instead."""
    model = get_model()
    queries = rng.sample(range(len(data.movies)), min(SEARCH_QUERIES, len(data.movies)))
    titles = model.encode([data.movies[q].title for q in queries])
    with data.db.get_session() as session:
        plots = dict(
            session.execute(
                text(
                    "SELECT id, COALESCE(NULLIF(summary, ''), NULLIF(description_full, ''), "
                    "description_intro) FROM movies"
                )
            ).all()
        )
    with_plot = [q for q in queries if data.movies[q].has_plot]
    sentences = model.encode([plots[data.movies[q].movie_id].split(". ")[0] for q in with_plot])
    print(
        f"  semantic search, hit@10 of the movie ({len(queries)} title queries, {len(with_plot)} "
        "first-plot-sentence queries):"
    )
    for label, vectors in (("search vector (kept, unchanged)", data.search), ("plot vector (not used)", data.plot)):
        by_title = statistics.mean(q in np.argsort(-(vectors @ v))[:K] for q, v in zip(queries, titles, strict=True))
        by_plot = statistics.mean(
            q in np.argsort(-(vectors @ v))[:K] for q, v in zip(with_plot, sentences, strict=True)
        )
        print(f"    {label:<34} titles {by_title:.3f}   plot sentences {by_plot:.3f}")


def bulk_load(db: DatabaseManager, n: int) -> float:
    """``n`` replay movies by COPY (no model run: clustered synthetic vectors); returns the index build seconds."""
    catalog = Catalog.synthetic(n, seed=3)
    movies = [catalog.movie(i) for i in catalog.ids()]
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in (MovieEmbedding, MoviePlotEmbedding):
            cursor.execute(f"DROP INDEX ix_{table.__tablename__}_embedding_hnsw")
        rows = io.StringIO()
        writer = csv.writer(rows)
        for m in movies:
            writer.writerow([m["id"], m["imdb_code"], m["title"], m["year"], m["rating"], m["summary"]])
        rows.seek(0)
        cursor.copy_expert(
            "COPY movies (external_id, imdb_code, title, year, rating, summary) FROM STDIN WITH (FORMAT csv)", rows
        )
        genres = sorted({g for m in movies for g in m.get("genres", ())})
        cursor.execute("INSERT INTO genres (name) SELECT unnest(%s)", (genres,))
        pairs = [(m["id"], g) for m in movies for g in m.get("genres", ())]
        torrents = [(m["id"], t["hash"], t["quality"]) for m in movies for t in m.get("torrents", ())]
        cursor.execute("CREATE TEMP TABLE staged_movie_genres (external_id bigint, name text)")
        cursor.copy_expert("COPY staged_movie_genres FROM STDIN", _tsv(pairs))
        cursor.execute("CREATE TEMP TABLE staged_torrents (external_id bigint, hash text, quality text)")
        cursor.copy_expert("COPY staged_torrents FROM STDIN", _tsv(torrents))
        cursor.execute(
            "INSERT INTO movie_genres (movie_id, genre_id) SELECT m.id, g.id FROM staged_movie_genres s "
            "JOIN movies m ON m.external_id = s.external_id JOIN genres g ON g.name = s.name"
        )
        cursor.execute(
            "INSERT INTO torrents (movie_id, hash, quality) SELECT m.id, s.hash, s.quality "
            "FROM staged_torrents s JOIN movies m ON m.external_id = s.external_id"
        )
        cursor.execute("SELECT id FROM movies ORDER BY id")
        movie_ids = np.array([row[0] for row in cursor.fetchall()])
        rng = np.random.default_rng(42)
        for table in (MovieEmbedding, MoviePlotEmbedding):
            copy_vectors(cursor, table.__tablename__, movie_ids, synthetic_vectors(n, False, rng), SYNTHETIC_MODEL)
        raw.commit()
    finally:
        raw.close()
    return build_vector_indexes(db)


def _server_cpu(pg: ScratchPostgres, db: DatabaseManager) -> float:
    """CPU seconds used so far by the Postgres backends serving ``db``: a figure the machine's load barely moves."""
    with pg.admin.connect() as conn:
        pids = (
            conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": make_url(db.url).database}
            )
            .scalars()
            .all()
        )
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _tsv(rows: list[tuple]) -> io.StringIO:
    return io.StringIO("".join("\t".join(map(str, row)) + "\n" for row in rows))


def latency_section(pg: ScratchPostgres, n: int) -> dict[str, tuple[float, float]]:
    db = DatabaseManager(pg.fresh_database())
    started = time.perf_counter()
    built = bulk_load(db, n)
    print(
        f"\nlatency at {n:,} movies: loaded in {time.perf_counter() - started:.0f} s (both HNSW indexes "
        f"{built:.0f} s); {LATENCY_QUERIES} calls per row after {WARMUP} warm-up, k={K}"
    )
    with db.get_session() as session:
        movie_ids = dict(session.execute(text("SELECT external_id, id FROM movies")).all())
    externals = sorted(movie_ids)
    rng = random.Random(5)
    picks = [rng.sample(externals, 3) for _ in range(LATENCY_QUERIES + WARMUP)]

    def former(i: int) -> list:
        with db.get_session() as session:
            use_index_scans(session)
            return session.execute(
                text(FORMER_SIMILAR), {"target": movie_ids[picks[i][0]], "qualities": QUALITY_ORDER}
            ).all()

    build_lists(db, externals, rng)
    library = queries.CANDIDATES, queries.CANDIDATES_PER_RESULT
    drama = Filters(genre="Drama")
    workloads: list[tuple[str, Callable[[int], list], tuple[int, int]]] = [
        ("baseline: former similar (cosine top 10)", former, library),
        (f"similar, live ({CANDIDATES} candidates)", lambda i: similar_live(db, picks[i][0], k=K), library),
        ("similar, live (100 candidates)", lambda i: similar_live(db, picks[i][0], k=K), (100, 100 // K)),
        ("similar --genre Drama, live", lambda i: similar_live(db, picks[i][0], k=K, filters=drama), library),
        (
            "recommend (2 liked, 1 disliked), live",
            lambda i: recommend_live(db, picks[i][:2], picks[i][2:], k=K),
            library,
        ),
        ("similar, stored lists", lambda i: similar(db, picks[i][0], k=K), library),
        ("similar --genre Drama, stored lists", lambda i: similar(db, picks[i][0], k=K, filters=drama), library),
        ("recommend (2 liked, 1 disliked), lists", lambda i: recommend(db, picks[i][:2], picks[i][2:], k=K), library),
    ]
    figures_ms = {}
    print(f"  {'call':<42} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/call (this + Postgres)':>30}")
    for label, run, candidates in workloads:
        queries.CANDIDATES, queries.CANDIDATES_PER_RESULT = candidates
        for i in range(WARMUP):
            run(i)
        times = []
        cpu_started = time.process_time(), _server_cpu(pg, db)
        for i in range(WARMUP, WARMUP + LATENCY_QUERIES):
            started = time.perf_counter()
            run(i)
            times.append((time.perf_counter() - started) * 1000)
        client, server = (time.process_time() - cpu_started[0]), (_server_cpu(pg, db) - cpu_started[1])
        figures_ms[label] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)))
        cpu = (
            f"{(client + server) * 1000 / LATENCY_QUERIES:.1f} ({client * 1000 / LATENCY_QUERIES:.1f} + "
            f"{server * 1000 / LATENCY_QUERIES:.1f})"
        )
        print(f"  {label:<42} {figures_ms[label][0]:>8.1f} {figures_ms[label][1]:>8.1f} {cpu:>30}")
    queries.CANDIDATES, queries.CANDIDATES_PER_RESULT = library
    agreement_section(db, externals, rng)
    db.close_all()
    return figures_ms


def build_lists(db: DatabaseManager, externals: list[int], rng: random.Random) -> None:
    """The lists' full rebuild and one page's incremental update, timed."""
    full = update_neighbour_lists(db, SYNTHETIC_MODEL)
    print(
        f"  movie_neighbours full rebuild: {full.lists_written:,} lists in {full.seconds:.0f} s "
        f"({full.seconds / 60:.1f} min)"
    )
    changed = rng.sample(externals, 50)
    with db.get_session() as session:
        session.execute(text("UPDATE movies SET rating = 9.9 - rating WHERE external_id = ANY(:ids)"), {"ids": changed})
    page = update_neighbour_lists(db, SYNTHETIC_MODEL)
    print(
        f"  incremental update, 50 movies' ratings changed: {page.lists_written:,} lists redone "
        f"in {page.seconds:.1f} s ({page.mode})"
    )


def agreement_section(db: DatabaseManager, externals: list[int], rng: random.Random) -> None:
    """How often the lists' top 10 equals the live one: with the HNSW index (the live ranking), then with
    exact candidates (the index dropped), which is what the lists are computed from."""
    queries_ = rng.sample(externals, AGREEMENT_QUERIES)
    drama = Filters(genre="Drama")

    def agreement(lists: Callable[[int], list], live: Callable[[int], list], n: int = AGREEMENT_QUERIES) -> float:
        asked = queries_[:n]
        same = sum([r.external_id for r in lists(q)] == [r.external_id for r in live(q)] for q in asked)
        return same / len(asked)

    trios = {q: rng.sample(externals, 3) for q in queries_}
    shares = {
        "similar": agreement(lambda q: similar(db, q, k=K), lambda q: similar_live(db, q, k=K)),
        "similar --genre Drama": agreement(
            lambda q: similar(db, q, k=K, filters=drama), lambda q: similar_live(db, q, k=K, filters=drama)
        ),
        "recommend (1 liked)": agreement(lambda q: recommend(db, [q], k=K), lambda q: recommend_live(db, [q], k=K)),
        "recommend (2 liked, 1 disliked)": agreement(
            lambda q: recommend(db, trios[q][:2], trios[q][2:], k=K),
            lambda q: recommend_live(db, trios[q][:2], trios[q][2:], k=K),
        ),
    }
    print(
        f"  top 10 from the lists equal to the live top 10 ({AGREEMENT_QUERIES} queries, target >= 99%): "
        + ", ".join(f"{label} {share:.1%}" for label, share in shares.items())
    )
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_movie_plot_embeddings_embedding_hnsw"))
    exact = {
        "similar": agreement(lambda q: similar(db, q, k=K), lambda q: similar_live(db, q, k=K), EXACT_QUERIES),
        "recommend (2 liked, 1 disliked)": agreement(
            lambda q: recommend(db, trios[q][:2], trios[q][2:], k=K),
            lambda q: recommend_live(db, trios[q][:2], trios[q][2:], k=K),
            EXACT_QUERIES,
        ),
    }
    print(
        f"  ... to the live top 10 from exact candidates (plot index dropped, {EXACT_QUERIES} queries): "
        + ", ".join(f"{label} {share:.1%}" for label, share in exact.items())
    )


def main() -> None:
    args = sys.argv[1:]
    movies = int(args[args.index("--movies") + 1]) if "--movies" in args else 5000
    scale = int(args[args.index("--scale") + 1]) if "--scale" in args else 75_000
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    print(f"bench_recommend: k={K}, {CANDIDATES} plot candidates re-ranked; load average {' '.join(load)}")
    print(f"command: python benchmarks/bench_recommend.py {' '.join(args)}".rstrip())
    rng = random.Random(0)
    replay = Catalog.synthetic(movies, seed=0)
    real = Catalog.from_files(sorted(SAMPLES.glob("*.json")))
    with ScratchPostgres() as pg:
        for name, catalog in (
            (f"replay catalog (Catalog.synthetic({movies}, seed=0))", replay),
            ("real movies of the shared samples", real),
        ):
            data, seconds = embed_catalog(pg, [catalog.movie(i) for i in catalog.ids()])
            quality_section(name, data, seconds, rng)
            search_section(name, data, rng)
            data.db.close_all()
        latency_section(pg, scale)
    with open("/proc/loadavg") as loadavg:
        print(f"load average at the end: {' '.join(loadavg.read().split()[:3])}")


if __name__ == "__main__":
    main()
