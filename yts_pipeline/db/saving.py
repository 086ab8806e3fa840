"""Set-based saving of a batch of movies: a handful of statements per batch, never one per row.

Each table is read once for the batch, compared in Python, and only new or changed rows are
written (``INSERT ... ON CONFLICT``), so a rerun on unchanged payloads writes nothing. Keys are
handled in sorted order so that two processes saving overlapping batches never deadlock.
A value the payload does not know (missing or ``""``) never erases a stored one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, literal_column, null, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Cast, Genre, Movie, MovieCast, MovieGenre, Torrent
from yts_pipeline.yts.parsing import MovieParseError, cast_identity, parse_movie
from yts_pipeline.yts.records import URL_FIELDS, MovieRecord, RejectedMovie, TorrentRecord

SEEN_GRANULARITY = timedelta(hours=1)  # last_seen_at is refreshed at most this often
_HOST = re.compile(r"^https?://[^/]+", re.IGNORECASE)
_TORRENT_FIELDS = tuple(c.name for c in Torrent.__table__.columns if c.name not in ("id", "movie_id"))


@dataclass
class SaveResult:
    """What a batch did, by YTS id. ``movie_ids`` maps every saved YTS id to its ``movies.id``."""

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


def _comparable(column: str, value: Any) -> Any:
    """URLs embed the serving host; compare them without it so a host move is not a change."""
    if column in URL_FIELDS and isinstance(value, str):
        return _HOST.sub("", value)
    return value


def _movie_changes(record: MovieRecord, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The columns this record would change (all known ones for a new movie)."""
    known = {k: v for k, v in record.column_values().items() if v is not None}
    if stored is None:
        return known
    return {k: v for k, v in known.items() if _comparable(k, v) != _comparable(k, stored[k])}


class BatchSaver:
    """Saves one batch of records inside the caller's transaction."""

    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.now = now
        self.result = SaveResult()
        self.touched: set[int] = set()  # YTS ids whose row or children changed

    def save(self, records: list[MovieRecord], *, seen: bool) -> SaveResult:
        if not records:
            return self.result
        stored = self._stored_movies([r.external_id for r in records])
        self._upsert_movies(records, stored, seen=seen)
        ids = self.result.movie_ids
        self._save_genres([r for r in records if r.genres is not None], ids)
        self._save_torrents([r for r in records if r.torrents is not None], ids)
        self._save_cast([r for r in records if r.cast is not None], ids)
        for record in records:
            key = record.external_id
            if key not in stored:
                self.result.created.append(key)
            elif key in self.touched:
                self.result.updated.append(key)
            else:
                self.result.unchanged.append(key)
        if self.result.created or self.result.updated:
            changed = [ids[k] for k in self.touched if k in stored]
            if changed:
                self.session.execute(update(Movie).where(Movie.id.in_(changed)).values(updated_at=self.now))
        return self.result

    def _stored_movies(self, external_ids: list[int]) -> dict[int, dict[str, Any]]:
        columns = [c for c in Movie.__table__.columns if c.name != "search_vector"]
        rows = self.session.execute(select(*columns).where(Movie.external_id.in_(external_ids))).mappings()
        return {row["external_id"]: dict(row) for row in rows}

    def _upsert_movies(self, records: list[MovieRecord], stored: dict[int, dict[str, Any]], *, seen: bool) -> None:
        rows = []
        for record in records:
            old = stored.get(record.external_id)
            changes = _movie_changes(record, old)
            fresh_details = record.is_details and (old is None or old["details_fetched_at"] is None
                                                   or old["details_error"] is not None)
            revived = seen and old is not None and old["removed_at"] is not None
            stale = seen and (old is None or old["last_seen_at"] is None
                              or old["last_seen_at"] < self.now - SEEN_GRANULARITY)
            if old is not None:
                self.result.movie_ids[record.external_id] = old["id"]
            if not (changes or fresh_details or revived or stale):
                continue
            if changes or fresh_details or revived:
                self.touched.add(record.external_id)
            row = {c.name: None for c in Movie.__table__.columns if c.name not in ("id", "search_vector")}
            row.update(record.column_values())
            row.update(created_at=self.now, updated_at=self.now, removed_at=None,
                       last_seen_at=self.now if seen else None,
                       details_fetched_at=self.now if record.is_details else None, details_error=None)
            rows.append(row)
        if not rows:
            return
        stmt = insert(Movie.__table__)
        keep = {"id", "external_id", "created_at", "updated_at", "search_vector", "removed_at",
                "last_seen_at", "details_fetched_at", "details_error"}
        set_ = {name: _coalesce(stmt, name) for name in rows[0] if name not in keep}
        set_.update(
            last_seen_at=_coalesce(stmt, "last_seen_at"),
            details_fetched_at=_coalesce(stmt, "details_fetched_at"),
            # a details answer clears an earlier details failure
            details_error=case((stmt.excluded.details_fetched_at.isnot(None), null()),
                               else_=Movie.__table__.c.details_error),
            removed_at=null() if seen else Movie.__table__.c.removed_at,
        )
        stmt = stmt.on_conflict_do_update(index_elements=["external_id"], set_=set_)
        returned = self.session.connection().execute(stmt.returning(stmt.table.c.id, stmt.table.c.external_id), rows)
        for movie_id, external_id in returned:
            self.result.movie_ids[external_id] = movie_id
        self.result.rows_written += len(rows)

    def _save_genres(self, records: list[MovieRecord], ids: dict[int, int]) -> None:
        if not records:
            return
        names = sorted({name for r in records for name in r.genres or ()})
        genre_ids = _ensure_named(self.session, Genre, names)
        wanted = {(ids[r.external_id], genre_ids[n]) for r in records for n in r.genres or ()}
        movie_ids = [ids[r.external_id] for r in records]
        self._sync_links(MovieGenre, MovieGenre.genre_id, movie_ids, wanted)

    def _sync_links(self, model: Any, other: Any, movie_ids: list[int], wanted: set[tuple[int, int]]) -> None:
        """Make the link rows of ``movie_ids`` exactly ``wanted`` (pairs of movie id, other id)."""
        have = set(self.session.execute(select(model.movie_id, other).where(model.movie_id.in_(movie_ids))).all())
        missing = sorted(wanted - have)
        extra = sorted(have - wanted)
        if missing:
            rows = [{"movie_id": m, other.key: o} for m, o in missing]
            _write(self.session, insert(model.__table__).on_conflict_do_nothing(), rows)
        if extra:
            self.session.execute(delete(model).where(tuple_(model.movie_id, other).in_(extra)))
        self._touch_movies({m for m, _ in missing} | {m for m, _ in extra})
        self.result.rows_written += len(missing) + len(extra)

    def _touch_movies(self, movie_ids: set[int]) -> None:
        by_id = {v: k for k, v in self.result.movie_ids.items()}
        self.touched.update(by_id[m] for m in movie_ids)

    def _save_torrents(self, records: list[MovieRecord], ids: dict[int, int]) -> None:
        if not records:
            return
        movie_ids = [ids[r.external_id] for r in records]
        columns = [getattr(Torrent, name) for name in ("id", "movie_id", *_TORRENT_FIELDS)]
        have = {(row.movie_id, row.hash): row._mapping for row in
                self.session.execute(select(*columns).where(Torrent.movie_id.in_(movie_ids)))}
        rows, seen_keys = [], set()
        for record in records:
            movie_id = ids[record.external_id]
            for torrent in record.torrents or ():
                key = (movie_id, torrent.hash)
                seen_keys.add(key)
                values = _torrent_values(torrent)
                old = have.get(key)
                if old is None or any(_comparable(k, v) != _comparable(k, old[k])
                                      for k, v in values.items() if v is not None):
                    rows.append({"movie_id": movie_id, **values})
        gone = sorted(old["id"] for key, old in have.items() if key not in seen_keys)
        if rows:
            rows.sort(key=lambda r: (r["movie_id"], r["hash"]))
            stmt = insert(Torrent.__table__)
            set_ = {name: _coalesce(stmt, name) for name in _TORRENT_FIELDS if name != "hash"}
            _write(self.session, stmt.on_conflict_do_update(constraint="uq_torrents_movie_id_hash", set_=set_), rows)
        if gone:
            self.session.execute(delete(Torrent).where(Torrent.id.in_(gone)))
        self._touch_movies({r["movie_id"] for r in rows} | {k[0] for k, old in have.items() if old["id"] in gone})
        self.result.rows_written += len(rows) + len(gone)

    def _save_cast(self, records: list[MovieRecord], ids: dict[int, int]) -> None:
        if not records:
            return
        people = {cast_identity(p): p for r in records for p in r.cast or ()}
        cast_ids, written = _ensure_people(self.session, list(people.values()))
        self.result.rows_written += written
        wanted = {}
        for record in records:
            for person in record.cast or ():
                wanted[(ids[record.external_id], cast_ids[cast_identity(person)])] = person.character_name
        movie_ids = [ids[r.external_id] for r in records]
        have = {(m, c): name for m, c, name in self.session.execute(
            select(MovieCast.movie_id, MovieCast.cast_id, MovieCast.character_name)
            .where(MovieCast.movie_id.in_(movie_ids)))}
        rows = [{"movie_id": m, "cast_id": c, "character_name": name}
                for (m, c), name in sorted(wanted.items(), key=lambda kv: kv[0])
                if (m, c) not in have or (name is not None and have[(m, c)] != name)]
        extra = sorted(set(have) - set(wanted))
        if rows:
            stmt = insert(MovieCast.__table__)
            _write(self.session, stmt.on_conflict_do_update(
                index_elements=["movie_id", "cast_id"],
                set_={"character_name": _coalesce(stmt, "character_name")}), rows)
        if extra:
            self.session.execute(delete(MovieCast).where(tuple_(MovieCast.movie_id, MovieCast.cast_id).in_(extra)))
        self._touch_movies({r["movie_id"] for r in rows} | {m for m, _ in extra})
        self.result.rows_written += len(rows) + len(extra)


def _write(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> int:
    """Execute an upsert for many rows in batched multi-row statements; returns the rows written.

    RETURNING is what lets SQLAlchemy batch an ``ON CONFLICT`` insert into multi-row VALUES
    ("insertmanyvalues"); without it psycopg2 sends one statement per row.
    """
    return len(session.connection().execute(stmt.returning(literal_column("1")), rows).all())


def _coalesce(stmt: Any, name: str) -> Any:
    return func.coalesce(stmt.excluded[name], stmt.table.c[name])


def _torrent_values(torrent: TorrentRecord) -> dict[str, Any]:
    return {name: getattr(torrent, name) for name in _TORRENT_FIELDS}


def _ensure_named(session: Session, model: Any, names: list[str]) -> dict[str, int]:
    """Ids of rows with these unique names, inserting the missing ones (safe under concurrency)."""
    if not names:
        return {}
    found = dict(session.execute(select(model.name, model.id).where(model.name.in_(names))).all())
    missing = [n for n in names if n not in found]
    if missing:
        _write(session, insert(model.__table__).on_conflict_do_nothing(index_elements=["name"]),
               [{"name": n} for n in missing])
        found.update(session.execute(select(model.name, model.id).where(model.name.in_(missing))).all())
    return found


def _ensure_people(session: Session, people: list[Any]) -> tuple[dict[str, int], int]:
    """Cast ids by identity; inserts new people and refreshes a known person's name or photo."""
    coded = sorted((p for p in people if p.imdb_code), key=lambda p: p.imdb_code)
    named = sorted((p for p in people if not p.imdb_code), key=lambda p: p.name)
    ids: dict[str, int] = {}
    written = 0
    if coded:
        have = {code: (cid, name, image) for cid, code, name, image in session.execute(
            select(Cast.id, Cast.imdb_code, Cast.name, Cast.url_small_image)
            .where(Cast.imdb_code.in_([p.imdb_code for p in coded])))}
        rows = [{"name": p.name, "imdb_code": p.imdb_code, "url_small_image": p.url_small_image} for p in coded
                if p.imdb_code not in have
                or have[p.imdb_code][1] != p.name
                or (p.url_small_image and _comparable("url", have[p.imdb_code][2])
                    != _comparable("url", p.url_small_image))]
        if rows:
            stmt = insert(Cast.__table__)
            _write(session, stmt.on_conflict_do_update(
                index_elements=["imdb_code"], index_where=Cast.imdb_code.isnot(None),
                set_={"name": stmt.excluded.name, "url_small_image": _coalesce(stmt, "url_small_image")}), rows)
            written += len(rows)
        for cid, code in session.execute(select(Cast.id, Cast.imdb_code)
                                         .where(Cast.imdb_code.in_([p.imdb_code for p in coded]))):
            ids[f"imdb:{code}"] = cid
    if named:
        names = [p.name for p in named]
        have_named = dict(session.execute(select(Cast.name, Cast.id)
                                          .where(Cast.imdb_code.is_(None), Cast.name.in_(names))).all())
        rows = [{"name": p.name, "url_small_image": p.url_small_image} for p in named if p.name not in have_named]
        if rows:
            _write(session, insert(Cast.__table__).on_conflict_do_nothing(
                index_elements=["name"], index_where=Cast.imdb_code.is_(None)), rows)
            written += len(rows)
            have_named.update(session.execute(select(Cast.name, Cast.id)
                                              .where(Cast.imdb_code.is_(None), Cast.name.in_(names))).all())
        ids.update({f"name:{name}": cid for name, cid in have_named.items()})
    return ids, written
