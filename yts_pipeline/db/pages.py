"""Raw API answers kept in Postgres, so any page or movie can be re-parsed without the API."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Movie, RawListPage, RawMovieDetails
from yts_pipeline.yts.parsing import clean_document

_HOST = re.compile(r"https?://[^/\"]+")
# The YTS id of a listed movie object ``m`` as parsing reads it: a whole JSON number (``12``, ``12.0``) or a
# string of digits (``" 12 "``); NULL for anything else (parsing rejects that movie).
LISTED_ID = ("CASE WHEN jsonb_typeof(m->'id') = 'number' AND (m->>'id') ~ '^[0-9]{1,18}(\\.0+)?$' "
             "THEN (m->>'id')::numeric::bigint "
             "WHEN jsonb_typeof(m->'id') = 'string' AND (m->>'id') ~ '^\\s*\\+?[0-9]{1,18}\\s*$' "
             "THEN (m->>'id')::bigint END")


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
        return False
    stmt = insert(RawListPage).values(page=page, payload=payload, content_hash=digest, fetched_at=func.now())
    session.execute(stmt.on_conflict_do_update(
        index_elements=["page"],
        set_={"payload": stmt.excluded.payload, "content_hash": digest, "fetched_at": func.now()}))
    return True


def load_raw_page(session: Session, page: int) -> dict[str, Any] | None:
    return session.scalar(select(RawListPage.payload).where(RawListPage.page == page))


def store_raw_details(session: Session, answers: dict[int, dict[str, Any]]) -> None:
    """Keep ``movie_details`` answers by YTS id."""
    if not answers:
        return
    cleaned = {k: clean_document(v) for k, v in answers.items()}  # as for pages
    rows = [{"external_id": k, "payload": v, "content_hash": content_hash(v)} for k, v in sorted(cleaned.items())]
    stmt = insert(RawMovieDetails)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["external_id"],
        set_={"payload": stmt.excluded.payload, "content_hash": stmt.excluded.content_hash,
              "fetched_at": func.now()},
        where=RawMovieDetails.content_hash != stmt.excluded.content_hash), rows)


def page_external_ids(session: Session, pages: list[int]) -> dict[int, list[int]]:
    """The YTS ids each stored page lists, in page order."""
    rows = session.execute(text(
        f"SELECT page, id FROM (SELECT p.page, n, {LISTED_ID} AS id FROM raw_list_pages p, "
        "jsonb_array_elements(COALESCE(p.payload->'data'->'movies', '[]'::jsonb)) WITH ORDINALITY AS e(m, n) "
        "WHERE p.page = ANY(:pages)) listed WHERE id IS NOT NULL ORDER BY page, n"
    ), {"pages": pages})
    found: dict[int, list[int]] = {page: [] for page in pages}
    for page, external_id in rows:
        found[page].append(external_id)
    return found


def stored_pages(session: Session) -> dict[int, datetime]:
    """Every stored page and when it was last fetched."""
    return dict(session.execute(select(RawListPage.page, RawListPage.fetched_at)).all())


def latest_movie_count(session: Session) -> int | None:
    """``movie_count`` from the most recently fetched page: the API's idea of the catalog size."""
    value = session.scalar(select(RawListPage.payload["data"]["movie_count"].astext)
                           .order_by(RawListPage.fetched_at.desc()).limit(1))
    return int(value) if value is not None else None


def movies_needing_details(session: Session, external_ids: list[int], refresh: bool) -> list[int]:
    """Of these movies, the ones with no details yet, or whose last details call failed (all when refreshing)."""
    query = select(Movie.external_id).where(Movie.external_id.in_(external_ids))
    if not refresh:
        query = query.where((Movie.details_fetched_at.is_(None)) | (Movie.details_error.isnot(None)))
    return sorted(session.scalars(query))


def pages_with_details_failures(session: Session) -> list[int]:
    """Stored pages listing a movie whose last details call failed: the next run retries them."""
    return list(session.scalars(text(
        "SELECT DISTINCT p.page FROM raw_list_pages p, "
        "jsonb_array_elements(COALESCE(p.payload->'data'->'movies', '[]'::jsonb)) AS e(m) "
        f"JOIN movies mv ON mv.external_id = {LISTED_ID} "
        "WHERE mv.details_error IS NOT NULL ORDER BY 1")))
