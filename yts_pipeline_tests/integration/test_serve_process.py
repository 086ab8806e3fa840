"""``python -m yts_pipeline.serve`` as a user runs it: it listens on loopback, logs one line per request
without secrets, answers 503 while the database is down, and stops cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest
import requests

from yts_pipeline_tests.support.serving import ServerProcess


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_on_loopback_logs_each_request_and_stops_cleanly(tmp_path: Path, database_url: str, sig) -> None:
    # a data dir without the model's export: the model is still loading (exporting) when the server stops
    server = ServerProcess(tmp_path / "serve.log", database_url, env={"YTS_DATA_DIR": str(tmp_path / "data")})
    try:
        server.wait_until_listening()
        health = requests.get(f"{server.base_url}/health", timeout=10)
        assert health.status_code == 200 and health.json()["movies"] == 0
        assert requests.get(f"{server.base_url}/api/movies/0", timeout=10).status_code == 422
        listening = {
            c.laddr.ip
            for c in psutil.Process(server.process.pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}
    finally:
        status = server.stop(sig)
    assert status == 0, server.log
    log = server.log
    assert "the embedding model was still loading: exiting without waiting for it" in log
    assert '"GET /health" 200' in log and '"GET /api/movies/0" 422' in log
    assert log.count('"GET /health"') == 2  # wait_until_listening asked once too
    assert "stopped" in log and "Traceback" not in log
    assert database_url not in log


def test_a_database_that_is_down_is_a_503_and_its_password_is_never_logged(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://yts:s3cret-Passw0rd@127.0.0.1:9/yts"
    with ServerProcess(tmp_path / "serve.log", url) as server:
        health = requests.get(f"{server.base_url}/health", timeout=10)
        search = requests.get(f"{server.base_url}/api/search", params={"q": "x", "mode": "keyword"}, timeout=10)
    assert health.status_code == 503 and search.status_code == 503
    assert "s3cret" not in health.text + search.text + server.log
    assert "database unavailable" in server.log


def test_a_bad_setting_is_one_line_before_listening(tmp_path: Path, database_url: str) -> None:
    server = ServerProcess(tmp_path / "serve.log", database_url, env={"SERVE_CORS_ORIGINS": "example.org/"})
    assert server.process.wait(60) == 2
    server.stop()
    assert server.log.strip().splitlines()[-1].startswith("error: SERVE_CORS_ORIGINS entry 'example.org/'")
