"""Turn API bodies into typed records. Every quirk of the YTS payloads is handled here and only here.

Quirks (see shared/yts-api/README.md): ``data.movies`` absent means an empty page; ``torrents``,
``genres`` and ``cast`` may be missing; ``""`` means unknown; ratings may be integral; torrent
``is_repack`` is the string "0"/"1"/""; numbers sometimes arrive as strings; a details answer with
id 0 means "no such movie"; URLs embed whichever host served them.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from yts_pipeline.yts.records import (
    MOVIE_INT_FIELDS,
    MOVIE_TEXT_FIELDS,
    SMALL_INT_FIELDS,
    CastRecord,
    DetailsResult,
    ListPage,
    MovieRecord,
    RejectedMovie,
    TorrentRecord,
)

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_NAME_LENGTH = 500  # names and codes are indexed; btree entries must stay small
MAX_TEXT_LENGTH = 1_000_000
# title, summary and description_full feed movies.search_vector, which Postgres caps at 1 MB: worst-case text
# makes about 4.7 bytes of tsvector per character, so two fields of 100,000 stay under it
MAX_SEARCHED_LENGTH = 100_000
SEARCHED_FIELDS = frozenset({"title", "summary", "description_full"})
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The escapes, in JSON text, of what Postgres cannot store in text or jsonb: NUL and (lone) surrogates
_UNSTORABLE_ESCAPE = r"\\u(?:0000|[dD][89a-fA-F])"
_UNSTORABLE_ESCAPE_TEXT = re.compile(_UNSTORABLE_ESCAPE)
_UNSTORABLE_ESCAPE_BYTES = re.compile(_UNSTORABLE_ESCAPE.encode())


class ApiResponseError(Exception):
    """An answer the client cannot use. Keeps the raw body for diagnosis."""

    retryable = False

    def __init__(self, message: str, *, endpoint: str, where: str, raw: str | bytes | None = None):
        super().__init__(f"{endpoint} ({where}): {message}")
        self.endpoint = endpoint
        self.where = where
        self.raw = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class NotJsonError(ApiResponseError):
    """The body is not JSON at all (an HTML error page, plain text, a truncated body): retry."""

    retryable = True


class ForeignShapeError(ApiResponseError):
    """JSON, but not the YTS envelope (a copycat or parked domain): try the next host."""

    retryable = True


class ApiStatusError(ApiResponseError):
    """The API answered ``status: error`` (bad parameters, usually)."""


class PayloadError(ApiResponseError):
    """The envelope is right but its data cannot be parsed."""


class MovieParseError(ValueError):
    """One movie object is unusable; names the movie and the field."""

    def __init__(self, external_id: Any, field: str, reason: str):
        super().__init__(f"movie {external_id!r}: field {field!r} {reason}")
        self.rejected = RejectedMovie(external_id, field, reason)


def load_json(body: str | bytes, *, endpoint: str, where: str) -> Any:
    """JSON (made storable by ``clean_document``) or ``NotJsonError`` (HTML error pages, plain-text 429s
    and truncated bodies are retried)."""
    non_finite = []

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):  # NaN, Infinity, or a float too large for a double
            non_finite.append(text)
        return value

    try:
        doc = json.loads(body, parse_float=number, parse_constant=number)
    except (ValueError, UnicodeDecodeError) as exc:
        snippet = (body[:80] if isinstance(body, str) else body[:80].decode("utf-8", "replace")).strip()
        raise NotJsonError(
            f"body is not JSON ({exc.__class__.__name__}: {exc}); starts with {snippet!r}",
            endpoint=endpoint,
            where=where,
            raw=body,
        ) from None
    return clean_document(doc) if non_finite or not _clean_text_json(body) else doc


def _clean_text_json(text: str | bytes) -> bool:
    """Whether every string in JSON text is storable as it decodes: the text is ASCII (so a NUL or a
    surrogate can only come from an escape) and has no escape of either. A scan in C, far cheaper
    than walking the document."""
    pattern = _UNSTORABLE_ESCAPE_BYTES if isinstance(text, bytes) else _UNSTORABLE_ESCAPE_TEXT
    return text.isascii() and pattern.search(text) is None


def storable_json(doc: Any) -> tuple[Any, str]:
    """``doc`` made storable by ``clean_document``, and its JSON text; serialized once when it was clean."""
    text = json.dumps(doc)  # ASCII: other characters escaped, non-finite numbers written NaN or Infinity
    if _clean_text_json(text) and "NaN" not in text and "Infinity" not in text:
        return doc, text
    doc = clean_document(doc)
    return doc, json.dumps(doc)


def clean_text(value: str) -> str:
    """Text Postgres can hold: NUL bytes dropped, lone surrogates (a ``\\ud800`` escape) made U+FFFD."""
    if value.isascii():  # a constant-time test; ASCII text has no surrogates
        return value.replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def clean_document(value: Any) -> Any:
    """A decoded answer every part of which Postgres can store, as text or as jsonb.

    JSON allows what Postgres refuses: ``\\u0000``, lone surrogates and (as Python reads it) NaN and
    Infinity. Strings and keys go through ``clean_text``; a non-finite number becomes its text
    (``"nan"``), which no numeric field accepts either. Kept answers are cleaned the same way, so a
    page parsed again from ``raw_list_pages`` gives exactly what the client parsed.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_document(v) for v in value]
    return value


def parse_envelope(doc: Any, *, endpoint: str, where: str) -> dict[str, Any]:
    """Check the ``{status, status_message, data, @meta}`` envelope and return ``data``."""
    if not isinstance(doc, dict) or "status" not in doc:
        raise ForeignShapeError(
            "JSON without the YTS envelope (no 'status'); is this host really a YTS API?",
            endpoint=endpoint,
            where=where,
            raw=_dump(doc),
        )
    if doc["status"] != "ok":
        raise ApiStatusError(
            f"status {doc['status']!r}: {doc.get('status_message')!r}", endpoint=endpoint, where=where, raw=_dump(doc)
        )
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ForeignShapeError("envelope has no 'data' object", endpoint=endpoint, where=where, raw=_dump(doc))
    return data


def parse_list_page(body: str | bytes, page: int) -> ListPage:
    """Parse a ``list_movies`` answer; bad movies are rejected one by one, the rest kept."""
    return parse_list_document(load_json(body, endpoint="list_movies", where=f"page {page}"), page)


def parse_list_document(doc: Any, page: int) -> ListPage:
    """Parse an already-decoded ``list_movies`` answer (for example one kept in ``raw_list_pages``)."""
    where = f"page {page}"
    data = parse_envelope(doc, endpoint="list_movies", where=where)
    try:
        movie_count = _int(data.get("movie_count"), "movie_count", minimum=0)
        limit = _int(data.get("limit"), "limit", minimum=0) or 0
    except _FieldError as exc:
        raise PayloadError(
            f"field {exc.field!r} {exc.reason}", endpoint="list_movies", where=where, raw=_dump(doc)
        ) from None
    if movie_count is None:
        raise ForeignShapeError("data has no 'movie_count'", endpoint="list_movies", where=where, raw=_dump(doc))
    items = data.get("movies")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise PayloadError("field 'movies' is not a list", endpoint="list_movies", where=where, raw=_dump(doc))
    movies: dict[int, MovieRecord] = {}
    rejected = []
    for position, item in enumerate(items):
        try:
            record = parse_movie(item, is_details=False)
        except MovieParseError as exc:
            rejected.append(
                exc.rejected
                if exc.rejected.external_id is not None
                else RejectedMovie(f"#{position}", exc.rejected.field, exc.rejected.reason)
            )
            continue
        movies.setdefault(record.external_id, record)  # a movie listed twice on a page is one movie
    return ListPage(page, movie_count, limit, tuple(movies.values()), tuple(rejected), doc)


def parse_details(body: str | bytes, movie_id: int) -> DetailsResult:
    """Parse a ``movie_details`` answer; id 0 (or no movie) means the API does not know ``movie_id``."""
    where = f"movie {movie_id}"
    raw = load_json(body, endpoint="movie_details", where=where)
    data = parse_envelope(raw, endpoint="movie_details", where=where)
    item = data.get("movie")
    if item is None or (isinstance(item, dict) and item.get("id") in (0, "0", None)):
        return DetailsResult(movie_id, None, raw)
    try:
        record = parse_movie(item, is_details=True)
    except MovieParseError as exc:
        raise PayloadError(str(exc), endpoint="movie_details", where=where, raw=body) from None
    if record.external_id != movie_id:
        raise PayloadError(
            f"asked for movie {movie_id} but got movie {record.external_id}",
            endpoint="movie_details",
            where=where,
            raw=body,
        )
    return DetailsResult(movie_id, record, raw)


def parse_movie(item: Any, *, is_details: bool) -> MovieRecord:
    """One API movie object to a ``MovieRecord``; raises ``MovieParseError`` naming the field."""
    if not isinstance(item, dict):
        raise MovieParseError(None, "movie", f"is a {type(item).__name__}, not an object")
    raw_id = item.get("id")
    try:
        external_id = _int(raw_id, "id", minimum=1, maximum=INT64_MAX)
        if external_id is None:
            raise _FieldError("id", "is missing")
        title = _text(item.get("title"), "title", MAX_SEARCHED_LENGTH)
        if title is None:
            raise _FieldError("title", "is missing or empty")
        fields: dict[str, Any] = {
            name: _text(
                item.get(name),
                name,
                MAX_NAME_LENGTH
                if name == "imdb_code"
                else MAX_SEARCHED_LENGTH
                if name in SEARCHED_FIELDS
                else MAX_TEXT_LENGTH,
            )
            for name in MOVIE_TEXT_FIELDS
            if name != "title"
        }
        for name in MOVIE_INT_FIELDS:
            fields[name] = _int(
                item.get(name), name, minimum=0, maximum=INT32_MAX if name in SMALL_INT_FIELDS else INT64_MAX
            )
        rating = _rating(item.get("rating"))
        genres = _genres(item.get("genres"))
        torrents = _torrents(item.get("torrents"))
        cast = _cast(item.get("cast")) if is_details else None
    except _FieldError as exc:
        raise MovieParseError(raw_id if isinstance(raw_id, (int, str)) else None, exc.field, exc.reason) from None
    return MovieRecord(
        external_id=external_id,
        title=title,
        fields=fields,
        genres=genres,
        torrents=torrents,
        cast=cast,
        date_uploaded=_from_unix(fields["date_uploaded_unix"]),
        rating=rating,
        is_details=is_details,
    )


def _dump(doc: Any) -> str:
    """The decoded answer as text again, kept on errors for diagnosis."""
    return json.dumps(doc, ensure_ascii=False, default=str)


class _FieldError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _text(value: Any, field: str, max_length: int) -> str | None:
    """Strings as served; ``""`` and missing are unknown (``None``); numbers become text; see ``clean_text``."""
    if type(value) is not str:  # most values are plain strings: test for them first
        if value is None:
            return None
        if isinstance(value, bool):
            raise _FieldError(field, f"is a boolean ({value}), not text")
        if isinstance(value, (int, float)):
            value = str(value)
        elif not isinstance(value, str):
            raise _FieldError(field, f"is a {type(value).__name__}, not text")
    value = clean_text(value)
    if len(value) > max_length:
        raise _FieldError(field, f"is {len(value)} characters long (limit {max_length})")
    return value if value and not value.isspace() else None


def _int(value: Any, field: str, *, minimum: int | None = None, maximum: int = INT64_MAX) -> int | None:
    """Integers, integral floats and digit strings; ``""`` and missing are unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _FieldError(field, f"is a boolean ({value}), not a number")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise _FieldError(field, f"is {value!r}, not a whole number")
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _FieldError(field, f"is {value[:40]!r}, not a whole number") from None
    elif not isinstance(value, int):
        raise _FieldError(field, f"is a {type(value).__name__}, not a number")
    if minimum is not None and value < minimum:
        raise _FieldError(field, f"is {value}, below {minimum}")
    if value > maximum:
        raise _FieldError(field, f"is {value}, above {maximum}")
    return value


def _rating(value: Any) -> Decimal | None:
    """0..10 with one decimal; ``7`` and ``"7.0"`` are both 7.0."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _FieldError("rating", f"is a {type(value).__name__}, not a number")
    try:
        rating = Decimal(str(value).strip())
    except InvalidOperation:
        raise _FieldError("rating", f"is {str(value)[:40]!r}, not a number") from None
    if not rating.is_finite() or not Decimal(0) <= rating <= Decimal(10):
        raise _FieldError("rating", f"is {value!r}, outside 0..10")
    return rating.quantize(Decimal("0.1"))


def _from_unix(seconds: int | None) -> datetime | None:
    """The unix field is the truth; the ``date_uploaded`` string is CET local time."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _FieldError("date_uploaded_unix", f"is {seconds}, not a usable timestamp") from None


def _list(value: Any, field: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _FieldError(field, f"is a {type(value).__name__}, not a list")
    return value


def _genres(value: Any) -> tuple[str, ...] | None:
    items = _list(value, "genres")
    if items is None:
        return None
    names: dict[str, None] = {}
    for index, item in enumerate(items):
        name = _text(item, f"genres[{index}]", MAX_NAME_LENGTH)
        if name is not None:
            names[name.strip()] = None
    return tuple(names)


def _torrents(value: Any) -> tuple[TorrentRecord, ...] | None:
    items = _list(value, "torrents")
    if items is None:
        return None
    torrents: dict[str, TorrentRecord] = {}
    for index, item in enumerate(items):
        field = f"torrents[{index}]"
        if not isinstance(item, dict):
            raise _FieldError(field, f"is a {type(item).__name__}, not an object")
        torrent_hash = _text(item.get("hash"), f"{field}.hash", 128)
        if torrent_hash is None:
            raise _FieldError(f"{field}.hash", "is missing")
        torrent_hash = torrent_hash.strip().upper()
        unix = _int(item.get("date_uploaded_unix"), f"{field}.date_uploaded_unix", minimum=0)
        torrents.setdefault(
            torrent_hash,
            TorrentRecord(
                hash=torrent_hash,
                quality=_text(item.get("quality"), f"{field}.quality", MAX_NAME_LENGTH),
                type=_text(item.get("type"), f"{field}.type", MAX_NAME_LENGTH),
                is_repack=_flag(item.get("is_repack"), f"{field}.is_repack"),
                video_codec=_text(item.get("video_codec"), f"{field}.video_codec", MAX_NAME_LENGTH),
                bit_depth=_text(item.get("bit_depth"), f"{field}.bit_depth", MAX_NAME_LENGTH),
                audio_channels=_text(item.get("audio_channels"), f"{field}.audio_channels", MAX_NAME_LENGTH),
                seeds=_int(item.get("seeds"), f"{field}.seeds", minimum=0),
                peers=_int(item.get("peers"), f"{field}.peers", minimum=0),
                size=_text(item.get("size"), f"{field}.size", MAX_NAME_LENGTH),
                size_bytes=_int(item.get("size_bytes"), f"{field}.size_bytes", minimum=0),
                url=_text(item.get("url"), f"{field}.url", MAX_TEXT_LENGTH),
                date_uploaded=_from_unix(unix),
                date_uploaded_unix=unix,
            ),
        )
    return tuple(torrents.values())


def _flag(value: Any, field: str) -> bool | None:
    """``is_repack`` arrives as "0", "1", "" (unknown), or occasionally a real boolean or number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return str(value) == "1"
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _FieldError(field, f"is {str(value)[:40]!r}, not one of '0', '1', ''")


def _cast(value: Any) -> tuple[CastRecord, ...] | None:
    """People merged by identity (imdb code, else name); one person in two roles keeps both names."""
    items = _list(value, "cast")
    if items is None:
        return None
    people: dict[str, CastRecord] = {}
    for index, item in enumerate(items):
        field = f"cast[{index}]"
        if not isinstance(item, dict):
            raise _FieldError(field, f"is a {type(item).__name__}, not an object")
        name = _text(item.get("name"), f"{field}.name", MAX_NAME_LENGTH)
        if name is None:
            raise _FieldError(f"{field}.name", "is missing or empty")
        person = CastRecord(
            name=name,
            imdb_code=_text(item.get("imdb_code"), f"{field}.imdb_code", MAX_NAME_LENGTH),
            character_name=_text(item.get("character_name"), f"{field}.character_name", MAX_NAME_LENGTH),
            url_small_image=_text(item.get("url_small_image"), f"{field}.url_small_image", MAX_TEXT_LENGTH),
        )
        key = cast_identity(person)
        earlier = people.get(key)
        if earlier is not None and person.character_name and earlier.character_name != person.character_name:
            roles = " / ".join(r for r in (earlier.character_name, person.character_name) if r)
            person = CastRecord(earlier.name, earlier.imdb_code, roles, earlier.url_small_image)
        elif earlier is not None:
            continue
        people[key] = person
    return tuple(people.values())


def cast_identity(person: CastRecord) -> str:
    """How a person is recognised across movies: the IMDb code when known, else the name."""
    return f"imdb:{person.imdb_code}" if person.imdb_code else f"name:{person.name}"
