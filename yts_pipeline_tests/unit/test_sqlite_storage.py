"""The local instance's SQLite storage: Dagster's own files, with each file's engine kept by the process."""

from pathlib import Path

import dagster as dg

from yts_pipeline.cli import sqlite_storage
from yts_pipeline.cli.instance import local_dagster_yaml
from yts_pipeline.cli.sqlite_storage import KEPT_ENGINES, PooledSqliteEventLogStorage

_create_engine = sqlite_storage.create_engine


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
def lettered(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"key": context.partition_key})


def pooled_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    return home


def test_runs_stored_through_kept_engines_are_dagsters_own_sqlite_files(tmp_path: Path, monkeypatch) -> None:
    made = []
    monkeypatch.setattr(sqlite_storage, "create_engine", lambda *a, **k: made.append(a[0]) or _create_engine(*a, **k))
    home = pooled_home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        for key in ("a", "b", "a"):
            assert dg.materialize([lettered], instance=instance, partition_key=key).success
    assert len(made) == len(set(made)), "one engine per database file, not one per query"
    assert len(made) <= KEPT_ENGINES

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {home}\ntelemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(plain)) as instance:  # Dagster's own storage, on the same files
        assert len(instance.get_runs()) == 3
        records = instance.fetch_materializations(dg.AssetKey("lettered"), limit=10).records
        assert [r.asset_materialization.metadata["key"].value for r in records] == ["a", "b", "a"]


def test_every_process_commits_to_the_wal_files_without_an_fsync(tmp_path: Path) -> None:
    """A UI run worker's events are as cheap to store as a sync's: synchronous=NORMAL on WAL files."""
    with dg.DagsterInstance.from_config(str(pooled_home(tmp_path))) as instance:
        assert dg.materialize([lettered], instance=instance, partition_key="a").success
        urls = [url for url in sqlite_storage.ENGINES._engines if url.endswith(".db")]
        assert urls
        for url in urls:
            with sqlite_storage.ENGINES.get(url).connect() as conn:
                journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
                synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            assert synchronous == (1 if journal == "wal" else 2), (url, journal)  # 1 NORMAL, 2 FULL
        assert any(
            sqlite_storage.ENGINES.get(url).connect().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            for url in urls
        )
