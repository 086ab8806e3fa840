"""The ``yts_api`` pool across runs: two page runs at once never call the API at the same time.

Runs now execute their steps in their own process (the in-process executor), which claims pool
slots as the multiprocess one did; two syncs on one instance stand in for any two runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from yts_pipeline.cli.instance import local_dagster_yaml
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.e2e.production import overlapping_pairs, step_spans

PAGES = ("1-2", "3-4")  # one sync each, started together


def test_two_runs_never_call_the_api_at_the_same_time(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local_dagster_yaml(home))
    with ReplayServer(Catalog.synthetic(200, seed=5), latency_ms=20, retry_after_seconds=0) as replay:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DATABASE_URL": database_url,
            "YTS_API_URL": replay.base_url,
            "YTS_REQUESTS_PER_SECOND": "0",
        }
        with dg.DagsterInstance.from_config(str(home)):
            pass  # the storages exist before the two syncs start
        syncs = [
            subprocess.Popen(
                [sys.executable, "-m", "yts_pipeline.cli", "sync", "--skip-embeddings", "--pages", pages],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for pages in PAGES
        ]
        outputs = [sync.communicate(timeout=300)[0] for sync in syncs]
    assert [sync.returncode for sync in syncs] == [0, 0], outputs
    with dg.DagsterInstance.from_config(str(home)) as instance:
        spans = step_spans(instance)
        runs = {span.run_id for span in spans}
    assert len(runs) >= 2 and len(spans) >= 4, spans  # both syncs ran both API steps
    assert overlapping_pairs(spans, until=time.time()) == []
