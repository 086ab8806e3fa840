"""Concurrency: syncs started at the same moment over overlapping pages, and searches while a sync
writes, all finish without errors and leave exactly the database a single clean sync leaves."""

from __future__ import annotations

import threading
import time
from collections import Counter
from itertools import cycle
from pathlib import Path

import pytest

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search.queries import search
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.reliability.support import (
    Processes,
    assert_same_database,
    cli_env,
    comparable_dump,
    embedded_data_dir,
    embedded_handle,
    embedded_postmasters,
    integrity_problems,
    scalar,
    wait_for,
)
from yts_pipeline_tests.support.canonical import dump_differences

MOVIES, SEED = 300, 31  # the CI catalog: shares its clean reference with the fault and crash scenarios
SYNC = ["sync", "--skip-embeddings"]


class Queries:
    """Runs ``yts-pipeline`` query commands one after another (and keyword searches in-process) until stopped."""

    def __init__(self, procs: Processes, env: dict[str, str], commands: list[list[str]], url: str | None):
        self.procs, self.env, self.commands, self.url = procs, env, commands, url
        self.stop = threading.Event()
        self.outcomes: Counter = Counter()
        self.failures: list[str] = []
        self.in_process = 0
        self.threads = [threading.Thread(target=self._cli, daemon=True)]
        if url:
            self.threads.append(threading.Thread(target=self._in_process, daemon=True))

    def __enter__(self) -> Queries:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def _cli(self) -> None:
        for index, args in enumerate(cycle(self.commands)):
            if self.stop.is_set():
                return
            proc = self.procs.run(f"query-{index}-{args[0]}", args, self.env, timeout=120)
            self.outcomes[(args[0], proc.popen.returncode)] += 1
            if proc.popen.returncode != 0 or "Traceback" in proc.stderr():
                self.failures.append(proc.describe())

    def _in_process(self) -> None:
        db = DatabaseManager(self.url, create_schema=False)
        try:
            while not self.stop.is_set():
                for text in ("lonely detective", "Robert'); DROP TABLE movies;--", "war"):
                    try:
                        search(db, text, mode="keyword", k=5)
                        self.in_process += 1
                    except Exception as exc:  # noqa: BLE001  (every failure is reported, none expected)
                        self.failures.append(f"in-process keyword search {text!r}: {exc!r}")
                time.sleep(0.05)
        finally:
            db.close_all()


def started_together(procs: Processes, envs: list[dict[str, str]], argss: list[list[str]]) -> list:
    return [procs.start(f"sync-{i}", args, env) for i, (env, args) in enumerate(zip(envs, argss))]


def assert_synced(proc) -> None:
    proc.wait(600)
    assert proc.popen.returncode == 0 and " 0 failures" in proc.stdout(), proc.describe()
    assert "Traceback" not in proc.stderr(), proc.describe()


def test_overlapping_syncs_while_searching_give_the_clean_database(
    scenario, references, fresh_database, procs, tmp_path: Path
) -> None:
    scenario.describe(
        "Concurrency",
        "two overlapping syncs at once, searches and stats meanwhile (DATABASE_URL)",
        injected="`sync --pages 1-4` and `sync --pages 3-6` started together on one database (separate "
        "DAGSTER_HOMEs); `search --mode keyword` (plain and SQL-looking text) and `stats` CLIs in a loop, "
        "and in-process keyword searches, while they run",
        checked="both syncs exit 0 with no failure; every query exits 0 without a traceback; canonical dump equal "
        "to one clean sync; no duplicate or orphan",
    )
    reference = references.dump(MOVIES, SEED)
    with ReplayServer(Catalog.synthetic(MOVIES, seed=SEED), retry_after_seconds=0) as server:
        envs = [
            cli_env(server.base_url, database_url=fresh_database, dagster_home=tmp_path / f"home-{i}") for i in range(2)
        ]
        syncs = started_together(procs, envs, [[*SYNC, "--pages", "1-4"], [*SYNC, "--pages", "3-6"]])
        wait_for(
            lambda: scalar(fresh_database, "SELECT count(*) FROM movies") or not syncs[0].running(),
            300,
            "the first movies",
        )
        commands = [
            ["search", "lonely detective", "--mode", "keyword"],
            ["stats", "--json"],
            ["search", "Robert'); DROP TABLE movies;--", "--mode", "keyword"],
        ]
        with Queries(procs, envs[0], commands, fresh_database) as queries:
            for sync in syncs:
                assert_synced(sync)
            synced_at = time.monotonic()
        both = sorted(page for page in (3, 4) if server.list_attempts[page] >= 2)
    during = [p for p in procs.started if p.name.startswith("query") and p.started < synced_at]
    scenario.figure("pages fetched by both syncs", both)
    scenario.figure("query commands run while syncing", len(during))
    scenario.figure("query commands run", dict(sorted((f"{c} exit {r}", n) for (c, r), n in queries.outcomes.items())))
    scenario.figure("in-process keyword searches", queries.in_process)
    assert queries.failures == [], queries.failures[0]
    assert both == [3, 4] and during
    scenario.figure("rows compared", assert_same_database(reference, fresh_database))
    assert integrity_problems(fresh_database) == {}


@pytest.mark.slow
def test_a_sync_with_embeddings_while_searching_and_finding_similar(
    scenario, references, fresh_database, procs, tmp_path: Path
) -> None:
    scenario.describe(
        "Concurrency",
        "a sync with embeddings while hybrid, semantic and similar queries run",
        injected="a full sync with embeddings, one page per run, while `search` (hybrid, semantic, keyword), "
        "`similar` and `stats` CLIs run in a loop from the moment the first movies are embedded, plus "
        "in-process keyword searches",
        checked="sync exits 0 with no failure; every query exits 0 without a traceback; every movie embedded; "
        "all other tables equal to a clean sync",
    )
    reference = references.dump(MOVIES, SEED)
    with ReplayServer(Catalog.synthetic(MOVIES, seed=SEED), retry_after_seconds=0) as server:
        env = cli_env(server.base_url, database_url=fresh_database, dagster_home=tmp_path / "home")
        sync = procs.start("sync", ["sync", "--pages-per-run", "1"], env)
        wait_for(
            lambda: scalar(fresh_database, "SELECT count(*) FROM movie_embeddings") or not sync.running(),
            300,
            "the first embeddings",
        )
        first = server.catalog.ids()[0]
        commands = [
            ["search", "a lonely detective"],
            ["similar", str(first)],
            ["stats"],
            ["search", "heist gone wrong", "--mode", "semantic"],
            ["search", "' OR '1'='1", "--mode", "keyword"],
        ]
        with Queries(procs, env, commands, fresh_database) as queries:
            assert_synced(sync)
    scenario.figure("query commands run", dict(sorted((f"{c} exit {r}", n) for (c, r), n in queries.outcomes.items())))
    scenario.figure("in-process keyword searches", queries.in_process)
    assert queries.failures == [], queries.failures[0]
    assert scalar(fresh_database, "SELECT count(*) FROM movie_embeddings") == MOVIES
    without_embeddings = {k: v for k, v in reference.items() if k != "movie_embeddings"}
    actual = {k: v for k, v in comparable_dump(fresh_database).items() if k != "movie_embeddings"}
    assert actual == without_embeddings, dump_differences(without_embeddings, actual)
    scenario.figure("rows compared", sum(len(v) for v in actual.values()))


@pytest.mark.slow
def test_two_syncs_on_a_fresh_embedded_default_at_once(scenario, references, procs) -> None:
    scenario.describe(
        "Concurrency",
        "two syncs at once on a fresh embedded default (same data dir, same DAGSTER_HOME)",
        injected="3 rounds: two full `sync` processes started together on a new YTS_DATA_DIR, so both start the "
        "embedded server, create the Dagster instance and add the page partitions at once",
        checked="both exit 0 with no failure in every round; canonical dump equal to a clean sync; no postgres "
        "left for the data dir afterwards",
    )
    reference = references.dump(MOVIES, SEED)
    with ReplayServer(Catalog.synthetic(MOVIES, seed=SEED), retry_after_seconds=0) as server:
        for _round in range(3):
            with embedded_data_dir() as data_dir:
                env = cli_env(server.base_url, data_dir=data_dir)
                syncs = started_together(procs, [env, env], [SYNC, SYNC])
                for sync in syncs:
                    assert_synced(sync)
                wait_for(lambda: not embedded_postmasters(data_dir), 20, "the embedded server to stop", 0.2)
                with embedded_handle(data_dir) as url:
                    rows = assert_same_database(reference, url)
                    assert integrity_problems(url) == {}
                wait_for(lambda: not embedded_postmasters(data_dir), 20, "the embedded server to stop", 0.2)
            scenario.add("rounds passed")
    scenario.figure("rows compared per round", rows)
