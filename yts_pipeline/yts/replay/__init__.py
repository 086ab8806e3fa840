"""An offline imitation of the YTS API: a mutable movie catalog and an HTTP server with faults.

No Dagster here: tests, benchmarks and ``yts-pipeline replay-api`` use it directly.
"""

from yts_pipeline.yts.replay.catalog import Catalog
from yts_pipeline.yts.replay.faults import FAULT_KINDS
from yts_pipeline.yts.replay.server import ReplayServer, serve_forever

__all__ = ["FAULT_KINDS", "Catalog", "ReplayServer", "serve_forever"]
