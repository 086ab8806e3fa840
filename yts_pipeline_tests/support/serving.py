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
