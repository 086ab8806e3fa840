"""A batch of records, staged: temporary tables shaped like the mirror's, each filled by one COPY.

COPY streams rows as tab-separated text: no SQL to parse per row and no bind parameters, so the
server takes a batch of thousands of rows in milliseconds, and ``saving`` then compares and merges
them set against set. The tables belong to the connection and are emptied at every commit
(``ON COMMIT DELETE ROWS``): concurrent savers never see each other's rows, and creating them once
per connection, not per batch, spares every batch the catalog and file work of a new table.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, Table, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from yts_pipeline.db.models import Movie, Torrent
from yts_pipeline.yts.records import MovieRecord

# What a payload can know of a movie (``MovieRecord.column_values``); the rest is bookkeeping.
MOVIE_BOOKKEEPING = (
    "id",
    "search_vector",
    "created_at",
    "updated_at",
    "last_seen_at",
    "removed_at",
    "details_fetched_at",
    "details_error",
)
MOVIE_COLUMNS = tuple(c.name for c in Movie.__table__.columns if c.name not in MOVIE_BOOKKEEPING)
TORRENT_COLUMNS = tuple(c.name for c in Torrent.__table__.columns if c.name not in ("id", "movie_id"))

_metadata = MetaData()


def _temporary(name: str, *columns: Column[Any]) -> Table:
    return Table(name, _metadata, *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS")


def _like(table: Table, names: Sequence[str]) -> list[Column[Any]]:
    return [Column(name, table.c[name].type) for name in names]


# ``has_*``: the payload carried that list (possibly empty), so the stored one is made equal to it.
STAGE_MOVIES = _temporary(
    "stage_movies",
    *_like(Movie.__table__, MOVIE_COLUMNS),
    Column("is_details", Boolean),
    Column("has_genres", Boolean),
    Column("has_torrents", Boolean),
    Column("has_cast", Boolean),
)
STAGE_GENRES = _temporary("stage_genres", Column("external_id", BigInteger), Column("name", Text))
STAGE_TORRENTS = _temporary(
    "stage_torrents", Column("external_id", BigInteger), *_like(Torrent.__table__, TORRENT_COLUMNS)
)
# ``seq`` is the order people came in, so that the last mention of a person wins, as in a dict.
STAGE_CAST = _temporary(
    "stage_cast",
    Column("seq", Integer),
    Column("external_id", BigInteger),
    Column("name", Text),
    Column("imdb_code", Text),
    Column("url_small_image", Text),
    Column("character_name", Text),
)
STAGE_TABLES = (STAGE_MOVIES, STAGE_GENRES, STAGE_TORRENTS, STAGE_CAST)
_CREATE = ";".join(str(CreateTable(t, if_not_exists=True).compile(dialect=postgresql.dialect())) for t in STAGE_TABLES)

_COPY_CHUNK = 1 << 20


def stage(connection: Connection, records: Sequence[MovieRecord]) -> None:
    """Copy ``records`` into the stage tables (created on the connection's first batch)."""
    connection.exec_driver_sql(_CREATE)
    cursor = connection.connection.cursor()
    try:
        _copy(
            cursor,
            STAGE_MOVIES,
            (
                (
                    *map(r.column_values().get, MOVIE_COLUMNS),
                    r.is_details,
                    r.genres is not None,
                    r.torrents is not None,
                    r.cast is not None,
                )
                for r in records
            ),
        )
        _copy(cursor, STAGE_GENRES, ((r.external_id, name) for r in records for name in r.genres or ()))
        _copy(
            cursor,
            STAGE_TORRENTS,
            ((r.external_id, *(getattr(t, c) for c in TORRENT_COLUMNS)) for r in records for t in r.torrents or ()),
        )
        people = ((r.external_id, p) for r in records for p in r.cast or ())
        _copy(
            cursor,
            STAGE_CAST,
            (
                (seq, external_id, p.name, p.imdb_code, p.url_small_image, p.character_name)
                for seq, (external_id, p) in enumerate(people)
            ),
        )
    finally:
        cursor.close()


def _copy(cursor: Any, table: Table, rows: Iterable[Sequence[Any]]) -> None:
    """One COPY of ``rows`` (in the table's column order) into ``table``; nothing sent for no rows."""
    buffer = io.StringIO()
    buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
    if not buffer.tell():
        return
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table.name} ({', '.join(table.c.keys())}) FROM STDIN", buffer, _COPY_CHUNK)


def _copy_text(value: Any) -> str:
    """A value in COPY's text format: backslash escapes for the characters that delimit rows and fields.

    Most values need no escape, and testing for the four characters is far cheaper than rewriting.
    """
    if value is None:
        return "\\N"
    if type(value) is not str:
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, datetime):
            return value.isoformat()
        if not isinstance(value, str):
            return str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value
