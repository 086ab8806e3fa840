"""Concurrency: the page-discovery sensor (or the daily schedule) registering page partitions while a
``sync`` registers them on the same fresh instance.

Dagster's SQLite storage adds partitions check-then-insert; two registrants inside that window at once
made one of them die on the UNIQUE index of ``dynamic_partitions``. The window is a few milliseconds,
so the test holds the sync's insert until the other registrant's insert arrives too (or 5 s pass:
when registration is serialised, it never does) and lets both go together: the interleaving that
failed, every time.
"""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from yts_pipeline.cli.instance import local_dagster_yaml
from yts_pipeline.cli.sync import run_sync
from yts_pipeline.defs.automation import daily_incremental_sync, page_discovery_sensor
from yts_pipeline.defs.partitions import PAGES
from yts_pipeline_tests.support.ticks import schedule_context, sensor_context

DEPLOY_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
HELD_SECONDS = 5.0
CATALOG_PAGES = ["00001", "00002", "00003"]  # the conftest replay server: 120 movies


class InsertRendezvous:
    """Holds the first INSERT INTO dynamic_partitions until a second one arrives from another thread.

    ``first_held`` is set once the first insert waits, so the other registrant can be started right
    inside the first one's check-then-insert window.
    """

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.first_held = threading.Event()
        self.barrier = threading.Barrier(2)
        self.met = False
        self.inserts = 0
        self._lock = threading.Lock()

    def before_execute(self, conn, cursor, statement: str, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith("INSERT INTO DYNAMIC_PARTITIONS"):
            return
        with self._lock:
            self.inserts += 1
            arrived = self.inserts
        if arrived == 1:
            self.first_held.set()
        if arrived <= 2:
            try:
                self.barrier.wait(self.timeout)
                self.met = True
            except threading.BrokenBarrierError:
                pass  # alone in the window: registration was serialised


@pytest.fixture
def rendezvous() -> Iterator[InsertRendezvous]:
    held = InsertRendezvous(HELD_SECONDS)
    event.listen(Engine, "before_cursor_execute", held.before_execute)
    try:
        yield held
    finally:
        event.remove(Engine, "before_cursor_execute", held.before_execute)


def sensor_tick(instance: dg.DagsterInstance) -> None:
    """The sensor's evaluation, then what the daemon does with it: add the partitions it requests."""
    with sensor_context(instance) as context:
        result = page_discovery_sensor(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


def schedule_tick(instance: dg.DagsterInstance) -> None:
    with schedule_context(instance) as context:
        daily_incremental_sync(context)


TICKS: dict[str, Callable[[dg.DagsterInstance], None]] = {
    "page_discovery_sensor": sensor_tick,
    "daily_incremental_sync": schedule_tick,
}


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
@pytest.mark.parametrize("tick", list(TICKS))
def test_a_tick_registering_pages_while_a_sync_does(
    scenario, pipeline_env: Path, postgres, monkeypatch, rendezvous: InsertRendezvous, tick: str, storage: str
) -> None:
    scenario.describe(
        "Concurrency",
        f"{tick} tick while a sync registers the pages, fresh instance ({storage} storage)",
        injected=f"`sync --pages 1-1` and a {tick} tick on one new DAGSTER_HOME ({storage} run/event storage), "
        "the tick started while the sync's partition insert is held, and both inserts let go together",
        checked="neither raises; every page partition registered once; the sync's page synced",
    )
    home = pipeline_env
    if storage == "postgres":
        shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_PG_URL", postgres.fresh_database())
    else:
        (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the daemon's instance: storages exist
        totals = {}
        sync_thread, sync_errors = in_thread(
            lambda: totals.update(done=run_sync(home=home, pages=(1, 1), skip_embeddings=True, out=io.StringIO()))
        )
        assert rendezvous.first_held.wait(120), "the sync never registered a partition"
        tick_thread, tick_errors = in_thread(lambda: TICKS[tick](instance))
        for thread in (tick_thread, sync_thread):
            thread.join(300)
        scenario.figure("both inserts in the window at once", rendezvous.met)
        scenario.figure("partition inserts issued", rendezvous.inserts)
        assert not tick_errors, f"the {tick} tick failed: {tick_errors[0]!r}"
        assert not sync_errors, f"the sync failed: {sync_errors[0]!r}"
        assert instance.get_dynamic_partitions(PAGES.name) == CATALOG_PAGES
    assert totals["done"].failed_pages == [] and totals["done"].pages_done == 1
