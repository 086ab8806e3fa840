"""A small mirror to serve in tests: a synthetic catalog with cast and torrents, embedded by the real model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import EmbeddingModel, embed_movies
from yts_pipeline.yts.replay import Catalog
from yts_pipeline_tests.support.ports import free_port

MOVIES = 80
SEED = 12


def catalog_payloads(n: int = MOVIES, seed: int = SEED) -> list[dict[str, Any]]:
    """Every list and details field of ``n`` synthetic movies, as ``movie_details`` would give them."""
    catalog = Catalog.synthetic(n, seed=seed)
    return [catalog.movie(movie_id) for movie_id in catalog.ids()]


def fill(db: DatabaseManager, model: EmbeddingModel, payloads: list[dict[str, Any]]) -> None:
    result = db.save_movies(payloads)
    assert not result.rejected, result.rejected
    embed_movies(db, model)


def table_fingerprint(url: str) -> dict[str, str]:
    """An md5 of every row of every mirror table: equal fingerprints mean nothing was written."""
    from sqlalchemy import create_engine, text

    from yts_pipeline.db.models import ALL_TABLES

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(
                    text(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM \"{table}\" t")
                ).scalar()
                or ""
                for table in ALL_TABLES
            }
    finally:
        engine.dispose()


class ServerProcess:
    """``python -m yts_pipeline.serve`` as its own process on a free loopback port, its log in a file."""

    def __init__(self, log_path: Path, database_url: str, *args: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yts_pipeline.serve", "--port", str(self.port), *args],
            env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_listening(self, timeout: float = 60) -> float:
        """Seconds until the server answered ``/health`` (whatever its status)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log}")
            try:
                requests.get(f"{self.base_url}/health", timeout=5)
                return time.monotonic() - started
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not answer within {timeout} s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError(
                    f"the server did not stop within {timeout} s of signal {sig}:\n{self.log}"
                ) from None
        self._log.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        self.wait_until_listening()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
