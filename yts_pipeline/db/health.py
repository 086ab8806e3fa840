"""The ``doctor`` report: can we connect, is pgvector there, is every table present, how many rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import ALL_TABLES


def health_report(db: DatabaseManager) -> dict[str, Any]:
    problems = []
    with db.engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        pgvector = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        present = set(inspect(conn).get_table_names())
        tables: dict[str, int | None] = {}
        for table in ALL_TABLES:
            if table in present:
                tables[table] = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            else:
                tables[table] = None
                problems.append(f"table {table} is missing")
    if pgvector is None:
        problems.append("the vector extension is not created")
    return {
        "database": db.safe_url,
        "server_version": version,
        "pgvector_version": pgvector,
        "tables": tables,
        "healthy": not problems,
        "problems": problems,
    }
