"""DatabaseManager on a real Postgres: samples save, reruns change nothing, changes apply, no duplicates."""

from __future__ import annotations

import copy
import json
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from yts_pipeline.db.errors import DatabaseUnavailable
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Cast, Genre, Movie, MovieCast, MovieGenre, Torrent


def sample_movies(samples_dir: Path) -> dict[str, list[dict]]:
    found = {}
    for path in sorted(samples_dir.glob("*.json")):
        data = json.loads(path.read_text())["data"]
        found[path.name] = data.get("movies") or ([data["movie"]] if data.get("movie") else [])
    return found


def list_page(samples_dir: Path) -> list[dict]:
    return sample_movies(samples_dir)["list_movies_page1_limit50_2021-01-20.json"]


def count(db: DatabaseManager, model) -> int:
    with db.get_session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_every_sample_parses_and_saves(db: DatabaseManager, samples_dir: Path) -> None:
    expected = set()
    for name, movies in sample_movies(samples_dir).items():
        result = db.save_movies(movies)
        assert result.rejected == [], name
        expected |= {m["id"] for m in movies}
    with db.get_session() as session:
        assert set(session.scalars(select(Movie.external_id))) == expected
        blocks = session.scalars(select(Movie).where(Movie.external_id == 15)).one()
        assert blocks.description_intro and blocks.large_screenshot_image3
        assert blocks.details_fetched_at is not None
        assert session.scalar(select(func.count()).select_from(MovieCast).where(MovieCast.movie_id == blocks.id)) == 4
        repacks = set(session.scalars(select(Torrent.is_repack).where(Torrent.movie_id == blocks.id)))
        assert repacks == {False}  # "0" strings of the 2025 sample
    assert db.movie_exists(15) and not db.movie_exists(999_999_999)


def test_quirks_are_stored_as_meaning_not_as_served(db: DatabaseManager, samples_dir: Path) -> None:
    movies = list_page(samples_dir)
    db.save_movies(movies)
    by_id = {m["id"]: m for m in movies}
    with db.get_session() as session:
        for movie in session.scalars(select(Movie)):
            raw = by_id[movie.external_id]
            assert movie.title == raw["title"]
            assert float(movie.rating) == float(raw["rating"])
            assert movie.yt_trailer_code == (raw["yt_trailer_code"] or None)  # "" is unknown
            assert int(movie.date_uploaded.timestamp()) == raw["date_uploaded_unix"]  # UTC from the unix field
            hashes = set(session.scalars(select(Torrent.hash).where(Torrent.movie_id == movie.id)))
            assert hashes == {t["hash"].upper() for t in raw.get("torrents", [])}


def test_rerun_on_the_same_payloads_changes_nothing(db: DatabaseManager, samples_dir: Path) -> None:
    movies = list_page(samples_dir)
    first = db.save_movies(movies)
    assert len(first.created) == 50 and first.rows_written > 50
    with db.get_session() as session:
        before = session.execute(text("SELECT xmin::text, id FROM movies ORDER BY id")).all()
        torrents_before = session.execute(text("SELECT xmin::text, id FROM torrents ORDER BY id")).all()
    again = db.save_movies(copy.deepcopy(movies))
    assert (again.created, again.updated, len(again.unchanged), again.rows_written) == ([], [], 50, 0)
    with db.get_session() as session:
        assert session.execute(text("SELECT xmin::text, id FROM movies ORDER BY id")).all() == before
        assert session.execute(text("SELECT xmin::text, id FROM torrents ORDER BY id")).all() == torrents_before


def test_a_host_move_is_not_a_change(db: DatabaseManager, samples_dir: Path) -> None:
    movies = list_page(samples_dir)
    db.save_movies(movies)
    moved = json.loads(json.dumps(movies).replace("https://yts.mx/", "https://movies-api.accel.li/"))
    assert db.save_movies(moved).updated == []


def test_changed_seeds_and_a_new_torrent_are_applied(db: DatabaseManager, samples_dir: Path) -> None:
    movies = list_page(samples_dir)
    db.save_movies(movies)
    changed = copy.deepcopy(movies)
    target = next(m for m in changed if m.get("torrents"))
    target["torrents"][0]["seeds"] = 12345
    target["torrents"].append({**target["torrents"][0], "hash": "ab" * 20, "quality": "2160p", "seeds": 7})
    result = db.save_movies(changed)
    assert result.updated == [target["id"]] and len(result.unchanged) == 49
    with db.get_session() as session:
        movie_id = session.scalar(select(Movie.id).where(Movie.external_id == target["id"]))
        rows = dict(session.execute(select(Torrent.hash, Torrent.seeds).where(Torrent.movie_id == movie_id)).all())
    assert rows[target["torrents"][0]["hash"].upper()] == 12345
    assert rows["AB" * 20] == 7
    removed = copy.deepcopy(changed)
    next(m for m in removed if m["id"] == target["id"])["torrents"].pop()
    db.save_movies(removed)
    with db.get_session() as session:
        assert session.scalar(select(func.count()).select_from(Torrent).where(Torrent.hash == "AB" * 20)) == 0


def test_list_records_never_erase_details(db: DatabaseManager, samples_dir: Path) -> None:
    samples = sample_movies(samples_dir)
    details = samples["movie_details_id15_with_images_with_cast_2021-05.json"][0]
    db.save_movies([details], seen=False)
    listed = {
        k: v
        for k, v in details.items()
        if k not in ("cast", "description_intro", "like_count") and "screenshot" not in k
    }
    listed["summary"] = ""
    db.save_movies([listed])
    with db.get_session() as session:
        movie = session.scalars(select(Movie).where(Movie.external_id == 15)).one()
        assert movie.description_intro == details["description_intro"]
        assert movie.like_count == details["like_count"]
        assert movie.last_seen_at is not None
        assert session.scalar(select(func.count()).select_from(MovieCast)) == 4


UNICODE_TITLES = [
    "Amélie — Le Fabuleux Destin",
    "千と千尋の神隠し",
    "Ünïcødé 🎬 test",
    "Robert'); DROP TABLE movies;--",
    "' OR '1'='1",
    "%_\\ like wildcards",
    "line\nbreak\ttab",
]


def test_unicode_and_sql_looking_titles_round_trip(db: DatabaseManager, samples_dir: Path) -> None:
    base = list_page(samples_dir)[0]
    movies = [
        {**base, "id": 900_000 + i, "title": title, "summary": title, "torrents": []}
        for i, title in enumerate(UNICODE_TITLES)
    ]
    assert db.save_movies(movies).rejected == []
    with db.get_session() as session:
        stored = dict(session.execute(select(Movie.external_id, Movie.title).where(Movie.external_id >= 900_000)).all())
    assert [stored[900_000 + i] for i in range(len(UNICODE_TITLES))] == UNICODE_TITLES
    assert count(db, Movie) == len(UNICODE_TITLES)


@pytest.mark.parametrize(
    "mutation, field",
    [
        (lambda m: m.pop("id"), "id"),
        (lambda m: m.update(id="abc"), "id"),
        (lambda m: m.update(title=None), "title"),
        (lambda m: m.update(year={"y": 1}), "year"),
        (lambda m: m.update(rating="great"), "rating"),
        (lambda m: m.update(genres="Drama"), "genres"),
        (lambda m: m.update(torrents=[{"quality": "720p"}]), "torrents[0].hash"),
        (lambda m: m.update(runtime=-5), "runtime"),
    ],
)
def test_bad_payloads_are_rejected_by_name_and_the_rest_saved(db, samples_dir, mutation, field) -> None:
    movies = copy.deepcopy(list_page(samples_dir))
    bad = movies[7]
    mutation(bad)
    result = db.save_movies(movies)
    assert len(result.rejected) == 1
    rejected = result.rejected[0]
    assert rejected.field == field
    assert str(rejected.external_id) in (str(bad.get("id")), "None")
    assert field in str(rejected)
    assert len(result.created) == 49 and count(db, Movie) == 49


def test_original_api_get_or_create_and_save_movie(db: DatabaseManager, samples_dir: Path) -> None:
    with db.get_session() as session:
        drama = db.get_or_create_genre(session, "Drama")
        assert db.get_or_create_genre(session, "Drama").id == drama.id
        person = db.get_or_create_cast(session, {"name": "Bruce Willis", "imdb_code": "0000246"})
        renamed = db.get_or_create_cast(session, {"name": "B. Willis", "imdb_code": "0000246"})
        nameless = db.get_or_create_cast(session, {"name": "Extra One"})
        assert renamed.id == person.id and nameless.id != person.id
    assert (count(db, Genre), count(db, Cast)) == (1, 2)
    ok, movie_id, message = db.save_movie(list_page(samples_dir)[0])
    assert ok and movie_id and "created" in message
    assert db.save_movie(list_page(samples_dir)[0])[2].endswith("unchanged")
    assert db.save_movie({"title": "no id"}) == (False, None, "movie None: field 'id' is missing")


def test_get_session_rolls_back_on_error(db: DatabaseManager) -> None:
    with pytest.raises(RuntimeError):
        with db.get_session() as session:
            db.get_or_create_genre(session, "Western")
            raise RuntimeError("boom")
    assert count(db, Genre) == 0


def _save_in_process(url: str, movies: list[dict], barrier) -> None:
    manager = DatabaseManager(url)
    barrier.wait()
    for _ in range(3):
        manager.save_movies(movies)
    manager.close_all()


def test_two_processes_saving_the_same_movies_never_duplicate(database_url: str, samples_dir: Path) -> None:
    samples = sample_movies(samples_dir)
    movies = list_page(samples_dir) + samples["movie_details_id15_with_images_with_cast_2025-09.json"]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_save_in_process, args=(database_url, list(reversed(movies)) if i else movies, barrier))
        for i in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    manager = DatabaseManager(database_url)
    try:
        with manager.get_session() as session:
            assert session.scalar(select(func.count(Movie.id))) == 51
            assert session.scalar(select(func.count(func.distinct(Genre.name)))) == count(manager, Genre)
            assert session.scalar(select(func.count()).select_from(MovieGenre)) == sum(
                len(m.get("genres", [])) for m in movies
            )
            assert count(manager, Cast) == 4
    finally:
        manager.close_all()


def test_unreachable_server_names_host_and_cause_without_password() -> None:
    url = "postgresql+psycopg2://yts:s3cret-pw@127.0.0.1:1/mirror"
    with pytest.raises(DatabaseUnavailable) as caught:
        DatabaseManager(url)
    message = str(caught.value)
    assert "127.0.0.1:1/mirror" in message and "s3cret-pw" not in message
    assert "refused" in message.lower() or "connect" in message.lower()


# -- the figures of SaveResult, and batches saved side by side ----------------------------------------


def one_movie(**changes) -> dict:
    movie = {
        "id": 700_001,
        "title": "Figures",
        "genres": ["Drama", "Crime"],
        "description_intro": "Intro.",
        "torrents": [{"hash": f"{n:040x}", "quality": "720p", "seeds": n} for n in (1, 2, 3)],
        "cast": [
            {"name": "Ann Actor", "imdb_code": "0000001", "character_name": "Ann"},
            {"name": "Bob Nocode", "character_name": "Bob"},
        ],
    }
    return {**movie, **changes}


def test_rows_written_counts_every_row_inserted_updated_or_deleted(db: DatabaseManager) -> None:
    first = db.save_movies([one_movie()], seen=False)
    # the movie, 2 genres and their 2 links, 3 torrents, 2 people and their 2 links
    assert (first.created, first.rows_written) == ([700_001], 12)
    movie = one_movie()
    movie["torrents"][1]["seeds"] = 99  # one torrent updated
    movie["genres"] = ["Drama"]  # one link deleted
    movie["cast"][0]["character_name"] = "Ann, older"  # one link updated
    again = db.save_movies([movie], seen=False)
    assert (again.updated, again.rows_written) == ([700_001], 3)
    assert db.save_movies([movie], seen=False).rows_written == 0
    assert (count(db, Genre), count(db, MovieGenre), count(db, Torrent), count(db, MovieCast)) == (2, 1, 3, 2)


def test_batches_saved_side_by_side_give_the_figures_of_one_at_a_time(database_url: str, samples_dir: Path) -> None:
    movies = list_page(samples_dir)
    changed = copy.deepcopy(movies)
    for movie in changed[::7]:
        movie["title"] += " (restored)"
    figures = []
    for workers in (1, 2):
        manager = DatabaseManager(database_url)
        try:
            with manager.get_session() as session:
                session.execute(text("TRUNCATE movies, genres, casts RESTART IDENTITY CASCADE"))
            runs = [
                manager.save_movies(batch, batch_size=8, workers=workers) for batch in (movies[:30], movies, changed)
            ]
            # movies.id values follow the order batches commit in: only which movies have one is compared
            figures.append([(r.created, r.updated, r.unchanged, r.rows_written, sorted(r.movie_ids)) for r in runs])
            assert len(set(runs[-1].movie_ids.values())) == len(movies)
        finally:
            manager.close_all()
    assert figures[0] == figures[1]
    (first, second, third), _ = figures
    assert len(first[0]) == 30 and second[0] == sorted(m["id"] for m in movies[30:]) and len(second[2]) == 30
    assert third[1] == sorted(m["id"] for m in changed[::7]) and third[3] == len(changed[::7])


# -- the original per-movie API, a compatibility surface: one test each -------------------------------


def test_movie_exists(db: DatabaseManager) -> None:
    assert not db.movie_exists(700_001)
    db.save_movies([one_movie()])
    assert db.movie_exists(700_001) and not db.movie_exists(700_002)


def test_get_or_create_genre(db: DatabaseManager) -> None:
    with db.get_session() as session:
        western = db.get_or_create_genre(session, "Western")
        assert western.id and western.name == "Western"
        assert db.get_or_create_genre(session, "Western").id == western.id
        assert db.get_or_create_genre(session, "Film-Noir").id != western.id
    assert count(db, Genre) == 2


def test_get_or_create_cast(db: DatabaseManager) -> None:
    with db.get_session() as session:
        coded = db.get_or_create_cast(session, {"name": "Ann Actor", "imdb_code": "0000001", "url_small_image": ""})
        assert (coded.name, coded.imdb_code, coded.url_small_image) == ("Ann Actor", "0000001", None)
        assert db.get_or_create_cast(session, {"name": "A. Actor", "imdb_code": "0000001"}).id == coded.id
        named = db.get_or_create_cast(session, {"name": "Ann Actor"})  # no code: a person of her own, by name
        assert named.id != coded.id and db.get_or_create_cast(session, {"name": "Ann Actor"}).id == named.id
    assert count(db, Cast) == 2


def test_save_movie(db: DatabaseManager) -> None:
    ok, movie_id, message = db.save_movie(one_movie())
    assert ok and message == "movie 700001 created"
    assert db.save_movie(one_movie()) == (True, movie_id, "movie 700001 unchanged")
    assert db.save_movie(one_movie(title="Figures, restored")) == (True, movie_id, "movie 700001 updated")
    assert db.save_movie(one_movie(rating="great")) == (
        False,
        None,
        "movie 700001: field 'rating' is 'great', not a number",
    )


def test_get_stats(db: DatabaseManager) -> None:
    assert db.get_stats()["movies"] == 0 and db.get_stats()["embedding_coverage"] == 0.0
    db.save_movies([one_movie(), one_movie(id=700_002, genres=["Drama"], torrents=[], cast=[])], seen=False)
    db.record_details_failure({700_002: "HTTP 503"})
    stats = db.get_stats()
    assert {
        k: stats[k]
        for k in (
            "movies",
            "movies_with_details",
            "details_failures",
            "genres",
            "cast",
            "torrents",
            "embeddings",
            "added_last_hour",
        )
    } == {
        "movies": 2,
        "movies_with_details": 2,
        "details_failures": 1,
        "genres": 2,
        "cast": 2,
        "torrents": 3,
        "embeddings": 0,
        "added_last_hour": 2,
    }
    assert stats["top_genres"] == [{"genre": "Drama", "movies": 2}, {"genre": "Crime", "movies": 1}]


def test_close_all(database_url: str) -> None:
    manager = DatabaseManager(database_url)
    assert manager.movie_exists(1) is False
    assert manager.engine.pool.checkedin() >= 1
    manager.close_all()
    assert manager.engine.pool.checkedin() == 0
    assert manager.movie_exists(1) is False  # a closed manager connects again when used
