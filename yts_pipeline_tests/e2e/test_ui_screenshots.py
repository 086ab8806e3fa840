"""The Dagster UI in a real headless Chromium after a two-page backfill: the asset graph, an asset's
partitions and a run's log, as a user sees them. Saves the screenshots the README shows
(docs/screenshot-asset-graph.png, docs/screenshot-partitions.png, docs/screenshot-run-log.png).

The webserver and daemon are the real processes (``services.py``), the backfill is launched through
GraphQL as the Materialize dialog launches it, and the pages come from the replay API.
"""

from __future__ import annotations

import dagster as dg
import pytest

from yts_pipeline.defs.page_assets import GROUP
from yts_pipeline_tests.e2e.services import (
    HOST,
    SUCCEEDED,
    SYNC_ASSETS,
    launch_backfill,
    run_failures,
    wait_for_backfills,
    wait_for_webserver,
)
from yts_pipeline_tests.e2e.test_serve_browser import DOCS, browser  # noqa: F401  (a fixture)
from yts_pipeline_tests.e2e.test_ui_backfill import dagster_home, services  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

CATALOG_PAGES = ["00001", "00002", "00003"]  # the replay_server fixture's 120 movies
BACKFILLED = CATALOG_PAGES[:2]
BACKFILL_TIMEOUT = 900
TIMEOUT_MS = 120_000  # a first page of the UI took over 15 s on this shared machine under load
VIEWPORT = {"width": 1440, "height": 900}
RUN_VIEWPORT = {"width": 1440, "height": 1100}  # the run's timeline clear of its step filter box
SETTLE_MS = 2000  # the run's timeline fades its bars in after the data has come
LOCATION = "yts_pipeline"  # as workspace.yaml names it
RUN_STEPS = 7  # the three page steps and the movies asset's four checks, which a backfill runs with them


@pytest.fixture
def backfilled(services, dagster_home) -> tuple[int, str]:  # noqa: F811
    """The webserver's port and the id of a run, once a backfill of two of the three pages has completed."""
    webserver, port = services.webserver()
    wait_for_webserver(webserver, port)
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("pages", CATALOG_PAGES)
        backfill_id = launch_backfill(port, BACKFILLED, SYNC_ASSETS)
        daemon = services.daemon()  # after the launch: the backfill daemon handles it on its first pass
        [backfill] = wait_for_backfills(port, [backfill_id], [webserver, daemon], BACKFILL_TIMEOUT)
        if backfill.get("status") not in SUCCEEDED:
            pytest.fail(f"backfill not completed: {backfill}\n{run_failures(instance)}\n{daemon.tail()}")
        return port, backfill["runs"][0]["runId"]


@pytest.mark.timeout(BACKFILL_TIMEOUT + 600)
def test_asset_graph_partitions_and_run_log(backfilled, browser) -> None:  # noqa: F811
    port, run_id = backfilled
    base = f"http://{HOST}:{port}"
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(f"{base}/locations/{LOCATION}/asset-groups/{GROUP}")  # the page assets' own graph
    for asset in SYNC_ASSETS:
        page.get_by_text(asset, exact=True).first.wait_for()
    page.get_by_text("66% filled").first.wait_for()  # two of the three pages, on each node
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(DOCS / "screenshot-asset-graph.png"))

    page.goto(f"{base}/assets/movies?view=partitions&partition={BACKFILLED[-1]}")
    page.get_by_text("Materialized (2)").wait_for()
    page.get_by_text("Missing (1)").wait_for()
    page.get_by_text("rows_written").wait_for()  # the selected page's own figures
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(DOCS / "screenshot-partitions.png"))

    page.set_viewport_size(RUN_VIEWPORT)
    page.goto(f"{base}/runs/{run_id}")
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    page.get_by_text(f"Succeeded ({RUN_STEPS})").wait_for()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(SETTLE_MS)
    page.screenshot(path=str(DOCS / "screenshot-run-log.png"))
    page.close()
