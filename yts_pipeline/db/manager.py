"""``DatabaseManager``: pooled access to the mirror, and ``save_movies``, the set-based way to save movies.

The original script's per-movie API stays as a compatibility surface, each method with a test of its
own: ``movie_exists``, ``get_or_create_genre``, ``get_or_create_cast``, ``save_movie`` (one movie
through ``save_movies``), ``get_stats`` and ``close_all``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from yts_pipeline.db.embedded import start_embedded
from yts_pipeline.db.errors import DatabaseUnavailable, PgvectorMissing, describe_server, safe_url, scrub
from yts_pipeline.db.models import (
    SEARCH_VECTOR_INLINE,
    Base,
    Cast,
    Genre,
    Movie,
    MovieEmbedding,
    MovieGenre,
    Torrent,
)
from yts_pipeline.db.saving import BatchSaver, SaveResult, to_records
from yts_pipeline.settings import DatabaseSettings
from yts_pipeline.yts.records import CastRecord, MovieRecord

log = logging.getLogger(__name__)

SCHEMA_LOCK_ID = 7_326_011  # pg_advisory_xact_lock key serialising schema creation
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
# Batches of one save_movies call saved at once: while Postgres merges some, Python stages others, and
# both cores stay busy (bench_save from parsed records, quiet: 2,171 movies/s with 4, 1,576 with 2). Their
# locks are taken in the same sorted order, so they wait for each other at worst.
SAVE_WORKERS = 4

SEARCH_VECTOR_STORAGE = (
    "SELECT attstorage FROM pg_attribute WHERE attrelid = 'movies'::regclass AND attname = 'search_vector'"
)


class DatabaseManager:
    """Pooled access to the mirror. With no URL it starts (or attaches to) the embedded Postgres."""

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: DatabaseSettings | None = None,
        create_schema: bool = True,
        echo: bool = False,
    ):
        self.settings = settings or DatabaseSettings.from_env()
        self.url = url or self.settings.url or start_embedded(self.settings.data_dir)
        self.engine: Engine = create_engine(
            self.url,
            pool_size=self.settings.pool_size,
            max_overflow=self.settings.max_overflow,
            pool_timeout=self.settings.pool_timeout,
            pool_pre_ping=True,
            hide_parameters=True,
            echo=echo,
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.check_connection()
        if create_schema:
            self.ensure_schema()

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def check_connection(self) -> str:
        """Connect once; return the server version or raise ``DatabaseUnavailable`` naming host and cause."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SHOW server_version")).scalar_one()
        except OperationalError as exc:
            cause = scrub(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc), self.url)
            raise DatabaseUnavailable(f"cannot connect to Postgres at {describe_server(self.url)}: {cause}") from None

    def ensure_schema(self) -> None:
        """Create the ``vector`` extension and every table; safe when several processes start at once."""
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_ID})
            if conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).scalar() is None:
                raise PgvectorMissing(
                    f"the Postgres server at {describe_server(self.url)} has no pgvector extension. "
                    "Install it on the server (e.g. the postgresql-NN-pgvector package, or "
                    "https://github.com/pgvector/pgvector#installation), or unset DATABASE_URL to use the "
                    "embedded Postgres, which ships with pgvector."
                )
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            Base.metadata.create_all(conn)
            if conn.scalar(text(SEARCH_VECTOR_STORAGE)) != "m":  # an older mirror: rows move in as rewritten
                conn.execute(text(SEARCH_VECTOR_INLINE))

    @contextmanager
    def get_session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def movie_exists(self, external_id: int) -> bool:
        with self.get_session() as session:
            return session.scalar(select(Movie.id).where(Movie.external_id == external_id)) is not None

    def get_or_create_genre(self, session: Session, name: str) -> Genre:
        session.execute(insert(Genre).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
        return session.scalars(select(Genre).where(Genre.name == name)).one()

    def get_or_create_cast(self, session: Session, cast_data: Mapping[str, Any] | CastRecord) -> Cast:
        """One person by identity (IMDb code when known, else name), created when new."""
        person = (
            cast_data
            if isinstance(cast_data, CastRecord)
            else CastRecord(
                name=cast_data["name"],
                imdb_code=cast_data.get("imdb_code") or None,
                url_small_image=cast_data.get("url_small_image") or None,
            )
        )
        stmt = insert(Cast).values(name=person.name, imdb_code=person.imdb_code, url_small_image=person.url_small_image)
        if person.imdb_code:
            session.execute(
                stmt.on_conflict_do_nothing(index_elements=["imdb_code"], index_where=Cast.imdb_code.isnot(None))
            )
            query = select(Cast).where(Cast.imdb_code == person.imdb_code)
        else:
            session.execute(stmt.on_conflict_do_nothing(index_elements=["name"], index_where=Cast.imdb_code.is_(None)))
            query = select(Cast).where(Cast.imdb_code.is_(None), Cast.name == person.name)
        return session.scalars(query).one()

    def save_movie(self, movie_data: Mapping[str, Any] | MovieRecord) -> tuple[bool, int | None, str]:
        """Save one movie: ``(success, movies.id, message)``. The original per-movie API."""
        result = self.save_movies([movie_data])
        if result.rejected:
            return False, None, str(result.rejected[0])
        ((external_id, movie_id),) = result.movie_ids.items()
        state = "created" if result.created else "updated" if result.updated else "unchanged"
        return True, movie_id, f"movie {external_id} {state}"

    def save_movies(
        self,
        payloads: Iterable[Mapping[str, Any] | MovieRecord],
        *,
        seen: bool = True,
        batch_size: int = 500,
        workers: int = SAVE_WORKERS,
    ) -> SaveResult:
        """Save many movies (raw API dicts or records): a COPY per table and a merge per table per batch.

        ``seen=True`` (list pages) refreshes ``last_seen_at`` and clears ``removed_at``; details
        answers pass ``seen=False``. Bad payloads are rejected by name; the rest are saved.
        Each batch is one transaction, retried on deadlock or serialization failure; up to
        ``workers`` batches are saved at a time, each on its own connection.
        """
        records, rejected = to_records(payloads)
        result = SaveResult(rejected=rejected)
        batches = [records[start : start + batch_size] for start in range(0, len(records), batch_size)]
        if len(batches) > 1 and workers > 1:
            with ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="save") as pool:
                parts = list(pool.map(functools.partial(self._save_batch, seen=seen), batches))
        else:
            parts = [self._save_batch(batch, seen=seen) for batch in batches]
        for part in parts:
            result.merge(part)
        return result

    def _save_batch(self, records: list[MovieRecord], *, seen: bool) -> SaveResult:
        for attempt in range(1, 6):
            try:
                with self.get_session() as session:
                    return BatchSaver(session.connection(), seen=seen).save(records)
            except DBAPIError as exc:
                code = getattr(exc.orig, "pgcode", None)
                if code not in RETRYABLE_SQLSTATES or attempt == 5:
                    raise
                log.warning("save_movies: %s, retrying the batch (attempt %d)", exc.orig.__class__.__name__, attempt)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def record_details_failure(self, external_ids: Mapping[int, str]) -> None:
        """Remember movies whose details call failed, so the next run retries them."""
        if not external_ids:
            return
        with self.get_session() as session:
            for external_id, error in sorted(external_ids.items()):
                session.execute(
                    Movie.__table__.update().where(Movie.external_id == external_id).values(details_error=error[:1000])
                )

    def get_stats(self) -> dict[str, Any]:
        """Counts for ``stats`` and the run logs (the old ``monitor_progress``)."""
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        with self.get_session() as session:
            movies = session.scalar(select(func.count(Movie.id)))
            embedded = session.scalar(select(func.count(MovieEmbedding.movie_id)))
            top = session.execute(
                select(Genre.name, func.count(MovieGenre.movie_id).label("n"))
                .join(MovieGenre, MovieGenre.genre_id == Genre.id)
                .group_by(Genre.name)
                .order_by(text("n DESC"), Genre.name)
                .limit(10)
            ).all()
            return {
                "movies": movies,
                "movies_with_details": session.scalar(
                    select(func.count(Movie.id)).where(Movie.details_fetched_at.isnot(None))
                ),
                "movies_removed": session.scalar(select(func.count(Movie.id)).where(Movie.removed_at.isnot(None))),
                "details_failures": session.scalar(select(func.count(Movie.id)).where(Movie.details_error.isnot(None))),
                "genres": session.scalar(select(func.count(Genre.id))),
                "cast": session.scalar(select(func.count(Cast.id))),
                "torrents": session.scalar(select(func.count(Torrent.id))),
                "embeddings": embedded,
                "embedding_coverage": round(embedded / movies, 4) if movies else 0.0,
                "top_genres": [{"genre": name, "movies": n} for name, n in top],
                "added_last_hour": session.scalar(select(func.count(Movie.id)).where(Movie.created_at >= hour_ago)),
            }

    def close_all(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
