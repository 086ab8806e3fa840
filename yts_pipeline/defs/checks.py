"""Asset checks on the movie tables: what "nothing lost, nothing duplicated" means, checked after each run."""

import dagster as dg

from yts_pipeline.db import integrity
from yts_pipeline.db.page_store import latest_movie_count
from yts_pipeline.defs.page_assets import movies
from yts_pipeline.defs.resources import DatabaseResource


@dg.asset_check(asset=movies, description="No YTS id or torrent hash is stored twice.")
def no_duplicates(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.manager().get_session() as session:
        ids = integrity.duplicate_external_ids(session)
        hashes = integrity.duplicate_torrent_hashes(session)
    return dg.AssetCheckResult(
        passed=not ids and not hashes,
        metadata={
            "duplicate_external_ids": dg.MetadataValue.json(ids),
            "duplicate_torrent_hashes": dg.MetadataValue.json(hashes),
        },
    )


@dg.asset_check(asset=movies, description="Every link row points at a stored movie, genre or person.")
def no_orphan_links(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.manager().get_session() as session:
        orphans = integrity.orphan_link_rows(session)
    return dg.AssetCheckResult(passed=not any(orphans.values()), metadata=orphans)


@dg.asset_check(asset=movies, description="Every movie an applied raw page lists is in the movies table.")
def listed_movies_are_stored(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.manager().get_session() as session:
        missing = integrity.listed_but_missing(session)
        pending = integrity.pages_not_applied(session)
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={
            "missing_external_ids": dg.MetadataValue.json(missing),
            "missing": len(missing),
            "pages_not_applied": dg.MetadataValue.json(pending[:100]),
        },
    )


@dg.asset_check(asset=movies, description="The mirror holds as many movies as the API's movie_count (warning).")
def count_matches_api(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.manager().get_session() as session:
        api_count = latest_movie_count(session)
        stored = integrity.listed_movie_count(session)
    return dg.AssetCheckResult(
        passed=api_count is not None and api_count == stored,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "api_movie_count": api_count if api_count is not None else -1,
            "stored_movies": stored,
            "difference": (api_count or 0) - stored,
        },
    )


@dg.definitions
def checks() -> dg.Definitions:
    """The checks on ``movies``; the asset itself is defined by ``page_assets`` (see ``automation()``)."""
    return dg.Definitions(asset_checks=[no_duplicates, no_orphan_links, listed_movies_are_stored, count_matches_api])
