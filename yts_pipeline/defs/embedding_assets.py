"""Movie embeddings per page range: only movies whose embedding document changed are encoded."""

from dataclasses import dataclass

import dagster as dg

from yts_pipeline.db.page_store import page_external_ids, page_fingerprints, record_embedded
from yts_pipeline.defs.page_assets import DAILY_FRESHNESS, movie_details, range_states
from yts_pipeline.defs.page_reports import report_metadata
from yts_pipeline.defs.partitions import PAGES, key_to_page, with_page_runs
from yts_pipeline.defs.resources import DatabaseResource, EmbeddingModelResource
from yts_pipeline.search.embed import embed_movies, embedding_coverage_problems


@dataclass
class EmbeddingReport:
    """What one embeddings step did over its run's pages: vectors are encoded in one batch, not page by page."""

    pages: str
    model: str
    embedded: int = 0
    skipped: int = 0
    texts: int = 0
    seconds: float = 0.0
    sentences_per_second: float = 0.0


@dg.asset(
    partitions_def=PAGES,
    deps=[movie_details],
    group_name="search",
    kinds={"pytorch", "postgres"},
    freshness_policy=DAILY_FRESHNESS,
)
def movie_embeddings(
    context: dg.AssetExecutionContext, database: DatabaseResource, embedding_model: EmbeddingModelResource
) -> dg.MaterializeResult:
    """One vector per movie of the pages (title, year, genres, summary, top cast), in pgvector.

    Pages whose vectors are up to date for their current rows and model are not looked at again
    (and the model is not even loaded when no page of the range needs it).
    """
    db, model_name = database.manager(), embedding_model.model_name()
    states = range_states(context, database, model_name)
    pages = [key_to_page(k) for k in context.partition_keys]
    stale = [p for p in pages if p not in states or states[p].needs_embeddings]
    report = EmbeddingReport(
        pages=", ".join(map(str, pages)),
        model=model_name,
        skipped=sum(states[p].listed for p in pages if p not in stale),
    )  # not looked at
    if stale:
        model = embedding_model.model()
        with db.get_session() as session:
            fingerprints = page_fingerprints(session, stale)  # before encoding: a change meanwhile stays stale
            external_ids = [i for ids in page_external_ids(session, stale).values() for i in ids]
        result = embed_movies(db, model, external_ids)
        with db.get_session() as session:
            record_embedded(session, fingerprints, model.name)
        report.embedded, report.skipped, report.texts = result.embedded, report.skipped + result.skipped, result.texts
        report.seconds, report.sentences_per_second = result.seconds, result.sentences_per_second
    context.log.info(
        f"{len(stale)} of {len(pages)} page(s) to embed with {model_name}: embedded {report.embedded} "
        f"({report.texts} texts), skipped {report.skipped} unchanged, "
        f"{report.sentences_per_second} sentences/s ({report.seconds} s)"
    )
    for key in context.partition_keys:
        context.add_asset_metadata({"settled": key_to_page(key) not in stale}, partition_key=key)
    return dg.MaterializeResult(metadata=report_metadata(report))


@dg.asset_check(asset=movie_embeddings, description="Every movie still listed has an embedding from the current model.")
def every_movie_embedded(database: DatabaseResource, embedding_model: EmbeddingModelResource) -> dg.AssetCheckResult:
    problems = embedding_coverage_problems(database.manager(), embedding_model.model_name())
    return dg.AssetCheckResult(
        passed=problems.missing == 0,
        metadata={"missing": problems.missing, "examples": dg.MetadataValue.json(problems.example_external_ids)},
    )


@dg.definitions
def embedding_assets() -> dg.Definitions:
    """The embeddings asset, given its backfill policy now (``with_page_runs``), and its check."""
    return dg.Definitions(assets=with_page_runs(movie_embeddings), asset_checks=[every_movie_embedded])
