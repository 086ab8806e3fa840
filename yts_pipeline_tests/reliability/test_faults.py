"""Faults: a sync through a replay API that answers 20 % of requests with a fault ends with exactly
the database a fault-free sync of the same catalog produces (canonical dump, table by table)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.reliability.support import assert_same_database, cli_env, integrity_problems

KINDS = ("429", "503", "truncated", "slow", "reset", "empty")


def count_faults(server: ReplayServer) -> Counter:
    """Wrap the server's fault plan so every fault it hands out is counted by kind."""
    drawn: Counter = Counter()
    plan = server._faults
    draw = plan.draw

    def counting(endpoint, movie_id, page):
        kind = draw(endpoint, movie_id, page)
        if kind is not None:
            drawn[kind] += 1
        return kind

    plan.draw = counting
    return drawn


def repeated_requests(server: ReplayServer) -> int:
    """Requests that asked again for something already asked: the client's retries, seen by the server."""
    asked = Counter((endpoint, tuple(sorted(params.items()))) for _, endpoint, params, _ in server.request_log)
    return sum(n - 1 for n in asked.values())


def faulty_sync(
    scenario,
    references,
    database_url: str,
    procs,
    home: Path,
    *,
    movies: int,
    seed: int,
    slow_seconds: float,
    timeout: float,
) -> None:
    reference = references.dump(movies, seed)
    scenario.figure("movies", movies)
    scenario.figure("clean sync seconds", references.seconds.get((movies, seed)))
    server = ReplayServer(
        Catalog.synthetic(movies, seed=seed),
        fault_rate=0.2,
        seed=seed,
        retry_after_seconds=0,
        slow_seconds=slow_seconds,
    )
    server.fault_kinds = KINDS
    drawn = count_faults(server)
    with server:
        env = cli_env(
            server.base_url,
            database_url=database_url,
            dagster_home=home,
            YTS_HTTP_TIMEOUT=str(timeout),
            YTS_HTTP_ATTEMPTS="12",
        )
        started = time.monotonic()
        proc = procs.run("faulty-sync", ["sync", "--skip-embeddings"], env, timeout=1200)
        scenario.figure("faulty sync seconds", round(time.monotonic() - started, 1))
    scenario.figure("requests", len(server.request_log))
    scenario.figure("faults injected", sum(drawn.values()))
    scenario.figure("faults by kind", dict(sorted(drawn.items())))
    scenario.figure("retries observed", repeated_requests(server))
    if slow_seconds > timeout:
        scenario.figure("client timeouts", drawn["slow"])
    assert proc.popen.returncode == 0, proc.describe()
    assert " 0 failures" in proc.stdout(), proc.describe()
    assert sum(drawn.values()) > 0.15 * len(server.request_log)
    scenario.figure("rows compared", assert_same_database(reference, database_url))
    assert integrity_problems(database_url) == {}


def test_faults_300_movies_give_the_clean_database(scenario, references, fresh_database, procs, tmp_path) -> None:
    """300 movies, 20 % faults (slow answers faster than the client timeout)."""
    scenario.describe(
        "Faults",
        "300-movie sync, 20 % faults",
        injected="20 % of requests answered 429 (Retry-After), 503 HTML, truncated JSON, slow (0.3 s, under "
        "the 5 s timeout), connection reset, or a list page without its movies",
        checked="exit 0 and no failure; canonical dump equal to a fault-free sync of the same catalog, "
        "every table; no duplicate or orphan row",
    )
    faulty_sync(
        scenario, references, fresh_database, procs, tmp_path / "home", movies=300, seed=31, slow_seconds=0.3, timeout=5
    )


@pytest.mark.slow
def test_faults_1000_movies_with_timeouts_give_the_clean_database(
    scenario, references, fresh_database, procs, tmp_path
) -> None:
    """1,000 movies, 20 % faults; slow answers outlast the client timeout, so they are timeouts."""
    scenario.describe(
        "Faults",
        "1,000-movie sync, 20 % faults with timeouts",
        injected="20 % of requests answered 429, 503 HTML, truncated JSON, connection reset, empty list page, "
        "or slow: 1.5 s against a 1 s client timeout (a timeout, then a retry)",
        checked="exit 0 and no failure; canonical dump equal to a fault-free sync of the same catalog, "
        "every table; no duplicate or orphan row",
    )
    faulty_sync(
        scenario, references, fresh_database, procs, tmp_path / "home", movies=1000, seed=7, slow_seconds=1.5, timeout=1
    )
