"""Hostile input through the database: each movie of a hostile page is saved exactly as parsing produced
it or rejected by name, and the rest of its page is saved; nothing raises. SQL-looking text is stored
and searched for literally.

The parsing-only half of these properties is ``unit/test_hostile_input.py``; its strategies are reused.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from yts_pipeline import mirror
from yts_pipeline.db import integrity
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import ALL_TABLES, Movie
from yts_pipeline.db.saving import to_records
from yts_pipeline.search.queries import resolve_movie, search
from yts_pipeline.yts.records import MovieRecord
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline.yts.replay.synthetic import MovieFactory
from yts_pipeline_tests.support import page_steps
from yts_pipeline_tests.support.page_steps import replay_client
from yts_pipeline_tests.unit.test_hostile_input import SQL_LOOKING, hostile_page, sample_movies

TORRENT_COLUMNS = (
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
    "url",
    "date_uploaded",
    "date_uploaded_unix",
)


def empty(db: DatabaseManager) -> None:
    with db.get_session() as session:
        session.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE"))


def stored(db: DatabaseManager) -> dict[int, dict[str, Any]]:
    """Every movie as the database holds it: columns, genres, torrents by hash, cast."""
    with db.get_session() as session:
        movies = {
            row.external_id: {"row": dict(row._mapping)}
            for row in session.execute(select(*[c for c in Movie.__table__.columns if c.name != "search_vector"]))
        }
        by_id = {m["row"]["id"]: m for m in movies.values()}
        for movie in movies.values():
            movie.update(genres=set(), torrents={}, cast=set())
        for movie_id, name in session.execute(
            text("SELECT l.movie_id, g.name FROM movie_genres l JOIN genres g ON g.id = l.genre_id")
        ):
            by_id[movie_id]["genres"].add(name)
        for row in session.execute(text("SELECT * FROM torrents")).mappings():
            by_id[row["movie_id"]]["torrents"][row["hash"]] = dict(row)
        for movie_id, name, code, character in session.execute(
            text(
                "SELECT l.movie_id, c.name, c.imdb_code, l.character_name FROM movie_casts l "
                "JOIN casts c ON c.id = l.cast_id"
            )
        ):
            by_id[movie_id]["cast"].add((name, code, character))
    return movies


def assert_round_trip(record: MovieRecord, movie: dict[str, Any]) -> None:
    """The stored movie is exactly what parsing produced (first save: unknown values stay NULL)."""
    row = movie["row"]
    for name, value in record.column_values().items():
        assert row[name] == value, (record.external_id, name, row[name], value)
    assert movie["genres"] == set(record.genres or ())
    assert set(movie["torrents"]) == {t.hash for t in record.torrents or ()}
    for torrent in record.torrents or ():
        saved = movie["torrents"][torrent.hash]
        for name in TORRENT_COLUMNS:
            assert saved[name] == getattr(torrent, name), (record.external_id, torrent.hash, name)
    if record.cast is not None:
        assert movie["cast"] == {(p.name, p.imdb_code, p.character_name) for p in record.cast}
    assert (row["details_fetched_at"] is not None) == record.is_details


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(items=hostile_page(), with_details=st.booleans())
def test_save_movies_saves_each_hostile_movie_exactly_or_rejects_it_by_name(items, with_details, db, scenario) -> None:
    scenario.describe(
        "Hostile input",
        "save_movies: a hostile page into Postgres (hypothesis)",
        injected="the sample page with 1-6 movies mutated (wrong types, missing/extra keys, huge strings, NUL, lone "
        "surrogates, unicode, SQL-looking text, negative/enormous numbers, duplicated torrents), "
        "movies listed twice, junk items, plus a mutated details answer",
        checked="save_movies never raises; every movie parsing accepted is stored exactly as parsed (columns, "
        "genres, torrents, cast), every other one is a RejectedMovie naming it and its field",
    )
    empty(db)
    payloads = copy.deepcopy(items)
    if with_details:
        payloads.append(copy.deepcopy(sample_movies()[1][-1]))
    records, rejected = to_records(payloads)
    result = db.save_movies(payloads)
    scenario.add("examples")
    scenario.add("movies saved and compared", len(records))
    scenario.add("movies rejected by name", len(result.rejected))
    assert result.rejected == rejected
    assert all(r.field and r.reason for r in result.rejected)
    assert sorted(result.created) == sorted(r.external_id for r in records)
    saved = stored(db)
    assert set(saved) == {r.external_id for r in records}
    for record in records:
        assert_round_trip(record, saved[record.external_id])


# -- the whole page path: served by the replay API, kept raw, saved, enriched -------------------------


def hostile_catalog() -> tuple[Catalog, dict[int, str], list[int]]:
    """The captured page with hostile movies: returns the catalog, the ids to be rejected (with their
    field) and the ids of the SQL-looking movies."""
    listed, details = sample_movies()
    movies = copy.deepcopy(listed)
    base = movies[0]
    reject: dict[int, str] = {}

    def add(movie_id: Any, **fields: Any) -> dict[str, Any]:
        movie = {
            **copy.deepcopy(base),
            "id": movie_id,
            "imdb_code": f"tt9{int(float(movie_id)):06d}",
            "slug": f"hostile-{int(float(movie_id))}",
            **fields,
        }
        movies.append(movie)
        return movie

    add(900_001, title="NUL\x00 in the title", summary="a\x00b", torrents=[{**base["torrents"][0], "size": "1\x00GB"}])
    add(900_002, title="lone \ud800 surrogate", title_english="\udfff")
    add(900_003.0, title="an id served as a float")
    add(" 900004 ", title="an id served as a string")
    torrent = base["torrents"][0]
    add(
        900_005,
        title="duplicated torrents",
        torrents=[torrent, {**torrent}, {**torrent, "hash": torrent["hash"].lower()}],
    )
    add(900_006, title="extra keys", **{"": 1, "x" * 300: "y", "state": {"nested": [1, 2]}, "\x00": "nul key"})
    worst = " ".join(f"{chr(0x4E00 + i // 90)}{chr(0x4E00 + i % 90)}" for i in range(33_333))[:100_000]
    add(900_007, title=worst, summary=worst)  # at the length limit: the search vector still fits
    add(900_008, title="unicode ‮evil ​zero-width 😀 中文片名 ǅ")
    sql_ids = []
    for index, value in enumerate(SQL_LOOKING[:8]):
        movie = add(
            900_100 + index,
            **{
                f: f"{value} {f}"
                for f in (
                    "title",
                    "title_english",
                    "title_long",
                    "summary",
                    "description_full",
                    "synopsis",
                    "language",
                    "mpa_rating",
                    "yt_trailer_code",
                )
            },
        )
        movie["genres"] = [f"{value} genre"]
        sql_ids.append(movie["id"])
    add(900_203, title="a details-only field out of range", like_count=2**70)  # listed fine, details refused
    for movie_id, field, value in [
        (900_201, "rating", float("nan")),
        (900_202, "runtime", -5),
        (900_204, "year", 2**31),
        (900_205, "torrents", "not a list"),
        (900_206, "title", None),
        (900_207, "summary", "word " * 30_000),
        (900_208, "rating", float("inf")),
    ]:
        add(movie_id, **{field: value})
        reject[movie_id] = field
    detailed = copy.deepcopy(details[-1])
    movies.append({**detailed, "cast": detailed["cast"] + [{**detailed["cast"][0], "character_name": "Also \x00"}]})
    return Catalog(movies, factory=MovieFactory(seed=0)), reject, sql_ids  # no observe(): it expects sane movies


def test_a_hostile_page_goes_through_the_pipeline_steps(db: DatabaseManager, scenario) -> None:
    scenario.describe(
        "Hostile input",
        "a hostile page through fetch, save and details (replay API)",
        injected="NUL bytes and lone surrogates in text and keys, ids served as a float and as a string, NaN and "
        "Infinity, duplicated torrents, extra keys, text at the 100,000-character limit of the "
        "search vector (and beyond it), negative and enormous numbers, SQL-looking text in every text "
        "field",
        checked="no step raises; the raw page is kept; every good movie saved and given its details; the bad "
        "ones rejected by id and field; a rerun writes nothing; keyword search and title lookup match "
        "SQL-looking text literally",
    )
    catalog, reject, sql_ids = hostile_catalog()
    pages = mirror.pages_for(len(catalog), 50)
    with ReplayServer(catalog, retry_after_seconds=0) as server:
        client = replay_client(server)

        def run_steps() -> tuple[list, list, list]:
            fetched = [page_steps.fetch(client, db, page) for page in pages]
            saved = [page_steps.save(db, page) for page in pages]
            return fetched, saved, [page_steps.details(client, db, page) for page in pages]

        fetched, saved, details = run_steps()
        rejections = [r for report in saved for r in report.rejected]
        assert rejections == [r for report in fetched for r in report.rejected]
        assert {_id(r): r.split("field ")[1].split("'")[1] for r in rejections} == reject, rejections
        expected = set(catalog.ids()) - set(reject)
        assert set(stored(db)) == expected
        failed = {k: v for d in details for k, v in d.details_failed.items()}
        assert list(failed) == [900_203] and "field 'like_count'" in failed[900_203]  # kept, named, retried
        assert sum(d.details_calls for d in details) == len(expected)
        with db.get_session() as session:
            assert integrity.listed_but_missing(session) == sorted(reject)
            assert not any(integrity.orphan_link_rows(session).values())
            titles = dict(session.execute(select(Movie.external_id, Movie.title)).all())
            without_details = session.scalars(select(Movie.external_id).where(Movie.details_fetched_at.is_(None))).all()
        assert without_details == [900_203]
        assert titles[900_001] == "NUL in the title" and titles[900_002] == "lone \ufffd surrogate"
        scenario.figure("movies served", len(catalog))
        scenario.figure("saved", len(expected))
        scenario.figure("details refused by name (list record kept)", len(failed))
        scenario.figure("rejected by id and field", len(reject))
        fetched, saved, details = run_steps()
        assert [f.content_changed for f in fetched] == [False] * len(pages)
        assert [(s.new, s.changed, s.rows_written) for s in saved] == [(0, 0, 0)] * len(pages)
        assert sum(d.details_calls for d in details) == 1  # only the refused one, tried again
    for movie_id, value in zip(sql_ids, SQL_LOOKING):
        assert titles[movie_id] == f"{value} title"
        with db.get_session() as session:
            assert resolve_movie(session, f"{value} title").external_id == movie_id
        if any(c.isalnum() for c in value):
            found = [r.external_id for r in search(db, f"{value} title", mode="keyword", k=50)]
            assert movie_id in found, (value, found)
        scenario.add("SQL-looking strings matched literally")
    with db.get_session() as session:
        assert session.scalar(text("SELECT count(*) FROM movies")) == len(expected)  # no statement ran as SQL


def _id(rejection: str) -> int:
    return int(float(rejection.split("movie ")[1].split(":")[0].strip("'\" ")))
