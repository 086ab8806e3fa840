"""Movies: browse lists (top rated, latest, most seeded...), one movie whole, and "more like this"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from yts_pipeline.serve import movie_reads
from yts_pipeline.serve.answers import similar_answer
from yts_pipeline.serve.deps import Database, ReadSession
from yts_pipeline.serve.errors import ParameterError
from yts_pipeline.serve.params import MAX_LIMIT, MAX_OFFSET, K, OptionalText, SearchFilters, YtsId
from yts_pipeline.serve.schemas import BrowseAnswer, ErrorBody, MovieDetail, SimilarAnswer

router = APIRouter(
    prefix="/api/movies", tags=["movies"], responses={422: {"model": ErrorBody}, 503: {"model": ErrorBody}}
)
NOT_FOUND = {404: {"model": ErrorBody, "description": "no such movie (or it was removed), or no such genre"}}
NOT_EMBEDDED = {409: {"model": ErrorBody, "description": "the movie has no embedding yet"}}


@router.get("", response_model=BrowseAnswer, responses=NOT_FOUND)
def browse(
    session: ReadSession,
    genre: Annotated[OptionalText, Query(description="only this genre")] = None,
    sort: Annotated[movie_reads.Sort, Query(description="rating, year, seeds (best torrent), added, title")] = "rating",
    order: Annotated[movie_reads.Order, Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> BrowseAnswer:
    """The catalog in one order: ``sort=rating`` top rated, ``added`` latest, ``seeds`` most seeded."""
    if genre is not None:
        name = movie_reads.genre_name(session, genre)
        if name is None:
            raise ParameterError("genre", f"no genre {genre!r}: GET /api/genres lists them", status=404)
        genre = name
    return movie_reads.browse(session, genre, sort, order, limit, offset)


@router.get("/{yts_id}", response_model=MovieDetail, responses=NOT_FOUND)
def movie(yts_id: YtsId, session: ReadSession) -> MovieDetail:
    """The whole movie: its fields, genres, torrents, cast and images."""
    try:
        return movie_reads.movie_detail(session, yts_id)
    except movie_reads.UnknownMovie as exc:
        raise ParameterError("yts_id", str(exc), status=404) from None


@router.get("/{yts_id}/similar", response_model=SimilarAnswer, responses=NOT_FOUND | NOT_EMBEDDED)
def similar(yts_id: YtsId, db: Database, filters: SearchFilters, k: K = 10) -> SimilarAnswer:
    """The ``k`` movies most like this one (cosine of their embeddings), never itself, with the reasons."""
    return similar_answer(db, yts_id, k, filters)
