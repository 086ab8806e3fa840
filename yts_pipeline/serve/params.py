"""Query parameters shared by the API and the pages: their types, bounds and limits, in one place.

An empty value (``genre=``, as an HTML form sends an unset field) means "no condition"; anything
else that does not parse is a 422 naming the parameter (see ``errors.py``).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from yts_pipeline.search import Filters
from yts_pipeline.search.queries import Mode

MAX_K = 100  # results per answer
MAX_DEPTH = 500  # offset + k of a ranked list: paging deeper than this is not searching any more
MAX_QUERY_CHARS = 500
MAX_TEXT_CHARS = 100  # a genre or a quality
MAX_LIMIT = 100  # movies per browse page
MAX_OFFSET = 1_000_000
MAX_YTS_ID = 2**63 - 1  # movies.external_id is a bigint
MAX_LIKED = 50

# The rules on text, written once as the patterns the OpenAPI document shows and the validators apply
# (the escapes read the same in Python, ECMAScript and Rust). NUL breaks SQL; a lone surrogate cannot
# arrive (HTTP decodes percent-escapes as UTF-8, replacing what is not).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # str.isspace
PRINTABLE = f"^[^{CONTROL}]*$"
VISIBLE = f"^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"  # printable, and not only spaces
MOVIE_REFERENCE = r"^([0-9]{1,19}|[tT]{2}[0-9]{1,12})$"  # a YTS id or an IMDb code


def _text(max_chars: int, pattern: str, *, blank_is_none: bool) -> tuple[BeforeValidator, WithJsonSchema]:
    """Text checked as sent (at most ``max_chars``, matching ``pattern``), then stripped; with
    ``blank_is_none`` an empty or blank value (``genre=``, as an HTML form sends an unset field)
    means "no condition"."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if not isinstance(value, str):
            return value
        if len(value) > max_chars:
            raise ValueError(f"must be at most {max_chars} characters, not {len(value)}")
        if not compiled.fullmatch(value):
            raise ValueError(
                "must not contain control characters"
                if re.search(f"[{CONTROL}]", value)
                else "is empty: give some words to look for"
            )
        return (value.strip() or None) if blank_is_none else value.strip()

    schema = {"type": "string", "maxLength": max_chars, "pattern": pattern}
    if not blank_is_none:
        schema["minLength"] = 1
    return BeforeValidator(check), WithJsonSchema(schema)


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _movie_reference(value: str) -> str:
    if not re.fullmatch(MOVIE_REFERENCE, value):
        raise ValueError(f"{value[:40]!r} is neither a YTS id nor an IMDb code (tt...)")
    return value


# Bounds go on the inner type: a Query(ge=...) would be applied to the None an empty value becomes.
Year = Annotated[Annotated[int, Field(ge=1870, le=2100)] | None, BeforeValidator(_blank_is_none)]
Rating = Annotated[Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None, BeforeValidator(_blank_is_none)]
OptionalText = Annotated[str | None, *_text(MAX_TEXT_CHARS, PRINTABLE, blank_is_none=True)]
OptionalQuery = Annotated[str | None, *_text(MAX_QUERY_CHARS, PRINTABLE, blank_is_none=True)]
MovieReference = Annotated[
    str, AfterValidator(_movie_reference), WithJsonSchema({"type": "string", "pattern": MOVIE_REFERENCE})
]

YtsId = Annotated[int, Path(ge=1, le=MAX_YTS_ID, description="the movie's YTS id")]
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"how many results (1 to {MAX_K})")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_DEPTH - 1, description=f"results to skip, for paging (the ranking ends at {MAX_DEPTH})")
]
SearchMode = Annotated[Mode, Query(description="semantic (meaning), keyword (words) or hybrid (both, fused)")]
QueryText = Annotated[
    str,
    Query(description=f"what to look for (at most {MAX_QUERY_CHARS} characters)"),
    *_text(MAX_QUERY_CHARS, VISIBLE, blank_is_none=False),
]


async def search_filters(  # async: validation only, so no worker-thread hop
    genre: Annotated[OptionalText, Query(description="a genre name (any case)")] = None,
    year_from: Annotated[Year, Query(description="released in or after")] = None,
    year_to: Annotated[Year, Query(description="released in or before (before year_from: no movie)")] = None,
    min_rating: Annotated[Rating, Query(description="IMDb rating at least (0 to 10)")] = None,
    quality: Annotated[OptionalText, Query(description="has a torrent of this quality (720p, 1080p, 2160p...)")] = None,
) -> Filters:
    return Filters(genre=genre, year_from=year_from, year_to=year_to, min_rating=min_rating, quality=quality)


SearchFilters = Annotated[Filters, Depends(search_filters)]


def movie_references(values: list[str]) -> list[int | str]:
    """``liked`` / ``disliked`` values (checked by ``MovieReference``): YTS ids as numbers, IMDb codes in
    lower case, deduplicated."""
    references: list[int | str] = []
    for value in values:
        reference: int | str = int(value) if value.isdigit() else value.lower()
        if reference not in references:
            references.append(reference)
    return references
