"""The served OpenAPI document tells the whole truth: Schemathesis, driven by it, finds nothing.

Every check (server errors, documented statuses and bodies, valid data accepted, invalid data
rejected, methods refused with ``Allow``...) over generated positive and negative requests, against
the real server over a filled database. A fixed seed and example budget keep it under ~90 s.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import get_model
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.serving import ServerProcess, catalog_payloads, fill, table_fingerprint

EXAMPLES_PER_OPERATION = 60
SEED = 22


@pytest.fixture(scope="module")
def served(postgres: ScratchPostgres, tmp_path_factory) -> Iterator[tuple[ServerProcess, str]]:
    name = postgres.create_database(TEMPLATE)
    url = postgres.url(name)
    db = DatabaseManager(url)
    fill(db, get_model(), catalog_payloads())
    db.close_all()
    with ServerProcess(tmp_path_factory.mktemp("serve") / "serve.log", url) as server:
        wait_for_the_model(server)
        yield server, url
    postgres.drop_database(name)


def wait_for_the_model(server: ServerProcess, timeout: float = 180) -> None:
    """Semantic search waits for the server's model: a slow first answer is not what is tested here."""
    deadline = time.monotonic() + timeout
    while requests.get(f"{server.base_url}/health", timeout=30).json()["model"] != "ready":
        assert time.monotonic() < deadline, f"the model did not load within {timeout} s:\n{server.log}"
        time.sleep(0.5)


def test_schemathesis_finds_nothing_and_writes_nothing(served, tmp_path) -> None:
    server, url = served
    before = table_fingerprint(url)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--no-color",
            "run",
            f"{server.base_url}/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "too_slow",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
    assert table_fingerprint(url) == before
