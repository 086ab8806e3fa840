"""Set-based saving of a batch of movies: one COPY per table into a stage, one merge statement per table.

The batch is staged (``staging``), then each table is compared with its stage inside Postgres and
only new or changed rows are written (``INSERT ... SELECT ... ON CONFLICT``, ``DELETE ... USING``),
so a rerun on unchanged payloads writes nothing and the rows never travel back to Python. Every
merge says which movies it wrote, so the figures of ``SaveResult`` stay exact. Rows are inserted in
sorted key order so that two processes saving overlapping batches never deadlock. A value the
payload does not know (missing or ``""``) never erases a stored one, and URLs are compared without
their host (the API serves the same movie from several hosts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from yts_pipeline.db.staging import MOVIE_COLUMNS, TORRENT_COLUMNS, stage
from yts_pipeline.yts.parsing import MovieParseError, parse_movie
from yts_pipeline.yts.records import URL_FIELDS, MovieRecord, RejectedMovie

SEEN_GRANULARITY = timedelta(hours=1)  # last_seen_at is refreshed at most this often
HOST_PATTERN = "^https?://[^/]+"  # what a URL's host part looks like, stripped before comparing


@dataclass
class SaveResult:
    """What a batch did, by YTS id. ``movie_ids`` maps every saved YTS id to its ``movies.id``.

    ``rows_written`` counts every row inserted, updated or deleted, in any table.
    """

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    rejected: list[RejectedMovie] = field(default_factory=list)
    rows_written: int = 0
    movie_ids: dict[int, int] = field(default_factory=dict)

    def merge(self, other: SaveResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.rows_written += other.rows_written
        self.movie_ids.update(other.movie_ids)


def to_records(payloads: Iterable[Mapping[str, Any] | MovieRecord]) -> tuple[list[MovieRecord], list[RejectedMovie]]:
    """Parse raw API dicts (records pass through); one record per YTS id, the last one wins."""
    records: dict[int, MovieRecord] = {}
    rejected = []
    for payload in payloads:
        if isinstance(payload, MovieRecord):
            record = payload
        else:
            try:
                details = isinstance(payload, Mapping) and ("cast" in payload or "description_intro" in payload)
                record = parse_movie(payload, is_details=details)  # a non-object is rejected there, by name
            except MovieParseError as exc:
                rejected.append(exc.rejected)
                continue
        records[record.external_id] = record
    return [records[k] for k in sorted(records)], rejected


def _differs(new: str, old: str, column: str) -> str:
    """SQL: the staged value is known and is not the stored one (URLs compared without host)."""
    test = f"{new} IS NOT NULL AND {new} IS DISTINCT FROM {old}"
    if column in URL_FIELDS:
        test += (
            f" AND regexp_replace({new}, '{HOST_PATTERN}', '', 'i')"
            f" IS DISTINCT FROM regexp_replace({old}, '{HOST_PATTERN}', '', 'i')"
        )
    return f"({test})"


def _keep_known(table: str, columns: Iterable[str]) -> str:
    return ", ".join(f"{c} = coalesce(EXCLUDED.{c}, {table}.{c})" for c in columns)


def _remove_unlisted(table: str, listed: str, kept: str) -> str:
    """Delete the rows of ``table`` (as ``l``) of every staged movie whose payload carried the list
    (``stage_movies.{listed}``) when ``kept`` (a query on ``l``, ``s`` and ``m``) finds nothing for them."""
    return f"""DELETE FROM {table} l USING stage_movies s JOIN movies m USING (external_id)
WHERE s.{listed} AND l.movie_id = m.id AND NOT EXISTS ({kept})
RETURNING l.movie_id"""


_DATA = [c for c in MOVIE_COLUMNS if c != "external_id"]
# A stored movie is touched (counted as updated) when a column changes, when a details answer is
# its first (or follows a failed one), or when a list page shows it again after a sweep removed it;
# it is stale when a list page shows it and its last_seen_at is older than SEEN_GRANULARITY.
_MOVIE_TOUCHED = " OR ".join(
    [
        *(_differs(f"s.{c}", f"m.{c}", c) for c in _DATA),
        "(s.is_details AND (m.details_fetched_at IS NULL OR m.details_error IS NOT NULL))",
        "(%(seen)s AND m.removed_at IS NOT NULL)",
    ]
)
_MOVIE_STALE = "%(seen)s AND (m.last_seen_at IS NULL OR m.last_seen_at < now() - %(seen_granularity)s)"
_MOVIE_COLUMN_LIST = ", ".join(MOVIE_COLUMNS)

# One row per staged movie: (external_id, movies.id, created, touched, written).
MERGE_MOVIES = f"""WITH compared AS (
    SELECT s.*, m.id AS stored_id, m.id IS NOT NULL AND ({_MOVIE_TOUCHED}) AS touched, {_MOVIE_STALE} AS stale
    FROM stage_movies s LEFT JOIN movies m USING (external_id)
), written AS (
    INSERT INTO movies ({_MOVIE_COLUMN_LIST}, created_at, updated_at, removed_at, last_seen_at,
                        details_fetched_at, details_error)
    SELECT {_MOVIE_COLUMN_LIST}, now(), now(), NULL, CASE WHEN %(seen)s THEN now() END,
           CASE WHEN is_details THEN now() END, NULL
    FROM compared WHERE stored_id IS NULL OR touched OR stale ORDER BY external_id
    ON CONFLICT (external_id) DO UPDATE SET {_keep_known("movies", _DATA)},
        last_seen_at = coalesce(EXCLUDED.last_seen_at, movies.last_seen_at),
        details_fetched_at = coalesce(EXCLUDED.details_fetched_at, movies.details_fetched_at),
        details_error = CASE WHEN EXCLUDED.details_fetched_at IS NOT NULL THEN NULL ELSE movies.details_error END,
        removed_at = CASE WHEN %(seen)s THEN NULL ELSE movies.removed_at END
    RETURNING id, external_id
)
SELECT c.external_id, coalesce(w.id, c.stored_id), c.stored_id IS NULL, c.touched, w.id IS NOT NULL
FROM compared c LEFT JOIN written w USING (external_id)"""

ENSURE_GENRES = """INSERT INTO genres (name)
SELECT DISTINCT s.name FROM stage_genres s
WHERE NOT EXISTS (SELECT 1 FROM genres g WHERE g.name = s.name)
ORDER BY s.name
ON CONFLICT (name) DO NOTHING"""

# Each write below returns the movies.id of every row it wrote, so that its movie counts as updated.
ADD_GENRE_LINKS = """INSERT INTO movie_genres (movie_id, genre_id)
SELECT m.id, g.id FROM stage_genres s JOIN movies m USING (external_id) JOIN genres g ON g.name = s.name
WHERE NOT EXISTS (SELECT 1 FROM movie_genres l WHERE l.movie_id = m.id AND l.genre_id = g.id)
ORDER BY m.id, g.id
ON CONFLICT DO NOTHING
RETURNING movie_id"""

REMOVE_GENRE_LINKS = _remove_unlisted(
    "movie_genres",
    "has_genres",
    """SELECT 1 FROM stage_genres sg
    JOIN genres g ON g.name = sg.name WHERE sg.external_id = s.external_id AND g.id = l.genre_id""",
)

_TORRENT_DATA = [c for c in TORRENT_COLUMNS if c != "hash"]
UPSERT_TORRENTS = f"""INSERT INTO torrents (movie_id, {", ".join(TORRENT_COLUMNS)})
SELECT m.id, {", ".join(f"s.{c}" for c in TORRENT_COLUMNS)}
FROM stage_torrents s JOIN movies m USING (external_id)
LEFT JOIN torrents t ON t.movie_id = m.id AND t.hash = s.hash
WHERE t.id IS NULL OR {" OR ".join(_differs(f"s.{c}", f"t.{c}", c) for c in _TORRENT_DATA)}
ORDER BY m.id, s.hash
ON CONFLICT ON CONSTRAINT uq_torrents_movie_id_hash DO UPDATE SET {_keep_known("torrents", _TORRENT_DATA)}
RETURNING movie_id"""

REMOVE_TORRENTS = _remove_unlisted(
    "torrents",
    "has_torrents",
    "SELECT 1 FROM stage_torrents st WHERE st.external_id = s.external_id AND st.hash = l.hash",
)

# People by identity: the IMDb code when known (a known person's new name or photo is applied),
# else the name (inserted once, never changed). The last mention in the batch wins.
ENSURE_PEOPLE = f"""WITH coded AS (
    INSERT INTO casts (name, imdb_code, url_small_image)
    SELECT p.name, p.imdb_code, p.url_small_image
    FROM (SELECT DISTINCT ON (imdb_code) imdb_code, name, url_small_image FROM stage_cast
          WHERE imdb_code IS NOT NULL ORDER BY imdb_code, seq DESC) p
    LEFT JOIN casts c ON c.imdb_code = p.imdb_code
    WHERE c.id IS NULL OR c.name <> p.name OR {_differs("p.url_small_image", "c.url_small_image", "url")}
    ORDER BY p.imdb_code
    ON CONFLICT (imdb_code) WHERE imdb_code IS NOT NULL
    DO UPDATE SET name = EXCLUDED.name, url_small_image = coalesce(EXCLUDED.url_small_image, casts.url_small_image)
    RETURNING 1
), named AS (
    INSERT INTO casts (name, url_small_image)
    SELECT DISTINCT ON (s.name) s.name, s.url_small_image FROM stage_cast s
    WHERE s.imdb_code IS NULL
      AND NOT EXISTS (SELECT 1 FROM casts c WHERE c.imdb_code IS NULL AND c.name = s.name)
    ORDER BY s.name, s.seq DESC
    ON CONFLICT (name) WHERE imdb_code IS NULL DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM coded) + (SELECT count(*) FROM named)"""

# The people of the staged casts: by IMDb code, or by name for those without one (as in casts).
_STAGED_PEOPLE = """SELECT sc.external_id, c.id AS cast_id, sc.character_name
    FROM stage_cast sc JOIN casts c ON c.imdb_code = sc.imdb_code
    UNION ALL
    SELECT sc.external_id, c.id, sc.character_name
    FROM stage_cast sc JOIN casts c ON c.imdb_code IS NULL AND c.name = sc.name
    WHERE sc.imdb_code IS NULL"""

UPSERT_CAST_LINKS = f"""INSERT INTO movie_casts (movie_id, cast_id, character_name)
SELECT m.id, p.cast_id, p.character_name FROM ({_STAGED_PEOPLE}) p JOIN movies m USING (external_id)
LEFT JOIN movie_casts l ON l.movie_id = m.id AND l.cast_id = p.cast_id
WHERE l.movie_id IS NULL OR {_differs("p.character_name", "l.character_name", "character_name")}
ORDER BY m.id, p.cast_id
ON CONFLICT (movie_id, cast_id) DO UPDATE SET {_keep_known("movie_casts", ["character_name"])}
RETURNING movie_id"""

REMOVE_CAST_LINKS = _remove_unlisted(
    "movie_casts",
    "has_cast",
    f"""SELECT 1 FROM ({_STAGED_PEOPLE}) p
    WHERE p.external_id = s.external_id AND p.cast_id = l.cast_id""",
)

MARK_UPDATED = "UPDATE movies SET updated_at = now() WHERE id = ANY(%(ids)s)"


class BatchSaver:
    """Saves one batch of records (unique, sorted YTS ids) inside the caller's transaction."""

    def __init__(self, connection: Connection, *, seen: bool):
        self.connection = connection
        self.seen = seen
        self.result = SaveResult()
        self.touched: set[int] = set()  # movies.id of stored movies whose row or children changed

    def save(self, records: list[MovieRecord]) -> SaveResult:
        if not records:
            return self.result
        stage(self.connection, records)
        stored = self._merge_movies()
        if any(r.genres is not None for r in records):
            self.result.rows_written += self._execute(ENSURE_GENRES).rowcount
            self._count_per_movie(ADD_GENRE_LINKS, REMOVE_GENRE_LINKS)
        if any(r.torrents is not None for r in records):
            self._count_per_movie(UPSERT_TORRENTS, REMOVE_TORRENTS)
        if any(r.cast is not None for r in records):
            self.result.rows_written += self._execute(ENSURE_PEOPLE).scalar_one()
            self._count_per_movie(UPSERT_CAST_LINKS, REMOVE_CAST_LINKS)
        changed = sorted(self.touched & stored)
        if changed:
            self._execute(MARK_UPDATED, ids=changed)
        for record in records:
            key = record.external_id
            movie_id = self.result.movie_ids[key]
            if movie_id not in stored:
                self.result.created.append(key)
            elif movie_id in self.touched:
                self.result.updated.append(key)
            else:
                self.result.unchanged.append(key)
        return self.result

    def _merge_movies(self) -> set[int]:
        """Upsert the staged movies; returns the ``movies.id`` of those that were already stored."""
        stored = set()
        rows = self._execute(MERGE_MOVIES, seen=self.seen, seen_granularity=SEEN_GRANULARITY)
        for external_id, movie_id, created, touched, written in rows:
            self.result.movie_ids[external_id] = movie_id
            if not created:
                stored.add(movie_id)
            if touched:
                self.touched.add(movie_id)
            self.result.rows_written += written
        return stored

    def _count_per_movie(self, *writes: str) -> None:
        """Run ``writes`` (each returning the movies.id of every row it wrote) and count their rows."""
        for sql in writes:
            written = self._execute(sql).scalars().all()
            self.touched.update(written)
            self.result.rows_written += len(written)

    def _execute(self, sql: str, **params: Any) -> Any:
        return self.connection.exec_driver_sql(sql, params or None)
