"""Page partitions: one key per ``list_movies`` page, zero-padded so keys sort like page numbers."""

from __future__ import annotations

import dagster as dg

PAGES = dg.DynamicPartitionsDefinition(name="pages")
# A run takes at most this many pages, so a 1,500-page backfill is ~60 runs, not thousands.
PAGES_PER_RUN = 25
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=PAGES_PER_RUN)
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def page_key(page: int) -> str:
    return f"{page:05d}"


def key_page(key: str) -> int:
    return int(key)


def missing_page_keys(instance: dg.DagsterInstance, pages: list[int]) -> list[str]:
    """Keys of ``pages`` the instance does not know yet."""
    known = set(instance.get_dynamic_partitions(PAGES.name))
    return [page_key(p) for p in pages if page_key(p) not in known]


def contiguous_ranges(keys: list[str], max_size: int = PAGES_PER_RUN) -> list[tuple[str, str]]:
    """Sorted keys grouped into runs of consecutive pages, each at most ``max_size`` long."""
    ranges: list[tuple[str, str]] = []
    start = previous = None
    size = 0
    for key in sorted(set(keys), key=key_page):
        if start is not None and key_page(key) == key_page(previous) + 1 and size < max_size:
            previous, size = key, size + 1
            continue
        if start is not None:
            ranges.append((start, previous))
        start = previous = key
        size = 1
    if start is not None:
        ranges.append((start, previous))
    return ranges


def range_tags(start: str, end: str) -> dict[str, str]:
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}
