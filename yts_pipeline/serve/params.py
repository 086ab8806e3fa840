"""Query parameters shared by the API and the pages: their types, bounds and limits, in one place.

An empty value (``genre=``, as an HTML form sends an unset field) means "no condition"; anything
else that does not parse is a 422 naming the parameter (see ``errors.py``).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import AfterValidator, BeforeValidator, Field

from yts_pipeline.search import Filters
from yts_pipeline.search.queries import Mode
from yts_pipeline.serve.errors import ParameterError

MAX_K = 100  # results per answer
MAX_DEPTH = 500  # offset + k of a ranked list: paging deeper than this is not searching any more
MAX_QUERY_CHARS = 500
MAX_TEXT_CHARS = 100  # a genre or a quality
MAX_LIMIT = 100  # movies per browse page
MAX_OFFSET = 1_000_000
MAX_YTS_ID = 2**63 - 1  # movies.external_id is a bigint
MAX_LIKED = 50
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # NUL and lone surrogates break SQL


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _text(max_chars: int) -> AfterValidator:
    """Printable text of at most ``max_chars`` characters, stripped (checked here: ``Query(max_length)``
    cannot be applied to the None an empty value becomes)."""
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        if UNPRINTABLE.search(value):
            raise ValueError("must not contain control characters")
        if len(value) > max_chars:
            raise ValueError(f"must be at most {max_chars} characters, not {len(value)}")
        return value.strip()
    return AfterValidator(check)


# Bounds go on the inner type: a Query(ge=...) would be applied to the None an empty value becomes.
Year = Annotated[Annotated[int, Field(ge=1870, le=2100)] | None, BeforeValidator(_blank_is_none)]
Rating = Annotated[Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None, BeforeValidator(_blank_is_none)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none), _text(MAX_TEXT_CHARS)]
OptionalQuery = Annotated[str | None, BeforeValidator(_blank_is_none), _text(MAX_QUERY_CHARS)]

YtsId = Annotated[int, Path(ge=1, le=MAX_YTS_ID, description="the movie's YTS id")]
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"how many results (1 to {MAX_K})")]
Offset = Annotated[int, Query(ge=0, le=MAX_DEPTH - 1, description="results to skip, for paging")]
SearchMode = Annotated[Mode, Query(description="semantic (meaning), keyword (words) or hybrid (both, fused)")]
QueryText = Annotated[str, Query(min_length=1, description=f"what to look for (at most {MAX_QUERY_CHARS} characters)"),
                      _text(MAX_QUERY_CHARS)]


async def search_filters(  # async: validation only, so no worker-thread hop
    genre: Annotated[OptionalText, Query(description="a genre name (any case)")] = None,
    year_from: Annotated[Year, Query(description="released in or after")] = None,
    year_to: Annotated[Year, Query(description="released in or before")] = None,
    min_rating: Annotated[Rating, Query(description="IMDb rating at least (0 to 10)")] = None,
    quality: Annotated[OptionalText, Query(description="has a torrent of this quality (720p, 1080p, 2160p...)")] = None,
) -> Filters:
    if year_from is not None and year_to is not None and year_from > year_to:
        raise ParameterError("year_to", f"year_to ({year_to}) is before year_from ({year_from})")
    return Filters(genre=genre or None, year_from=year_from, year_to=year_to, min_rating=min_rating,
                   quality=quality or None)


SearchFilters = Annotated[Filters, Depends(search_filters)]


def check_text(name: str, value: str) -> str:
    """Reject a text that is only spaces (``min_length`` lets it through)."""
    if not value.strip():
        raise ParameterError(name, f"{name} is empty: give some words to look for")
    return value.strip()


def check_depth(k: int, offset: int) -> None:
    if offset + k > MAX_DEPTH:
        raise ParameterError("offset", f"offset + k must be at most {MAX_DEPTH}, not {offset + k}")


def movie_references(name: str, values: list[str]) -> list[int | str]:
    """``liked`` / ``disliked`` values: YTS ids (``123``) or IMDb codes (``tt0133093``), deduplicated."""
    if len(values) > MAX_LIKED:
        raise ParameterError(name, f"at most {MAX_LIKED} {name} movies, not {len(values)}")
    references: list[int | str] = []
    for raw in values:
        value = raw.strip()
        if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_YTS_ID:
            reference: int | str = int(value)
        elif re.fullmatch(r"tt\d{1,12}", value, re.IGNORECASE):
            reference = value.lower()
        else:
            raise ParameterError(name, f"{name}={raw[:40]!r} is neither a YTS id nor an IMDb code (tt...)")
        if reference not in references:
            references.append(reference)
    return references
