"""The database the app serves from: a ``DatabaseManager`` whose every transaction is read-only.

It connects on first use, not at import or startup, so the server starts (and ``/health`` answers
503) while Postgres is down, and reconnects on a later request once it is back.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event, inspect

from yts_pipeline.db.errors import describe_server
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.settings import DatabaseSettings, ServeSettings

log = logging.getLogger(__name__)


class ServingDatabase:
    """Opens the read-only manager once, thread-safely; ``get`` raises ``DatabaseError`` while it cannot."""

    def __init__(self, url: str | None = None, settings: ServeSettings | None = None,
                 database_settings: DatabaseSettings | None = None):
        self._url = url
        self._settings = settings or ServeSettings()
        self._database_settings = database_settings
        self._lock = threading.Lock()
        self._db: DatabaseManager | None = None

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
