"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from yts_pipeline.assets.automation import JOBS, SCHEDULES, SENSORS
from yts_pipeline.assets.checks import CHECKS
from yts_pipeline.assets.embeddings import every_movie_embedded, movie_embeddings
from yts_pipeline.assets.pages import catalog_sweep, movie_details, movies, raw_list_pages
from yts_pipeline.resources import default_resources

defs = dg.Definitions(
    assets=[raw_list_pages, movies, movie_details, movie_embeddings, catalog_sweep],
    asset_checks=[*CHECKS, every_movie_embedded],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=default_resources(),
)
