"""``YTS_PAGES_PER_RUN`` is read when the definitions are built (each code server as it starts) and when a
schedule cuts its runs, never as a side effect of importing a module."""

from __future__ import annotations

import pytest

from yts_pipeline.definitions import defs as load_definitions
from yts_pipeline.defs.page_runs import RANGE_END_TAG, RANGE_START_TAG, run_requests
from yts_pipeline.defs.partitions import page_to_key

PAGE_ASSETS = {"raw_list_pages", "movies", "movie_details", "movie_embeddings"}


def run_sizes() -> dict[str, int]:
    graph = load_definitions().resolve_asset_graph()
    return {
        key.to_user_string(): graph.get(key).backfill_policy.max_partitions_per_run
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }


def test_the_backfill_policy_takes_the_setting_as_the_definitions_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YTS_PAGES_PER_RUN", raising=False)
    assert run_sizes() == dict.fromkeys(PAGE_ASSETS, 25)  # every defs module is imported by now
    monkeypatch.setenv("YTS_PAGES_PER_RUN", "7")
    assert run_sizes() == dict.fromkeys(PAGE_ASSETS, 7)


def test_schedules_cut_their_runs_by_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTS_PAGES_PER_RUN", "4")
    requests = run_requests([page_to_key(p) for p in range(1, 11)], "test")
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in requests] == [
        ("00001", "00004"),
        ("00005", "00008"),
        ("00009", "00010"),
    ]
