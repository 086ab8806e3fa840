"""The three API endpoints: query parameters read the way the live API reads them, answers as documents.

Out-of-range paging falls back to the defaults instead of failing (``limit`` outside 1..50 serves
20 rows and says so in ``data.limit``; ``page`` below 1 or not a number serves page 1), so a client
must trust ``data.limit``, never the limit it asked for. Values that cannot mean anything
(an unknown ``sort_by``, ``order_by`` or ``quality``, a ``minimum_rating`` outside 0..9, a
missing or non-numeric ``movie_id``) get ``status: "error"``, with HTTP 200 as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yts_pipeline.yts.replay.catalog import ORDERS, SORT_FIELDS, Catalog
from yts_pipeline.yts.replay.payloads import envelope

ENDPOINTS = ("list_movies", "movie_details", "movie_suggestions")
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
QUALITIES = ("480p", "720p", "1080p", "1080p.x265", "2160p", "3d")
TRUE_VALUES = ("true", "1")


class BadParameter(ValueError):
    """A parameter the API answers with ``status: "error"``."""


@dataclass(frozen=True)
class ApiRequest:
    """One call: endpoint name (``list_movies``...), its query parameters, and the origin it reached."""

    endpoint: str
    params: Mapping[str, str]
    origin: str

    @property
    def page(self) -> int | None:
        """The list page actually served (after fallback); ``None`` for other endpoints."""
        if self.endpoint != "list_movies":
            return None
        page = _int(self.params.get("page"))
        return page if page is not None and page >= 1 else 1

    @property
    def movie_id(self) -> int | None:
        return _int(self.params.get("movie_id"))

    @property
    def movie_key(self) -> int | str | None:
        """Which movie a details call asked for: its id, else the IMDb code."""
        movie_id = self.movie_id
        return movie_id if movie_id is not None else self.params.get("imdb_id")


def answer(catalog: Catalog, request: ApiRequest) -> dict[str, Any]:
    """The full JSON document (envelope included) for a request."""
    handler = {"list_movies": _list_movies, "movie_details": _movie_details, "movie_suggestions": _movie_suggestions}[
        request.endpoint
    ]
    try:
        return envelope(handler(catalog, request))
    except BadParameter as exc:
        return envelope(None, status="error", message=str(exc))


def _list_movies(catalog: Catalog, request: ApiRequest) -> dict[str, Any]:
    params = request.params
    limit = _int(params.get("limit"))
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        limit = DEFAULT_LIMIT
    page = request.page or 1
    movie_count, movies = catalog.list_page(
        request.origin,
        page,
        limit,
        sort_by=_choice(params, "sort_by", SORT_FIELDS, "date_added"),
        order_by=_choice(params, "order_by", ORDERS, "desc"),
        query_term=params.get("query_term") if params.get("query_term") not in (None, "", "0") else None,
        genre=params.get("genre") if (params.get("genre") or "all").lower() != "all" else None,
        minimum_rating=_minimum_rating(params.get("minimum_rating")),
        quality=_quality(params.get("quality")),
    )
    data: dict[str, Any] = {"movie_count": movie_count, "limit": limit, "page_number": page}
    if movies:  # the API leaves the key out of an empty page
        data["movies"] = movies
    return data


def _movie_details(catalog: Catalog, request: ApiRequest) -> dict[str, Any]:
    params = request.params
    imdb_id = params.get("imdb_id") or None
    if "movie_id" in params or imdb_id is None:
        movie_id, imdb_id = _required_movie_id(request), None
    else:
        movie_id = None
    movie = catalog.details(
        request.origin,
        movie_id,
        imdb_id,
        with_images=params.get("with_images", "").lower() in TRUE_VALUES,
        with_cast=params.get("with_cast", "").lower() in TRUE_VALUES,
    )
    return {"movie": movie}


def _movie_suggestions(catalog: Catalog, request: ApiRequest) -> dict[str, Any]:
    movies = catalog.suggestions(request.origin, _required_movie_id(request))
    data: dict[str, Any] = {"movie_count": len(movies)}
    if movies:
        data["movies"] = movies
    return data


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _required_movie_id(request: ApiRequest) -> int:
    movie_id = request.movie_id
    if movie_id is None or movie_id < 0:
        raise BadParameter(
            "Movie ID or IMDb ID is required"
            if not request.params.get("movie_id")
            else "Invalid movie_id: it must be a positive integer"
        )
    return movie_id


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (params.get(name) or default).lower()
    if value not in allowed:
        raise BadParameter(f"Invalid {name} value {value!r}; allowed: {', '.join(allowed)}")
    return value


def _minimum_rating(value: str | None) -> float:
    if value in (None, ""):
        return 0
    try:
        rating = float(value)
    except ValueError:
        rating = -1
    if not 0 <= rating <= 9:
        raise BadParameter(f"Invalid minimum_rating value {value!r}; it must be between 0 and 9")
    return rating


def _quality(value: str | None) -> str | None:
    if value in (None, "") or value.lower() == "all":
        return None
    if value.lower() not in QUALITIES:
        raise BadParameter(f"Invalid quality value {value!r}; allowed: all, {', '.join(QUALITIES)}")
    return value
