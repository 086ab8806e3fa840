"""Bulk loading for the 75,000-movie benchmarks: synthetic unit vectors and a binary COPY into a vector table."""

from __future__ import annotations

import io
import struct
import time

import numpy as np
from sqlalchemy import text

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS, MovieEmbedding, MoviePlotEmbedding
from yts_pipeline.search.neighbour_store import binary_vector_row

VECTOR_TABLES = (MovieEmbedding, MoviePlotEmbedding)

TOPICS = 500


def synthetic_vectors(n: int, uniform: bool, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors: uniform on the sphere, or around ``TOPICS`` topic centres (cosine ~0.5 within a topic)."""
    if uniform:
        vectors = rng.standard_normal((n, EMBEDDING_DIMENSIONS), dtype=np.float32)
    else:
        centres = rng.standard_normal((TOPICS, EMBEDDING_DIMENSIONS), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        noise = rng.standard_normal((n, EMBEDDING_DIMENSIONS), dtype=np.float32) / np.sqrt(EMBEDDING_DIMENSIONS)
        vectors = centres[rng.integers(0, TOPICS, n)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def copy_vectors(cursor, table: str, movie_ids: np.ndarray, vectors: np.ndarray, model_name: str) -> None:
    """COPY ... (FORMAT binary) into ``table``: pgvector's binary input is int16 dim, int16 unused, float4s."""
    model = model_name.encode()
    row = binary_vector_row(("model_len", ">i4"), ("model", f"S{len(model)}"), ("hash_len", ">i4"), ("hash", "S1"))
    rows = np.zeros(len(movie_ids), dtype=row)
    rows["fields"], rows["id_len"], rows["id"] = 4, 8, movie_ids
    rows["vec_len"], rows["dim"], rows["vec"] = 4 + 4 * EMBEDDING_DIMENSIONS, EMBEDDING_DIMENSIONS, vectors
    rows["model_len"], rows["model"], rows["hash_len"], rows["hash"] = len(model), model, 1, b"-"
    data = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + rows.tobytes() + struct.pack(">h", -1)
    cursor.copy_expert(
        f"COPY {table} (movie_id, embedding, model, content_hash) FROM STDIN WITH (FORMAT binary)", io.BytesIO(data)
    )


def build_vector_indexes(db: DatabaseManager) -> float:
    """The HNSW indexes of both vector tables, built after the COPY (much faster than row by row), then ANALYZE.

    Returns the seconds the indexes took.
    """
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for table in VECTOR_TABLES:
            for index in table.__table__.indexes:
                index.create(conn)
    built = time.perf_counter() - started
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return built
