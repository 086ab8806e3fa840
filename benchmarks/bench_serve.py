"""The HTTP API and pages under load: 75,000 movies, 8 concurrent clients for 30 s mixing search, similar
and movie requests; beside today's server (the code at ``--baseline``) and the same calls through the
Python API in one process (the framework's cost).

    python benchmarks/bench_serve.py [N] [--seconds S] [--clients C] [--baseline REV]
                                                                    (default 75000, 30, 8, 3504f2a)

Movies are synthetic but complete (the replay catalog's generator: plots, genres, torrents, cast):
5,000 saved with ``save_movies``, copied 14 times in SQL with numbered titles. Their vectors are
synthetic (clustered, COPYed) and stored under the packaged model's name, so the server encodes
real query texts with the real model. The server runs as ``python -m yts_pipeline.serve`` in its
own process, as a user runs it; the clients are threads of this process (keep-alive sessions). The
movie_neighbours lists are built as a sync leaves them. Today's server is the project at ``--baseline``
(default 3504f2a, before issue 22: each search encoded, the hybrid statement numbering every keyword
match, a movie in four statements, similar ranked live), unpacked with ``git archive`` and served on a
copy of the database laid out as its schema laid it out (search vectors in TOAST), first; then this
tree's server. The in-process baseline runs the library calls each endpoint makes (``search``,
``similar``, ``catalog.movie_detail``) on as many threads, for as long. Errors: any answer other than
200, or a failed call.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the server does (serve/server.py), before torch loads
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bulk import copy_vectors, synthetic_vectors  # noqa: E402
from _pg import ScratchPostgres  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.db.models import Base, Movie, MovieCast, MovieGenre, Torrent  # noqa: E402
from yts_pipeline.search import get_model, search, similar  # noqa: E402
from yts_pipeline.search.neighbour_update import update_neighbour_lists  # noqa: E402
from yts_pipeline.serve import catalog  # noqa: E402
from yts_pipeline.serve.database import steady_pool  # noqa: E402
from yts_pipeline.settings import DatabaseSettings  # noqa: E402
from yts_pipeline.yts.replay import Catalog  # noqa: E402
from yts_pipeline_tests.support.serving import ServerProcess  # noqa: E402

K = 10
PAGE_K, SIMILAR_ON_PAGE = 20, 12  # what the search page and the movie page ask for (routes/html.py)
SAVE_BATCH = 1_000
COPIES = 15  # each generated movie is saved once and copied 14 times in SQL: 75,000 load in minutes, not a quarter hour
STRIDE = 10_000_000  # YTS id offset between copies (synthetic ids stay far below it)
QUERIES = [
    "a heist that goes wrong",
    "explorers search for an ancient treasure",
    "a detective hunts a killer",
    "a family drama in a small village",
    "a lonely robot falls in love",
    "space station",
    "haunted house",
    "a sailor with a secret past",
    "friendship and second chances",
    "a witness in protective custody",
    "a road trip to Las Vegas",
    "war",
    "a boxer's comeback",
    "a talented musician struggles",
    "police corruption",
    "a mother and her daughter",
    "a stolen weapon",
    "treasure map",
    "revenge",
    "an expedition into the jungle",
    "a comedy about embarrassment",
    "betrayal",
    "a documentary about history",
]
# endpoint -> (share of the requests, what a client asks for)
MIX: dict[str, tuple[float, Callable[[random.Random, list[int]], str]]] = {
    "search (api, hybrid)": (0.30, lambda rng, ids: f"/api/search?q={rng.choice(QUERIES)}&k={K}"),
    "similar (api)": (0.25, lambda rng, ids: f"/api/movies/{rng.choice(ids)}/similar?k={K}"),
    "movie (api)": (0.25, lambda rng, ids: f"/api/movies/{rng.choice(ids)}"),
    "search page": (0.10, lambda rng, ids: f"/?q={rng.choice(QUERIES)}"),
    "movie page": (0.10, lambda rng, ids: f"/movies/{rng.choice(ids)}"),
}
BASELINE = "3504f2a"  # the project before issue 22 ("today's" server)
ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = {
    "search (api, hybrid)": 150,
    "search page": 150,
    "similar (api)": 100,
    "movie (api)": 100,
    "movie page": 100,
}


def load(db: DatabaseManager, n: int) -> list[int]:
    """``n`` complete movies: ``n / COPIES`` synthetic ones saved with ``save_movies``, then copied in SQL
    (numbered titles, new ids, their torrents, genres and cast); a vector per movie in every vector table."""
    originals = Catalog.synthetic(-(-n // COPIES), seed=75)
    ids = originals.ids()
    for start in range(0, len(ids), SAVE_BATCH):
        result = db.save_movies([originals.movie(movie_id) for movie_id in ids[start : start + SAVE_BATCH]])
        assert not result.rejected, result.rejected[:3]
    with db.engine.begin() as conn:
        copy_movies(conn, COPIES - 1, n - len(ids))
        external_ids = list(conn.scalars(text("SELECT external_id FROM movies ORDER BY external_id")))
    load_vectors(db)
    return external_ids


def copy_movies(conn, copies: int, wanted: int) -> None:
    """``wanted`` more movies, each a copy of a saved one (copy r of movie e has YTS id e + r * STRIDE)."""
    movies = Movie.__table__
    plain = [
        c.name for c in movies.c if c.name not in ("id", "external_id", "title", "imdb_code") and c.computed is None
    ]
    conn.execute(
        text(f"""
        INSERT INTO movies (external_id, title, imdb_code, {", ".join(plain)})
        SELECT m.external_id + r * {STRIDE}, m.title || ' ' || to_char(r + 1, 'FMRN'),
               'tt' || (r * {STRIDE} + substr(m.imdb_code, 3)::bigint), {", ".join("m." + c for c in plain)}
        FROM movies m CROSS JOIN generate_series(1, :copies) r
        ORDER BY r, m.external_id LIMIT :wanted"""),
        {"copies": copies, "wanted": wanted},
    )
    for child in (Torrent.__table__, MovieGenre.__table__, MovieCast.__table__):
        columns = [c.name for c in child.c if c.name != "movie_id" and not (c.primary_key and c.name == "id")]
        conn.execute(
            text(f"""
            INSERT INTO {child.name} (movie_id, {", ".join(columns)})
            SELECT copy.id, {", ".join("t." + c for c in columns)}
            FROM {child.name} t JOIN movies original ON original.id = t.movie_id
            JOIN movies copy ON copy.external_id > {STRIDE} AND copy.external_id % {STRIDE} = original.external_id
            WHERE original.external_id < {STRIDE}""")
        )


def load_vectors(db: DatabaseManager) -> None:
    """A synthetic vector per movie (clustered, as in bench_query) under the packaged model's name, in
    every vector table, COPYed before the HNSW indexes are built."""
    model_name = get_model().name
    vector_tables = [table for table in Base.metadata.sorted_tables if "embedding" in table.c]
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT id FROM movies ORDER BY external_id")
        movie_ids = np.array([row[0] for row in cursor.fetchall()])
        vectors = synthetic_vectors(len(movie_ids), uniform=False, rng=np.random.default_rng(42))
        for table in vector_tables:
            for index in table.indexes:
                cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')
            copy_vectors(cursor, table.name, movie_ids, vectors, model_name)
        raw.commit()
    finally:
        raw.close()
    with db.engine.begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for table in vector_tables:
            for index in table.indexes:
                index.create(conn)
        conn.execute(text("ANALYZE"))


class CpuMeter:
    """CPU seconds (user + system, every thread) used by groups of processes from now until ``stop``."""

    def __init__(self, **groups: Callable[[], list[psutil.Process]]):
        self.groups = groups
        self.started = {name: _cpu(find()) for name, find in groups.items()}

    def stop(self) -> dict[str, float]:
        ended = {name: _cpu(find()) for name, find in self.groups.items()}
        return {
            name: sum(seconds - self.started[name].get(pid, 0.0) for pid, seconds in ended[name].items())
            for name in self.groups
        }


def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds per process (a process that exited meanwhile is left out)."""
    found = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[process.pid] = times.user + times.system
    return found


class Tally:
    """Latencies and errors per endpoint, from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.first_error: dict[str, str] = {}

    def add(self, endpoint: str, milliseconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[endpoint].append(milliseconds)
            if error:
                self.errors[endpoint] += 1
                self.first_error.setdefault(endpoint, error)


def pick(rng: random.Random) -> str:
    return rng.choices(list(MIX), weights=[share for share, _ in MIX.values()])[0]


def run_clients(clients: int, seconds: float, work: Callable[[random.Random, str], str | None]) -> tuple[Tally, float]:
    """``clients`` threads calling ``work(rng, endpoint)`` back to back for ``seconds``; returns the tally."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            endpoint = pick(rng)
            started = time.perf_counter()
            try:
                error = work(rng, endpoint)
            except Exception as exc:  # counted, never fatal: the run goes on
                error = f"{type(exc).__name__}: {exc}"
            tally.add(endpoint, (time.perf_counter() - started) * 1000, error)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - started


def http_work(base_url: str, ids: list[int]) -> Callable[[random.Random, str], str | None]:
    sessions = threading.local()

    def work(rng: random.Random, endpoint: str) -> str | None:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        answer = sessions.session.get(base_url + MIX[endpoint][1](rng, ids), timeout=30)
        return None if answer.status_code == 200 else f"HTTP {answer.status_code}: {answer.text[:200]}"

    return work


def library_work(db: DatabaseManager, ids: list[int]) -> Callable[[random.Random, str], str | None]:
    """The calls each endpoint makes, without HTTP, routing, validation, JSON or templates."""
    model = get_model()

    def movie(external_id: int) -> None:
        with db.get_session() as session:
            catalog.movie_detail(session, external_id)

    calls: dict[str, Callable[[random.Random], object]] = {
        "search (api, hybrid)": lambda rng: search(db, rng.choice(QUERIES), k=K, model=model),
        "similar (api)": lambda rng: similar(db, rng.choice(ids), k=K),
        "movie (api)": lambda rng: movie(rng.choice(ids)),
        "search page": lambda rng: search(db, rng.choice(QUERIES), k=PAGE_K, model=model),
        "movie page": lambda rng: (lambda movie_id: (movie(movie_id), similar(db, movie_id, k=SIMILAR_ON_PAGE)))(
            rng.choice(ids)
        ),
    }

    def work(rng: random.Random, endpoint: str) -> str | None:
        calls[endpoint](rng)
        return None

    return work


def warm_up(work: Callable[[random.Random, str], str | None], rounds: int = 10) -> None:
    rng = random.Random(-1)
    for _ in range(rounds):
        for endpoint in MIX:
            work(rng, endpoint)


def one_at_a_time(
    work: Callable[[random.Random, str], str | None], calls: int, **groups: Callable[[], list[psutil.Process]]
) -> dict[str, dict[str, float]]:
    """Per endpoint, ``calls`` requests one after another: p50 wall time and CPU per request of each group."""
    rng = random.Random(7)
    costs = {}
    for endpoint in MIX:
        meter = CpuMeter(**groups)
        walls = []
        for _ in range(calls):
            started = time.perf_counter()
            work(rng, endpoint)
            walls.append((time.perf_counter() - started) * 1000)
        cpu = meter.stop()
        costs[endpoint] = {"p50": statistics.median(walls), **{name: s * 1000 / calls for name, s in cpu.items()}}
    return costs


def report_costs(
    http: dict[str, dict[str, float]], library: dict[str, dict[str, float]], calls: int, server: str
) -> None:
    print(
        f"\n  {server}, one request at a time ({calls} per endpoint): wall p50 and CPU ms per request, "
        "which do not depend on how busy the machine is"
    )
    print(
        f"  {'endpoint':<22} {'HTTP p50':>9} {'server':>7} {'pg':>6} {'client':>7}   {'library p50':>11} "
        f"{'library':>8} {'pg':>6}   {'HTTP adds (CPU)':>15}"
    )
    for endpoint in MIX:
        h, lib = http[endpoint], library[endpoint]
        print(
            f"  {endpoint:<22} {h['p50']:>9.1f} {h['server']:>7.1f} {h['postgres']:>6.1f} {h['clients']:>7.1f}   "
            f"{lib['p50']:>11.1f} {lib['library']:>8.1f} {lib['postgres']:>6.1f}   "
            f"{h['server'] - lib['library']:>+12.1f} ms"
        )


def report(name: str, tally: Tally, elapsed: float) -> dict[str, dict[str, float]]:
    rows = {}
    total = sum(len(v) for v in tally.latencies.values())
    print(f"\n  {name}: {total:,} requests in {elapsed:.1f} s = {total / elapsed:.1f} req/s")
    print(f"  {'endpoint':<22} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for endpoint in MIX:
        values = tally.latencies.get(endpoint, [])
        if not values:
            continue
        p50, p95, p99 = (float(np.percentile(values, q)) for q in (50, 95, 99))
        rows[endpoint] = {"p50": p50, "p95": p95, "errors": tally.errors.get(endpoint, 0)}
        print(
            f"  {endpoint:<22} {len(values):>8,} {len(values) / elapsed:>7.1f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} "
            f"{tally.errors.get(endpoint, 0):>7}"
        )
    for endpoint, error in tally.first_error.items():
        print(f"  first error of {endpoint}: {error}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("movies", nargs="?", type=int, default=75_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--calls", type=int, default=30, help="requests per endpoint in the one-at-a-time pass")
    parser.add_argument(
        "--baseline", default=BASELINE, help="the revision today's server runs from (git archive), or none to skip it"
    )
    args = parser.parse_args()
    print(
        f"bench_serve: {args.movies:,} movies, {args.clients} clients, {args.seconds:.0f} s per side; mix: "
        + ", ".join(f"{name} {share:.0%}" for name, (share, _) in MIX.items())
    )
    print(f"command: python benchmarks/bench_serve.py {' '.join(sys.argv[1:])}".rstrip())
    with ScratchPostgres() as pg:
        name = pg.create_database()
        url = pg.url(name)
        db = DatabaseManager(url, settings=steady_pool(DatabaseSettings.from_env()))  # the server's pool
        postgres = psutil.Process(pg.server.get_postmaster_info().pid)
        started = time.perf_counter()
        ids = load(db, args.movies)
        with db.engine.connect() as conn:
            torrents, links = (
                conn.scalar(text(f"SELECT count(*) FROM {table}")) for table in ("torrents", "movie_casts")
            )
        print(
            f"loaded {len(ids):,} movies ({torrents:,} torrents, {links:,} cast links) with vectors "
            f"in {time.perf_counter() - started:.0f} s"
        )
        db.close_all()
        today = None
        if args.baseline != "none":
            today_url = pg.url(as_before(pg, name))
            with tempfile.TemporaryDirectory(prefix="bench-serve-baseline-") as source:
                unpack(args.baseline, Path(source))
                baseline_code = {"PYTHONPATH": source, "PYTHONSAFEPATH": "1"}  # not this tree, from any cwd
                today = serve_pass(f"today's server ({args.baseline})", today_url, baseline_code, ids, args, postgres)
        lists = update_neighbour_lists(db, get_model().name)
        print(f"movie_neighbours: {lists.lists_written:,} lists built in {lists.seconds:.0f} s")
        vacuum(url, "movie_neighbours")  # now, not by autovacuum during the runs (its CPU would count)
        http = serve_pass("this tree's server", url, {}, ids, args, postgres)

        work = library_work(db, ids)
        warm_up(work)
        print(f"load average before the in-process run: {_load()}")
        library_groups = {"library": lambda: [psutil.Process()], "postgres": postgres.children}
        library_costs = one_at_a_time(work, args.calls, **library_groups)
        meter = CpuMeter(**library_groups)
        library, library_elapsed = run_clients(args.clients, args.seconds, work)
        library_cpu = meter.stop()
        db.close_all()

    if today is not None:
        report_costs(today.costs, library_costs, args.calls, f"today's server ({args.baseline})")
    report_costs(http.costs, library_costs, args.calls, "this tree's server")
    before = report(f"HTTP, today's server ({args.baseline})", today.tally, today.elapsed) if today else {}
    served = report(
        "HTTP: python -m yts_pipeline.serve (uvicorn, one process), clients in this process", http.tally, http.elapsed
    )
    report("Python API in one process (the same library calls, no HTTP)", library, library_elapsed)
    print(f"\n  CPU per request of the {args.clients}-client runs (ms, all threads):")
    runs = [("today", today.tally, today.cpu)] if today else []
    for label, tally, cpu in (*runs, ("HTTP", http.tally, http.cpu), ("in process", library, library_cpu)):
        requests_done = sum(len(v) for v in tally.latencies.values())
        print(
            f"    {label:<11} "
            + ", ".join(f"{part} {seconds * 1000 / requests_done:.1f}" for part, seconds in cpu.items())
        )
    print(
        "\n  targets (HTTP): 0 errors; p95 <= 100 ms for similar, movie and movie page, <= 150 ms for "
        "search and the search page"
    )
    for endpoint, row in served.items():
        target = TARGET_P95_MS[endpoint]
        verdict = "met" if row["p95"] <= target and not row["errors"] else "MISSED"
        today_p95 = f" (today {before[endpoint]['p95']:6.1f} ms)" if endpoint in before else ""
        print(
            f"    {endpoint:<22} p95 {row['p95']:6.1f} ms{today_p95} (target {target}), "
            f"errors {row['errors']:.0f}: {verdict}"
        )


@dataclass
class ServePass:
    costs: dict[str, dict[str, float]]
    tally: Tally
    elapsed: float
    cpu: dict[str, float]


def serve_pass(
    name: str, url: str, env: dict[str, str], ids: list[int], args: argparse.Namespace, postgres: psutil.Process
) -> ServePass:
    """A server on ``url`` with ``env`` added, warmed up; one request at a time, then the clients."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        server = ServerProcess(Path(folder) / "serve.log", url, env={"YTS_DATA_DIR": folder, **env})
        with server:
            while requests.get(f"{server.base_url}/health", timeout=30).json()["model"] != "ready":
                time.sleep(0.5)
            work = http_work(server.base_url, ids)
            warm_up(work)
            print(f"load average before the HTTP run of {name}: {_load()}")
            groups = {
                "server": lambda: [psutil.Process(server.process.pid)],
                "postgres": postgres.children,
                "clients": lambda: [psutil.Process()],
            }
            costs = one_at_a_time(work, args.calls, **groups)
            meter = CpuMeter(**groups)
            tally, elapsed = run_clients(args.clients, args.seconds, work)
            cpu = meter.stop()
            print(f"load average after it: {_load()}")
    return ServePass(costs, tally, elapsed, cpu)


def unpack(revision: str, folder: Path) -> None:
    """The project's files at ``revision``, as ``git archive`` gives them, into ``folder``."""
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", revision], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(folder, filter="data")
    if archive.wait():
        raise SystemExit(f"git archive {revision} failed")


def as_before(pg: ScratchPostgres, template: str) -> str:
    """A copy of database ``template`` with the search vectors where the baseline's schema kept them
    (TOAST, for rows this wide), its movies rewritten so; returns its name."""
    name = pg.create_database(template)
    engine = create_engine(pg.url(name))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE movies ALTER COLUMN search_vector SET STORAGE EXTENDED"))
    engine.dispose()
    vacuum(pg.url(name), "movies", "FULL, ANALYZE")
    return name


def vacuum(url: str, table: str, options: str = "ANALYZE") -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"VACUUM ({options}) {table}"))
    finally:
        engine.dispose()


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
