"""The answers both the API and the pages give: rankings from ``yts_pipeline.search`` with covers attached.

Search errors become ``ServeError``s naming the parameter they concern, so a route needs no try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import Filters, SearchError, recommend, search, similar
from yts_pipeline.search.queries import resolve_movie
from yts_pipeline.serve import movie_reads
from yts_pipeline.serve.errors import ParameterError, from_search_error
from yts_pipeline.serve.params import MAX_DEPTH
from yts_pipeline.serve.query_model import BackgroundModel
from yts_pipeline.serve.schemas import ResultList, SearchAnswer, SearchFilters, SimilarAnswer


def search_answer(
    db: DatabaseManager, q: str, mode: str, k: int, offset: int, filters: Filters, model: BackgroundModel
) -> SearchAnswer:
    """Results ``offset`` to ``offset + k`` of a search (the ranking is cut after ``offset + k``, and ends at
    ``MAX_DEPTH``: a page that reaches past it is shorter)."""
    query = q.strip()
    try:
        found = search(
            db,
            query,
            mode=mode,
            k=min(offset + k, MAX_DEPTH),  # type: ignore[arg-type]
            filters=filters,
            model=None if mode == "keyword" else model.get(),
        )
    except SearchError as exc:
        raise from_search_error(exc, "q") from None
    found = found[offset:]
    with db.get_session() as session:
        results = movie_reads.ranked(found, movie_reads.listed(session, [r.external_id for r in found]))
    return SearchAnswer(query=query, mode=mode, k=k, offset=offset, filters=_filters(filters), results=results)


def similar_answer(db: DatabaseManager, external_id: int, k: int, filters: Filters) -> SimilarAnswer:
    """The ``k`` movies nearest to one, never itself; 404 when the movie is unknown or removed."""
    try:
        found = similar(db, external_id, k=k, filters=filters)
    except SearchError as exc:
        raise from_search_error(exc, "yts_id", status_for_unknown=404) from None
    with db.get_session() as session:
        movies = movie_reads.listed(session, [external_id, *(r.external_id for r in found)])
    if external_id not in movies:  # removed between the two reads
        raise ParameterError("yts_id", f"no movie with YTS id {external_id}", status=404)
    return SimilarAnswer(
        movie=movies[external_id], k=k, filters=_filters(filters), results=movie_reads.ranked(found, movies)
    )


def recommend_answer(
    db: DatabaseManager, liked: Sequence[int | str], disliked: Sequence[int | str], k: int, filters: Filters
) -> ResultList:
    """Movies for someone who liked ``liked`` and not ``disliked``: never one of them."""
    _check_known(db, liked, disliked)
    try:
        found = recommend(db, liked, disliked, k=k, filters=filters)
    except SearchError as exc:
        raise from_search_error(exc, "liked") from None
    with db.get_session() as session:
        results = movie_reads.ranked(found, movie_reads.listed(session, [r.external_id for r in found]))
    return ResultList(k=k, filters=_filters(filters), results=results)


def _check_known(db: DatabaseManager, liked: Sequence[int | str], disliked: Sequence[int | str]) -> None:
    """Name the parameter of the first unknown movie (404, as an unknown movie's page), or of one both liked
    and disliked (409: each list is valid, together they contradict; ``recommend`` names the movie only)."""
    with db.get_session() as session:
        found: dict[str, set[int]] = {"liked": set(), "disliked": set()}
        for name, references in (("liked", liked), ("disliked", disliked)):
            for reference in references:
                try:
                    movie = resolve_movie(session, reference)
                except SearchError as exc:
                    raise from_search_error(exc, name, status_for_unknown=404) from None
                if name == "disliked" and movie.id in found["liked"]:
                    raise ParameterError(
                        "disliked",
                        f"{movie.title} (id {movie.external_id}) is both liked and disliked; keep it on one side",
                        status=409,
                    )
                found[name].add(movie.id)


def _filters(filters: Filters) -> SearchFilters:
    return SearchFilters(**asdict(filters))
