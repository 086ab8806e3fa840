"""A small mirror to serve in tests: a synthetic catalog with cast and torrents, embedded by the real model."""

from __future__ import annotations

from typing import Any

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import EmbeddingModel, embed_movies
from yts_pipeline.yts.replay import Catalog

MOVIES = 80
SEED = 12


def catalog_payloads(n: int = MOVIES, seed: int = SEED) -> list[dict[str, Any]]:
    """Every list and details field of ``n`` synthetic movies, as ``movie_details`` would give them."""
    catalog = Catalog.synthetic(n, seed=seed)
    return [catalog.movie(movie_id) for movie_id in catalog.ids()]


def fill(db: DatabaseManager, model: EmbeddingModel, payloads: list[dict[str, Any]]) -> None:
    result = db.save_movies(payloads)
    assert not result.rejected, result.rejected
    embed_movies(db, model)


def table_fingerprint(url: str) -> dict[str, str]:
    """An md5 of every row of every mirror table: equal fingerprints mean nothing was written."""
    from sqlalchemy import create_engine, text

    from yts_pipeline.db.models import ALL_TABLES

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: conn.execute(text(f'SELECT md5(string_agg(t::text, \'|\' ORDER BY t::text)) '
                                             f'FROM "{table}" t')).scalar() or "" for table in ALL_TABLES}
    finally:
        engine.dispose()
