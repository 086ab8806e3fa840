"""SQL pieces shared by search and recommendations: result filters, per-movie columns, HNSW scan settings.

Vector queries run with pgvector's iterative index scans (``hnsw.iterative_scan =
relaxed_order``), so a filter that rejects most neighbours still yields the rows asked for when
that many movies match; callers put the relaxed order right themselves. Every user value is a
bound parameter, so a query that looks like SQL is searched for literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Genre
from yts_pipeline.search.errors import SearchError, UnknownGenre

EF_SEARCH = 100  # HNSW candidate list; benchmarks/bench_query.py measures recall@10 with it
QUALITY_ORDER = ["2160p", "1080p", "1080p.x265", "720p", "480p", "3D"]  # best first
# Columns of ``movies m`` every result shows; BEST_QUALITY needs the :qualities parameter (QUALITY_ORDER).
GENRES = (
    "ARRAY(SELECT g.name FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id "
    "WHERE mg.movie_id = m.id ORDER BY g.name)"
)
BEST_QUALITY = (
    "(SELECT t.quality FROM torrents t WHERE t.movie_id = m.id "
    "ORDER BY array_position(CAST(:qualities AS text[]), t.quality) NULLS LAST, t.quality LIMIT 1)"
)


@dataclass(frozen=True)
class Filters:
    """Conditions every result meets; ``None`` means no condition."""

    genre: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    min_rating: float | None = None
    quality: str | None = None


def filter_sql(session: Session, filters: Filters, params: dict[str, Any]) -> str:
    """The WHERE conditions on ``movies m`` for ``filters``, adding their values to ``params``."""
    clauses = ["m.removed_at IS NULL"]
    if filters.genre is not None:
        _check_genre(session, filters.genre)
        clauses.append(
            "EXISTS (SELECT 1 FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id "
            "WHERE mg.movie_id = m.id AND lower(g.name) = lower(:genre))"
        )
        params["genre"] = filters.genre
    if filters.year_from is not None:
        clauses.append("m.year >= :year_from")
        params["year_from"] = filters.year_from
    if filters.year_to is not None:
        clauses.append("m.year <= :year_to")
        params["year_to"] = filters.year_to
    if filters.min_rating is not None:
        clauses.append("m.rating >= :min_rating")
        params["min_rating"] = filters.min_rating
    if filters.quality is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM torrents t WHERE t.movie_id = m.id AND lower(t.quality) = lower(:quality))"
        )
        params["quality"] = filters.quality
    return " AND ".join(clauses)


def _check_genre(session: Session, genre: str) -> None:
    """A misspelt genre would silently find nothing: name the known ones instead."""
    known = session.scalars(select(Genre.name).order_by(Genre.name)).all()
    if genre.lower() not in {name.lower() for name in known}:
        raise UnknownGenre(f"no genre {genre!r}; known genres: {', '.join(known) or 'none yet'}")


def use_index_scans(session: Session) -> None:
    """Iterative HNSW scans with ``EF_SEARCH`` candidates, for the rest of the transaction."""
    session.execute(
        text(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', :ef_search, true)"
        ),
        {"ef_search": str(EF_SEARCH)},
    )


def check_k(k: int) -> None:
    if k < 1:
        raise SearchError(f"k must be at least 1, not {k}")
