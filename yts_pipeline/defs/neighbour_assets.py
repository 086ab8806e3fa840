"""Each movie's precomputed ``similar`` list, kept fresh after the embeddings, checked against live ranking.

Not page-partitioned: a new movie on one page enters lists of movies on any page, and the work is
one catalog-wide matrix product. It runs once after a sync's page runs (``yts-pipeline sync``, the
``neighbour_lists`` job and its daily schedule), never inside a page run.
"""

import dagster as dg

from yts_pipeline.defs.embedding_assets import movie_embeddings
from yts_pipeline.defs.resources import DatabaseResource, EmbeddingModelResource
from yts_pipeline.search.neighbour_check import MAX_UNLIKE, SAMPLE, lists_unlike_live
from yts_pipeline.search.neighbour_update import update_neighbour_lists


class NeighboursConfig(dg.Config):
    full_rebuild: bool = False  # rebuild every list even when the version is unchanged


@dg.asset(deps=[movie_embeddings], group_name="search", kinds={"numpy", "postgres"})
def movie_neighbours(
    context: dg.AssetExecutionContext,
    config: NeighboursConfig,
    database: DatabaseResource,
    embedding_model: EmbeddingModelResource,
) -> dg.MaterializeResult:
    """For every movie its top neighbours under ``similar``'s ranking, with scores and reasons.

    Incremental: only the lists of new or changed movies, and those such a movie enters or
    leaves, are redone; every list when the ranking's version (model, weights, sizes) changed.
    """
    report = update_neighbour_lists(database.manager(), embedding_model.model_name(), full=config.full_rebuild)
    context.log.info(
        f"neighbour lists ({report.mode}): {report.lists_written} written for {report.changed} "
        f"changed and {report.removed} removed of {report.movies} movies in {report.seconds} s"
    )
    return dg.MaterializeResult(metadata=report.metadata())


@dg.asset_check(
    asset=movie_neighbours,
    description=f"{SAMPLE} stored lists answer as the live ranking does "
    f"(at most {MAX_UNLIKE:.0%} differ: the live candidates are approximate).",
)
def lists_match_live_ranking(database: DatabaseResource) -> dg.AssetCheckResult:
    checked, unlike, few_enough = lists_unlike_live(database.manager())
    return dg.AssetCheckResult(
        passed=few_enough,
        metadata={"checked": checked, "unlike": len(unlike), "examples": dg.MetadataValue.json(unlike[:5])},
    )


@dg.definitions
def neighbour_assets() -> dg.Definitions:
    """The neighbour lists and their check; ``movie_embeddings`` is defined by ``embedding_assets`` (see
    ``automation()``)."""
    return dg.Definitions(assets=[movie_neighbours], asset_checks=[lists_match_live_ranking])
