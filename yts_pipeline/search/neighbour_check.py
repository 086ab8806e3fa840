"""The lists' asset check: a random sample of stored lists against ``similar_live`` for the same movies.

The live ranking takes its candidates from the HNSW index, which is approximate: on ~1% of movies
its top 10 differs from the exact candidates' (bench_recommend measures it). So the check allows
``MAX_UNLIKE`` of the sample to differ; stale or wrongly ranked lists differ far more often.
"""

from __future__ import annotations

from sqlalchemy import text

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search.neighbour_lists import LIST_SIZE
from yts_pipeline.search.neighbour_store import read_stored_list
from yts_pipeline.search.queries import similar_live

SAMPLE, K = 20, 10
MAX_UNLIKE = 0.1


def lists_unlike_live(db: DatabaseManager, sample: int = SAMPLE, k: int = K) -> tuple[int, list[int], bool]:
    """How many lists were compared, the YTS ids of those whose top ``k`` is not the live one, and whether
    few enough differ."""
    with db.get_session() as session:
        picked = session.execute(
            text(
                "SELECT m.id, m.external_id FROM movie_neighbours l JOIN movies m ON m.id = l.movie_id "
                "WHERE m.removed_at IS NULL ORDER BY random() LIMIT :sample"
            ),
            {"sample": sample},
        ).all()
        stored = {
            external_id: [
                row.external_id
                for row in read_stored_list(session, movie_id, "m.removed_at IS NULL", {}, LIST_SIZE)
                if row.passes
            ][:k]
            for movie_id, external_id in picked
        }
    unlike = [
        external_id
        for external_id, top in stored.items()
        if top != [r.external_id for r in similar_live(db, external_id, k=k)]
    ]
    return len(stored), unlike, len(unlike) <= MAX_UNLIKE * len(stored)
