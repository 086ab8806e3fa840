"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources."""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)

from yts_pipeline.assets.automation import JOBS, SCHEDULES, SENSORS  # noqa: E402
from yts_pipeline.assets.checks import CHECKS  # noqa: E402
from yts_pipeline.assets.pages import catalog_sweep, movie_details, movies, raw_list_pages  # noqa: E402
from yts_pipeline.resources import default_resources  # noqa: E402

defs = dg.Definitions(
    assets=[raw_list_pages, movies, movie_details, catalog_sweep],
    asset_checks=CHECKS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=default_resources(),
)
