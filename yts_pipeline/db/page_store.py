"""Raw API answers kept in Postgres, so any page or movie can be re-parsed without the API."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Movie, MovieEmbedding, MoviePlotEmbedding, RawListPage, SyncedPage
from yts_pipeline.db.saving import SEEN_GRANULARITY
from yts_pipeline.yts.parsing import clean_document, storable_json

_HOST = re.compile(r"https?://[^/\"]+")
# The YTS id of a listed movie object ``m`` as parsing reads it: a whole JSON number (``12``, ``12.0``) or a
# string of digits (``" 12 "``); NULL for anything else (parsing rejects that movie).
LISTED_ID = (
    "CASE WHEN jsonb_typeof(m->'id') = 'number' AND (m->>'id') ~ '^[0-9]{1,18}(\\.0+)?$' "
    "THEN (m->>'id')::numeric::bigint "
    "WHEN jsonb_typeof(m->'id') = 'string' AND (m->>'id') ~ '^\\s*\\+?[0-9]{1,18}\\s*$' "
    "THEN (m->>'id')::bigint END"
)
VECTOR_TABLES = (MovieEmbedding.__tablename__, MoviePlotEmbedding.__tablename__)  # a movie needs one in each
# Every movie object of the stored pages in :pages, in page order: (page, position n, YTS id or NULL).
LISTED = (
    f"SELECT p.page, e.n, {LISTED_ID} AS id FROM raw_list_pages p, "
    "jsonb_array_elements(COALESCE(p.payload->'data'->'movies', '[]'::jsonb)) WITH ORDINALITY AS e(m, n) "
    "WHERE p.page = ANY(:pages)"
)
# What the mirror stores for one listed movie ``mv`` (NULL when it is missing): the movie row without its
# surrogate id, derived search vector and bookkeeping timestamps, then its torrents, genres and cast.
STORED_MOVIE = (
    "concat_ws('|', "
    "(to_jsonb(mv) - '{id,search_vector,created_at,updated_at,last_seen_at,details_fetched_at,details_error}'"
    "::text[])::text, "
    "(SELECT string_agg((to_jsonb(t) - '{id,movie_id}'::text[])::text, ',' ORDER BY t.hash) "
    " FROM torrents t WHERE t.movie_id = mv.id), "
    "(SELECT string_agg(g.name, ',' ORDER BY g.name) FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id "
    " WHERE mg.movie_id = mv.id), "
    "(SELECT string_agg(concat_ws(':', c.name, c.imdb_code, mc.character_name), ',' "
    "  ORDER BY c.name, c.imdb_code, mc.character_name) "
    " FROM movie_casts mc CROSS JOIN LATERAL "
    "  (SELECT person.name, person.imdb_code FROM casts person WHERE person.id = mc.cast_id OFFSET 0) c"
    " WHERE mc.movie_id = mv.id))"
)  # OFFSET 0 keeps the person lookup a key lookup: joined, it is a scan of casts per movie until ANALYZE runs
# Per page: how many stored movies it lists, and the fingerprint of what is stored for them ('-' for a missing one).
PAGE_ROWS = (
    f"SELECT l.page, count(DISTINCT mv.id) AS listed, md5(string_agg(concat_ws('#', l.id, "
    f"CASE WHEN mv.id IS NULL THEN '-' ELSE {STORED_MOVIE} END), E'\\n' ORDER BY l.n)) AS rows_hash"
)


def content_hash(payload: dict[str, Any]) -> str:
    """Hash of what an answer says about movies: ``data`` without hosts; ``@meta`` (server time) ignored."""
    data = json.dumps(payload.get("data"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(_HOST.sub("", data).encode()).hexdigest()


def store_raw_page(session: Session, page: int, payload: dict[str, Any]) -> bool:
    """Keep a page's answer; returns whether its content changed (``fetched_at`` is refreshed either way)."""
    payload = clean_document(payload)  # jsonb refuses \u0000, lone surrogates and NaN
    digest = content_hash(payload)
    old = session.scalar(select(RawListPage.content_hash).where(RawListPage.page == page))
    if old == digest:
        session.execute(update(RawListPage).where(RawListPage.page == page).values(fetched_at=func.now()))
        _mark_seen(session, page)
        return False
    stmt = insert(RawListPage).values(page=page, payload=payload, content_hash=digest, fetched_at=func.now())
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["page"],
            set_={"payload": stmt.excluded.payload, "content_hash": digest, "fetched_at": func.now()},
        )
    )
    return True


def _mark_seen(session: Session, page: int) -> None:
    """An unchanged page still saw its movies: ``last_seen_at`` as saving would refresh it (at most hourly)."""
    session.execute(
        text(
            f"UPDATE movies SET last_seen_at = now() WHERE external_id IN (SELECT id FROM ({LISTED}) listed) "
            "AND (last_seen_at IS NULL OR last_seen_at < now() - :granularity)"
        ),
        {"pages": [page], "granularity": SEEN_GRANULARITY},
    )


def load_raw_page(session: Session, page: int) -> tuple[dict[str, Any], str] | None:
    """A stored page's answer and its content hash."""
    row = session.execute(select(RawListPage.payload, RawListPage.content_hash).where(RawListPage.page == page)).first()
    return (row.payload, row.content_hash) if row else None


# One statement for a page's answers: the ORM's upsert costs several times the server's work on small rows.
UPSERT_RAW_DETAILS = """INSERT INTO raw_movie_details (external_id, payload, content_hash) VALUES %s
ON CONFLICT (external_id) DO UPDATE SET payload = EXCLUDED.payload, content_hash = EXCLUDED.content_hash,
    fetched_at = now()
WHERE raw_movie_details.content_hash <> EXCLUDED.content_hash"""


def store_raw_details(session: Session, answers: dict[int, dict[str, Any]]) -> None:
    """Keep ``movie_details`` answers by YTS id."""
    if not answers:
        return
    rows = []
    for external_id, answer in sorted(answers.items()):
        answer, text = storable_json(answer)  # as for pages
        rows.append((external_id, text, content_hash(answer)))
    cursor = session.connection().connection.cursor()
    try:
        execute_values(cursor, UPSERT_RAW_DETAILS, rows, template="(%s, %s::jsonb, %s)", page_size=len(rows))
    finally:
        cursor.close()


def page_external_ids(session: Session, pages: list[int]) -> dict[int, list[int]]:
    """The YTS ids each stored page lists, in page order."""
    rows = session.execute(
        text(f"SELECT page, id FROM ({LISTED}) listed WHERE id IS NOT NULL ORDER BY page, n"), {"pages": pages}
    )
    found: dict[int, list[int]] = {page: [] for page in pages}
    for page, external_id in rows:
        found[page].append(external_id)
    return found


def stored_pages(session: Session) -> dict[int, datetime]:
    """Every stored page and when it was last fetched."""
    return dict(session.execute(select(RawListPage.page, RawListPage.fetched_at)).all())


def latest_movie_count(session: Session) -> int | None:
    """``movie_count`` from the most recently fetched page: the API's idea of the catalog size."""
    value = session.scalar(
        select(RawListPage.payload["data"]["movie_count"].astext).order_by(RawListPage.fetched_at.desc()).limit(1)
    )
    return int(value) if value is not None else None


def movies_needing_details(session: Session, external_ids: list[int], refresh: bool) -> list[int]:
    """Of these movies, the ones with no details yet, or whose last details call failed (all when refreshing)."""
    query = select(Movie.external_id).where(Movie.external_id.in_(external_ids))
    if not refresh:
        query = query.where((Movie.details_fetched_at.is_(None)) | (Movie.details_error.isnot(None)))
    return sorted(session.scalars(query))


def pages_with_details_failures(session: Session) -> list[int]:
    """Stored pages listing a movie whose last details call failed: the next run retries them."""
    return list(
        session.scalars(
            text(
                "SELECT DISTINCT p.page FROM raw_list_pages p, "
                "jsonb_array_elements(COALESCE(p.payload->'data'->'movies', '[]'::jsonb)) AS e(m) "
                f"JOIN movies mv ON mv.external_id = {LISTED_ID} "
                "WHERE mv.details_error IS NOT NULL ORDER BY 1"
            )
        )
    )


@dataclass(frozen=True)
class PageState:
    """What a stored page still needs from each step after its list answer was fetched.

    ``needs_save``: its answer was never applied, changed since, or its movies' rows changed behind
    the mirror's back (edited, deleted). ``needs_details``: a listed movie has no details or its last
    details call failed. ``needs_embeddings``: a listed movie has no vector from the model, or the page's
    rows changed since its vectors (search and plot) were last brought up to date (always true when no
    model is asked).
    """

    page: int
    listed: int
    needs_save: bool
    needs_details: bool
    needs_embeddings: bool

    def settled(self, *, embeddings: bool, refresh: bool = False) -> bool:
        """Nothing for any step to do (details again when ``refresh``; embeddings only when they are asked)."""
        return not (self.needs_save or self.needs_details or refresh or (embeddings and self.needs_embeddings))


def page_states(session: Session, pages: list[int], embedding_model: str | None = None) -> dict[int, PageState]:
    """The state of each stored page of ``pages`` (pages never fetched are left out), in one query.

    Without ``embedding_model`` the vector tables are not read (and every page needs embeddings).
    """
    vectors_missing = (
        "bool_or(mv.id IS NOT NULL AND ("
        + " OR ".join(
            f"NOT EXISTS (SELECT 1 FROM {table} v WHERE v.movie_id = mv.id AND v.model = :model)"
            for table in VECTOR_TABLES
        )
        + "))"
        if embedding_model
        else "true"
    )
    rows = session.execute(
        text(
            f"WITH listed AS ({LISTED}), "
            f"stored AS ({PAGE_ROWS}, "
            "  bool_or(mv.id IS NOT NULL AND (mv.details_fetched_at IS NULL OR mv.details_error IS NOT NULL)) "
            f"    AS details_pending, {vectors_missing} AS vectors_missing "
            "  FROM listed l LEFT JOIN movies mv ON mv.external_id = l.id GROUP BY l.page) "
            "SELECT p.page, COALESCE(r.listed, 0) AS listed, "
            "  s.page IS NULL OR s.content_hash <> p.content_hash OR s.rows_hash <> COALESCE(r.rows_hash, '') "
            "    AS needs_save, "
            "  COALESCE(r.details_pending, false) AS needs_details, "
            "  s.page IS NULL OR s.embedding_model IS DISTINCT FROM CAST(:model AS text) "
            "    OR s.embedded_rows_hash IS DISTINCT FROM COALESCE(r.rows_hash, '') "
            "    OR COALESCE(r.vectors_missing, false) AS needs_embeddings "
            "FROM raw_list_pages p LEFT JOIN stored r ON r.page = p.page LEFT JOIN synced_pages s ON s.page = p.page "
            "WHERE p.page = ANY(:pages)"
        ),
        {"pages": pages, "model": embedding_model},
    )
    return {
        row.page: PageState(**{**row._mapping, "needs_embeddings": row.needs_embeddings or not embedding_model})
        for row in rows
    }


def page_fingerprints(session: Session, pages: list[int]) -> dict[int, str]:
    """Each stored page's fingerprint of its movies' stored rows ('' for a page that lists none)."""
    rows = session.execute(
        text(
            f"WITH listed AS ({LISTED}) {PAGE_ROWS} FROM listed l LEFT JOIN movies mv ON mv.external_id = l.id "
            "GROUP BY l.page"
        ),
        {"pages": pages},
    )
    found = dict.fromkeys(pages, "")
    found.update({row.page: row.rows_hash for row in rows})
    return found


def record_saved(session: Session, page: int, content_hash: str) -> None:
    """The page's movies are saved from the answer with ``content_hash``: remember it and the rows it left."""
    rows_hash = page_fingerprints(session, [page])[page]
    stmt = insert(SyncedPage).values(page=page, content_hash=content_hash, rows_hash=rows_hash)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["page"],
            set_={"content_hash": content_hash, "rows_hash": rows_hash, "updated_at": func.now()},
        )
    )


def record_rows_changed(session: Session, page: int) -> None:
    """A later step (details) rewrote the page's rows: take their new fingerprint as the mirror's own."""
    rows_hash = page_fingerprints(session, [page])[page]
    session.execute(
        update(SyncedPage).where(SyncedPage.page == page).values(rows_hash=rows_hash, updated_at=func.now())
    )


def record_embedded(session: Session, fingerprints: dict[int, str], model: str) -> None:
    """The pages' vectors are up to date with ``model`` for the rows fingerprinted before encoding."""
    for page, rows_hash in sorted(fingerprints.items()):
        session.execute(
            update(SyncedPage)
            .where(SyncedPage.page == page)
            .values(embedded_rows_hash=rows_hash, embedding_model=model, updated_at=func.now())
        )


def saved_pages(session: Session, pages: list[int]) -> set[int]:
    """Which of these pages had their movies saved before (have a ``synced_pages`` row)."""
    return set(session.scalars(select(SyncedPage.page).where(SyncedPage.page.in_(pages))))
