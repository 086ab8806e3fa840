"""Incremental embedding: encode only the movies whose document (or model) changed, then upsert.

Everything around ``model.encode`` is set-based and cheap: one SELECT for the documents and
their stored hashes, and one ``INSERT ... ON CONFLICT`` per written chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import bindparam, cast, exists, func, select
from sqlalchemy.dialects.postgresql import insert

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS, Movie, MovieEmbedding
from yts_pipeline.search.documents import MovieFields, content_hash, document_fields, movie_document
from yts_pipeline.search.model import EmbeddingModel, get_model
from yts_pipeline.settings import EmbeddingSettings

_log = logging.getLogger(__name__)

BATCHES_PER_WRITE = 16  # rows encoded between two commits = batch_size * this
# float32 written with 9 significant digits: exact, and 3x faster to format than pgvector's own
VECTOR_TEXT = "[" + ",".join(["%.9g"] * EMBEDDING_DIMENSIONS) + "]"


@dataclass(frozen=True)
class PendingDocument:
    movie_id: int
    text: str
    content_hash: str


@dataclass(frozen=True)
class EmbedResult:
    """What one ``embed_movies`` call did. ``seconds`` is the whole call but model loading, SQL included."""

    model: str
    embedded: int
    skipped: int
    seconds: float
    encode_seconds: float
    sentences_per_second: float


@dataclass(frozen=True)
class CoverageProblems:
    """Non-removed movies without a vector from the current model: how many, and a few YTS ids."""

    missing: int
    example_external_ids: list[int] = field(default_factory=list)


def embed_movies(db: DatabaseManager, model: EmbeddingModel | None = None,
                 external_ids: Iterable[int] | None = None, batch_size: int | None = None,
                 log: logging.Logger | None = None) -> EmbedResult:
    """Embed the given movies (YTS ids; ``None`` = every non-removed movie) whose vector is missing or stale.

    A vector is stale when the hash of model name + document differs from the stored one. Texts
    are encoded longest first in chunks of ``batch_size * BATCHES_PER_WRITE``, each chunk
    committed on its own, so an interrupted run keeps what it finished.
    """
    log = log or _log
    model = model or get_model()
    started = time.perf_counter()
    batch_size = batch_size or EmbeddingSettings.from_env().batch_size
    pending, skipped = pending_documents(db, model.name, external_ids)
    pending.sort(key=lambda doc: len(doc.text), reverse=True)
    chunk_size = batch_size * BATCHES_PER_WRITE
    encode_seconds = 0.0
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start:start + chunk_size]
        encode_started = time.perf_counter()
        vectors = model.encode([doc.text for doc in chunk], batch_size=batch_size)
        encode_seconds += time.perf_counter() - encode_started
        _upsert_embeddings(db, model.name, chunk, vectors)
        log.info("embedded %d of %d movies with %s", start + len(chunk), len(pending), model.name)
    seconds = time.perf_counter() - started
    return EmbedResult(model=model.name, embedded=len(pending), skipped=skipped, seconds=round(seconds, 3),
                       encode_seconds=round(encode_seconds, 3),
                       sentences_per_second=round(len(pending) / seconds, 1) if pending else 0.0)


def pending_documents(db: DatabaseManager, model_name: str,
                      external_ids: Iterable[int] | None = None) -> tuple[list[PendingDocument], int]:
    """The documents that need a (new) vector, and how many movies are already up to date."""
    query = (document_fields()
             .add_columns(MovieEmbedding.model, MovieEmbedding.content_hash.label("stored_hash"))
             .outerjoin(MovieEmbedding, MovieEmbedding.movie_id == Movie.id))
    if external_ids is not None:
        query = query.where(Movie.external_id.in_(sorted(set(external_ids))))
    pending, skipped = [], 0
    with db.get_session() as session:
        rows = session.execute(query).mappings().all()
    for row in rows:
        stored_model, stored_hash = row["model"], row["stored_hash"]
        document = movie_document(MovieFields(**{k: v for k, v in row.items() if k not in ("model", "stored_hash")}))
        digest = content_hash(model_name, document)
        if stored_model == model_name and stored_hash == digest:
            skipped += 1
        else:
            pending.append(PendingDocument(row["movie_id"], document, digest))
    return pending, skipped


def _upsert_embeddings(db: DatabaseManager, model_name: str, documents: Sequence[PendingDocument],
                       vectors: np.ndarray) -> None:
    """One INSERT ... ON CONFLICT for the chunk, in movie id order so concurrent writers never deadlock."""
    rows = sorted(({"movie_id": doc.movie_id, "vector_text": VECTOR_TEXT % tuple(vector.tolist()),
                    "model": model_name, "content_hash": doc.content_hash}
                   for doc, vector in zip(documents, vectors, strict=True)), key=lambda row: row["movie_id"])
    stmt = insert(MovieEmbedding).values(embedding=cast(bindparam("vector_text"), MovieEmbedding.embedding.type))
    stmt = stmt.on_conflict_do_update(index_elements=[MovieEmbedding.movie_id], set_={
        "embedding": stmt.excluded.embedding, "model": stmt.excluded.model,
        "content_hash": stmt.excluded.content_hash, "updated_at": func.now(),
    })
    with db.get_session() as session:  # RETURNING makes SQLAlchemy batch the rows into multi-row VALUES
        session.connection().execute(stmt.returning(MovieEmbedding.movie_id), rows).all()


def embedding_coverage_problems(db: DatabaseManager, model_name: str, examples: int = 5) -> CoverageProblems:
    """Non-removed movies with no vector from ``model_name`` (for an asset check): count and a few YTS ids."""
    has_vector = exists().where(MovieEmbedding.movie_id == Movie.id, MovieEmbedding.model == model_name)
    query = (select(Movie.external_id, func.count().over().label("missing"))
             .where(Movie.removed_at.is_(None), ~has_vector)
             .order_by(Movie.external_id).limit(examples))
    with db.get_session() as session:
        rows = session.execute(query).all()
    return CoverageProblems(missing=rows[0].missing if rows else 0,
                            example_external_ids=[row.external_id for row in rows])
