"""The page-partitioned assets: raw list pages, the movie tables, and the details that enrich them."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from yts_pipeline import mirror
from yts_pipeline.ahead import OneAhead
from yts_pipeline.db.page_store import PageState, page_states
from yts_pipeline.defs.page_reports import materialize_pages, report_metadata
from yts_pipeline.defs.partitions import PAGES, key_to_page, with_page_runs
from yts_pipeline.defs.resources import DatabaseResource, YtsApiResource

GROUP = "yts_mirror"
API_POOL = "yts_api"
# The daily schedule materializes at least the catalog's last page of every asset it syncs, so a
# latest materialization older than a day and an hour means last night's sync did not run (or
# failed): the asset graph shows it as late, and as overdue after two days.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=25))

Events = Iterator[dg.MaterializeResult | dg.AssetMaterialization]


class DetailsConfig(dg.Config):
    """``refresh`` re-fetches details of every movie on the page, not only those that have none."""

    refresh: bool = False


@dg.asset(
    partitions_def=PAGES,
    pool=API_POOL,
    group_name=GROUP,
    kinds={"python", "postgres"},
    freshness_policy=DAILY_FRESHNESS,
)
def raw_list_pages(context: dg.AssetExecutionContext, database: DatabaseResource, yts_api: YtsApiResource) -> Events:
    """Each ``list_movies`` page (oldest movies first) kept as raw JSON in ``raw_list_pages``."""
    client, db, limit = yts_api.client(), database.manager(), yts_api.page_limit
    with OneAhead(range_pages(context), lambda page, _: mirror.download_page(client, page, limit)) as ahead:
        yield from materialize_pages(context, "fetch", lambda page: mirror.store_page(db, *ahead.take(page)))


def range_pages(context: dg.AssetExecutionContext) -> list[int]:
    return [key_to_page(key) for key in context.partition_keys]


def range_states(
    context: dg.AssetExecutionContext, database: DatabaseResource, embedding_model: str | None = None
) -> dict[int, PageState]:
    """What each page of the run's range still needs, in one query: a step skips the pages it has nothing for."""
    with database.manager().get_session() as session:
        return page_states(session, range_pages(context), embedding_model)


@dg.asset(
    partitions_def=PAGES,
    deps=[raw_list_pages],
    group_name=GROUP,
    kinds={"postgres"},
    freshness_policy=DAILY_FRESHNESS,
)
def movies(context: dg.AssetExecutionContext, database: DatabaseResource) -> Events:
    """The movie tables (movies, genres, torrents) upserted from the stored pages; no API call.

    A page whose answer was already applied, with its rows as the mirror left them, is not saved again.
    """
    db, states = database.manager(), range_states(context, database)
    todo = [page for page in range_pages(context) if page not in states or states[page].needs_save]
    with OneAhead(todo, lambda page, _: mirror.load_page(db, page)) as ahead:  # parsed while the page before saves
        yield from materialize_pages(
            context,
            "save",
            lambda page: (
                mirror.apply_page(db, page, *ahead.take(page)) if page in todo else mirror.settled_report(states[page])
            ),
        )


@dg.asset(
    partitions_def=PAGES,
    deps=[movies],
    pool=API_POOL,
    group_name=GROUP,
    kinds={"python", "postgres"},
    freshness_policy=DAILY_FRESHNESS,
)
def movie_details(
    context: dg.AssetExecutionContext, config: DetailsConfig, database: DatabaseResource, yts_api: YtsApiResource
) -> Events:
    """Cast, characters, screenshots and descriptions for the page's movies that have no details yet."""
    client, db, states = yts_api.client(), database.manager(), range_states(context, database)
    todo = [page for page in range_pages(context) if page not in states or states[page].needs_details or config.refresh]
    with mirror.details_ahead(client, db, todo, refresh=config.refresh) as ahead:
        yield from materialize_pages(
            context,
            "details",
            lambda page: (
                mirror.save_details(db, *ahead.take(page)) if page in todo else mirror.settled_report(states[page])
            ),
        )


class SweepConfig(dg.Config):
    """Pages fetched longer ago than this make the sweep wait for a fresh full sync."""

    max_page_age_hours: float = 24.0


@dg.asset(deps=[movies], group_name=GROUP, kinds={"postgres"})
def catalog_sweep(
    context: dg.AssetExecutionContext, config: SweepConfig, database: DatabaseResource, yts_api: YtsApiResource
) -> dg.MaterializeResult:
    """Marks movies the API no longer lists with ``removed_at`` (and clears it when they return).

    Acts only when every page of the catalog is stored, so a partial sync never removes anything; a
    movie on no stored page is searched for by its IMDb code first (pages shift while they are read).
    """
    report = mirror.sweep(
        database.manager(),
        yts_api.client(),
        limit=yts_api.page_limit,
        max_page_age=timedelta(hours=config.max_page_age_hours),
    )
    if report.skipped_reason:
        context.log.warning(f"sweep skipped: {report.skipped_reason}")
    else:
        context.log.info(
            f"sweep of {report.pages} pages: {report.listed} movies listed, "
            f"{len(report.removed)} newly removed, {len(report.revived)} back again, "
            f"{len(report.still_listed)} on no stored page but still listed, "
            f"{len(report.unconfirmed)} left for the next sweep ({report.lookups} lookups)"
        )
    return dg.MaterializeResult(metadata=report_metadata(report))


@dg.definitions
def page_assets() -> dg.Definitions:
    """The page assets, given their backfill policy now (``with_page_runs``), and the sweep."""
    return dg.Definitions(assets=[*with_page_runs(raw_list_pages, movies, movie_details), catalog_sweep])
