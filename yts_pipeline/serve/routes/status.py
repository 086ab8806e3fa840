"""Is it up, and what is in the mirror: ``/health``, ``/api/stats``, ``/api/genres``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from yts_pipeline.serve import movie_reads
from yts_pipeline.serve.deps import Database, Model, ReadSession
from yts_pipeline.serve.errors import DATABASE_DOWN, DATABASE_FAILURES, from_database_error
from yts_pipeline.serve.schemas import GenreList, Health

router = APIRouter(tags=["status"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request, model: Model) -> Any:
    """200 when the database answers (with movie and embedding counts), 503 when not. Never waits for the model."""
    try:
        with request.app.state.database.get().get_session() as session:
            movies, embeddings = movie_reads.counts(session)
    except DATABASE_FAILURES as exc:
        from_database_error(exc)
        return JSONResponse(
            Health(status="unavailable", database=DATABASE_DOWN, model=model.status).model_dump(), status_code=503
        )
    return Health(status="ok", database="reachable", movies=movies, embeddings=embeddings, model=model.status)


@router.get("/api/stats")
def stats(db: Database) -> dict[str, Any]:
    """What is mirrored: movies (with details, removed, failed), genres, cast, torrents, embeddings, top genres."""
    return db.get_stats()


@router.get("/api/genres", response_model=GenreList)
def genres(session: ReadSession) -> GenreList:
    """Every genre with its number of (not removed) movies, the largest first."""
    return GenreList(results=movie_reads.genre_counts(session))
