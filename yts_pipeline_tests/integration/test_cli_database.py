"""`yts-pipeline doctor` and `stats` against a real database, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import create_engine, text


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yts_pipeline.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_reports_a_healthy_database(database_url: str) -> None:
    done = cli("doctor", "--json", env={"DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"] and report["pgvector_version"]
    assert report["tables"]["movies"] == 0 and set(report["tables"]) >= {"movies", "movie_embeddings"}


def test_doctor_recreates_a_missing_table(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE raw_movie_details"))
    engine.dispose()
    report = cli("doctor", env={"DATABASE_URL": database_url})
    # the schema is (re)created on start: no set-up step, and a dropped table comes back empty
    assert report.returncode == 0 and "healthy" in report.stdout
    assert "raw_movie_details" in report.stdout and "missing" not in report.stdout


def test_stats_json_and_text(db, samples_dir, database_url: str) -> None:
    movies = json.loads((samples_dir / "list_movies_page1_limit50_2021-01-20.json").read_text())["data"]["movies"]
    db.save_movies(movies)
    done = cli("stats", "--json", env={"DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["movies"] == 50 and stats["torrents"] > 50 and stats["top_genres"][0]["movies"] > 0
    text_out = cli("stats", env={"DATABASE_URL": database_url}).stdout
    assert "movies:" in text_out and "top genres:" in text_out


def test_unreachable_database_is_one_clear_line() -> None:
    done = cli("doctor", env={"DATABASE_URL": "postgresql://mirror:hunter22@127.0.0.1:9/yts"})
    assert done.returncode == 2
    assert "cannot connect to Postgres at 127.0.0.1:9/yts" in done.stderr
    assert "Traceback" not in done.stderr and "hunter22" not in done.stderr + done.stdout
