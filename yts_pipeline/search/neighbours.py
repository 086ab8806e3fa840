"""The database side of ``similar`` and ``recommend``: movie profiles and their nearest plot vectors.

Two statements per call: the liked and disliked movies' profiles (with the model of their
plot vector), then the candidates: the ``candidates`` nearest plot vectors of each liked movie
through the HNSW index (one LATERAL scan each), with every candidate's profile and its plot
cosine to each liked and disliked movie, computed in Postgres so no vector leaves the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from yts_pipeline.search.ranking import Profile
from yts_pipeline.search.sql import BEST_QUALITY, GENRES, QUALITY_ORDER, use_index_scans

HAS_PLOT = r"COALESCE(m.summary ~ '\S' OR m.description_full ~ '\S' OR m.description_intro ~ '\S', false)"
PROFILE_COLUMNS = (f"m.id AS movie_id, m.external_id, m.imdb_code, m.title, m.year, m.rating, {GENRES} AS genres, "
                   f"{BEST_QUALITY} AS best_quality, {HAS_PLOT} AS has_plot")


def profiles(session: Session, movie_ids: Sequence[int]) -> dict[int, tuple[Profile, str | None]]:
    """Each movie's profile and the model of its plot vector (``None``: not embedded yet), by ``movies.id``."""
    rows = session.execute(text(f"""
        SELECT {PROFILE_COLUMNS}, p.model AS plot_model
        FROM movies m LEFT JOIN movie_plot_embeddings p ON p.movie_id = m.id
        WHERE m.id = ANY(:ids)"""), {"ids": list(movie_ids), "qualities": QUALITY_ORDER})
    return {row.movie_id: (_profile(row), row.plot_model) for row in rows}


def plot_neighbours(session: Session, liked: Sequence[Profile], disliked: Sequence[Profile], model: str,
                    where: str, params: dict[str, Any], candidates: int) -> list[tuple[Profile, list[float]]]:
    """Candidates meeting ``where`` (on ``movies m``) with their plot cosines to ``liked``, then ``disliked``.

    The liked and disliked movies themselves, and other uploads of the same IMDb codes, are
    left out in the scan, so they never take a candidate's place.
    """
    references = [*liked, *disliked]
    use_index_scans(session)
    rows = session.execute(text(f"""
        WITH refs AS MATERIALIZED (
            SELECT r.position, p.embedding
            FROM unnest(CAST(:refs AS bigint[])) WITH ORDINALITY AS r(movie_id, position)
            JOIN movie_plot_embeddings p ON p.movie_id = r.movie_id
        ),
        nearest AS MATERIALIZED (
            SELECT DISTINCT n.id FROM refs CROSS JOIN LATERAL (
                SELECT m.id FROM movie_plot_embeddings e JOIN movies m ON m.id = e.movie_id
                WHERE e.model = :model AND {where}
                  AND m.id <> ALL(CAST(:refs AS bigint[]))
                  AND (m.imdb_code IS NULL OR m.imdb_code <> ALL(CAST(:codes AS text[])))
                ORDER BY e.embedding <=> refs.embedding
                LIMIT :candidates
            ) n
            WHERE refs.position <= :liked
        )
        SELECT {PROFILE_COLUMNS},
               ARRAY(SELECT 1 - (e.embedding <=> r.embedding) FROM refs r ORDER BY r.position) AS similarities
        FROM nearest n JOIN movies m ON m.id = n.id JOIN movie_plot_embeddings e ON e.movie_id = m.id"""), {
        **params, "refs": [m.movie_id for m in references], "liked": len(liked), "model": model,
        "codes": [m.imdb_code for m in references if m.imdb_code], "candidates": candidates,
        "qualities": QUALITY_ORDER,
    })
    return [(_profile(row), list(row.similarities)) for row in rows]


def _profile(row: Any) -> Profile:
    return Profile(movie_id=row.movie_id, external_id=row.external_id, imdb_code=row.imdb_code, title=row.title,
                   year=row.year, rating=float(row.rating) if row.rating is not None else None,
                   genres=frozenset(row.genres), has_plot=row.has_plot, best_quality=row.best_quality)
