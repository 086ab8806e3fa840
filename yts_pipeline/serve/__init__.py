"""Serve the mirror over HTTP: a JSON API (OpenAPI docs at /docs) and a server-rendered web page.

Calls ``yts_pipeline.search`` and ``yts_pipeline.db`` only, in read-only transactions; never Dagster.
``run(host, port)`` serves with uvicorn; ``create_app()`` is the ASGI app (for tests and other servers).
"""

from yts_pipeline.serve.app import create_app
from yts_pipeline.serve.server import run

__all__ = ["create_app", "run"]
