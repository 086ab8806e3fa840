"""Jobs, the page-discovery sensor, the daily incremental schedule and the weekly full sweep."""

import dagster as dg

from yts_pipeline import mirror
from yts_pipeline.db.page_store import pages_with_details_failures
from yts_pipeline.defs.embedding_assets import movie_embeddings
from yts_pipeline.defs.neighbour_assets import movie_neighbours
from yts_pipeline.defs.page_assets import catalog_sweep, movie_details, movies, raw_list_pages
from yts_pipeline.defs.page_runs import run_requests
from yts_pipeline.defs.partitions import key_to_page, page_to_key, register_pages
from yts_pipeline.defs.resources import DatabaseResource, YtsApiResource

SYNC_JOB, WITHOUT_EMBEDDINGS_JOB = "sync_pages", "sync_pages_without_embeddings"
SWEEP_JOB, CHECKS_JOB = "sweep_removed_movies", "integrity_checks"
NEIGHBOURS_JOB = "neighbour_lists"
SYNC_STEPS = {
    SYNC_JOB: [raw_list_pages, movies, movie_details, movie_embeddings],
    WITHOUT_EMBEDDINGS_JOB: [raw_list_pages, movies, movie_details],
}

# Asset checks scan whole tables: they run once per sync (CHECKS_JOB) and with the sweep, not in every page run.
sync_job = dg.define_asset_job(
    SYNC_JOB,
    selection=dg.AssetSelection.assets(*SYNC_STEPS[SYNC_JOB]).without_checks(),
    description="The whole chain for a range of pages: fetch, save, details, embeddings.",
)
without_embeddings_job = dg.define_asset_job(
    WITHOUT_EMBEDDINGS_JOB,
    selection=dg.AssetSelection.assets(*SYNC_STEPS[WITHOUT_EMBEDDINGS_JOB]).without_checks(),
    description="The chain without embeddings: fetch, save, details.",
)
list_pass_job = dg.define_asset_job(
    "list_pass",
    selection=dg.AssetSelection.assets(raw_list_pages, movies).without_checks(),
    description="The fast pass: every movie from the list pages, no details calls (~25 min for the catalog).",
)
details_job = dg.define_asset_job(
    "details_pass",
    selection=dg.AssetSelection.assets(movie_details).without_checks(),
    description="The slow pass: details for stored movies that have none yet.",
)
ALL_CHECKS = dg.AssetSelection.checks_for_assets(movies, movie_embeddings)
checks_job = dg.define_asset_job(
    CHECKS_JOB,
    selection=ALL_CHECKS,
    description="The integrity checks: duplicates, orphans, listed-but-missing, count vs the API, embeddings.",
)
neighbours_job = dg.define_asset_job(
    NEIGHBOURS_JOB,
    selection=dg.AssetSelection.assets(movie_neighbours),
    description="Each movie's similar list, for the movies the last runs added or changed (all of them when "
    "the ranking changed), then a sample checked against the live ranking.",
)
sweep_job = dg.define_asset_job(
    SWEEP_JOB,
    selection=dg.AssetSelection.assets(catalog_sweep) | ALL_CHECKS,
    description="Mark movies no page lists any more as removed (after a full sync), then check integrity.",
)


def discover(instance: dg.DagsterInstance, yts_api: YtsApiResource) -> tuple[list[str], list[str]]:
    """All page keys the catalog fills today, and those registered now (the instance did not know them).

    Registered here, under the lock ``sync`` takes too, rather than by the daemon from a sensor's
    ``dynamic_partitions_requests``, which it would add without that lock.
    """
    keys = [page_to_key(p) for p in mirror.discover_pages(yts_api.client(), yts_api.page_limit)]
    return keys, register_pages(instance, keys)


@dg.sensor(job=sync_job, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.STOPPED)
def page_discovery_sensor(context: dg.SensorEvaluationContext, yts_api: YtsApiResource) -> dg.SensorResult:
    """Asks the API for ``movie_count``, adds the missing page partitions and syncs them."""
    _, new = discover(context.instance, yts_api)
    if not new:
        return dg.SensorResult(skip_reason="no new pages")
    context.log.info(f"{len(new)} new page(s) registered: {new[0]}..{new[-1]}")
    return dg.SensorResult(run_requests=run_requests(new, "new pages"))


def incremental_targets(
    instance: dg.DagsterInstance, database: DatabaseResource, all_keys: list[str], new: list[str]
) -> list[str]:
    """The last synced page (where new movies land), new pages, pages not fully synced (a failed or never
    finished run, wherever it stopped) and pages with movies whose details call failed."""
    synced = instance.get_materialized_partitions(movie_details.key)
    last_synced = sorted((k for k in synced if k in set(all_keys)), key=key_to_page)[-1:]
    unfinished = [k for k in all_keys if k not in synced]
    with database.manager().get_session() as session:
        failed_details = [page_to_key(p) for p in pages_with_details_failures(session)]
    return sorted({*last_synced, *new, *unfinished, *failed_details} & set(all_keys), key=key_to_page)


@dg.schedule(job=sync_job, cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_incremental_sync(context: dg.ScheduleEvaluationContext, yts_api: YtsApiResource, database: DatabaseResource):
    """Every night: discover new pages, then refresh the last page, the new ones and the failed ones."""
    all_keys, new = discover(context.instance, yts_api)
    targets = incremental_targets(context.instance, database, all_keys, new)
    return run_requests(targets, "daily incremental sync") or dg.SkipReason("nothing to sync")


@dg.schedule(job=sync_job, cron_schedule="0 4 * * 0", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_full_sync(context: dg.ScheduleEvaluationContext, yts_api: YtsApiResource):
    """Every Sunday: every page again, so changes anywhere in the catalog are seen."""
    all_keys, _ = discover(context.instance, yts_api)
    return run_requests(all_keys, "weekly full sync")


@dg.schedule(job=checks_job, cron_schedule="0 6 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_integrity_checks(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every morning, after the nightly sync's runs: duplicates, orphans, missing movies, counts, embeddings."""
    return dg.RunRequest()


@dg.schedule(job=neighbours_job, cron_schedule="0 5 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_neighbour_lists(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every morning, after the nightly sync's runs: the lists its new and changed movies touch."""
    return dg.RunRequest()


@dg.schedule(job=sweep_job, cron_schedule="0 16 * * 0", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_catalog_sweep(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Sunday afternoon, after the full sync: tombstone what no page lists any more."""
    return dg.RunRequest()


@dg.definitions
def automation() -> dg.Definitions:
    """This module's jobs, sensor and schedules. Dagster takes a module's definitions from such a function
    alone, so the assets imported above are defined once, by their own modules (with their backfill policy)."""
    return dg.Definitions(
        jobs=[sync_job, without_embeddings_job, list_pass_job, details_job, checks_job, neighbours_job, sweep_job],
        sensors=[page_discovery_sensor],
        schedules=[
            daily_incremental_sync,
            weekly_full_sync,
            daily_integrity_checks,
            daily_neighbour_lists,
            weekly_catalog_sweep,
        ],
    )
