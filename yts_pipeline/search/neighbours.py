"""The database side of ``similar`` and ``recommend``: one statement for the movies and their plot neighbours.

It returns the liked and disliked movies' profiles (with the model of their plot vector), and
the candidates: the ``candidates`` nearest plot vectors of each liked movie through the HNSW
index (one LATERAL scan each, among vectors of the first liked movie's model), each with its
profile and its plot cosine to every liked and disliked movie, computed in Postgres so that no
vector leaves the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from yts_pipeline.search.ranking import Profile
from yts_pipeline.search.sql import BEST_QUALITY, GENRES, QUALITY_ORDER, use_index_scans

NOT_A_REFERENCE = """m.id <> ALL(CAST(:refs AS bigint[]))
              AND (m.imdb_code IS NULL OR m.imdb_code <> ALL(ARRAY(
                  SELECT imdb_code FROM movies WHERE id = ANY(CAST(:refs AS bigint[])) AND imdb_code IS NOT NULL)))"""
# The candidates: each liked movie's nearest plots through the HNSW index (the live ranking)...
NEAREST_BY_INDEX = (
    """
        SELECT DISTINCT n.id FROM refs CROSS JOIN LATERAL (
            SELECT m.id FROM movie_plot_embeddings e JOIN movies m ON m.id = e.movie_id
            WHERE e.model = (SELECT model FROM movie_plot_embeddings WHERE movie_id = (CAST(:refs AS bigint[]))[1])
              AND {where} AND """
    + NOT_A_REFERENCE
    + """
            ORDER BY e.embedding <=> refs.embedding
            LIMIT :candidates
        ) n
        WHERE refs.position <= :liked"""
)
# ... or the same candidates, stored with their lists (``movie_neighbours`` of version :version).
NEAREST_FROM_LISTS = (
    """
        SELECT DISTINCT m.id FROM movie_neighbours l CROSS JOIN LATERAL unnest(l.candidate_ids) AS n(id)
        JOIN movies m ON m.id = n.id
        WHERE l.movie_id = ANY((CAST(:refs AS bigint[]))[1:CAST(:liked AS int)]) AND l.version = :version
          AND {where} AND """
    + NOT_A_REFERENCE
)
HAS_PLOT = r"COALESCE(m.summary ~ '\S' OR m.description_full ~ '\S' OR m.description_intro ~ '\S', false)"
# In the order of Profile's fields (``as_profile``).
PROFILE_COLUMNS = (
    "m.id AS movie_id, m.external_id, m.imdb_code, m.title, m.year, "
    f"CAST(m.rating AS float8) AS rating, {GENRES} AS genres, {HAS_PLOT} AS has_plot, "
    f"{BEST_QUALITY} AS best_quality"
)
NEIGHBOURHOOD = """
    WITH refs AS MATERIALIZED (
        SELECT r.position, p.embedding
        FROM unnest(CAST(:refs AS bigint[])) WITH ORDINALITY AS r(movie_id, position)
        JOIN movie_plot_embeddings p ON p.movie_id = r.movie_id
        WHERE p.model = (SELECT model FROM movie_plot_embeddings WHERE movie_id = (CAST(:refs AS bigint[]))[1])
    ),
    nearest AS MATERIALIZED ({nearest}),
    wanted AS (
        SELECT id, false AS is_reference FROM nearest
        UNION ALL
        SELECT unnest(CAST(:refs AS bigint[])), true
    )
    SELECT {profile}, w.is_reference, p.model AS plot_model,
           ARRAY(SELECT 1 - (p.embedding <=> r.embedding) FROM refs r ORDER BY r.position) AS similarities
    FROM wanted w JOIN movies m ON m.id = w.id LEFT JOIN movie_plot_embeddings p ON p.movie_id = m.id"""


@dataclass(frozen=True)
class Neighbourhood:
    """The liked and disliked movies (``movies.id`` -> profile and plot vector model, ``None``: no vector),
    and the candidates with their plot cosines to the liked, then the disliked movies."""

    references: dict[int, tuple[Profile, str | None]]
    candidates: list[tuple[Profile, list[float]]]


def neighbourhood(
    session: Session,
    liked: Sequence[int],
    disliked: Sequence[int],
    where: str,
    params: dict[str, Any],
    candidates: int,
    lists_version: str | None = None,
) -> Neighbourhood:
    """The movies ``liked`` and ``disliked`` (``movies.id``) and the candidates around the liked ones.

    Candidates meet ``where`` (conditions on ``movies m``). The liked and disliked movies, and
    other uploads of their IMDb codes, are left out in the scan, so that they never take a
    candidate's place. With ``lists_version`` the candidates are the liked movies' stored lists.
    """
    use_index_scans(session)
    nearest = (NEAREST_BY_INDEX if lists_version is None else NEAREST_FROM_LISTS).format(where=where)
    rows = session.execute(
        text(NEIGHBOURHOOD.format(nearest=nearest, profile=PROFILE_COLUMNS)),
        {
            **params,
            "refs": [*liked, *disliked],
            "liked": len(liked),
            "candidates": candidates,
            "qualities": QUALITY_ORDER,
            "version": lists_version,
        },
    ).all()
    return Neighbourhood(
        references={row.movie_id: (as_profile(row), row.plot_model) for row in rows if row.is_reference},
        candidates=[(as_profile(row), list(row.similarities)) for row in rows if not row.is_reference],
    )


def as_profile(row: Any) -> Profile:
    """A row that starts with ``PROFILE_COLUMNS``, as the ranking sees it."""
    movie_id, external_id, imdb_code, title, year, rating, genres, has_plot, best_quality = row[:9]
    return Profile(movie_id, external_id, imdb_code, title, year, rating, frozenset(genres), has_plot, best_quality)
