"""The server-rendered pages through TestClient: search with filters and paging, a movie, genres, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import EmbeddingModel, get_model
from yts_pipeline.serve import create_app
from yts_pipeline.serve.routes.html import PAGE_SIZE, SIMILAR_ON_PAGE
from yts_pipeline.settings import ServeSettings
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.serving import catalog_payloads, fill

MOVIE_LINK = re.compile(r'href="/movies/(\d+)"')


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    return get_model()


@pytest.fixture(scope="module")
def payloads(postgres: ScratchPostgres, model) -> Iterator[tuple[str, dict[int, dict[str, Any]]]]:
    name = postgres.create_database(TEMPLATE)
    url = postgres.url(name)
    db = DatabaseManager(url)
    movies = catalog_payloads()
    movies[0]["title"] = '<script>alert("owned")</script> & Co'
    fill(db, model, movies)
    db.close_all()
    yield url, {m["id"]: m for m in movies}
    postgres.drop_database(name)


@pytest.fixture(scope="module")
def client(payloads, model) -> Iterator[TestClient]:
    with TestClient(create_app(ServeSettings(), database_url=payloads[0], model=model)) as client:
        yield client


@pytest.fixture(scope="module")
def movies(payloads) -> dict[int, dict[str, Any]]:
    return payloads[1]


def page(client: TestClient, path: str, status: int = 200, **params: Any) -> str:
    answer = client.get(path, params=params)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    return answer.text


def test_the_front_page_has_the_search_box_every_filter_and_shelves(client) -> None:
    text = page(client, "/")
    for field in ("q", "mode", "genre", "year_from", "year_to", "min_rating", "quality"):
        assert f'name="{field}"' in text
    assert "<option>Drama</option>" in text
    assert len(MOVIE_LINK.findall(text)) == 24  # the top rated and latest shelves, 12 each


def test_search_results_are_cards_linking_to_movies_with_paging(client, movies) -> None:
    first = page(client, "/", q="family", mode="semantic")
    ids = MOVIE_LINK.findall(first)
    assert len(ids) == PAGE_SIZE
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = page(client, "/", q="family", mode="semantic", page=2)
    assert not set(ids) & set(MOVIE_LINK.findall(second))
    assert 'rel="prev"' in second
    card = movies[int(ids[0])]
    assert escape(card["title"]) in first and str(card["year"]) in first
    assert f'src="{card["medium_cover_image"]}"' in first


def test_an_empty_filter_field_means_any_and_a_bad_one_is_named(client) -> None:
    text = page(
        client, "/", q="treasure", mode="keyword", genre="", year_from="", year_to="", min_rating="", quality=""
    )
    assert MOVIE_LINK.findall(text)
    error = page(client, "/", status=422, q="treasure", year_from="last year")
    assert "year_from" in error and 'name="q"' not in error.split("<main>")[0]


def test_a_movie_page_shows_everything_and_links_similar_movies(client, movies) -> None:
    movie = next(m for m in movies.values() if m.get("cast") and m.get("torrents") and m.get("summary"))
    text = page(client, f"/movies/{movie['id']}")
    assert f"<h1>{escape(movie['title'])}" in text
    assert escape(movie["summary"]) in text
    for person in movie["cast"]:
        assert escape(person["name"]) in text
        if person.get("character_name"):
            assert f"as {escape(person['character_name'])}" in text
    for torrent in movie["torrents"]:
        assert torrent["size"] in text and torrent["hash"].lower() in text.lower()
    for genre in movie.get("genres") or ():
        assert f'href="/genres/{genre}"' in text
    similar = MOVIE_LINK.findall(text.split('class="similar"')[1])
    assert len(set(similar)) == SIMILAR_ON_PAGE and str(movie["id"]) not in similar
    assert text.split('class="similar"')[1].count('class="reasons"') == SIMILAR_ON_PAGE


def test_unknown_movies_and_genres_are_404_pages(client, movies) -> None:
    assert "no movie with YTS id" in page(client, f"/movies/{max(movies) + 1}", status=404)
    assert "no genre" in page(client, "/genres/Nope", status=404)
    assert "nothing at" in page(client, "/no/such/page", status=404)


def test_genre_and_browse_pages_list_movies_with_paging(client, movies) -> None:
    genres = page(client, "/genres")
    assert 'href="/genres/Drama"' in genres
    drama = [m for m in movies.values() if "Drama" in (m.get("genres") or ())]
    text = page(client, "/genres/drama")
    assert f"{len(drama)} movies" in text
    assert set(map(int, MOVIE_LINK.findall(text))) <= {m["id"] for m in drama}
    latest = page(client, "/browse", sort="added")
    newest = max(movies.values(), key=lambda m: m["date_uploaded_unix"])
    assert MOVIE_LINK.findall(latest)[0] == str(newest["id"])
    assert f"page 1 of {-(-len(movies) // PAGE_SIZE)}" in latest
    last = page(client, "/browse", sort="added", page=-(-len(movies) // PAGE_SIZE))
    assert 'rel="next"' not in last


def test_text_from_the_mirror_is_escaped(client, movies) -> None:
    hostile = next(m for m in movies.values() if m["title"].startswith("<script>"))
    text = page(client, f"/movies/{hostile['id']}")
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt; &amp; Co" in text


def test_an_empty_mirror_says_to_sync(empty_database_url) -> None:
    with TestClient(create_app(ServeSettings(), database_url=empty_database_url, load_model=False)) as client:
        assert client.get("/health").json()["movies"] == 0  # the schema was created on first use
        assert "run <code>yts-pipeline sync</code>" in page(client, "/")
        assert "nothing to search yet" in page(client, "/", status=503, q="anything", mode="keyword")
