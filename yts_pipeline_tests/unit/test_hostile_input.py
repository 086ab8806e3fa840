"""Hostile payloads through parsing: real sample movies with wrong types, missing and extra keys, huge
strings, NUL bytes, lone surrogates, negative and enormous numbers and duplicated torrents.

Every movie is parsed into a record the database can store, or rejected with a ``RejectedMovie``
naming it and the field; nothing else is ever raised, and a page keeps its other movies. The raw
answer the pipeline keeps (jsonb) re-parses to exactly what the client parsed. The strategies are
shared with the database half of these properties in ``reliability/test_hostile_pipeline.py``.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yts_pipeline.yts.parsing import (
    INT32_MAX,
    INT64_MAX,
    MovieParseError,
    clean_document,
    load_json,
    parse_list_document,
    parse_list_page,
    parse_movie,
)
from yts_pipeline.yts.records import MOVIE_INT_FIELDS, MOVIE_TEXT_FIELDS, SMALL_INT_FIELDS, MovieRecord
from yts_pipeline_tests.reliability.recording import scenario  # noqa: F401  (fixture)
from yts_pipeline_tests.support.samples import SAMPLES_DIR

LIST_SAMPLE = "list_movies_page1_limit50_2021-01-20.json"
PROPERTY_SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)  # the recorder only counts

SQL_LOOKING = [
    "Robert'); DROP TABLE movies;--",
    "' OR '1'='1",
    "1; DELETE FROM torrents WHERE 1=1",
    "%",
    "_",
    "%_\\",
    "$$; SELECT pg_sleep(10); $$",
    "' UNION SELECT usename, passwd FROM pg_shadow --",
    ":title",
    "%(title)s",
    "{title}",
    "?",
    "E'\\\\'",
    "\\",
    "'",
    '"',
    "--",
    "/*",
    "*/",
    "movies.title",
    "NULL",
    "null",
]
ODD_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ud83c",
    "😀",
    "é",
    "\u202eevil",
    "\ufeff",
    "\u200b",
    " ",
    "\n\t",
    "ǅ",
    "İ",
    "ß",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "مرحبا",
    "中文片名",
    "Ω" * 3,
]
SIZES = [499, 500, 501, 10_000, 100_000, 100_001, 999_999, 1_000_001]
FIELDS = sorted(
    {*MOVIE_TEXT_FIELDS, *MOVIE_INT_FIELDS, "id", "rating", "genres", "torrents", "cast", "state", "date_uploaded"}
)
TORRENT_FIELDS = [
    "url",
    "hash",
    "quality",
    "type",
    "is_repack",
    "video_codec",
    "bit_depth",
    "audio_channels",
    "seeds",
    "peers",
    "size",
    "size_bytes",
    "date_uploaded",
    "date_uploaded_unix",
]
CAST_FIELDS = ["name", "character_name", "url_small_image", "imdb_code"]


@lru_cache
def sample_movies() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(list items, details movies) from the captured answers in ../shared/yts-api/samples."""
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"the shared API samples are missing: expected {SAMPLES_DIR}")
    listed = json.loads((SAMPLES_DIR / LIST_SAMPLE).read_text())["data"]["movies"]
    details = [json.loads(p.read_text())["data"]["movie"] for p in sorted(SAMPLES_DIR.glob("movie_details_*.json"))]
    return listed, details


# -- strategies --------------------------------------------------------------------------------------


def _huge(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


huge_text = st.builds(_huge, st.sampled_from(["a", "é", "😀", "ab cd ", "\x00", "word "]), st.sampled_from(SIZES))
odd_text = st.lists(st.sampled_from(ODD_TEXT + SQL_LOOKING + ["Drama", "tt0111161", "1080p"]), max_size=5).map("".join)
texts = st.one_of(odd_text, st.sampled_from(ODD_TEXT + SQL_LOOKING), huge_text, st.text(max_size=30))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, INT32_MAX, INT32_MAX + 1, INT64_MAX, INT64_MAX + 1, -(2**63), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([" 42 ", "42", "-3", "1e3", "0x10", "7.5", "NaN", "Infinity", "", "0", "9" * 40]),
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
hostile_values = st.one_of(texts, numbers, wrong_types)


def _torrent_mutation() -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("torrent_set"), st.integers(0, 5), st.sampled_from(TORRENT_FIELDS), hostile_values),
        st.tuples(st.just("torrent_delete"), st.integers(0, 5), st.sampled_from(TORRENT_FIELDS)),
        st.tuples(st.just("torrent_duplicate"), st.integers(0, 5), st.sampled_from(["same", "lower", "spaced"])),
        st.tuples(st.just("torrent_replace"), st.integers(0, 5), hostile_values),
    )


mutations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(FIELDS), hostile_values),
        st.tuples(st.just("set"), st.sampled_from(MOVIE_TEXT_FIELDS), texts),
        st.tuples(st.just("set"), st.sampled_from(MOVIE_TEXT_FIELDS), st.sampled_from(ODD_TEXT)),
        st.tuples(st.just("cast_set"), st.integers(0, 5), st.sampled_from(CAST_FIELDS), st.sampled_from(ODD_TEXT)),
        st.tuples(
            st.just("torrent_set"), st.integers(0, 5), st.sampled_from(TORRENT_FIELDS), st.sampled_from(ODD_TEXT)
        ),
        st.tuples(st.just("delete"), st.sampled_from(FIELDS)),
        st.tuples(
            st.just("extra"),
            st.one_of(st.text(max_size=8), st.sampled_from(["", "\x00", "state", "@meta"])),
            hostile_values,
        ),
        st.tuples(
            st.just("genres"),
            st.lists(st.one_of(st.sampled_from(["Drama", "drama", " Drama "]), hostile_values), max_size=4),
        ),
        st.tuples(st.just("cast_set"), st.integers(0, 5), st.sampled_from(CAST_FIELDS), hostile_values),
        st.tuples(st.just("cast_duplicate"), st.integers(0, 5)),
        _torrent_mutation(),
    ),
    min_size=1,
    max_size=4,
)


def mutate(movie: dict[str, Any], steps: list[tuple]) -> dict[str, Any]:
    """Apply ``mutations`` to a copy of a sample movie (steps that do not apply are skipped)."""
    movie = copy.deepcopy(movie)
    for step in steps:
        kind = step[0]
        if kind == "set":
            movie[step[1]] = copy.deepcopy(step[2])
        elif kind == "delete":
            movie.pop(step[1], None)
        elif kind == "extra":
            movie[step[1]] = copy.deepcopy(step[2])
        elif kind == "genres":
            movie["genres"] = copy.deepcopy(step[1])
        elif kind.startswith("torrent") or kind.startswith("cast"):
            key = "torrents" if kind.startswith("torrent") else "cast"
            items = movie.get(key)
            if not isinstance(items, list) or not items:
                continue
            index = step[1] % len(items)
            if kind in ("torrent_set", "cast_set") and isinstance(items[index], dict):
                items[index][step[2]] = copy.deepcopy(step[3])
            elif kind == "torrent_delete" and isinstance(items[index], dict):
                items[index].pop(step[2], None)
            elif kind == "torrent_replace":
                items[index] = copy.deepcopy(step[2])
            elif kind in ("torrent_duplicate", "cast_duplicate"):
                twin = copy.deepcopy(items[index])
                if isinstance(twin, dict) and isinstance(twin.get("hash"), str) and len(step) > 2:
                    twin["hash"] = {
                        "same": twin["hash"],
                        "lower": twin["hash"].lower(),
                        "spaced": f"  {twin['hash']} ",
                    }[step[2]]
                items.append(twin)
    return movie


@st.composite
def hostile_movie(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A mutated sample movie, and whether it is a details answer."""
    listed, details = sample_movies()
    is_details = draw(st.booleans())
    base = draw(st.sampled_from(details if is_details else listed))
    return mutate(base, draw(mutations)), is_details


@st.composite
def hostile_page(draw: st.DrawFn, max_mutated: int = 6) -> list[Any]:
    """The captured 50-movie page with a few movies mutated, some listed twice, and some junk items."""
    listed, _ = sample_movies()
    movies = copy.deepcopy(listed)
    for index in draw(st.lists(st.integers(0, len(movies) - 1), min_size=1, max_size=max_mutated, unique=True)):
        movies[index] = mutate(movies[index], draw(mutations))
    for index in draw(st.lists(st.integers(0, len(movies) - 1), max_size=2)):
        movies.append(copy.deepcopy(movies[index]))  # the same movie listed twice
    if draw(st.booleans()):
        movies.insert(draw(st.integers(0, len(movies))), draw(wrong_types))  # not a movie at all
    return movies


# -- what a storable record is -----------------------------------------------------------------------


def _storable_text(value: Any, limit: int = 1_000_000) -> bool:
    if value is None:
        return True
    if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > limit:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: psycopg2 cannot send it
        return False
    return True


def assert_storable(record: MovieRecord) -> None:
    """Everything Postgres will be asked to hold fits its column (types, ranges, encodings, limits)."""
    assert isinstance(record.external_id, int) and 1 <= record.external_id <= INT64_MAX
    assert _storable_text(record.title) and record.title is not None
    for name in MOVIE_TEXT_FIELDS:
        assert _storable_text(record.fields.get(name), 500 if name == "imdb_code" else 1_000_000), name
    for name in MOVIE_INT_FIELDS:
        value = record.fields.get(name)
        assert value is None or (
            type(value) is int and 0 <= value <= (INT32_MAX if name in SMALL_INT_FIELDS else INT64_MAX)
        ), name
    if record.rating is not None:
        assert isinstance(record.rating, Decimal) and record.rating.is_finite()
        assert Decimal(0) <= record.rating <= Decimal(10) and record.rating.as_tuple().exponent == -1
    if record.date_uploaded is not None:
        assert isinstance(record.date_uploaded, datetime) and record.date_uploaded.tzinfo is not None
    if record.genres is not None:
        assert len(set(record.genres)) == len(record.genres)
        assert all(_storable_text(g, 500) and g for g in record.genres)
    if record.torrents is not None:
        hashes = [t.hash for t in record.torrents]
        assert len(set(hashes)) == len(hashes) and all(h == h.strip().upper() for h in hashes)
        for torrent in record.torrents:
            assert _storable_text(torrent.hash, 128)
            assert all(
                _storable_text(getattr(torrent, f), 1_000_000)
                for f in ("quality", "type", "video_codec", "bit_depth", "audio_channels", "size", "url")
            )
            assert all(
                v is None or (type(v) is int and 0 <= v <= INT64_MAX)
                for v in (torrent.seeds, torrent.peers, torrent.size_bytes, torrent.date_uploaded_unix)
            )
            assert torrent.is_repack in (None, True, False)
    if record.cast is not None:
        assert record.is_details
        identities = [(p.imdb_code or "", p.name if not p.imdb_code else "") for p in record.cast]
        assert len(set(identities)) == len(identities)
        for person in record.cast:
            assert person.name and _storable_text(person.name, 500) and _storable_text(person.imdb_code, 500)
            assert _storable_text(person.character_name, 500) and _storable_text(person.url_small_image)


def assert_named(rejected: Any, movie: Any) -> None:
    """A rejection names the movie (its id, or its position when it has none usable) and the field."""
    assert rejected.field and rejected.reason
    root = rejected.field.split("[")[0].split(".")[0]
    assert root in (*FIELDS, "movie"), rejected
    assert rejected.field in str(rejected) and str(rejected.external_id) in str(rejected)
    if isinstance(movie, dict) and type(movie.get("id")) is int and movie["id"] >= 1:
        assert rejected.external_id == movie["id"]


# -- properties ----------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(case=hostile_movie())
def test_a_hostile_movie_is_parsed_storably_or_rejected_by_name(case, scenario) -> None:
    scenario.describe(
        "Hostile input",
        "parsing: one mutated sample movie (hypothesis)",
        injected="wrong types, missing and extra keys, huge strings (to 1,000,001 chars), NUL bytes, "
        "lone surrogates, unicode, SQL-looking text, negative and enormous numbers, NaN, "
        "duplicated torrents and cast",
        checked="a record whose every value fits its column, or MovieParseError naming movie and "
        "field; no other exception",
    )
    movie, is_details = case
    scenario.add("examples")
    try:
        record = parse_movie(movie, is_details=is_details)
    except MovieParseError as exc:
        scenario.add("rejected by name")
        assert_named(exc.rejected, movie)
        return
    scenario.add("parsed")
    assert_storable(record)


@PROPERTY_SETTINGS
@given(items=hostile_page())
def test_a_hostile_page_keeps_its_good_movies_and_names_the_bad(items, scenario) -> None:
    scenario.describe(
        "Hostile input",
        "parsing: the sample page with mutated, repeated and junk items",
        injected="the 50-movie captured page, 1-6 movies mutated, movies listed twice, a non-object item",
        checked="parse_list_document never raises; every item is a parsed movie (one per id) or a "
        "rejection naming it (id or #position) and its field",
    )
    page = parse_list_document({"status": "ok", "data": {"movie_count": 5000, "limit": 50, "movies": items}}, 3)
    scenario.add("examples")
    scenario.add("movies rejected", len(page.rejected))
    ids = [m.external_id for m in page.movies]
    assert len(ids) == len(set(ids))
    for record in page.movies:
        assert_storable(record)
    accounted = set(ids)
    for rejected in page.rejected:
        assert rejected.field and rejected.reason
        if isinstance(rejected.external_id, str) and rejected.external_id.startswith("#"):
            position = int(rejected.external_id[1:])
            assert 0 <= position < len(items)
        else:
            accounted.add(rejected.external_id)
    for position, item in enumerate(items):
        if isinstance(item, dict) and type(item.get("id")) is int and item["id"] >= 1:
            assert item["id"] in accounted or f"#{position}" in {str(r.external_id) for r in page.rejected}


@PROPERTY_SETTINGS
@given(items=hostile_page(), allow_nan=st.booleans())
def test_the_kept_raw_answer_reparses_to_what_the_client_parsed(items, allow_nan, scenario) -> None:
    """The list step keeps the decoded answer in jsonb and the save step parses it again from there."""
    scenario.describe(
        "Hostile input",
        "raw answers kept as jsonb re-parse identically",
        injected="hostile pages serialised as the API would send them (NaN/Infinity literals, "
        "\\u0000 and lone-surrogate escapes)",
        checked="the kept document is valid strict JSON Postgres jsonb accepts (no NaN, no \\u0000, "
        "no lone surrogate) and parses to the same movies and rejections",
    )
    doc = {
        "status": "ok",
        "status_message": "Query was successful",
        "data": {"movie_count": 5000, "limit": 50, "page_number": 3, "movies": items},
    }
    try:
        body = json.dumps(doc, allow_nan=True)
    except ValueError:
        return
    first = parse_list_page(body, 3)
    kept = json.dumps(first.raw, allow_nan=False)  # raises on NaN/Infinity, which jsonb refuses
    assert "\\u0000" not in kept
    kept.encode("utf-8")  # raises on a lone surrogate
    again = parse_list_document(json.loads(kept), 3)
    assert again.movies == first.movies and again.rejected == first.rejected
    scenario.add("examples")


# JSON that decodes to what clean_document changes, written as a server might (ASCII escapes or raw UTF-8)
UNCLEAN_BODIES = [
    b'{"a": "x\\u0000y"}',
    b'{"a": "\\ud800"}',
    b'{"\\uDFFF": 1}',
    b'{"a": NaN}',
    b'{"a": -Infinity}',
    b'{"a": 1e999}',
    b'{"a": 2E+400}',
    b'{"a": ' + b"9" * 400 + b".5}",
    b'{"a": "\xed\xa0\x80"}',
    '{"a": "\u00e9\\u0000"}'.encode(),
    '{"a": "\\u0000"}'.encode("utf-16"),
]


@pytest.mark.parametrize("body", UNCLEAN_BODIES, ids=ascii)
def test_a_body_that_needs_cleaning_is_cleaned(body: bytes, scenario) -> None:
    """load_json skips clean_document only for text that cannot need it; every other body is cleaned."""
    scenario.describe(
        "Hostile input",
        "parsing: bodies that decode to NUL, lone surrogates or non-finite numbers",
        injected="\\u0000 and surrogate escapes, NaN/Infinity, overflowing floats, raw UTF-8 "
        "surrogates, a non-ASCII UTF-8 body and a UTF-16 one",
        checked="what load_json returns is what clean_document makes of the decoded body",
    )
    decoded = json.loads(body)
    assert json.dumps(decoded) != json.dumps(clean_document(decoded))  # the body really needs cleaning
    assert json.dumps(load_json(body, endpoint="list_movies", where="test")) == json.dumps(clean_document(decoded))


@PROPERTY_SETTINGS
@given(items=hostile_page(), as_bytes=st.booleans(), ascii_only=st.booleans())
def test_load_json_is_clean_document_of_the_decoded_body(items, as_bytes, ascii_only, scenario) -> None:
    scenario.describe(
        "Hostile input",
        "parsing: the clean-body shortcut changes nothing",
        injected="hostile pages as str or bytes, with unicode escaped or raw",
        checked="load_json equals clean_document of json.loads, compared as JSON text",
    )
    body = json.dumps({"status": "ok", "data": {"movies": items}}, allow_nan=True, ensure_ascii=ascii_only)
    if as_bytes:
        try:
            body = body.encode()
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, which no server sends
            return
    expected = json.dumps(clean_document(json.loads(body)), allow_nan=False)
    assert json.dumps(load_json(body, endpoint="list_movies", where="test"), allow_nan=False) == expected
    scenario.add("examples")


def test_nan_and_infinity_are_never_numbers(scenario) -> None:
    scenario.describe(
        "Hostile input",
        "parsing: NaN and Infinity as numbers",
        injected="NaN, Infinity and -Infinity as rating, year, runtime and id",
        checked="each rejected by name with that field",
    )
    listed, _ = sample_movies()
    for value in (math.nan, math.inf, -math.inf):
        for field in ("rating", "year", "runtime", "id"):
            with pytest.raises(MovieParseError) as caught:
                parse_movie({**listed[0], field: value}, is_details=False)
            assert caught.value.rejected.field == field


@pytest.mark.parametrize("value", ODD_TEXT + SQL_LOOKING, ids=ascii)
def test_odd_text_in_every_text_field_is_kept_storable(value: str, scenario) -> None:
    """Each odd string in every text field of a movie, a torrent and a cast member at once."""
    scenario.describe(
        "Hostile input",
        "parsing: each odd or SQL-looking string in every text field",
        injected=f"{len(ODD_TEXT)} odd strings (NUL, lone surrogates, RTL override, BOM, zero-width, "
        f"emoji, scripts) and {len(SQL_LOOKING)} SQL-looking ones in every text field of a "
        "details answer, its torrents and its cast",
        checked="the record is storable; NULs dropped, lone surrogates made U+FFFD, all else kept as served",
    )
    scenario.figure("strings", 1)
    _, details = sample_movies()
    movie = copy.deepcopy(details[-1])
    for name in MOVIE_TEXT_FIELDS:
        movie[name] = f"{value}{name}"
    for torrent in movie["torrents"]:
        for name in ("quality", "type", "video_codec", "size", "url"):
            torrent[name] = f"{value}{name}"
        torrent["hash"] = f"{value}{torrent['hash']}"
    for index, person in enumerate(movie["cast"]):
        person.update(name=f"{value}{index}", character_name=value + "x", url_small_image=value + "y")
    record = parse_movie(movie, is_details=True)
    assert_storable(record)
    stripped = value.replace("\x00", "")
    assert record.title == f"{stripped}title".replace("\ud800", "\ufffd").replace("\udfff", "\ufffd").replace(
        "\ud83c", "\ufffd"
    )


def test_searched_text_longer_than_the_tsvector_allows_is_rejected_by_name(scenario) -> None:
    scenario.describe(
        "Hostile input",
        "parsing: searched text beyond what the search vector can hold",
        injected="title, summary and description_full of 100,005 characters (and of exactly 100,000)",
        checked="rejected by name and field beyond 100,000 characters, accepted at it (the database "
        "half is in the hostile-page pipeline scenario)",
    )
    listed, _ = sample_movies()
    for field in ("title", "summary", "description_full"):
        with pytest.raises(MovieParseError) as caught:
            parse_movie({**listed[0], field: "word " * 20_001}, is_details=False)
        assert caught.value.rejected.field == field and "limit 100000" in str(caught.value)
        assert parse_movie({**listed[0], field: "w" * 100_000}, is_details=False)
