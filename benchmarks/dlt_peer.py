"""The peer of ``bench_sync``: dlt's ``rest_api`` source loading the same replay catalog into Postgres.

    <dlt venv>/bin/python benchmarks/dlt_peer.py API_URL DATABASE_URL WORK_DIR

What a dlt user would write for this API: the list pages through a page-number paginator (until an
empty page), then ``movie_details`` for every listed movie as a parallelized dependent resource,
both merged into Postgres on the YTS id; dlt's own defaults otherwise (no rate limit, its worker
pools). Runs in a venv of its own (dlt is a benchmark-only dependency); prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import parse_qs, urlsplit

started = time.perf_counter()
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402


def yts_source(api_url: str):
    return rest_api_source(
        {
            "client": {"base_url": api_url},
            "resource_defaults": {"write_disposition": "merge", "primary_key": "id"},
            "resources": [
                {
                    "name": "movies",
                    "endpoint": {
                        "path": "list_movies.json",
                        "params": {"limit": 50, "sort_by": "date_added", "order_by": "asc"},
                        "data_selector": "data.movies",
                        "paginator": {
                            "type": "page_number",
                            "base_page": 1,
                            "page_param": "page",
                            "total_path": None,
                            "stop_after_empty_page": True,
                        },
                    },
                },
                {
                    "name": "movie_details",
                    "parallelized": True,
                    "endpoint": {
                        "path": "movie_details.json",
                        "params": {"movie_id": "{resources.movies.id}", "with_cast": "true", "with_images": "true"},
                        "data_selector": "data.movie",
                    },
                },
            ],
        }
    )


def credentials(database_url: str) -> dict[str, object]:
    """dlt's Postgres credentials from a URL whose host may be a socket folder (``?host=/tmp/...``).

    dlt requires a host name; libpq lets the ``host`` query parameter (the socket folder) override it.
    """
    url = urlsplit(database_url)
    return {
        "database": url.path.lstrip("/"),
        "username": url.username or "postgres",
        "password": url.password or "",
        "host": url.hostname or "localhost",
        "port": url.port or 5432,
        "query": {k: v[0] for k, v in parse_qs(url.query).items()},
    }


def main() -> None:
    api_url, database_url, work_dir = sys.argv[1:4]
    pipeline = dlt.pipeline(
        pipeline_name="yts_peer",
        pipelines_dir=work_dir,
        dataset_name="yts_peer",
        destination=dlt.destinations.postgres(credentials=credentials(database_url)),
    )
    info = pipeline.run(yts_source(api_url))
    counts = pipeline.last_trace.last_normalize_info.row_counts
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 2),
                "loads": len(info.loads_ids),
                "rows": {table: n for table, n in sorted(counts.items()) if not table.startswith("_dlt")},
            }
        )
    )


if __name__ == "__main__":
    main()
