"""Typed records of what the API serves, after every quirk has been dealt with (see ``parsing``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# Movie columns filled from an API movie object, in table order; ``external_id`` is the YTS id.
MOVIE_TEXT_FIELDS = (
    "imdb_code",
    "title",
    "title_english",
    "title_long",
    "slug",
    "summary",
    "description_full",
    "description_intro",
    "synopsis",
    "yt_trailer_code",
    "language",
    "mpa_rating",
    "url",
    "background_image",
    "background_image_original",
    "small_cover_image",
    "medium_cover_image",
    "large_cover_image",
    "medium_screenshot_image1",
    "medium_screenshot_image2",
    "medium_screenshot_image3",
    "large_screenshot_image1",
    "large_screenshot_image2",
    "large_screenshot_image3",
)
MOVIE_INT_FIELDS = ("year", "runtime", "like_count", "download_count", "date_uploaded_unix")
SMALL_INT_FIELDS = frozenset({"year", "runtime"})  # int4 columns
URL_FIELDS = frozenset(f for f in MOVIE_TEXT_FIELDS if f == "url" or "image" in f)


@dataclass(frozen=True)
class TorrentRecord:
    """One torrent of a movie; the upper-case ``hash`` is its identity."""

    hash: str
    quality: str | None = None
    type: str | None = None
    is_repack: bool | None = None
    video_codec: str | None = None
    bit_depth: str | None = None
    audio_channels: str | None = None
    seeds: int | None = None
    peers: int | None = None
    size: str | None = None
    size_bytes: int | None = None
    url: str | None = None
    date_uploaded: datetime | None = None
    date_uploaded_unix: int | None = None


@dataclass(frozen=True)
class CastRecord:
    """One credited person; identity is ``imdb_code`` when known, else ``name``."""

    name: str
    imdb_code: str | None = None
    character_name: str | None = None
    url_small_image: str | None = None


@dataclass(frozen=True)
class MovieRecord:
    """A movie as one list item or one details answer served it.

    ``genres``, ``torrents`` and ``cast`` are ``None`` when the payload did not carry them at all
    (then stored values are left alone), and a tuple (possibly empty) when it did.
    """

    external_id: int
    title: str
    fields: dict[str, Any] = field(default_factory=dict)
    genres: tuple[str, ...] | None = None
    torrents: tuple[TorrentRecord, ...] | None = None
    cast: tuple[CastRecord, ...] | None = None
    date_uploaded: datetime | None = None
    rating: Decimal | None = None
    is_details: bool = False

    def column_values(self) -> dict[str, Any]:
        """Values for the ``movies`` row (only what this payload knows; ``None`` = unknown)."""
        return {
            "external_id": self.external_id,
            "title": self.title,
            **self.fields,
            "rating": self.rating,
            "date_uploaded": self.date_uploaded,
        }


@dataclass(frozen=True)
class RejectedMovie:
    """A movie of a page that could not be parsed; the rest of the page goes on without it."""

    external_id: Any
    field: str
    reason: str

    def __str__(self) -> str:
        return f"movie {self.external_id!r}: field {self.field!r} {self.reason}"


@dataclass(frozen=True)
class ListPage:
    """One ``list_movies`` answer: the movies that parsed, the ones rejected, and the raw body."""

    page: int
    movie_count: int
    limit: int
    movies: tuple[MovieRecord, ...]
    rejected: tuple[RejectedMovie, ...]
    raw: dict[str, Any]


@dataclass(frozen=True)
class DetailsResult:
    """One ``movie_details`` answer; ``movie`` is ``None`` when the API does not know the id."""

    movie_id: int
    movie: MovieRecord | None
    raw: dict[str, Any]
