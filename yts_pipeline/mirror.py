"""One page of the mirror, step by step, and the full-sweep tombstones. No Dagster here: the page assets
(``defs/page_assets.py``) call these functions, and ``sync`` runs those assets.

Each step has two halves, so the next page's half that waits (API calls, parsing) can run one page
ahead (``ahead.py``) while the current page's half that writes runs:
- ``raw_list_pages``: ``download_page`` (the list call), then ``store_page`` (its raw answer kept);
- ``movies``: ``load_page`` (the stored answer parsed), then ``apply_page`` (its movies upserted);
- ``movie_details``: ``download_details`` (``details_ahead``), then ``save_details``;
- a page with nothing to do for a step gets ``settled_report``.
The tables behind them are in ``db/page_store.py`` (raw answers, page states) and ``db/saving.py`` (movies).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from yts_pipeline.ahead import OneAhead
from yts_pipeline.db import page_store
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.sweep import Unlisted, mark_removed, revive, unlisted_movies
from yts_pipeline.yts.client import YtsApiError, YtsClient
from yts_pipeline.yts.parsing import parse_list_document
from yts_pipeline.yts.records import DetailsResult, ListPage

log = logging.getLogger(__name__)

EMPTY_PAGE_REFETCHES = 3  # an empty page inside the catalog is a glitch, not the end of the catalog


class PageError(RuntimeError):
    """A page that cannot be fetched or parsed; nothing of it was written."""


@dataclass
class PageReport:
    """What one step did to one page: the numbers shown in asset metadata and the sync summary."""

    page: int
    listed: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    details_calls: int = 0
    details_failed: dict[int, str] = field(default_factory=dict)
    rows_written: int = 0
    api_retries: int = 0
    seconds: float = 0.0
    content_changed: bool | None = None
    settled: bool | None = None  # the page needed nothing from this step: unchanged since applied, nothing pending


def pages_for(movie_count: int, limit: int) -> list[int]:
    """Page numbers that hold the catalog at ``limit`` movies per page (at least page 1)."""
    return list(range(1, max(1, -(-movie_count // limit)) + 1))


def discover_pages(client: YtsClient, limit: int) -> list[int]:
    """Every page number the catalog fills today, from the API's ``movie_count``."""
    return pages_for(client.movie_count(), limit)


@dataclass
class PageDownload:
    """A list page's answer, fetched but not kept yet (``download_page``, then ``store_page``)."""

    page: int
    answer: ListPage
    retries: int


def download_page(client: YtsClient, page: int, limit: int) -> PageDownload:
    """One ``list_movies`` page; an empty page the catalog says is full is fetched again."""
    before = client.stats.snapshot()
    try:
        answer = client.list_page(page, limit=limit)
        for _ in range(EMPTY_PAGE_REFETCHES):
            if answer.movies or answer.rejected or (page - 1) * limit >= answer.movie_count:
                break
            log.warning("page %d came back empty although movie_count=%d; fetching it again", page, answer.movie_count)
            answer = client.list_page(page, limit=limit)
        else:
            if not answer.movies and not answer.rejected and (page - 1) * limit < answer.movie_count:
                raise PageError(f"page {page} stays empty although the API counts {answer.movie_count} movies")
    except YtsApiError as exc:
        raise PageError(f"page {page}: {exc}") from exc
    return PageDownload(page, answer, client.stats.since(before)["retries"])


def store_page(db: DatabaseManager, download: PageDownload, started: float) -> PageReport:
    """Keep a fetched page's raw answer; the report's seconds count from ``started``."""
    with db.get_session() as session:
        changed = page_store.store_raw_page(session, download.page, download.answer.raw)
    return _report(download.page, download.answer, started, download.retries, content_changed=changed)


def _report(page: int, answer: ListPage, started: float, retries: int, **extra: Any) -> PageReport:
    return PageReport(
        page=page,
        listed=len(answer.movies),
        rejected=[str(r) for r in answer.rejected],
        api_retries=retries,
        seconds=time.monotonic() - started,
        **extra,
    )


def load_page(db: DatabaseManager, page: int) -> tuple[ListPage, str]:
    """The stored raw answer of a page, parsed again, and its content hash."""
    with db.get_session() as session:
        found = page_store.load_raw_page(session, page)
    if found is None:
        raise PageError(f"page {page} has not been fetched yet: materialize raw_list_pages for it first")
    doc, digest = found
    return parse_list_document(doc, page), digest


def apply_page(db: DatabaseManager, page: int, loaded: tuple[ListPage, str], started: float) -> PageReport:
    """Upsert the movies of a loaded page (movies, genres, torrents); no API call. The answer applied is
    remembered (``synced_pages``), so a rerun skips the page while it stays so. The report's seconds count
    from ``started``."""
    answer, digest = loaded
    result = db.save_movies(answer.movies, seen=True)
    with db.get_session() as session:
        page_store.record_saved(session, page, digest)
    report = _report(page, answer, started, 0)
    report.new, report.changed, report.unchanged = len(result.created), len(result.updated), len(result.unchanged)
    report.rows_written = result.rows_written
    return report


@dataclass
class DetailsDownload:
    """A page's details answers, fetched but not saved yet (``download_details``, then ``save_details``)."""

    page: int
    listed: list[int]
    wanted: list[int]
    outcomes: list[tuple[int, DetailsResult | YtsApiError]]
    retries: int


def download_details(
    client: YtsClient, db: DatabaseManager, page: int, *, refresh: bool = False, skip: Iterable[int] = ()
) -> DetailsDownload:
    """The details calls of a page: its listed movies that have no details yet (all of them with
    ``refresh``), less ``skip`` (in hand already)."""
    before, skip = client.stats.snapshot(), set(skip)
    with db.get_session() as session:
        listed = page_store.page_external_ids(session, [page])[page]
        wanted = [i for i in page_store.movies_needing_details(session, listed, refresh) if i not in skip]
    outcomes = client.movie_details_many(wanted)
    return DetailsDownload(page, listed, wanted, outcomes, client.stats.since(before)["retries"])


def details_ahead(
    client: YtsClient, db: DatabaseManager, pages: list[int], *, refresh: bool = False
) -> OneAhead[DetailsDownload]:
    """``download_details`` for ``pages`` one page ahead: a page's calls go out while the page before is
    saved, so the rate limit stays busy; a movie the page before had in hand is not asked for twice."""

    def download(page: int, previous: DetailsDownload | None) -> DetailsDownload:
        return download_details(client, db, page, refresh=refresh, skip=previous.wanted if previous else ())

    return OneAhead(pages, download)


def save_details(db: DatabaseManager, download: DetailsDownload, started: float) -> PageReport:
    """Store a page's details answers; the report's seconds count from ``started``.

    A movie whose details failed after retries keeps its list record: the failure is recorded on the
    movie and it is tried again next run. Only the page's successful answers are saved.
    """
    page = download.page
    answers, records, failed = {}, [], {}
    for movie_id, outcome in download.outcomes:
        if isinstance(outcome, YtsApiError):
            failed[movie_id] = str(outcome)
        elif outcome.movie is None:
            failed[movie_id] = f"movie_details: the API does not know movie {movie_id} (id 0)"
        else:
            answers[movie_id] = outcome.raw
            records.append(outcome.movie)
    with db.get_session() as session:
        page_store.store_raw_details(session, answers)
    result = db.save_movies(records, seen=False)
    failed.update(
        {int(r.external_id): f"{r.field} {r.reason}" for r in result.rejected if str(r.external_id).isdigit()}
    )
    db.record_details_failure(failed)
    if download.wanted:
        with db.get_session() as session:
            page_store.record_rows_changed(session, page)
    for movie_id, error in failed.items():
        log.warning("page %d: details of movie %d failed, kept its list record: %s", page, movie_id, error)
    listed = download.listed
    return PageReport(
        page=page,
        listed=len(listed),
        new=len(result.created),
        changed=len(result.updated),
        unchanged=len(listed) - len(result.created) - len(result.updated),
        details_calls=len(download.wanted),
        details_failed=failed,
        rows_written=result.rows_written,
        api_retries=download.retries,
        seconds=time.monotonic() - started,
    )


def settled_report(state: page_store.PageState) -> PageReport:
    """A step's report for a page it had nothing to do for: every stored movie it lists is unchanged."""
    return PageReport(page=state.page, listed=state.listed, unchanged=state.listed, settled=True)


@dataclass
class SweepReport:
    """What a sweep did; ``still_listed`` are movies no stored page held that the API still lists."""

    pages: int
    listed: int
    removed: list[int]
    revived: list[int]
    skipped_reason: str | None = None
    still_listed: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    lookups: int = 0


def sweep(
    db: DatabaseManager, client: YtsClient | None = None, *, limit: int, max_page_age: timedelta = timedelta(hours=24)
) -> SweepReport:
    """Tombstone movies the API no longer lists, and revive those that came back.

    Acts only when every page the catalog needs (from the latest ``movie_count``) was fetched within
    ``max_page_age``, so a partial or stale sync never marks anything removed.

    The stored pages are not one snapshot: they were read one by one over minutes or hours, and a
    removal (or a late insert) before a movie shifts it to a page already read, so it can be
    missing from every stored page while it is still listed. So a movie no stored page lists is
    only evidence; each one is looked up with one ``list_movies`` search by its IMDb code (its
    title when it has none): an answer about that movie alone, immune to page shifts, from the
    same endpoint and visibility as the pages (``movie_details`` may still answer for a movie
    taken off the list). Only a movie that search does not find is tombstoned; one the API cannot
    settle (an error, an empty answer that counts matches) is left as it is for the next sweep.
    The cost is one request per vanished movie (usually a few per sweep), where a second complete
    read would cost every page again (~1,500 requests at 1 request/s) and could shift the same way;
    re-reading the pages around a vanished movie would cost several and still depend on positions.
    ``client`` is built from the ``YTS_*`` environment when not given.
    """
    with db.get_session() as session:
        movie_count = page_store.latest_movie_count(session)
        if movie_count is None:
            return SweepReport(0, 0, [], [], "no page has been fetched yet")
        needed = pages_for(movie_count, limit)
        have = page_store.stored_pages(session)
        missing = [p for p in needed if p not in have]
        if missing:
            return SweepReport(len(needed), 0, [], [], f"{len(missing)} pages not fetched yet, e.g. {missing[:5]}")
        oldest = min(have[p] for p in needed)
        if oldest < datetime.now(UTC) - max_page_age:
            stale = [p for p in needed if have[p] < datetime.now(UTC) - max_page_age]
            return SweepReport(
                len(needed),
                0,
                [],
                [],
                f"{len(stale)} pages were fetched more than "
                f"{max_page_age} ago, e.g. {stale[:5]}; sync every page first",
            )
        listed = {i for ids in page_store.page_external_ids(session, needed).values() for i in ids}
        vanished = unlisted_movies(session, listed)
    report = SweepReport(len(needed), len(listed), [], [])
    gone = _confirm_gone(client or YtsClient(), vanished, limit, report) if vanished else []
    with db.get_session() as session:
        report.removed = mark_removed(session, gone)
        report.revived = revive(session, listed)
    return report


SEARCH_PAGES = 3  # a title search (no IMDb code) may match other movies; an IMDb code search matches one


def _confirm_gone(client: YtsClient, vanished: list[Unlisted], limit: int, report: SweepReport) -> list[int]:
    """The vanished movies a search confirms gone; the others go to ``still_listed`` or ``unconfirmed``."""
    gone = []
    for index, movie in enumerate(vanished):
        try:
            found = _listed_by_search(client, movie, limit, report)
        except YtsApiError as exc:
            log.warning(
                "sweep: could not look up %d vanished movies (%s); they stay as they are until the next sweep",
                len(vanished) - index,
                exc,
            )
            report.unconfirmed.extend(m.external_id for m in vanished[index:])
            break
        if found is None:
            report.unconfirmed.append(movie.external_id)
        elif found:
            log.info(
                "sweep: movie %d is on no stored page but still listed (it moved pages during the read)",
                movie.external_id,
            )
            report.still_listed.append(movie.external_id)
        else:
            gone.append(movie.external_id)
    return gone


def _listed_by_search(client: YtsClient, movie: Unlisted, limit: int, report: SweepReport) -> bool | None:
    """Whether ``list_movies`` still lists the movie; ``None`` when its answers do not settle it."""
    term = movie.imdb_code or movie.title
    for page in range(1, SEARCH_PAGES + 1):
        answer = client.search(term, page=page, limit=limit)
        report.lookups += 1
        ids = {m.external_id for m in answer.movies} | {str(r.external_id) for r in answer.rejected}
        if movie.external_id in ids or str(movie.external_id) in ids:
            return True
        if not answer.movies and not answer.rejected and answer.movie_count > (page - 1) * limit:
            return None  # the API's empty-page glitch: it counts matches it did not send
        if page * limit >= answer.movie_count:
            return False
    return None
