"""database.sql and the ORM models describe the same schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import ALL_TABLES

DATABASE_SQL = Path(__file__).resolve().parents[2] / "database.sql"

COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attstorage
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""
CONSTRAINTS = """
SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
"""
INDEXES = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"


def describe(url: str) -> dict[str, set[tuple]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: set(map(tuple, conn.execute(text(sql)).all()))
                for name, sql in (("columns", COLUMNS), ("constraints", CONSTRAINTS), ("indexes", INDEXES))
            }
    finally:
        engine.dispose()


def apply_sql(url: str, times: int = 1) -> None:
    engine = create_engine(url)
    try:
        for _ in range(times):
            with engine.begin() as conn:
                conn.exec_driver_sql(DATABASE_SQL.read_text())
    finally:
        engine.dispose()


def test_database_sql_equals_the_models(empty_database_url: str, database_url: str) -> None:
    apply_sql(empty_database_url, times=2)  # twice: the DDL is idempotent
    from_sql, from_models = describe(empty_database_url), describe(database_url)
    tables = {row[0] for row in from_models["columns"]}
    assert tables == set(ALL_TABLES)
    for part in ("columns", "constraints", "indexes"):
        assert from_sql[part] == from_models[part], (
            part,
            sorted(from_sql[part] - from_models[part]),
            sorted(from_models[part] - from_sql[part]),
        )


def test_models_start_on_a_database_made_by_database_sql(empty_database_url: str) -> None:
    apply_sql(empty_database_url)
    manager = DatabaseManager(empty_database_url)
    try:
        assert manager.get_stats()["movies"] == 0
    finally:
        manager.close_all()
