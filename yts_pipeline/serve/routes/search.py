"""Free-text search and recommendations from liked and disliked movies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from yts_pipeline.serve.answers import recommend_answer, search_answer
from yts_pipeline.serve.deps import Database, Model
from yts_pipeline.serve.params import (
    MAX_LIKED,
    K,
    MovieReference,
    Offset,
    QueryText,
    SearchFilters,
    SearchMode,
    movie_references,
)
from yts_pipeline.serve.schemas import ErrorBody, ResultList, SearchAnswer

router = APIRouter(
    prefix="/api",
    tags=["search"],
    responses={
        404: {"model": ErrorBody, "description": "no such genre, or (recommend) no such liked or disliked movie"},
        409: {
            "model": ErrorBody,
            "description": "the mirror cannot answer yet (a movie not embedded), or (recommend) "
            "a movie both liked and disliked",
        },
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)


@router.get("/search", response_model=SearchAnswer)
def search(
    q: QueryText,
    db: Database,
    model: Model,
    filters: SearchFilters,
    mode: SearchMode = "hybrid",
    k: K = 10,
    offset: Offset = 0,
) -> SearchAnswer:
    """Movies by what they are about (``semantic``), by their words (``keyword``), or both fused (``hybrid``).
    The text is searched literally, whatever it looks like."""
    return search_answer(db, q, mode, k, offset, filters, model)


@router.get("/recommend", response_model=ResultList)
def recommend(
    db: Database,
    filters: SearchFilters,
    liked: Annotated[
        list[MovieReference],
        Query(min_length=1, max_length=MAX_LIKED, description="YTS ids (or IMDb codes) of liked movies"),
    ],
    disliked: Annotated[
        list[MovieReference], Query(max_length=MAX_LIKED, description="YTS ids (or IMDb codes) of disliked movies")
    ] = [],  # noqa: B006
    k: K = 10,
) -> ResultList:
    """Movies near the liked ones and away from the disliked ones, never one of them, with the reasons."""
    return recommend_answer(db, movie_references(liked), movie_references(disliked), k, filters)
