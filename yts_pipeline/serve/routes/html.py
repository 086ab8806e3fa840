"""The web page, rendered on the server: search, a movie with its similar movies, genres, browse lists.

Pages take the API's parameters (an empty form field means "any") and show its errors as a page
with the same status. Covers fall back to a placeholder when their URL does not load (static/covers.js).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from yts_pipeline.db.models import Genre
from yts_pipeline.serve import movie_reads
from yts_pipeline.serve.answers import search_answer, similar_answer
from yts_pipeline.serve.deps import Database, Model, ReadSession
from yts_pipeline.serve.errors import ParameterError, ServeError
from yts_pipeline.serve.params import MAX_DEPTH, OptionalQuery, SearchFilters, SearchMode, YtsId
from yts_pipeline.serve.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PAGE_SIZE = 20
SIMILAR_ON_PAGE = 12
MAX_PAGE = MAX_DEPTH // PAGE_SIZE
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
BrowsePage = Annotated[int, Query(ge=1, le=10_000)]
SHELF = 12  # movies per shelf of the front page
SORT_TITLES = {
    "rating": "Top rated",
    "added": "Latest",
    "seeds": "Most seeded",
    "year": "Newest releases",
    "title": "A to Z",
}


@router.get("/")
def search_page(
    request: Request,
    db: Database,
    model: Model,
    filters: SearchFilters,
    q: OptionalQuery = None,
    mode: SearchMode = "hybrid",
    page: Page = 1,
) -> HTMLResponse:
    """The search box with its filters; with ``q``, a page of results as cards."""
    context: dict[str, Any] = {"q": q or "", "mode": mode, "filters": filters, "page": page}
    with db.get_session() as session:
        context["genre_names"] = session.scalars(select(Genre.name).order_by(Genre.name)).all()
        if not q:
            context["shelves"] = [
                (SORT_TITLES[sort], sort, movie_reads.browse(session, None, sort, "desc", SHELF, 0))
                for sort in ("rating", "added")
            ]
    if q:
        answer = search_answer(db, q, mode, PAGE_SIZE, (page - 1) * PAGE_SIZE, filters, model)
        context.update(results=answer.results, has_next=len(answer.results) == PAGE_SIZE and page < MAX_PAGE)
    return render(request, "search.html", title=f"{q} - search" if q else "Search", **context)


@router.get("/movies/{yts_id}")
def movie_page(request: Request, yts_id: YtsId, db: Database) -> HTMLResponse:
    """Everything about one movie, and the movies most like it, each linking to its own page."""
    with db.get_session() as session:
        try:
            movie = movie_reads.movie_detail(session, yts_id)
        except movie_reads.UnknownMovie as exc:
            raise ParameterError("yts_id", str(exc), status=404) from None
    similar, similar_note = [], None
    try:
        similar = similar_answer(db, yts_id, SIMILAR_ON_PAGE, movie_reads.NO_FILTERS).results
    except ServeError as exc:  # not embedded yet, or the mirror is being filled: the page still shows the movie
        similar_note = exc.message
    return render(
        request,
        "movie.html",
        title=f"{movie.title} ({movie.year})" if movie.year else movie.title,
        movie=movie,
        similar=similar,
        similar_note=similar_note,
    )


@router.get("/genres")
def genres_page(request: Request, session: ReadSession) -> HTMLResponse:
    return render(request, "genres.html", title="Genres", genres=movie_reads.genre_counts(session))


@router.get("/genres/{name}")
def genre_page(
    request: Request,
    name: str,
    session: ReadSession,
    sort: movie_reads.Sort = "rating",
    order: movie_reads.Order = "desc",
    page: BrowsePage = 1,
) -> HTMLResponse:
    genre = movie_reads.genre_name(session, name) if len(name) <= 100 else None
    if genre is None:
        raise ParameterError("name", f"no genre {name[:100]!r}", status=404)
    return _browse_page(request, session, genre, sort, order, page)


@router.get("/browse")
def browse_page(
    request: Request,
    session: ReadSession,
    sort: movie_reads.Sort = "rating",
    order: movie_reads.Order = "desc",
    page: BrowsePage = 1,
) -> HTMLResponse:
    return _browse_page(request, session, None, sort, order, page)


def _browse_page(
    request: Request, session, genre: str | None, sort: movie_reads.Sort, order: movie_reads.Order, page: int
) -> HTMLResponse:
    answer = movie_reads.browse(session, genre, sort, order, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    heading = f"{genre}: {SORT_TITLES[sort].lower()}" if genre else SORT_TITLES[sort]
    return render(
        request,
        "browse.html",
        title=heading,
        heading=heading,
        answer=answer,
        page=page,
        pages=max(1, -(-answer.total // PAGE_SIZE)),
        sorts=SORT_TITLES,
        base_path=request.url.path,
    )
