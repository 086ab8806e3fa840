"""search / similar / recommend with the real model on the 50 movies of the shared 2021 list page."""

from __future__ import annotations

import copy
import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie, MovieEmbedding
from yts_pipeline.search.embed import embed_movies
from yts_pipeline.search.errors import AmbiguousMovie, MovieNotFound, NothingToSearch, UnknownGenre
from yts_pipeline.search.model import EmbeddingModel, get_model
from yts_pipeline.search.queries import Filters, Result, recommend, search, similar
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.samples import SAMPLES_DIR

UHD_IDS = (26239, 26237, 26216)  # documentaries given an extra 2160p torrent for the quality filter
NOTHING_YET = "nothing to search yet: run `yts-pipeline sync` first"
PARAPHRASES = {  # a plot told without the summary's words -> the movie it describes
    26244: "a discredited doctor's experiment makes women deliver cats",
    26208: "after an animal bite a late night DJ slowly turns into a bloodsucker and attacks her colleagues",
    26182: "a gay man deported to a camp during the Second World War falls for another inmate",
    26204: "an ordinary man from the Australian bush travels to France to meet the trumpet player he idolises",
}


def sample_movies() -> list[dict]:
    """The sample page, three documentaries with a 2160p torrent added."""
    page = json.loads((SAMPLES_DIR / "list_movies_page1_limit50_2021-01-20.json").read_text())
    movies = copy.deepcopy(page["data"]["movies"])
    for movie in movies:
        if movie["id"] in UHD_IDS:
            uhd = {**movie["torrents"][-1], "quality": "2160p", "hash": f"{movie['id']:040X}"}
            movie["torrents"].append(uhd)
    return movies


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    """The packaged MiniLM, loaded once per process (``get_model`` caches it)."""
    return get_model()


@pytest.fixture(scope="module")
def catalog(postgres: ScratchPostgres, model: EmbeddingModel) -> Iterator[tuple[DatabaseManager, list[dict]]]:
    """One embedded copy of the sample page shared by the read-only tests of this module."""
    name = postgres.create_database(TEMPLATE)
    db = DatabaseManager(postgres.url(name))
    movies = sample_movies()
    db.save_movies(movies)
    embed_movies(db, model)
    yield db, movies
    db.close_all()
    postgres.drop_database(name)


def matching(movies: list[dict], filters: Filters) -> set[int]:
    """YTS ids of the sample movies that meet ``filters``, computed from the payloads."""

    def keep(movie: dict) -> bool:
        return (
            (filters.genre is None or filters.genre.lower() in {g.lower() for g in movie.get("genres", [])})
            and (filters.year_from is None or movie["year"] >= filters.year_from)
            and (filters.year_to is None or movie["year"] <= filters.year_to)
            and (filters.min_rating is None or movie["rating"] >= filters.min_rating)
            and (
                filters.quality is None or filters.quality.lower() in {t["quality"].lower() for t in movie["torrents"]}
            )
        )

    return {movie["id"] for movie in movies if keep(movie)}


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
@pytest.mark.parametrize("external_id", sorted(PARAPHRASES))
def test_a_paraphrased_plot_finds_its_movie_in_the_top_3(catalog, model, mode, external_id) -> None:
    db, _ = catalog
    results = search(db, PARAPHRASES[external_id], mode=mode, k=3, model=model)
    assert external_id in [r.external_id for r in results]


def test_keyword_mode_finds_a_word_from_a_title(catalog) -> None:
    db, _ = catalog
    results = search(db, "arsonist", mode="keyword", k=5)
    assert results[0].title == "The Arsonist"
    assert search(db, "resurfacing", mode="keyword")[0].external_id == 26239


def test_similar_neighbours_share_genres_far_more_than_chance(catalog) -> None:
    """Genres are coarse and half the page is Drama or Documentary, so "mostly" is measured
    against chance: a movie's 3 nearest neighbours share one of its genres about twice as often
    as a random other movie does, and a documentary's neighbours are mostly documentaries."""
    db, movies = catalog
    genres = {m["id"]: set(m.get("genres", [])) for m in movies}
    shared, chance, documentaries = [], [], []
    for movie_id, own in genres.items():
        neighbours = [genres[r.external_id] for r in similar(db, movie_id, k=3)]
        shared.append(statistics.mean(bool(own & other) for other in neighbours))
        chance.append(statistics.mean(bool(own & genres[o]) for o in genres if o != movie_id))
        if "Documentary" in own:
            documentaries.append(statistics.mean("Documentary" in other for other in neighbours))
    assert statistics.mean(shared) >= 1.8 * statistics.mean(chance)
    assert statistics.mean(documentaries) > 0.5


def test_similar_is_never_the_movie_itself_nor_a_removed_movie(catalog) -> None:
    db, movies = catalog
    nearest = similar(db, 26186, k=3)  # 9/11: Day That Changed the World
    assert nearest[0].external_id == 26185  # 9/11: The Heartland Tapes
    assert 26186 not in [r.external_id for r in similar(db, 26186, k=len(movies))]
    with db.get_session() as session:
        session.execute(update(Movie).where(Movie.external_id == 26185).values(removed_at=func.now()))
    try:
        assert 26185 not in [r.external_id for r in similar(db, 26186, k=len(movies))]
        with pytest.raises(MovieNotFound):
            similar(db, 26185)
    finally:
        with db.get_session() as session:
            session.execute(update(Movie).where(Movie.external_id == 26185).values(removed_at=None))


@pytest.mark.parametrize(
    "query",
    [
        26239,
        "26239",
        "TT11243364",
        "andy murray: resurfacing",
        "Andy Murray: Resurfacing (2019)",
        "Andy Mur",
        "Murray",
        "Andy Muray: Resurfacing",
    ],
)
def test_similar_resolves_ids_imdb_codes_and_titles(catalog, query) -> None:
    db, _ = catalog
    assert similar(db, query, k=3) == similar(db, 26239, k=3)


def test_an_ambiguous_title_lists_the_candidates(catalog) -> None:
    db, _ = catalog
    with pytest.raises(AmbiguousMovie) as error:
        similar(db, "ets among us")
    assert "ETs Among Us 5: Binary Code - Secret Messages from the Cosmos (2020, id 26198)" in str(error.value)
    assert "(2020, id 26195)" in str(error.value)


def test_an_unknown_title_suggests_close_titles(catalog) -> None:
    db, _ = catalog
    with pytest.raises(MovieNotFound, match=r"did you mean: The Arsonist \(2020, id 26191\); The Council"):
        similar(db, "The Arsonistss Counsil")
    with pytest.raises(MovieNotFound, match="no movie titled 'qwxz vbnm'"):
        similar(db, "qwxz vbnm")
    with pytest.raises(MovieNotFound, match="no movie with YTS id 1"):
        similar(db, 1)


FILTER_CASES = [
    Filters(genre="documentary"),
    Filters(year_from=2019, year_to=2020, min_rating=6.0),
    Filters(quality="2160P"),
    Filters(genre="Drama", year_to=2015, min_rating=7),
]


def assert_meets(results: list[Result], filters: Filters) -> None:
    for r in results:
        assert filters.genre is None or filters.genre.lower() in [g.lower() for g in r.genres]
        assert filters.year_from is None or r.year >= filters.year_from
        assert filters.year_to is None or r.year <= filters.year_to
        assert filters.min_rating is None or r.rating >= filters.min_rating
        assert filters.quality is None or r.best_quality == "2160p"


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_filters_hold_and_k_rows_come_back_when_k_movies_match(catalog, model, filters) -> None:
    db, movies = catalog
    expected = matching(movies, filters)
    assert len(expected) >= 3
    for k in (2, 20):
        for mode in ("semantic", "hybrid"):
            results = search(db, "a true story about family", mode=mode, k=k, filters=filters, model=model)
            assert_meets(results, filters)
            assert {r.external_id for r in results} <= expected and len(results) == min(k, len(expected))
        neighbours = similar(db, 26231, k=k, filters=filters)
        assert_meets(neighbours, filters)
        assert len(neighbours) == min(k, len(expected - {26231}))
    keyword = search(db, "life or love or family or murder", mode="keyword", k=20, filters=filters)
    assert_meets(keyword, filters)
    assert {r.external_id for r in keyword} <= expected


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_recommend_filters_hold_and_k_rows_come_back(catalog, filters) -> None:
    db, movies = catalog
    liked, disliked = [26231, "tt2101302"], [26239]  # In My Father's House, 9/11: Day That Changed the World
    expected = matching(movies, filters) - {26231, 26186, 26239}
    for k in (2, 20):
        results = recommend(db, liked, disliked, k=k, filters=filters)
        assert_meets(results, filters)
        assert {r.external_id for r in results} <= expected and len(results) == min(k, len(expected))
        assert all(
            r.reasons[0] in ("like In My Father's House", "like 9/11: Day That Changed the World") for r in results
        )


def test_an_unknown_genre_names_the_known_ones(catalog) -> None:
    db, _ = catalog
    with pytest.raises(UnknownGenre, match="no genre 'scifi'; known genres: Action, Adventure"):
        search(db, "space", mode="keyword", filters=Filters(genre="scifi"))


def test_sql_looking_text_is_searched_literally(catalog, model) -> None:
    db, movies = catalog
    for mode in ("keyword", "semantic", "hybrid"):
        search(db, "'; DROP TABLE movies; --", mode=mode, model=model)
        search(db, "x' OR '1'='1", mode=mode, model=model)
    with pytest.raises(MovieNotFound):
        similar(db, "' OR 1=1 --")
    with db.get_session() as session:
        assert session.scalar(select(func.count()).select_from(Movie)) == len(movies)


def test_a_filtered_vector_search_keeps_scanning_the_index_until_k_rows_match(
    db: DatabaseManager, postgres: ScratchPostgres, model: EmbeddingModel, database_url: str
) -> None:
    """500 decoys crowd the query's neighbourhood and fail the filter; the 4 horror movies lie far away.

    Sequential scans and sorts are disabled for the database so that the HNSW index answers, as
    it does on a large catalog: without iterative scans it would stop after ``hnsw.ef_search``
    decoys and return nothing.
    """
    query = "a sports documentary"
    db.save_movies([m for m in sample_movies() if "Horror" in m.get("genres", [])])
    embed_movies(db, model)
    rng = np.random.default_rng(0)
    centre = model.encode([query])[0]
    decoys = centre + rng.normal(scale=0.03, size=(500, centre.size))
    decoys /= np.linalg.norm(decoys, axis=1, keepdims=True)
    with db.get_session() as session:
        ids = session.scalars(
            insert(Movie).returning(Movie.id, sort_by_parameter_order=True),
            [{"external_id": 10**6 + i, "title": f"Decoy {i}"} for i in range(len(decoys))],
        ).all()
        session.execute(
            insert(MovieEmbedding),
            [
                {"movie_id": movie_id, "embedding": vector, "model": model.name, "content_hash": "decoy"}
                for movie_id, vector in zip(ids, decoys)
            ],
        )
    with postgres.admin.connect() as conn:
        for setting in ("enable_seqscan", "enable_sort"):
            conn.execute(text(f'ALTER DATABASE "{make_url(database_url).database}" SET {setting} = off'))
    db.engine.dispose()

    results = search(db, query, mode="semantic", k=4, filters=Filters(genre="horror"), model=model)
    assert sorted(r.external_id for r in results) == [26187, 26188, 26208, 26209]
    assert len(search(db, query, mode="semantic", k=10, model=model)) == 10


def test_an_empty_database_has_nothing_to_search(db: DatabaseManager, model: EmbeddingModel) -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        with pytest.raises(NothingToSearch, match=re.escape(NOTHING_YET)):
            search(db, "anything", mode=mode, model=model)
    with pytest.raises(NothingToSearch, match=re.escape(NOTHING_YET)):
        similar(db, "Average Joe")


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "yts_pipeline.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_search_prints_json(catalog) -> None:
    db, _ = catalog
    done = run_cli(db.url, "search", PARAPHRASES[26244], "-k", "3", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert len(found) == 3 and found[0]["external_id"] == 26244
    assert {"external_id", "title", "year", "score"} <= set(found[0])


def test_cli_similar_prints_a_table(catalog) -> None:
    db, _ = catalog
    done = run_cli(db.url, "similar", "9/11: Day That Changed the World", "-k", "2", "--genre", "history")
    assert done.returncode == 0, done.stderr
    header, first, first_reasons, second, second_reasons = done.stdout.splitlines()
    assert header.split() == ["title", "year", "rating", "genres", "quality", "score"]
    assert first.startswith("9/11: The Heartland Tapes") and "2013" in first and "History" in first
    assert first_reasons.startswith("    shares History; similar plot (")
    assert not second.startswith(" ") and second_reasons.startswith("    ")


def test_cli_similar_json_carries_the_reasons(catalog) -> None:
    db, _ = catalog
    done = run_cli(db.url, "similar", "26186", "-k", "2", "--json")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)[0]
    assert first["external_id"] == 26185 and first["reasons"][0] == "shares History"
    assert any(reason.startswith("similar plot (") for reason in first["reasons"])


def test_cli_errors_are_one_line(catalog, database_url: str) -> None:
    db, _ = catalog
    ambiguous = run_cli(db.url, "similar", "ETs Among Us")
    assert ambiguous.returncode == 1 and ambiguous.stdout == ""
    assert ambiguous.stderr.startswith("yts-pipeline similar: error: 'ETs Among Us' matches several movies: ")
    assert len(ambiguous.stderr.strip().splitlines()) == 1
    empty = run_cli(database_url, "similar", "Average Joe")
    assert (empty.returncode, empty.stderr) == (1, f"yts-pipeline similar: error: {NOTHING_YET}\n")


def test_cli_recommend_names_the_unknown_movie_and_never_returns_a_liked_one(catalog) -> None:
    db, _ = catalog
    unknown = run_cli(db.url, "recommend", "--liked", "26186", "--disliked", "5")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "yts-pipeline recommend: error: no movie with YTS id 5\n"
    done = run_cli(db.url, "recommend", "--liked", "26186", "--liked", "26185", "-k", "3", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert len(found) == 3 and not {26185, 26186} & {r["external_id"] for r in found}
    assert all(r["reasons"] for r in found)
