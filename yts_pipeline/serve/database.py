"""The database the app serves from: a ``DatabaseManager`` whose every transaction is read-only.

It connects on first use, not at import or startup, so the server starts (and ``/health`` answers
503) while Postgres is down, and reconnects on a later request once it is back.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from sqlalchemy import event, inspect

from yts_pipeline.db.errors import describe_server
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.settings import DatabaseSettings, ServeSettings

log = logging.getLogger(__name__)


def steady_pool(settings: DatabaseSettings) -> DatabaseSettings:
    """Keep every pooled connection open (``DB_POOL_SIZE + DB_MAX_OVERFLOW``, 15 by default): concurrent
    requests beyond the pool size would otherwise open and close a connection (a Postgres process) each."""
    return replace(settings, pool_size=settings.pool_size + settings.max_overflow, max_overflow=0)


class ServingDatabase:
    """Opens the read-only manager once, thread-safely; ``get`` raises ``DatabaseError`` while it cannot."""

    def __init__(
        self,
        url: str | None = None,
        settings: ServeSettings | None = None,
        database_settings: DatabaseSettings | None = None,
    ):
        self._url = url
        self._settings = settings or ServeSettings()
        self._database_settings = steady_pool(database_settings or DatabaseSettings.from_env())
        self._lock = threading.Lock()
        self._db: DatabaseManager | None = None

    @property
    def current(self) -> DatabaseManager | None:
        """The open manager, or None before the first (successful) connection."""
        return self._db

    def get(self) -> DatabaseManager:
        with self._lock:
            if self._db is None:
                self._db = self._open()
            return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close_all()
                self._db = None

    def _open(self) -> DatabaseManager:
        db = DatabaseManager(self._url, settings=self._database_settings, create_schema=False)
        if not inspect(db.engine).has_table("movies"):
            # A fresh database (the embedded default on a new clone): empty tables, so pages say "run a sync".
            db.ensure_schema()
            log.info("created the empty schema in %s: run `yts-pipeline sync` to fill it", describe_server(db.url))
        timeout_ms = int(self._settings.statement_timeout_seconds * 1000)

        @event.listens_for(db.engine, "connect")
        def _read_only(dbapi_connection, _record) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cursor.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout_ms),))
            dbapi_connection.commit()

        db.engine.dispose()  # the connections made so far are not read-only
        log.info("serving from %s (read-only transactions)", describe_server(db.url))
        return db
