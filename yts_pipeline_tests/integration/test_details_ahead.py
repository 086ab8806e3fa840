"""Details one page ahead: a page's calls go out while the page before is saved, each movie asked once."""

from __future__ import annotations

import time

from sqlalchemy import text

from yts_pipeline import mirror
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.yts.client import YtsClient
from yts_pipeline_tests.support import page_steps
from yts_pipeline_tests.support.page_steps import replay_client

PAGES = [1, 2, 3]


def listed_pages(db: DatabaseManager, client: YtsClient) -> None:
    for page in PAGES:
        page_steps.fetch(client, db, page)
        page_steps.save(db, page)


def test_the_next_pages_calls_go_out_while_a_page_is_saved(db: DatabaseManager, replay_server, monkeypatch) -> None:
    client = replay_client(replay_server)
    listed_pages(db, client)
    replay_server.reset_counters()
    asked, ahead_during_saves = [], []
    save = mirror.save_details

    def saving(database, download, started):
        asked.append(len(download.wanted))
        deadline = time.monotonic() + 10  # a guard only: the next page's calls come within milliseconds
        while (
            download.page < PAGES[-1]
            and replay_server.calls["movie_details"] <= sum(asked)
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        ahead_during_saves.append(replay_server.calls["movie_details"] - sum(asked))
        return save(database, download, started)

    monkeypatch.setattr(mirror, "save_details", saving)
    started = time.monotonic()
    with mirror.details_ahead(client, db, PAGES) as ahead:
        reports = [mirror.save_details(db, *ahead.take(page)) for page in PAGES]
    elapsed = time.monotonic() - started
    assert [r.details_calls for r in reports] == [50, 50, 20]
    assert ahead_during_saves[0] > 0 and ahead_during_saves[1] > 0  # page 2's (3's) calls began in 1's (2's) save
    assert replay_server.calls["movie_details"] == 120  # and no page was asked for twice
    assert sum(r.seconds for r in reports) <= elapsed  # each page counts its own time, not its download's


def test_a_movie_on_two_pages_is_asked_for_once(db: DatabaseManager, replay_server) -> None:
    client = replay_client(replay_server)
    listed_pages(db, client)
    shared = replay_server.catalog.ids()[49]  # page 1's last movie, listed again first on page 2 (a shift)
    with db.get_session() as session:
        session.execute(
            text(
                "UPDATE raw_list_pages SET payload = jsonb_set(payload, '{data,movies,0}', "
                "(SELECT payload->'data'->'movies'->49 FROM raw_list_pages WHERE page = 1)) "
                "WHERE page = 2"
            )
        )
    replay_server.reset_counters()
    with mirror.details_ahead(client, db, [1, 2]) as ahead:
        first, second = (mirror.save_details(db, *ahead.take(page)) for page in (1, 2))
    assert first.details_calls == 50 and second.details_calls == 49
    assert replay_server.details_calls[shared] == 1
    with db.get_session() as session:
        assert session.scalar(
            text("SELECT details_fetched_at IS NOT NULL FROM movies WHERE external_id = :id"), {"id": shared}
        )
