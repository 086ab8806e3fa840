"""Crashes: ``kill -9`` of a running ``yts-pipeline sync`` at several points, then a rerun, gives the
database a clean sync gives; in between, nothing is duplicated, orphaned or half written.

Both targets: a test database (``DATABASE_URL``) and the embedded default (``YTS_DATA_DIR`` in a
temporary folder, ``DATABASE_URL`` unset), where the server the killed process left running must be
taken over by the next command (``doctor``) with no manual step, and stopped when the last
process exits.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.reliability.support import (
    Proc,
    Processes,
    assert_same_database,
    cli_env,
    embedded_data_dir,
    embedded_handle,
    embedded_postmasters,
    first_row,
    half_written_movies,
    integrity_problems,
    scalar,
    wait_for,
)

MOVIES, SEED = 300, 31  # the catalog of every CI scenario: one clean reference sync serves them all
SYNC = ["sync", "--skip-embeddings"]


@dataclass
class Target:
    """Where the syncs of a scenario write: a test database, or the embedded default in a data dir."""

    kind: str
    database_url: str | None
    data_dir: Path | None
    home: Path | None

    def env(self, api_url: str) -> dict[str, str]:
        return cli_env(api_url, database_url=self.database_url, data_dir=self.data_dir, dagster_home=self.home)

    def connect(self):
        """A URL the test can use: the test database, or one more handle on the embedded server."""
        return nullcontext(self.database_url) if self.database_url else embedded_handle(self.data_dir)

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"


@contextmanager
def crash_target(kind: str, database_url: str, tmp_path: Path) -> Iterator[Target]:
    if kind == "url":
        yield Target(kind, database_url, None, tmp_path / "dagster_home")
        return
    with embedded_data_dir() as data_dir:  # DAGSTER_HOME left unset: <data dir>/dagster_home, as for a user
        yield Target(kind, None, data_dir, None)


def no_server_left(target: Target, when: str) -> None:
    if target.embedded:
        wait_for(
            lambda: not embedded_postmasters(target.data_dir), 20, f"the embedded server to stop {when}", interval=0.2
        )


def check_after_kill(scenario, target: Target, catalog: Catalog) -> None:
    """Right after a kill: nothing half written, duplicated or orphaned; the movies stored so far."""
    with target.connect() as url:
        if target.embedded and not scalar(
            url.replace("/yts?", "/postgres?"), "SELECT count(*) FROM pg_database WHERE datname = 'yts'"
        ):
            scenario.figure("movies stored when killed", 0)  # killed while creating its database: nothing yet
            return
        if scalar(url, "SELECT to_regclass('movies') IS NULL"):
            scenario.figure("movies stored when killed", 0)  # killed while creating the tables
            return
        assert half_written_movies(url, catalog) == []
        assert integrity_problems(url) == {}
        scenario.figure("movies stored when killed", scalar(url, "SELECT count(*) FROM movies"))
        scenario.figure(
            "with details when killed", scalar(url, "SELECT count(*) FROM movies WHERE details_fetched_at IS NOT NULL")
        )


def doctor_after_kill(scenario, target: Target, procs: Processes) -> None:
    """The next command takes the killed process's server over by itself, then stops it on exit."""
    if not target.embedded:
        return
    doctor = procs.run("doctor", ["doctor"], target.env("http://127.0.0.1:9/api/v2/"), timeout=120)
    assert doctor.popen.returncode == 0 and "healthy" in doctor.stdout(), doctor.describe()
    scenario.add("doctor runs right after a kill")
    no_server_left(target, "after doctor, the last process, exited")


def start_sync(procs: Processes, target: Target, server: ReplayServer, name: str = "sync") -> Proc:
    return procs.start(name, SYNC, target.env(server.base_url))


def arrived(server: ReplayServer, proc: Proc, counter: Callable[[], int], what: str) -> None:
    wait_for(lambda: counter() >= 1 or not proc.running(), 180, what)
    assert proc.running(), f"the sync ended before {what}:\n{proc.describe()}"


# -- crash points --------------------------------------------------------------------------------------


def kill_during_list_page(scenario, server, target, procs) -> None:
    server.script_faults(["slow"], endpoint="list_movies", page=2)  # held for a minute: long enough
    proc = start_sync(procs, target, server)
    arrived(server, proc, lambda: server.list_attempts[2], "the request for list page 2")
    proc.kill9()
    scenario.figure("killed", "while list page 2 was being fetched")


def kill_during_details(scenario, server, target, procs) -> None:
    victim = server.catalog.ids()[60]  # on page 2: page 1's details are saved by then
    server.script_faults(["slow"], endpoint="movie_details", movie_id=victim)
    proc = start_sync(procs, target, server)
    arrived(server, proc, lambda: server.details_attempts[victim], f"the details request of movie {victim}")
    proc.kill9()
    scenario.figure("killed", f"while the details of page 2 (movie {victim}) were being fetched")


BLOCKED = """SELECT a.pid, left(a.query, 40) AS query,
       array(SELECT DISTINCT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
             WHERE l.pid = a.pid AND l.granted AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'
             ORDER BY 1) AS writing
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.wait_event_type = 'Lock'
  AND a.xact_start IS NOT NULL AND a.query ILIKE :pattern"""


def kill_inside_write(table: str) -> Callable:
    """Hold the sync inside its write transaction with a table lock, check so in pg_stat_activity, kill it."""

    def kill(scenario, server, target, procs) -> None:
        if table == "torrents":  # the first list page's save: movies and genres written, torrents next
            server.script_faults([None, "slow"], endpoint="list_movies", page=1)
            proc = start_sync(procs, target, server)
            arrived(server, proc, lambda: server.list_attempts[1] - 1, "the request for list page 1")
        else:  # the first details save: movies, genres and people written, movie_casts next
            first = server.catalog.ids()[0]
            server.script_faults(["slow"], endpoint="movie_details", movie_id=first)
            proc = start_sync(procs, target, server)
            arrived(server, proc, lambda: server.details_attempts[first], "the first details request")
        with target.connect() as url:
            engine = create_engine(url)
            try:
                with engine.connect() as holder:
                    transaction = holder.begin()
                    holder.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
                    blocked = wait_for(
                        lambda: first_row(url, BLOCKED, pattern=f"INSERT INTO {table}%"),
                        120,
                        f"the sync to block inside its write to {table}",
                    )
                    proc.kill9()
                    transaction.rollback()  # the orphaned backend finishes its insert, fails to answer, rolls back
                wait_for(
                    lambda: not scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", pid=blocked.pid),
                    60,
                    "the killed sync's backend to end",
                )
            finally:
                engine.dispose()
        scenario.figure("killed", f"inside the write transaction, blocked on {table}")
        scenario.figure("tables written by the killed transaction", ", ".join(blocked.writing))
        assert "movies" in blocked.writing

    return kill


def kill_at_random_moments(times: int, seed: int) -> Callable:
    """Kill ``times`` syncs, each after a seeded random share (10-90 %) of a clean sync's duration."""

    def kill(scenario, server, target, procs, clean_seconds: float) -> None:
        rng = random.Random(seed)
        attempts = 0
        while len(scenario.figures.get("kill delays (s)", [])) < times and attempts < 3 * times:
            attempts += 1
            delay = round(rng.uniform(0.1, 0.9) * clean_seconds, 1)
            proc = start_sync(procs, target, server, f"sync-{attempts}")
            deadline = time.monotonic() + delay
            while proc.running() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not proc.running():
                scenario.add("syncs that finished before their kill")
                assert proc.popen.returncode == 0, proc.describe()
                continue
            proc.kill9()
            scenario.figures.setdefault("kill delays (s)", []).append(delay)
            check_after_kill(scenario, target, server.catalog)
            scenario.figures.setdefault("movies stored (with details) at each kill", []).append(
                f"{scenario.figures.pop('movies stored when killed')} "
                f"({scenario.figures.pop('with details when killed', 0)})"
            )
            doctor_after_kill(scenario, target, procs)
        kills = len(scenario.figures.get("kill delays (s)", []))
        scenario.figure("killed", f"{kills} times, at random moments")
        assert kills >= 2, "the syncs kept finishing before their kill"

    kill.repeats = True
    return kill


POINTS = {
    "list page": (kill_during_list_page, 60.0),
    "details": (kill_during_details, 60.0),
    "write (list save)": (kill_inside_write("torrents"), 3.0),
    "write (details save)": (kill_inside_write("movie_casts"), 3.0),
    "random moments": (kill_at_random_moments(times=4, seed=5), 3.0),
}
INJECTED = {
    "list page": "kill -9 while a list page request is held open by the replay API",
    "details": "kill -9 while a details request is held open (page 1's details already saved)",
    "write (list save)": "kill -9 inside the first page's save transaction, held on a lock before its torrents "
    "insert (verified in pg_stat_activity / pg_locks)",
    "write (details save)": "kill -9 inside the first details save transaction, held on a lock before its "
    "movie_casts insert (verified in pg_stat_activity / pg_locks)",
    "random moments": "kill -9 at 4 random moments (seeded: 10-90 % of a clean sync's duration), each next run "
    "resuming",
}
SCENARIOS = [
    pytest.param("embedded", "write (details save)", id="embedded-write-details"),
    pytest.param("url", "write (list save)", id="url-write-list", marks=pytest.mark.slow),
    pytest.param("url", "list page", id="url-list", marks=pytest.mark.slow),
    pytest.param("url", "details", id="url-details", marks=pytest.mark.slow),
    pytest.param("url", "write (details save)", id="url-write-details", marks=pytest.mark.slow),
    pytest.param("url", "random moments", id="url-random", marks=pytest.mark.slow),
    pytest.param("embedded", "list page", id="embedded-list", marks=pytest.mark.slow),
    pytest.param("embedded", "details", id="embedded-details", marks=pytest.mark.slow),
    pytest.param("embedded", "write (list save)", id="embedded-write-list", marks=pytest.mark.slow),
    pytest.param("embedded", "random moments", id="embedded-random", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kind, point", SCENARIOS)
def test_kill_9_then_rerun_gives_the_clean_database(
    kind, point, scenario, references, fresh_database, procs, tmp_path
) -> None:
    where = "embedded Postgres (YTS_DATA_DIR)" if kind == "embedded" else "test database (DATABASE_URL)"
    checked = (
        "after each kill: no half-written movie (genres/torrents/cast as served), no duplicate or orphan; "
        "rerun exits 0; canonical dump equal to a clean sync"
    )
    if kind == "embedded":
        checked += "; `doctor` works right after the kill; no postgres left for the data dir after the last process"
    scenario.describe("Crashes", f"kill -9 {point}, {where}", injected=INJECTED[point], checked=checked)
    reference = references.dump(MOVIES, SEED)
    crash, slow_seconds = POINTS[point]
    server = ReplayServer(Catalog.synthetic(MOVIES, seed=SEED), retry_after_seconds=0, slow_seconds=slow_seconds)
    with server, crash_target(kind, fresh_database, tmp_path) as target:
        if getattr(crash, "repeats", False):
            crash(scenario, server, target, procs, references.seconds[(MOVIES, SEED)])
        else:
            crash(scenario, server, target, procs)
            if target.embedded:  # the check's own handle takes it over (and stops it as the last handle)
                assert embedded_postmasters(target.data_dir), "the killed sync should have left its server running"
            check_after_kill(scenario, target, server.catalog)
            doctor_after_kill(scenario, target, procs)
        started = time.monotonic()
        rerun = procs.run("rerun", SYNC, target.env(server.base_url), timeout=300)
        assert rerun.popen.returncode == 0 and " 0 failures" in rerun.stdout(), rerun.describe()
        scenario.figure("rerun seconds", round(time.monotonic() - started, 1))
        released = re.search(r"marked (\d+) run", rerun.stderr())
        scenario.figure("killed runs released by the rerun", int(released.group(1)) if released else 0)
        no_server_left(target, "after the rerun, the last process, exited")
        with target.connect() as url:
            scenario.figure("rows compared", assert_same_database(reference, url))
            assert integrity_problems(url) == {}
        no_server_left(target, "at the end")
