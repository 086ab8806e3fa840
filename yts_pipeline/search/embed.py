"""Incremental embedding: encode only the documents whose text (or model) changed, then upsert.

Each movie has two vectors, each with its own hash: the search document (``movie_embeddings``,
for free-text search) and the plot document (``movie_plot_embeddings``, for ``similar`` and
``recommend``). Everything around ``model.encode`` is set-based and cheap: one SELECT for the
documents and both stored hashes, and one ``INSERT ... ON CONFLICT`` per table and written chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, bindparam, cast, exists, func, select
from sqlalchemy.dialects.postgresql import insert

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS, Movie, MovieEmbedding, MoviePlotEmbedding
from yts_pipeline.search.documents import MovieFields, content_hash, document_fields, movie_document, plot_document
from yts_pipeline.search.model import EmbeddingModel, get_model
from yts_pipeline.settings import EmbeddingSettings

_log = logging.getLogger(__name__)

BATCHES_PER_WRITE = 16  # rows encoded between two commits = batch_size * this
# float32 written with 9 significant digits: exact, and 3x faster to format than pgvector's own
VECTOR_TEXT = "[" + ",".join(["%.9g"] * EMBEDDING_DIMENSIONS) + "]"


# Each vector table and the document its vectors are made of.
VECTOR_DOCUMENTS: tuple[tuple[type[MovieEmbedding | MoviePlotEmbedding], Callable[[MovieFields], str]], ...] = (
    (MovieEmbedding, movie_document),
    (MoviePlotEmbedding, plot_document),
)


@dataclass(frozen=True)
class PendingDocument:
    table: type[MovieEmbedding | MoviePlotEmbedding]
    movie_id: int
    text: str
    content_hash: str


@dataclass(frozen=True)
class EmbedResult:
    """What one ``embed_movies`` call did: movies given a new vector, movies already up to date, texts encoded.

    ``seconds`` is the whole call but model loading, SQL included; ``sentences_per_second`` counts texts.
    """

    model: str
    embedded: int
    skipped: int
    seconds: float
    encode_seconds: float
    sentences_per_second: float
    texts: int = 0


@dataclass(frozen=True)
class CoverageProblems:
    """Non-removed movies missing a vector (search or plot) from the current model: how many, and a few YTS ids."""

    missing: int
    example_external_ids: list[int] = field(default_factory=list)


def embed_movies(
    db: DatabaseManager,
    model: EmbeddingModel | None = None,
    external_ids: Iterable[int] | None = None,
    batch_size: int | None = None,
    log: logging.Logger | None = None,
) -> EmbedResult:
    """Embed the given movies (YTS ids; ``None`` = every non-removed movie) whose vectors are missing or stale.

    A vector is stale when the hash of model name + document differs from the stored one, so a
    new model, or an upgrade that adds the plot vector, encodes each affected document once.
    Texts are encoded longest first in chunks of ``batch_size * BATCHES_PER_WRITE``, each chunk
    committed on its own, so an interrupted run keeps what it finished.
    """
    log = log or _log
    model = model or get_model()
    started = time.perf_counter()
    batch_size = batch_size or EmbeddingSettings.from_env().batch_size
    pending, skipped = pending_documents(db, model.name, external_ids)
    embedded = len({doc.movie_id for doc in pending})
    pending.sort(key=lambda doc: len(doc.text), reverse=True)
    chunk_size = batch_size * BATCHES_PER_WRITE
    encode_seconds = 0.0
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        encode_started = time.perf_counter()
        vectors = model.encode([doc.text for doc in chunk], batch_size=batch_size)
        encode_seconds += time.perf_counter() - encode_started
        _upsert_embeddings(db, model.name, chunk, vectors)
        log.info("embedded %d of %d texts with %s", start + len(chunk), len(pending), model.name)
    seconds = time.perf_counter() - started
    return EmbedResult(
        model=model.name,
        embedded=embedded,
        skipped=skipped,
        seconds=round(seconds, 3),
        encode_seconds=round(encode_seconds, 3),
        sentences_per_second=round(len(pending) / seconds, 1) if pending else 0.0,
        texts=len(pending),
    )


def pending_documents(
    db: DatabaseManager, model_name: str, external_ids: Iterable[int] | None = None
) -> tuple[list[PendingDocument], int]:
    """The documents that need a (new) vector, and how many movies have every vector up to date."""
    query = document_fields()
    for table, _ in VECTOR_DOCUMENTS:
        query = query.add_columns(
            table.model.label(f"{table.__tablename__}.model"), table.content_hash.label(f"{table.__tablename__}.hash")
        ).outerjoin(table, table.movie_id == Movie.id)
    if external_ids is not None:
        query = query.where(Movie.external_id.in_(sorted(set(external_ids))))
    pending, skipped = [], 0
    with db.get_session() as session:
        rows = session.execute(query).mappings().all()
    for row in rows:
        fields = MovieFields(**{k: v for k, v in row.items() if "." not in k})
        stale = []
        for table, document_of in VECTOR_DOCUMENTS:
            document = document_of(fields)
            digest = content_hash(model_name, document)
            stored = row[f"{table.__tablename__}.model"], row[f"{table.__tablename__}.hash"]
            if stored != (model_name, digest):
                stale.append(PendingDocument(table, row["movie_id"], document, digest))
        pending += stale
        skipped += not stale
    return pending, skipped


def _upsert_embeddings(
    db: DatabaseManager, model_name: str, documents: Sequence[PendingDocument], vectors: np.ndarray
) -> None:
    """One INSERT ... ON CONFLICT per table, in movie id order so concurrent writers never deadlock."""
    with db.get_session() as session:
        for table, _ in VECTOR_DOCUMENTS:
            rows = sorted(
                (
                    {
                        "movie_id": doc.movie_id,
                        "vector_text": VECTOR_TEXT % tuple(vector.tolist()),
                        "model": model_name,
                        "content_hash": doc.content_hash,
                    }
                    for doc, vector in zip(documents, vectors, strict=True)
                    if doc.table is table
                ),
                key=lambda row: row["movie_id"],
            )
            if not rows:
                continue
            stmt = insert(table).values(embedding=cast(bindparam("vector_text"), table.embedding.type))
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.movie_id],
                set_={
                    "embedding": stmt.excluded.embedding,
                    "model": stmt.excluded.model,
                    "content_hash": stmt.excluded.content_hash,
                    "updated_at": func.now(),
                },
            )
            # RETURNING makes SQLAlchemy batch the rows into multi-row VALUES
            session.connection().execute(stmt.returning(table.movie_id), rows).all()


def embedding_coverage_problems(db: DatabaseManager, model_name: str, examples: int = 5) -> CoverageProblems:
    """Non-removed movies missing a vector from ``model_name`` in either table (an asset check): count, a few ids."""
    has_every_vector = [
        exists().where(table.movie_id == Movie.id, table.model == model_name) for table, _ in VECTOR_DOCUMENTS
    ]
    query = (
        select(Movie.external_id, func.count().over().label("missing"))
        .where(Movie.removed_at.is_(None), ~and_(*has_every_vector))
        .order_by(Movie.external_id)
        .limit(examples)
    )
    with db.get_session() as session:
        rows = session.execute(query).all()
    return CoverageProblems(
        missing=rows[0].missing if rows else 0, example_external_ids=[row.external_id for row in rows]
    )
