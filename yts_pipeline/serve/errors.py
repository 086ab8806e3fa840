"""How failures answer: one JSON line (API) or an error page (web), never a traceback or a 500 for bad input.

``ParameterError`` names the query parameter at fault; search errors are mapped to the parameter
they concern; an unreachable database is a 503 that does not say where the database is.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import InterfaceError, OperationalError

from yts_pipeline.db.errors import DatabaseError
from yts_pipeline.search import (
    AmbiguousMovie,
    EmbeddingModelError,
    MovieNotFound,
    NothingToSearch,
    SearchError,
    UnknownGenre,
)

log = logging.getLogger(__name__)

DATABASE_DOWN = "the database is unavailable; try again later"
# Cannot connect, connection lost, statement timeout: the server's state, not the request's fault.
DATABASE_FAILURES = (DatabaseError, OperationalError, InterfaceError)


class ServeError(Exception):
    """An answer other than 200, with the status, the one-line message and the parameter at fault."""

    def __init__(self, status: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter


class ParameterError(ServeError):
    def __init__(self, parameter: str, message: str, status: int = 422):
        super().__init__(status, message, parameter)


def from_search_error(exc: SearchError, parameter: str, status_for_unknown: int = 422) -> ServeError:
    """The answer for a search error raised while handling ``parameter``."""
    if isinstance(exc, UnknownGenre):  # a name the mirror does not hold, as an unknown movie
        return ParameterError("genre", str(exc), status=404)
    if isinstance(exc, MovieNotFound):
        return ParameterError(parameter, str(exc), status=status_for_unknown)
    if isinstance(exc, AmbiguousMovie):
        return ParameterError(parameter, str(exc))
    if isinstance(exc, NothingToSearch | EmbeddingModelError):
        return ServeError(503, str(exc))
    return ServeError(409, str(exc), parameter)  # valid, but the mirror cannot answer yet (e.g. not embedded)


def from_database_error(exc: Exception) -> ServeError:
    """A database failure: logged (without the password, see ``db.errors``), answered without details."""
    detail = str(exc) if isinstance(exc, DatabaseError) else f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    log.warning("database unavailable: %s", detail[:300])
    return ServeError(503, DATABASE_DOWN)
