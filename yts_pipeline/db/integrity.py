"""Integrity queries behind the asset checks: duplicates, orphans, listed-but-missing movies."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from yts_pipeline.db.page_store import LISTED_ID

ORPHAN_QUERIES = {
    "movie_genres": "SELECT count(*) FROM movie_genres l LEFT JOIN movies m ON m.id = l.movie_id "
    "LEFT JOIN genres g ON g.id = l.genre_id WHERE m.id IS NULL OR g.id IS NULL",
    "movie_casts": "SELECT count(*) FROM movie_casts l LEFT JOIN movies m ON m.id = l.movie_id "
    "LEFT JOIN casts c ON c.id = l.cast_id WHERE m.id IS NULL OR c.id IS NULL",
    "torrents": "SELECT count(*) FROM torrents t LEFT JOIN movies m ON m.id = t.movie_id WHERE m.id IS NULL",
    "movie_embeddings": "SELECT count(*) FROM movie_embeddings e LEFT JOIN movies m ON m.id = e.movie_id "
    "WHERE m.id IS NULL",
}


def duplicate_external_ids(session: Session) -> list[int]:
    return list(
        session.scalars(
            text("SELECT external_id FROM movies GROUP BY external_id HAVING count(*) > 1 ORDER BY 1 LIMIT 100")
        )
    )


def duplicate_torrent_hashes(session: Session) -> list[str]:
    """Hashes stored twice for one movie (impossible by constraint) or shared by two movies."""
    return list(
        session.scalars(text("SELECT hash FROM torrents GROUP BY hash HAVING count(*) > 1 ORDER BY 1 LIMIT 100"))
    )


def orphan_link_rows(session: Session) -> dict[str, int]:
    return {table: session.execute(text(sql)).scalar_one() for table, sql in ORPHAN_QUERIES.items()}


def listed_but_missing(session: Session) -> list[int]:
    """YTS ids an applied page lists that are not in ``movies``: a rejected movie, or a row lost since.

    Only pages whose stored answer the mirror has applied (``synced_pages``) count: a page fetched but not
    saved yet, by a sync still running beside this one, or one that stopped, is pending, not lost
    (``pages_not_applied``).
    """
    return list(
        session.scalars(
            text(
                f"SELECT DISTINCT id FROM (SELECT {LISTED_ID} AS id FROM raw_list_pages p "
                "JOIN synced_pages s ON s.page = p.page AND s.content_hash = p.content_hash "
                "CROSS JOIN LATERAL jsonb_array_elements(COALESCE(p.payload->'data'->'movies', '[]'::jsonb)) AS e(m)"
                ") listed WHERE id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM movies WHERE external_id = listed.id) "
                "ORDER BY 1 LIMIT 100"
            )
        )
    )


def pages_not_applied(session: Session) -> list[int]:
    """Stored pages whose answer the mirror has not applied to ``movies`` yet."""
    return list(
        session.scalars(
            text(
                "SELECT p.page FROM raw_list_pages p LEFT JOIN synced_pages s ON s.page = p.page "
                "WHERE s.content_hash IS DISTINCT FROM p.content_hash ORDER BY 1"
            )
        )
    )


def listed_movie_count(session: Session) -> int:
    """Movies the mirror holds that are not marked removed."""
    return session.execute(text("SELECT count(*) FROM movies WHERE removed_at IS NULL")).scalar_one()
