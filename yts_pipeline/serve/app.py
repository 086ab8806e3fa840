"""The FastAPI application: the JSON API (OpenAPI at /docs, assets served locally) and the web page.

``create_app`` builds it from settings; the database is connected on first use and the embedding
model loads in the background, so the app starts at once and ``/health`` answers at once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from yts_pipeline.search import EmbeddingModel
from yts_pipeline.serve.access import AccessLog
from yts_pipeline.serve.database import ServingDatabase
from yts_pipeline.serve.errors import DATABASE_FAILURES, ServeError, from_database_error
from yts_pipeline.serve.query_model import BackgroundModel
from yts_pipeline.serve.routes import for_you, html, movies, search, status
from yts_pipeline.serve.templating import STATIC_DIR, render
from yts_pipeline.settings import ServeSettings

log = logging.getLogger(__name__)

DESCRIPTION = """Search and browse the YTS mirror, and get recommendations.

Lists answer `{"results": [...], ...}`. Every error answers `{"error": "...", "parameter": "..."}`:
422 for a bad parameter (named), 404 for an unknown movie or genre, 409 when the mirror cannot answer
yet (a movie not embedded) or recommend's lists contradict each other, 503 while the database (or, for
semantic and hybrid search, the embedding model) is unavailable. Nothing here writes to the mirror."""
JSON_PREFIXES = ("/api/", "/health", "/docs", "/redoc", "/openapi")


def create_app(
    settings: ServeSettings | None = None,
    *,
    database_url: str | None = None,
    model: EmbeddingModel | None = None,
    load_model: bool = True,
) -> FastAPI:
    """The app. ``database_url`` defaults to the settings' (``DATABASE_URL`` or the embedded server);
    ``model`` replaces the configured embedding model; ``load_model=False`` loads it only when a query needs it."""
    settings = settings or ServeSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load_model:
            app.state.model.start()
        yield
        app.state.database.close()

    app = FastAPIOffline(
        title="yts_pipeline", version="1", description=DESCRIPTION, lifespan=lifespan, static_url="/static/docs"
    )
    app.state.database = ServingDatabase(database_url, settings)
    app.state.model = BackgroundModel(model, settings.query_cache)
    for router in (status.router, search.router, movies.router, html.router, for_you.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(ServeError, _serve_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for failure in DATABASE_FAILURES:
        app.add_exception_handler(failure, _database_error)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET"])
    app.add_middleware(AccessLog)
    return app


def error_response(request: Request, status: int, message: str, parameter: str | None = None) -> Response:
    """JSON for the API, an error page for the web page."""
    if request.url.path.startswith(JSON_PREFIXES):
        return JSONResponse({"error": message, "parameter": parameter}, status_code=status)
    return render(request, "error.html", status_code=status, title=f"Error {status}", status=status, message=message)


async def _serve_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServeError)
    return error_response(request, exc.status, exc.message, exc.parameter)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """The first invalid parameter, named: ``k: input should be greater than or equal to 1``."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    location = first.get("loc", ())  # ("query" or "path", name, ...)
    parameter = str(location[1]) if len(location) > 1 else None
    message = str(first.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    return error_response(request, 422, f"{parameter}: {message}" if parameter else message, parameter)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: f"nothing at {request.url.path[:100]}", 405: f"{request.method} is not allowed here"}.get(
        exc.status_code, str(exc.detail)
    )
    response = error_response(request, exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


async def _database_error(request: Request, exc: Exception) -> Response:
    error = from_database_error(exc)
    return error_response(request, error.status, error.message)
