"""Page partitions: one key per ``list_movies`` page, zero-padded so keys sort like page numbers."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from yts_pipeline.settings import pages_per_run

PAGES = dg.DynamicPartitionsDefinition(name="pages")
LOCK_FILE = ".yts-startup.lock"


def page_to_key(page: int) -> str:
    return f"{page:05d}"


def key_to_page(key: str) -> int:
    return int(key)


def with_page_runs(*assets: dg.AssetsDefinition) -> list[dg.AssetsDefinition]:
    """``assets`` with the page backfill policy: a run takes at most ``YTS_PAGES_PER_RUN`` pages, so a
    1,500-page backfill is ~60 runs, not thousands. The setting is read here, as a defs module's
    ``@dg.definitions`` builds the definitions (each code server when it starts), not at import."""
    policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=pages_per_run())
    return [asset.with_attributes(backfill_policy=policy) for asset in assets]


@contextmanager
def instance_lock(home: str | Path | None) -> Iterator[None]:
    """Serialise check-then-act steps on the Dagster instance stored in ``home`` across this host's processes.

    Dagster's SQLite storages are created, and page partitions added, check-then-act: two processes doing
    it at once (syncs, the daemon's sensor and schedule ticks) make one die ("table alembic_version
    already exists", the UNIQUE index of dynamic_partitions). SQLite storage lives on one host, so a file
    lock in ``home`` covers every process that can use it. A home that cannot hold the lock file (none,
    or read-only as a mounted ConfigMap in Kubernetes) can only serve shared storage such as Postgres,
    which needs no lock: dagster-postgres adds partitions with ON CONFLICT DO NOTHING.
    """
    try:
        handle = open(Path(home) / LOCK_FILE, "a") if home else None
    except OSError:
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def register_pages(instance: dg.DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Add the page partitions among ``keys`` the instance does not know yet; returns those, in page order.

    Every registrant (``sync``, the page-discovery sensor, the schedules) goes through here, so two of
    them never add the same partition at once.
    """
    with instance_lock(instance.root_directory):
        known = set(instance.get_dynamic_partitions(PAGES.name))
        new = sorted({key for key in keys if key not in known}, key=key_to_page)
        if new:
            instance.add_dynamic_partitions(PAGES.name, new)
    return new
