"""A page's steps one at a time, by the very functions the page assets call (``mirror``), for tests
that drive the mirror without Dagster; and a client of the replay server that does not wait."""

from __future__ import annotations

import time

from yts_pipeline import mirror
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.settings import ApiSettings
from yts_pipeline.yts.client import YtsClient
from yts_pipeline.yts.replay import ReplayServer


def replay_client(server: ReplayServer) -> YtsClient:
    """A client of ``server`` with no rate limit and quick, short retries."""
    return YtsClient(
        ApiSettings(
            base_urls=(server.base_url,),
            requests_per_second=0,
            max_attempts=2,
            backoff_seconds=0.01,
            max_backoff_seconds=0.05,
            timeout_seconds=10,
        )
    )


def fetch(client: YtsClient, db: DatabaseManager, page: int, limit: int = 50) -> mirror.PageReport:
    """``raw_list_pages`` for one page: the list call, and its raw answer kept."""
    return mirror.store_page(db, mirror.download_page(client, page, limit), time.monotonic())


def save(db: DatabaseManager, page: int) -> mirror.PageReport:
    """``movies`` for one stored page: its movies upserted."""
    return mirror.apply_page(db, page, mirror.load_page(db, page), time.monotonic())


def details(client: YtsClient, db: DatabaseManager, page: int) -> mirror.PageReport:
    """``movie_details`` for one page: details of its movies that have none yet."""
    return mirror.save_details(db, mirror.download_details(client, db, page), time.monotonic())
