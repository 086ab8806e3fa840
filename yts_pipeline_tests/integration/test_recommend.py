"""similar and recommend with the real model on a small hand-made catalog: plots, not titles, decide.

"Colony of Shadows" is a space-survival story; four unrelated movies share its title word
"Shadows", three other space stories share none. "Red Horizon" was uploaded twice (same IMDb
code), "Starfall" has no plot text at all, "Ark of Stars" retells "The Long Orbit", and three
crime stories give a second taste to ``recommend``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import (
    AmbiguousMovie,
    EmbeddingModel,
    Filters,
    MovieNotFound,
    SearchError,
    embed_movies,
    get_model,
    recommend,
    similar,
)
from yts_pipeline_tests.conftest import SAMPLES_DIR, TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres

MOVIES = [  # id, title, year, rating, genres, plot (None: no plot text at all), IMDb code
    (
        101,
        "Colony of Shadows",
        2015,
        6.8,
        ["Adventure", "Sci-Fi"],
        "Settlers on a distant planet discover that their colony's oxygen supply is failing and must cross "
        "an alien desert to reach an abandoned starship before the air runs out.",
        None,
    ),
    (
        102,
        "Red Horizon",
        2014,
        7.1,
        ["Adventure", "Sci-Fi"],
        "Astronauts stranded on Mars ration their air and food while they repair a damaged rocket that could "
        "carry them back to Earth.",
        "tt9000102",
    ),
    (
        103,
        "Red Horizon 3D",
        2014,
        7.1,
        ["Adventure", "Sci-Fi"],
        "Astronauts stranded on Mars ration their air and food while they repair a damaged rocket that could "
        "carry them back to Earth.",
        "tt9000102",
    ),
    (
        104,
        "The Long Orbit",
        2016,
        6.2,
        ["Drama", "Sci-Fi"],
        "The crew of a generation ship travelling to a new world fight over dwindling supplies when the "
        "engines fail halfway through the voyage.",
        None,
    ),
    (
        105,
        "Ark of Stars",
        2017,
        6.0,
        ["Drama", "Sci-Fi"],
        "Halfway through a centuries-long voyage to a new world, the engines of a generation ship fail and "
        "its crew turn on each other over the last supplies.",
        None,
    ),
    (
        106,
        "Dust Moon",
        2013,
        6.5,
        ["Sci-Fi", "Thriller"],
        "Miners on a remote moon find an alien signal beneath the ice while their base slowly loses power "
        "and the rescue ship is weeks away.",
        None,
    ),
    (107, "Starfall", 2012, 5.9, ["Sci-Fi"], None, None),
    (
        111,
        "Shadows in Paris",
        2015,
        6.4,
        ["Comedy", "Romance"],
        "Two strangers fall in love over one summer of cafés, bookshops and long walks along the Seine.",
        None,
    ),
    (
        112,
        "Alibi of Shadows",
        2015,
        6.6,
        ["Crime", "Mystery"],
        "A small-town detective suspects a grieving widow of poisoning her wealthy husband for his fortune.",
        None,
    ),
    (
        113,
        "The Shadows",
        2015,
        7.0,
        ["Drama", "Music"],
        "A garage band from Liverpool chases its first record deal while the singer's marriage falls apart.",
        None,
    ),
    (
        114,
        "Shadows: Frozen Hollow",
        2015,
        6.1,
        ["Animation", "Family"],
        "A young fox and her woodland friends search the snowy forest for a lost bear cub before the "
        "winter storm arrives.",
        None,
    ),
    (
        121,
        "The Bakery on Elm Street",
        2010,
        6.9,
        ["Comedy", "Drama"],
        "A widowed baker and her teenage son try to save the family bakery from a developer.",
        None,
    ),
    (
        122,
        "Cold Harbour",
        2008,
        7.3,
        ["Crime", "Thriller"],
        "A dock worker is drawn into a smuggling ring after his brother disappears at sea.",
        None,
    ),
    (
        124,
        "Night Tide",
        2011,
        6.7,
        ["Crime", "Thriller"],
        "A harbour detective uncovers a smuggling ring that moves stolen goods on fishing boats at night.",
        None,
    ),
    (
        125,
        "The Fence",
        2009,
        6.3,
        ["Crime", "Drama"],
        "A pawnbroker is pulled into a gang of thieves and smugglers when his younger brother goes missing.",
        None,
    ),
    (
        123,
        "1917",
        2019,
        8.3,
        ["Drama", "War"],
        "Two young British soldiers cross enemy territory to deliver a message that could save 1,600 men.",
        None,
    ),
]
TITLE_WORD_DECOYS = {111, 112, 113, 114}
SPACE_STORIES = {102, 103, 104, 105, 106}


def payloads() -> list[dict]:
    """The catalog as API list items, built on a real one from the shared samples."""
    page = json.loads((SAMPLES_DIR / "list_movies_page1_limit50_2021-01-20.json").read_text())
    template = page["data"]["movies"][1]
    movies = []
    for movie_id, title, year, rating, genres, plot, imdb_code in MOVIES:
        movie = copy.deepcopy(template)
        movie.update(
            id=movie_id,
            imdb_code=imdb_code or f"tt9000{movie_id}",
            title=title,
            title_english=title,
            title_long=f"{title} ({year})",
            slug=f"{title.lower().replace(' ', '-')}-{year}",
            year=year,
            rating=rating,
            genres=genres,
            summary=plot or "",
            description_full=plot or "",
            synopsis=plot or "",
            description_intro=plot or "",
        )
        movies.append(movie)
    return movies


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return get_model()


@pytest.fixture(scope="module")
def catalog(postgres: ScratchPostgres, model: EmbeddingModel) -> Iterator[DatabaseManager]:
    name = postgres.create_database(TEMPLATE)
    db = DatabaseManager(postgres.url(name))
    db.save_movies(payloads())
    embed_movies(db, model)
    yield db
    db.close_all()
    postgres.drop_database(name)


def ids(results) -> list[int]:
    return [r.external_id for r in results]


def test_title_words_shared_by_unrelated_movies_do_not_make_neighbours(catalog) -> None:
    """Every other space story (one Red Horizon upload, and the plotless Sci-Fi one) before any namesake."""
    nearest = ids(similar(catalog, "Colony of Shadows", k=5))
    assert set(nearest) <= SPACE_STORIES | {107} and not TITLE_WORD_DECOYS & set(nearest)


def test_a_movie_without_plot_text_gets_same_genre_neighbours(catalog) -> None:
    nearest = similar(catalog, "Starfall", k=5)
    assert len(nearest) == 5 and all("Sci-Fi" in r.genres for r in nearest)
    assert all(r.reasons[0] == "shares Sci-Fi" for r in nearest)


def test_every_result_says_why(catalog) -> None:
    nearest = similar(catalog, 101, k=3)
    assert nearest[0].external_id in (102, 103)
    assert nearest[0].reasons[:2] == ["shares Adventure, Sci-Fi", nearest[0].reasons[1]]
    assert nearest[0].reasons[1].startswith("similar plot (0.")
    assert "same era" in nearest[0].reasons
    for result in [*nearest, *recommend(catalog, [101, 122], k=6)]:
        assert result.reasons and all(isinstance(reason, str) and reason for reason in result.reasons)
    liked = recommend(catalog, ["Colony of Shadows"], k=2)
    assert liked[0].reasons[0] == "like Colony of Shadows"


def test_near_duplicates_collapse_and_a_copy_is_not_its_own_neighbour(catalog) -> None:
    everything = ids(similar(catalog, 101, k=20))
    assert len(everything) == len(MOVIES) - 2  # itself and one of the two Red Horizon uploads
    assert len({102, 103} & set(everything)) == 1
    assert not {102, 103} & set(ids(similar(catalog, 102, k=20)))


def test_recommend_never_returns_a_liked_or_disliked_movie(catalog) -> None:
    liked, disliked = ["Colony of Shadows", "tt9000102"], [104]
    results = recommend(catalog, liked, disliked, k=20)
    assert not {101, 102, 103, 104} & set(ids(results))  # 103 is another upload of the liked 102
    assert len(results) == len(MOVIES) - 4


def test_a_disliked_movie_pushes_its_retelling_down(catalog) -> None:
    before = ids(recommend(catalog, [101], k=20))
    after = ids(recommend(catalog, [101], [104], k=20))
    assert after.index(105) > before.index(105)


def test_recommend_blends_several_liked_movies(catalog) -> None:
    """Each liked movie gets its share of the top: not four space stories for a space and a crime fan."""
    results = recommend(catalog, ["Colony of Shadows", "Cold Harbour"], k=4)
    assert {r.reasons[0] for r in results} == {"like Colony of Shadows", "like Cold Harbour"}
    assert any("Sci-Fi" in r.genres for r in results) and any("Sci-Fi" not in r.genres for r in results)


def test_filters_hold_for_similar_and_recommend(catalog) -> None:
    drama = Filters(genre="drama", year_from=2010)
    for results in (similar(catalog, 101, k=10, filters=drama), recommend(catalog, [101, 106], k=10, filters=drama)):
        assert ids(results) and all("Drama" in r.genres and r.year >= 2010 for r in results)
        assert set(ids(results)) == {104, 105, 113, 121, 123}
    assert set(ids(recommend(catalog, [101], k=3, filters=Filters(min_rating=7.2)))) == {122, 123}


def test_unknown_ambiguous_and_empty_inputs_are_one_clear_error(catalog) -> None:
    with pytest.raises(MovieNotFound, match="no movie titled 'Colony of Ghosts Returns'"):
        recommend(catalog, ["Colony of Shadows", "Colony of Ghosts Returns"])
    with pytest.raises(AmbiguousMovie, match=r"'red hor' matches several movies: Red Horizon \(2014, id 102\)"):
        recommend(catalog, [101], disliked=["red hor"])
    with pytest.raises(SearchError, match="at least one liked movie"):
        recommend(catalog, [])
    with pytest.raises(SearchError, match="both liked and disliked"):
        recommend(catalog, [101], ["Colony of Shadows"])
    with pytest.raises(MovieNotFound, match="no movie with YTS id 5$"):
        similar(catalog, "5")
    with pytest.raises(MovieNotFound, match="no movie with YTS id 5$"):
        recommend(catalog, ["5"])
    assert similar(catalog, "1917", k=1)  # a digit title that is no id is still found
