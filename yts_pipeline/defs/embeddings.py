"""Movie embeddings per page range: only movies whose embedding document changed are encoded."""

import dagster as dg

from yts_pipeline.db.pages import page_external_ids
from yts_pipeline.defs.pages import movie_details
from yts_pipeline.defs.partitions import BACKFILL_POLICY, PAGES, key_page
from yts_pipeline.defs.resources import DatabaseResource, EmbeddingModelResource
from yts_pipeline.search.embed import embed_movies, embedding_coverage_problems


@dg.asset(partitions_def=PAGES, backfill_policy=BACKFILL_POLICY, deps=[movie_details], group_name="search",
          kinds={"pytorch", "postgres"})
def movie_embeddings(context: dg.AssetExecutionContext, database: DatabaseResource,
                     embedding_model: EmbeddingModelResource) -> dg.MaterializeResult:
    """One vector per movie of the pages (title, year, genres, summary, top cast), in pgvector."""
    db, model = database.manager(), embedding_model.model()
    pages = [key_page(k) for k in context.partition_keys]
    with db.get_session() as session:
        external_ids = [i for ids in page_external_ids(session, pages).values() for i in ids]
    context.log.info(f"embedding the {len(external_ids)} movies of {len(pages)} page(s) with {model.name}")
    result = embed_movies(db, model, external_ids)
    context.log.info(f"embedded {result.embedded}, skipped {result.skipped} unchanged, "
                     f"{result.sentences_per_second} sentences/s ({result.seconds} s)")
    return dg.MaterializeResult(metadata={
        "pages": ", ".join(map(str, pages)),
        "model": result.model,
        "embedded": result.embedded,
        "skipped": result.skipped,
        "seconds": result.seconds,
        "sentences_per_second": result.sentences_per_second,
    })


@dg.asset_check(asset=movie_embeddings, description="Every movie still listed has an embedding from the current model.")
def every_movie_embedded(database: DatabaseResource, embedding_model: EmbeddingModelResource) -> dg.AssetCheckResult:
    problems = embedding_coverage_problems(database.manager(), embedding_model.model_name())
    return dg.AssetCheckResult(passed=problems.missing == 0, metadata={
        "missing": problems.missing, "examples": dg.MetadataValue.json(problems.example_external_ids)})
