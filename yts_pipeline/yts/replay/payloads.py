"""The shapes the YTS API serves: field order of list items and details, and host handling of URLs.

Stored movies keep their URLs host-less (``/movies/slug``); the host is added when a payload is
rendered, because the real API embeds whichever host served the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

SCREENSHOT_FIELDS = (
    "medium_screenshot_image1",
    "medium_screenshot_image2",
    "medium_screenshot_image3",
    "large_screenshot_image1",
    "large_screenshot_image2",
    "large_screenshot_image3",
)
LIST_FIELDS = (
    "id",
    "url",
    "imdb_code",
    "title",
    "title_english",
    "title_long",
    "slug",
    "year",
    "rating",
    "runtime",
    "genres",
    "summary",
    "description_full",
    "synopsis",
    "yt_trailer_code",
    "language",
    "mpa_rating",
    "background_image",
    "background_image_original",
    "small_cover_image",
    "medium_cover_image",
    "large_cover_image",
    "state",
    "torrents",
    "date_uploaded",
    "date_uploaded_unix",
)
# As captured: details drop summary, synopsis and state, and add counts and the intro.
DETAILS_FIELDS = (
    "id",
    "url",
    "imdb_code",
    "title",
    "title_english",
    "title_long",
    "slug",
    "year",
    "rating",
    "runtime",
    "genres",
    "download_count",
    "like_count",
    "description_intro",
    "description_full",
    "yt_trailer_code",
    "language",
    "mpa_rating",
    "background_image",
    "background_image_original",
    "small_cover_image",
    "medium_cover_image",
    "large_cover_image",
    *SCREENSHOT_FIELDS,
    "cast",
    "torrents",
    "date_uploaded",
    "date_uploaded_unix",
)
MOVIE_FIELDS = frozenset(LIST_FIELDS) | frozenset(DETAILS_FIELDS)
URL_FIELDS = frozenset(
    (
        "url",
        "background_image",
        "background_image_original",
        "small_cover_image",
        "medium_cover_image",
        "large_cover_image",
        *SCREENSHOT_FIELDS,
    )
)


def strip_host(url: Any) -> Any:
    """``https://yts.mx/movies/x`` -> ``/movies/x``; anything that is not an absolute URL is kept."""
    if not isinstance(url, str):
        return url
    parts = urlsplit(url)
    if not (parts.scheme and parts.netloc):
        return url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def strip_hosts(movie: dict[str, Any]) -> dict[str, Any]:
    """A copy of (part of) a movie with every URL made host-less, nested torrents and cast included."""
    return _map_urls(movie, strip_host, tuple(movie))


def render(movie: dict[str, Any], origin: str, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A fresh payload dict of ``fields`` (all stored fields if ``None``) with URLs on ``origin``."""

    def hosted(value: Any) -> Any:
        return origin + value if isinstance(value, str) and value.startswith("/") else value

    return _map_urls(movie, hosted, tuple(movie) if fields is None else fields)


def details_fields(with_images: bool, with_cast: bool) -> tuple[str, ...]:
    return tuple(
        f for f in DETAILS_FIELDS if (with_images or f not in SCREENSHOT_FIELDS) and (with_cast or f != "cast")
    )


def unknown_movie(origin: str) -> dict[str, Any]:
    """What ``movie_details`` answers for an id it does not know: a hollow movie with id 0."""
    return {
        "id": 0,
        "url": f"{origin}/movies/",
        "imdb_code": "",
        "title": "",
        "title_english": "",
        "title_long": " (0)",
        "slug": "",
        "year": 0,
        "rating": 0,
        "runtime": 0,
        "like_count": 0,
        "description_intro": "",
        "description_full": "",
        "yt_trailer_code": "",
        "language": "",
        "mpa_rating": "",
        "background_image": "",
        "background_image_original": "",
        "small_cover_image": "",
        "medium_cover_image": "",
        "large_cover_image": "",
        "date_uploaded": None,
        "date_uploaded_unix": None,
    }


def envelope(data: dict[str, Any] | None, status: str = "ok", message: str = "Query was successful") -> dict[str, Any]:
    """The ``{status, status_message, data, @meta}`` wrapper; error answers carry no ``data``."""
    doc: dict[str, Any] = {"status": status, "status_message": message}
    if data is not None:
        doc["data"] = data
    doc["@meta"] = {
        "server_time": int(time.time()),
        "server_timezone": "CET",
        "api_version": 2,
        "execution_time": "0 ms",
    }
    return doc


def _map_urls(movie: dict[str, Any], fn: Callable[[Any], Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Copy ``fields`` of ``movie`` (nested lists and dicts too), passing every URL through ``fn``."""
    out: dict[str, Any] = {}
    for key in fields:
        if key not in movie:
            continue
        value = movie[key]
        if key in URL_FIELDS:
            value = fn(value)
        elif key == "torrents" and isinstance(value, list):
            value = [_map_key(t, "url", fn) for t in value]
        elif key == "cast" and isinstance(value, list):
            value = [_map_key(c, "url_small_image", fn) for c in value]
        elif isinstance(value, list):
            value = list(value)
        out[key] = value
    return out


def _map_key(item: Any, key: str, fn: Callable[[Any], Any]) -> Any:
    if not isinstance(item, dict):
        return item
    copy = dict(item)
    if key in copy:
        copy[key] = fn(copy[key])
    return copy
