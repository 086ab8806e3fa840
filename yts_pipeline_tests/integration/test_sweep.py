"""The full sweep when the catalog changes while its pages are read one by one (replay API, real Postgres).

140 movies, 3 pages of 50 oldest first. A removal before a movie moves it one position back, onto a
page that may have been read already; a late insert before it moves it on, onto a page that may
have been read already when pages are read out of order (partitions of a backfill run in any order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from yts_pipeline import mirror
from yts_pipeline.db import page_store
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie
from yts_pipeline.yts.client import YtsClient
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.support import page_steps
from yts_pipeline_tests.support.page_steps import replay_client

LIMIT = 50


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer(Catalog.synthetic(140, seed=23), retry_after_seconds=0) as server:
        yield server


@pytest.fixture
def client(server: ReplayServer) -> YtsClient:
    return replay_client(server)


def read_pages(
    client: YtsClient,
    db: DatabaseManager,
    pages: list[int],
    after_fetching: Callable[[int], object] = lambda page: None,
) -> None:
    """Fetch the pages in this order (``after_fetching(page)`` runs after each), then save them."""
    for page in pages:
        page_steps.fetch(client, db, page, LIMIT)
        after_fetching(page)
    for page in pages:
        page_steps.save(db, page)


def on_a_stored_page(db: DatabaseManager, movie_id: int) -> bool:
    with db.get_session() as session:
        return any(movie_id in ids for ids in page_store.page_external_ids(session, [1, 2, 3]).values())


def removed(db: DatabaseManager) -> set[int]:
    with db.get_session() as session:
        return set(session.scalars(select(Movie.external_id).where(Movie.removed_at.isnot(None))))


def search_requests(server: ReplayServer) -> int:
    return sum(
        1 for _, endpoint, params, _ in server.request_log if endpoint == "list_movies" and "query_term" in params
    )


def test_a_movie_shifted_back_by_a_removal_mid_read_is_not_tombstoned(db, server, client, monkeypatch) -> None:
    monkeypatch.setenv("YTS_API_URL", server.base_url)  # the sweep's own client, from the environment
    monkeypatch.setenv("YTS_REQUESTS_PER_SECOND", "0")
    catalog = server.catalog
    read_pages(client, db, [1, 2, 3])
    ids = catalog.ids()
    taken_down, shifted = ids[10], ids[100]  # on page 1; the first movie of page 3
    read_pages(client, db, [1, 2, 3], lambda page: page == 2 and catalog.remove_movie(taken_down))
    assert not on_a_stored_page(db, shifted)  # page 2 was read before it moved there

    server.reset_counters()
    report = mirror.sweep(db, limit=LIMIT)
    assert report.removed == [] and removed(db) == set()
    assert report.still_listed == [shifted] and report.lookups == search_requests(server) == 1

    read_pages(client, db, [1, 2, 3])  # the next complete read: the movie taken down is on no page now
    report = mirror.sweep(db, limit=LIMIT)
    assert report.removed == [taken_down] and removed(db) == {taken_down}

    catalog.restore_movie(taken_down)
    read_pages(client, db, [1, 2, 3])  # saving a listed movie clears its mark
    assert removed(db) == set() and mirror.sweep(db, limit=LIMIT).removed == []


def test_a_movie_shifted_on_by_a_late_insert_mid_read_is_not_tombstoned(db, server, client) -> None:
    catalog = server.catalog
    read_pages(client, db, [1, 2, 3])
    ids = catalog.ids()
    shifted = ids[99]  # the last movie of page 2
    read_pages(client, db, [3, 2, 1], lambda page: page == 3 and catalog.add_movies(1, before=ids[20]))
    assert not on_a_stored_page(db, shifted)  # page 3 was read before it moved there

    report = mirror.sweep(db, client, limit=LIMIT)
    assert report.skipped_reason is None and report.removed == [] and removed(db) == set()
    assert report.still_listed == [shifted]


def test_a_vanished_movie_the_api_cannot_settle_is_left_for_the_next_sweep(db, server, client) -> None:
    catalog = server.catalog
    read_pages(client, db, [1, 2, 3])
    ids = catalog.ids()
    taken_down, shifted = ids[10], ids[100]
    read_pages(client, db, [1, 2, 3], lambda page: page == 2 and catalog.remove_movie(taken_down))
    server.script_faults(["empty"], endpoint="list_movies")  # the API's glitch: a match counted, none sent
    report = mirror.sweep(db, client, limit=LIMIT)
    assert report.unconfirmed == [shifted] and report.removed == [] and removed(db) == set()

    read_pages(client, db, [1, 2, 3])
    server.script_faults(["503", "503"], endpoint="list_movies")  # every attempt of the lookup fails
    report = mirror.sweep(db, client, limit=LIMIT)
    assert report.unconfirmed == [taken_down] and report.removed == [] and removed(db) == set()
    report = mirror.sweep(db, client, limit=LIMIT)
    assert report.removed == [taken_down] and report.unconfirmed == []
