"""The benchmarks' throwaway Postgres: the one the tests use (yts_pipeline_tests/support/postgres.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks run as scripts, from any folder

from yts_pipeline_tests.support.postgres import ScratchPostgres  # noqa: E402

__all__ = ["ScratchPostgres"]
