"""The "For you" page and its forms through TestClient, over a real Postgres with an embedded catalog:
likes kept in cookies, recommendations with reasons, going back only to this site, other sites refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import EmbeddingModel, get_model
from yts_pipeline.serve import create_app
from yts_pipeline.serve.taste import DISLIKED_COOKIE, LIKED_COOKIE
from yts_pipeline.settings import ServeSettings
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.serving import catalog_payloads, fill, table_fingerprint

MOVIE_LINK = re.compile(r'href="/movies/(\d+)"')


@pytest.fixture(scope="module")
def served(postgres: ScratchPostgres) -> Iterator[tuple[str, dict[int, dict[str, Any]]]]:
    name = postgres.create_database(TEMPLATE)
    url = postgres.url(name)
    db = DatabaseManager(url)
    payloads = catalog_payloads()
    fill(db, get_model(), payloads)
    db.close_all()
    yield url, {m["id"]: m for m in payloads}
    postgres.drop_database(name)


@pytest.fixture
def client(served) -> Iterator[TestClient]:
    """A fresh browser: no cookies, redirects shown, not followed."""
    model: EmbeddingModel = get_model()
    with TestClient(create_app(ServeSettings(), database_url=served[0], model=model), follow_redirects=False) as client:
        yield client


def press(client: TestClient, choice: str, movie: int | None = None, back: str = "/", **headers: str):
    form = {"back": back} | ({"yts_id": str(movie)} if movie is not None else {})
    return client.post(f"/for-you/{choice}", data=form, headers=headers)


def test_without_likes_the_page_says_how_to_like(client) -> None:
    text = client.get("/for-you").text
    assert "<h1>For you</h1>" in text and "Press ♥ Like" in text and "nothing is stored on the server" in text
    assert not MOVIE_LINK.search(text)


def test_liked_movies_are_recommended_from_with_reasons_and_can_be_forgotten(client, served) -> None:
    before = table_fingerprint(served[0])
    liked, also_liked, disliked = list(served[1])[:3]
    for choice, movie in (("like", liked), ("like", also_liked), ("dislike", disliked)):
        answer = press(client, choice, movie, back=f"/browse?sort=added&page=2#m{movie}")
        assert (answer.status_code, answer.headers["location"]) == (303, f"/browse?sort=added&page=2#m{movie}")
    assert client.cookies[LIKED_COOKIE] == f"{liked}.{also_liked}"
    assert client.cookies[DISLIKED_COOKIE] == str(disliked)

    page = client.get("/for-you").text
    kept, recommended = page.split('id="recommended-heading"')
    found = {int(i) for i in MOVIE_LINK.findall(recommended)}
    assert len(found) >= 10 and not found & {liked, also_liked, disliked}
    assert recommended.count('<ul class="reasons">') == len(found)
    assert [int(i) for i in MOVIE_LINK.findall(kept)] == [also_liked, liked, disliked]  # newest first
    assert 'aria-pressed="true"' in client.get(f"/movies/{liked}").text.split('class="genre-links"')[0]
    browse = client.get("/browse?sort=rating&page=2").text  # a button comes back to its card
    card = MOVIE_LINK.findall(browse)[0]
    assert f'id="m{card}"' in browse and f'name="back" value="/browse?sort=rating&amp;page=2#m{card}"' in browse

    press(client, "forget", liked)
    assert client.cookies[LIKED_COOKIE] == str(also_liked)
    press(client, "like", disliked)  # a movie is on one side only
    assert client.cookies[LIKED_COOKIE] == f"{also_liked}.{disliked}"
    assert DISLIKED_COOKIE not in client.cookies
    answer = press(client, "clear", back="/for-you")
    assert answer.headers["location"] == "/for-you" and not client.cookies
    assert table_fingerprint(served[0]) == before


def test_unknown_and_malformed_likes_are_ignored(client, served) -> None:
    movie = next(iter(served[1]))
    client.cookies.set(LIKED_COOKIE, f"junk.{max(served[1]) + 99}.{movie}.-4")
    client.cookies.set(DISLIKED_COOKIE, "%00%FF")
    answer = client.get("/for-you")
    assert answer.status_code == 200
    kept = answer.text.split('id="recommended-heading"')[0]
    assert [int(i) for i in MOVIE_LINK.findall(kept)] == [movie]
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
        "",
        "relative/path",
    ],
)
def test_a_button_only_goes_back_to_this_site(client, served, back) -> None:
    answer = press(client, "like", next(iter(served[1])), back=back)
    assert answer.status_code == 303 and answer.headers["location"] == "/for-you"


def test_forms_from_other_sites_and_bad_ids_are_refused(client, served) -> None:
    movie = next(iter(served[1]))
    refused = press(client, "like", movie, **{"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and "another site" in refused.text
    assert LIKED_COOKIE not in client.cookies
    assert press(client, "like", movie, **{"Sec-Fetch-Site": "same-origin"}).status_code == 303
    for bad in ("abc", "0", "", "9" * 30):
        assert press(client, "like", bad).status_code == 422  # type: ignore[arg-type]
    assert client.post("/for-you/like", content=b"yts_id=1&back=" + b"x" * 5000).status_code == 413
    assert client.post("/for-you/adore", data={"yts_id": movie}).status_code == 422
