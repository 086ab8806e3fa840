"""The ``movie_neighbours`` table's SQL: the catalog read for a rebuild, the lists written, a list read back.

The catalog (profiles and plot vectors of one model, non-removed movies) is read in one
REPEATABLE READ transaction, the vectors by a binary COPY parsed as one numpy record array: the
text form of 75,000 vectors takes seconds to parse. Lists are written by COPY in one transaction,
so a reader sees either the old lists or the new ones.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from yts_pipeline.db.models import EMBEDDING_DIMENSIONS
from yts_pipeline.search.neighbour_lists import NeighbourList, PlotCatalog
from yts_pipeline.search.neighbours import HAS_PLOT, PROFILE_COLUMNS, as_profile
from yts_pipeline.search.sql import GENRES, QUALITY_ORDER

# A movie's inputs to the ranking (its own list and its place in others'): plot vector, codes, genres, year...
FINGERPRINT = (
    f"md5(format('%s|%s|%s|%s|%s|%s|%s', m.external_id, p.content_hash, m.imdb_code, m.year, "
    f"m.rating, {GENRES}, {HAS_PLOT}))"
)
RANKED_MOVIES = """
    FROM movies m JOIN movie_plot_embeddings p ON p.movie_id = m.id
    WHERE p.model = %(model)s AND m.removed_at IS NULL"""


def binary_vector_row(*extra: tuple[str, str]) -> np.dtype:
    """A binary COPY row of ``movie_id`` (int8) and a pgvector ``vector``, then ``extra`` fields, as a numpy dtype."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("id_len", ">i4"),
            ("id", ">i8"),
            ("vec_len", ">i4"),
            ("dim", ">i2"),
            ("unused", ">i2"),
            ("vec", ">f4", (EMBEDDING_DIMENSIONS,)),
            *extra,
        ]
    )


VECTOR_ROW = binary_vector_row()
COPY_HEADER = len(b"PGCOPY\n\xff\r\n\x00") + 8
LIST_COLUMNS = "movie_id, version, fingerprint, candidate_floor, neighbour_ids, candidate_ids, scores, reasons"
COPY_ROWS = 2000  # lists per COPY: the text of 75,000 lists at once would take ~1 GB
STORED_LIST = f"""
    SELECT {PROFILE_COLUMNS}, n.score, l.reasons -> CAST(n.position - 1 AS int) AS reasons, l.version,
           p.model AS plot_model, l.candidate_floor, ({{where}}) AS passes,
           CASE WHEN ({{where}}) THEN false ELSE m.imdb_code IS NOT NULL AND EXISTS (
               SELECT 1 FROM movies c WHERE c.imdb_code = m.imdb_code AND c.id <> m.id) END AS has_copies
    FROM movie_neighbours l JOIN movie_plot_embeddings p ON p.movie_id = l.movie_id
    CROSS JOIN LATERAL unnest(l.neighbour_ids, l.scores) WITH ORDINALITY AS n(movie_id, score, position)
    JOIN movies m ON m.id = n.movie_id
    WHERE l.movie_id = :movie_id
    ORDER BY n.position
    LIMIT :limit"""
OWNER = f"SELECT {GENRES} AS genres, {HAS_PLOT} AS has_plot FROM movies m WHERE m.id = :movie_id"


@dataclass(frozen=True)
class StoredList:
    """What the table holds for one movie: enough to tell whether its list is still right."""

    version: str
    fingerprint: str
    floor: float | None


def read_catalog(session: Session, model_name: str) -> tuple[PlotCatalog, list[str]]:
    """Every non-removed movie with a plot vector of ``model_name``, and each one's fingerprint (same order).

    Call first in a fresh session: it sets the transaction's isolation level.
    """
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    profiles = f"SELECT {PROFILE_COLUMNS}, {FINGERPRINT} AS fingerprint {RANKED_MOVIES} ORDER BY m.id"
    rows = session.execute(
        text(profiles.replace("%(model)s", ":model")), {"model": model_name, "qualities": QUALITY_ORDER}
    ).all()
    vectors = _copy_vectors(
        session, f"SELECT p.movie_id, p.embedding {RANKED_MOVIES} ORDER BY m.id", {"model": model_name}
    )
    if [row.movie_id for row in rows] != vectors["id"].tolist():
        raise RuntimeError("the catalog's movies and vectors were read apart")
    catalog = PlotCatalog.of([as_profile(row) for row in rows], vectors["vec"])
    return catalog, [row.fingerprint for row in rows]


def stored_lists(session: Session) -> dict[int, StoredList]:
    """Every stored list's version, fingerprint and floor, by ``movies.id``."""
    rows = session.execute(text("SELECT movie_id, version, fingerprint, candidate_floor FROM movie_neighbours"))
    return {row.movie_id: StoredList(row.version, row.fingerprint, row.candidate_floor) for row in rows}


def lists_holding(session: Session, movie_ids: Sequence[int]) -> list[int]:
    """The movies whose list has any of ``movie_ids`` among its candidates (an array overlap, in Postgres)."""
    if not movie_ids:
        return []
    return list(
        session.scalars(
            text("SELECT movie_id FROM movie_neighbours WHERE candidate_ids && CAST(:ids AS bigint[])"),
            {"ids": list(movie_ids)},
        )
    )


def write_lists(
    session: Session,
    version: str,
    catalog: PlotCatalog,
    fingerprints: Sequence[str],
    lists: Iterable[NeighbourList],
    *,
    delete: Sequence[int] | None,
) -> int:
    """Replace the lists of ``delete`` (``None``: every list) by ``lists``; returns how many were written."""
    if delete is None:
        session.execute(text("DELETE FROM movie_neighbours"))
    elif delete:
        session.execute(text("DELETE FROM movie_neighbours WHERE movie_id = ANY(:ids)"), {"ids": list(delete)})
    cursor = session.connection().connection.dbapi_connection.cursor()
    written, lists = 0, iter(lists)
    while chunk := list(itertools.islice(lists, COPY_ROWS)):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for found in chunk:
            writer.writerow(
                [
                    int(catalog.movie_ids[found.row]),
                    version,
                    fingerprints[found.row],
                    "" if found.floor is None else repr(found.floor),
                    _array(catalog.movie_ids[found.neighbours].tolist()),
                    _array(catalog.movie_ids[found.candidates].tolist()),
                    _array(found.scores),
                    json.dumps(found.reasons, ensure_ascii=False),
                ]
            )
        buffer.seek(0)
        cursor.copy_expert(f"COPY movie_neighbours ({LIST_COLUMNS}) FROM STDIN WITH (FORMAT csv)", buffer)
        written += len(chunk)
    return written


def read_stored_list(session: Session, movie_id: int, where: str, params: dict[str, Any], limit: int) -> list[Any]:
    """The first ``limit`` of ``movie_id``'s stored list in order: each neighbour's profile, score and
    reasons, whether it meets ``where`` (conditions on ``movies m``) and, when not, whether other uploads
    of it exist; the list's version and floor, and the model of the movie's plot vector."""
    return session.execute(
        text(STORED_LIST.format(where=where)),
        {**params, "movie_id": movie_id, "qualities": QUALITY_ORDER, "limit": limit},
    ).all()


def list_owner(session: Session, movie_id: int) -> Any:
    """The genres of the movie a list is for, and whether it has a plot: they bound scores beyond its list."""
    return session.execute(text(OWNER), {"movie_id": movie_id}).one()


def listed_versions(session: Session, movie_ids: Sequence[int]) -> list[Any]:
    """For each of ``movie_ids`` that has a list: its version, its plot vector's model, whether it is
    complete (every movie was a candidate)."""
    return session.execute(
        text(
            "SELECT l.movie_id, l.version, p.model AS plot_model, l.candidate_floor IS NULL AS complete "
            "FROM movie_neighbours l JOIN movie_plot_embeddings p ON p.movie_id = l.movie_id "
            "WHERE l.movie_id = ANY(:ids)"
        ),
        {"ids": list(movie_ids)},
    ).all()


def _copy_vectors(session: Session, select: str, params: dict[str, Any]) -> np.ndarray:
    """Rows of ``(movies.id, vector)`` of ``select`` (psycopg2 placeholders) by binary COPY, as a record array
    with fields ``id`` and ``vec``."""
    cursor = session.connection().connection.dbapi_connection.cursor()
    statement = cursor.mogrify(select, params).decode()
    buffer = io.BytesIO()
    cursor.copy_expert(f"COPY ({statement}) TO STDOUT WITH (FORMAT binary)", buffer)
    data = buffer.getvalue()
    (extension,) = struct.unpack_from(">i", data, COPY_HEADER - 4)
    body = data[COPY_HEADER + extension : -2]
    return np.frombuffer(body, dtype=VECTOR_ROW)


def _array(values: Sequence[float | int]) -> str:
    return "{" + ",".join(map(repr, values)) + "}"
