"""The listed-but-missing check speaks of applied pages: a page fetched but not saved yet (a sync running
beside the check) is pending, not lost; a movie lost from an applied page is named."""

from __future__ import annotations

from sqlalchemy import delete

from yts_pipeline.db import integrity
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie
from yts_pipeline_tests.support import page_steps
from yts_pipeline_tests.support.page_steps import replay_client


def test_a_page_not_applied_yet_is_pending_and_a_lost_movie_is_named(db: DatabaseManager, replay_server) -> None:
    client = replay_client(replay_server)
    page_steps.fetch(client, db, 1)
    page_steps.save(db, 1)
    page_steps.fetch(client, db, 2)  # stored, its movies not saved yet
    with db.get_session() as session:
        assert integrity.listed_but_missing(session) == []
        assert integrity.pages_not_applied(session) == [2]
    lost = replay_server.catalog.ids()[0]  # on page 1
    with db.get_session() as session:
        session.execute(delete(Movie).where(Movie.external_id == lost))
    page_steps.save(db, 2)
    with db.get_session() as session:
        assert integrity.listed_but_missing(session) == [lost]
        assert integrity.pages_not_applied(session) == []
