"""A canonical dump of the mirror: every table as sorted rows, without surrogate ids or timestamps.

Two databases hold the same catalog exactly when their dumps are equal, whatever order, retries or
crashes produced them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

QUERIES = {
    "movies": "SELECT external_id, imdb_code, title, title_english, title_long, slug, year, rating, runtime, "
    "summary, description_full, description_intro, synopsis, yt_trailer_code, language, mpa_rating, "
    "like_count, download_count, url, background_image, background_image_original, small_cover_image, "
    "medium_cover_image, large_cover_image, medium_screenshot_image1, medium_screenshot_image2, "
    "medium_screenshot_image3, large_screenshot_image1, large_screenshot_image2, "
    "large_screenshot_image3, date_uploaded, date_uploaded_unix, details_fetched_at IS NOT NULL, "
    "details_error IS NOT NULL, removed_at IS NOT NULL, search_vector::text FROM movies",
    "genres": "SELECT name FROM genres",
    "movie_genres": "SELECT m.external_id, g.name FROM movie_genres l JOIN movies m ON m.id = l.movie_id "
    "JOIN genres g ON g.id = l.genre_id",
    "casts": "SELECT name, imdb_code, url_small_image FROM casts",
    "movie_casts": "SELECT m.external_id, c.name, c.imdb_code, l.character_name FROM movie_casts l "
    "JOIN movies m ON m.id = l.movie_id JOIN casts c ON c.id = l.cast_id",
    "torrents": "SELECT m.external_id, t.hash, t.quality, t.type, t.is_repack, t.video_codec, t.bit_depth, "
    "t.audio_channels, t.seeds, t.peers, t.size, t.size_bytes, t.url, t.date_uploaded, "
    "t.date_uploaded_unix FROM torrents t JOIN movies m ON m.id = t.movie_id",
    "movie_embeddings": "SELECT m.external_id, e.model, e.content_hash FROM movie_embeddings e "
    "JOIN movies m ON m.id = e.movie_id",
    "raw_list_pages": "SELECT page, content_hash FROM raw_list_pages",
    "raw_movie_details": "SELECT external_id, content_hash FROM raw_movie_details",
}


def canonical_dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted((tuple(row) for row in conn.execute(text(sql))), key=repr)
                for table, sql in QUERIES.items()
            }
    finally:
        engine.dispose()


def dump_differences(left: dict, right: dict, limit: int = 5) -> dict[str, Any]:
    """Per table, a few rows only one side has: what a failing equality assertion should show."""
    found = {}
    for table in left:
        only_left = sorted(set(left[table]) - set(right[table]), key=repr)[:limit]
        only_right = sorted(set(right[table]) - set(left[table]), key=repr)[:limit]
        if only_left or only_right or len(left[table]) != len(right[table]):
            found[table] = {
                "only_left": only_left,
                "only_right": only_right,
                "counts": (len(left[table]), len(right[table])),
            }
    return found
