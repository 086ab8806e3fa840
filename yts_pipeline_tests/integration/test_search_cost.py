"""What keeps search cheap at 75,000 movies: the search vector kept in its row, the hybrid statement's shape."""

from __future__ import annotations

from sqlalchemy import text

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.yts.replay import Catalog

STORAGE = "SELECT attstorage FROM pg_attribute WHERE attrelid = 'movies'::regclass AND attname = 'search_vector'"


def test_a_wide_movie_keeps_its_search_vector_in_the_row(db: DatabaseManager) -> None:
    """Rows of ~3 kB (summary, full description and synopsis) moved the search vector to TOAST."""
    catalog = Catalog.synthetic(20, seed=5)
    db.save_movies([catalog.movie(movie_id) for movie_id in catalog.ids()])
    with db.engine.connect() as conn:
        widths = conn.execute(text("SELECT min(pg_column_size(m.*)), "
                                   "count(*) FILTER (WHERE pg_column_toast_chunk_id(search_vector) IS NOT NULL) "
                                   "FROM movies m")).one()
    assert widths[0] > 2000, "the synthetic rows are no longer wide enough to be toasted: make them wider"
    assert widths[1] == 0


def test_an_older_mirror_keeps_its_search_vectors_in_the_row_from_its_next_start(database_url: str) -> None:
    db = DatabaseManager(database_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE movies ALTER COLUMN search_vector SET STORAGE EXTENDED"))
        db.ensure_schema()
        with db.engine.connect() as conn:
            assert conn.scalar(text(STORAGE)) == "m"
    finally:
        db.close_all()
