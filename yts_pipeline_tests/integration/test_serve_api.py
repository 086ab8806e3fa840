"""The HTTP API through FastAPI's TestClient, against a real Postgres holding an embedded synthetic catalog."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update
from sqlalchemy.exc import InternalError

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Movie
from yts_pipeline.search import EmbeddingModel, get_model
from yts_pipeline.serve import create_app
from yts_pipeline.serve.params import MAX_DEPTH, MAX_K, MAX_LIKED, MAX_QUERY_CHARS
from yts_pipeline.settings import ServeSettings
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.serving import catalog_payloads, fill, table_fingerprint

SUMMARY_FIELDS = {"external_id", "title", "year", "genres", "rating", "score", "cover_url", "reasons"}


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    return get_model()


@pytest.fixture(scope="module")
def served(postgres: ScratchPostgres, model: EmbeddingModel) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """One filled database shared by the read-only tests of this module: its URL and the payloads."""
    name = postgres.create_database(TEMPLATE)
    url = postgres.url(name)
    db = DatabaseManager(url)
    payloads = catalog_payloads()
    fill(db, model, payloads)
    db.close_all()
    yield url, payloads
    postgres.drop_database(name)


@pytest.fixture(scope="module")
def client(served, model) -> Iterator[TestClient]:
    with TestClient(create_app(ServeSettings(), database_url=served[0], model=model)) as client:
        yield client


@pytest.fixture(scope="module")
def movies(served) -> dict[int, dict[str, Any]]:
    return {payload["id"]: payload for payload in served[1]}


def genres_of(payload: dict[str, Any]) -> set[str]:
    return set(payload.get("genres") or ())


def a_movie_with(movies: dict[int, dict], *fields: str) -> dict[str, Any]:
    return next(m for m in movies.values() if all(m.get(f) for f in fields))


def test_health_counts_the_movies_and_embeddings(client, movies) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "database": "reachable",
        "movies": len(movies),
        "embeddings": len(movies),
        "model": "ready",
    }


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_search_answers_ranked_movies_with_their_covers(client, movies, mode) -> None:
    answer = client.get("/api/search", params={"q": "treasure", "mode": mode, "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["query"], body["mode"], body["k"]) == ("treasure", mode, 5)
    assert 1 <= len(body["results"]) <= 5
    for result in body["results"]:
        assert SUMMARY_FIELDS <= result.keys()
        payload = movies[result["external_id"]]
        assert (result["title"], result["year"]) == (payload["title"], payload["year"])
        assert result["cover_url"] == payload["medium_cover_image"]
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_keyword_search_finds_a_title_word(client, movies) -> None:
    movie = next(m for m in movies.values() if len(m["title"].split()[-1]) > 5)
    word = movie["title"].split()[-1]
    found = client.get("/api/search", params={"q": word, "mode": "keyword", "k": 50}).json()["results"]
    assert movie["id"] in [r["external_id"] for r in found]


@pytest.mark.parametrize(
    "filters",
    [
        {"genre": "drama"},
        {"year_from": 1990, "year_to": 2010},
        {"min_rating": 7},
        {"quality": "720p"},
        {"genre": "Comedy", "min_rating": 5.5, "year_from": 1980},
    ],
)
def test_search_and_similar_keep_to_the_filters(client, movies, filters) -> None:
    def keeps(payload: dict) -> bool:
        return (
            ("genre" not in filters or filters["genre"].lower() in {g.lower() for g in genres_of(payload)})
            and payload["year"] >= filters.get("year_from", 0)
            and payload["year"] <= filters.get("year_to", 9999)
            and payload["rating"] >= filters.get("min_rating", 0)
            and (
                "quality" not in filters or filters["quality"] in {t["quality"] for t in payload.get("torrents") or ()}
            )
        )

    expected = {movie_id for movie_id, payload in movies.items() if keeps(payload)}
    target = next(iter(movies))
    for path, params, itself in (
        ("/api/search", {"q": "a story", "mode": "semantic"}, set()),
        (f"/api/movies/{target}/similar", {}, {target}),
    ):
        answer = client.get(path, params={**params, **filters, "k": MAX_K})
        assert answer.status_code == 200, answer.text
        found = {r["external_id"] for r in answer.json()["results"]}
        assert found == expected - itself  # k covers the catalog: every matching movie comes back
        assert answer.json()["filters"] == {
            **dict.fromkeys(("genre", "year_from", "year_to", "min_rating", "quality")),
            **filters,
        }


def test_search_pages_through_one_ranking(client) -> None:
    params = {"q": "family", "mode": "semantic"}
    whole = [r["external_id"] for r in client.get("/api/search", params={**params, "k": 30}).json()["results"]]
    pages = [client.get("/api/search", params={**params, "k": 10, "offset": offset}).json() for offset in (0, 10, 20)]
    assert [r["external_id"] for page in pages for r in page["results"]] == whole
    assert [page["offset"] for page in pages] == [0, 10, 20]


def test_text_that_looks_like_sql_is_searched_literally(client, served) -> None:
    before = table_fingerprint(served[0])
    for q in ("'; DROP TABLE movies; --", '" OR 1=1 --', "%' UNION SELECT * FROM casts --", "$$; DELETE FROM genres"):
        for mode in ("keyword", "hybrid"):
            answer = client.get("/api/search", params={"q": q, "mode": mode})
            assert answer.status_code == 200, answer.text
    assert table_fingerprint(served[0]) == before


BAD_PARAMETERS = [
    ("/api/search", {}, "q"),
    ("/api/search", {"q": ""}, "q"),
    ("/api/search", {"q": "   "}, "q"),
    ("/api/search", {"q": "x" * (MAX_QUERY_CHARS + 1)}, "q"),
    ("/api/search", {"q": "a\x00b"}, "q"),
    ("/api/search", {"q": "x", "k": "ten"}, "k"),
    ("/api/search", {"q": "x", "k": "0"}, "k"),
    ("/api/search", {"q": "x", "k": "-3"}, "k"),
    ("/api/search", {"q": "x", "k": str(MAX_K + 1)}, "k"),
    ("/api/search", {"q": "x", "k": "1e3"}, "k"),
    ("/api/search", {"q": "x", "mode": "fuzzy"}, "mode"),
    ("/api/search", {"q": "x", "year_from": "nineteen"}, "year_from"),
    ("/api/search", {"q": "x", "year_to": "99999999999999999999999"}, "year_to"),
    ("/api/search", {"q": "x", "min_rating": "nan"}, "min_rating"),
    ("/api/search", {"q": "x", "min_rating": "11"}, "min_rating"),
    ("/api/search", {"q": "x", "genre": "Westerns In Space"}, "genre"),
    ("/api/search", {"q": "x", "genre": "Dra\x01ma"}, "genre"),
    ("/api/search", {"q": "x", "offset": str(MAX_DEPTH)}, "offset"),
    ("/api/movies/abc", {}, "yts_id"),
    ("/api/movies/0", {}, "yts_id"),
    ("/api/movies/99999999999999999999999", {}, "yts_id"),
    ("/api/movies/1/similar", {"k": "many"}, "k"),
    ("/api/movies", {"sort": "popularity"}, "sort"),
    ("/api/movies", {"order": "sideways"}, "order"),
    ("/api/movies", {"limit": "0"}, "limit"),
    ("/api/movies", {"genre": "Nope"}, "genre"),
    ("/api/recommend", {}, "liked"),
    ("/api/recommend", {"liked": "The Matrix"}, "liked"),
    ("/api/recommend", {"liked": "1", "disliked": "; DROP"}, "disliked"),
    ("/api/recommend", {"liked": ""}, "liked"),
    ("/api/recommend", {"liked": [str(n) for n in range(1, MAX_LIKED + 2)]}, "liked"),
]


@pytest.mark.parametrize(("path", "params", "parameter"), BAD_PARAMETERS)
def test_a_bad_parameter_is_a_4xx_naming_it(client, path, params, parameter) -> None:
    answer = client.get(path, params=params)
    assert 400 <= answer.status_code < 500, answer.text
    body = answer.json()
    assert body["parameter"] == parameter
    assert parameter in body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]


def test_what_the_document_allows_is_answered(client, movies) -> None:
    """Years in either order, and a page that reaches past the ranking's end: an answer, maybe empty."""
    crossed = {"year_from": 2099, "year_to": 1870}
    for path, params in (
        ("/api/search", {"q": "treasure"}),
        (f"/api/movies/{next(iter(movies))}/similar", {}),
        ("/api/recommend", {"liked": next(iter(movies))}),
    ):
        answer = client.get(path, params={**params, **crossed})
        assert answer.status_code == 200 and answer.json()["results"] == [], answer.text
    deep = client.get("/api/search", params={"q": "the", "mode": "keyword", "offset": MAX_DEPTH - 5, "k": 10})
    assert deep.status_code == 200 and len(deep.json()["results"]) <= 5


def test_an_unknown_or_removed_movie_is_a_404(client, served, movies) -> None:
    for path in ("/api/movies/{}", "/api/movies/{}/similar"):
        answer = client.get(path.format(max(movies) + 1000))
        assert answer.status_code == 404
        assert answer.json() == {"error": f"no movie with YTS id {max(movies) + 1000}", "parameter": "yts_id"}
    removed = next(iter(movies))
    writer = DatabaseManager(served[0])
    try:
        with writer.get_session() as session:
            session.execute(update(Movie).where(Movie.external_id == removed).values(removed_at=text("now()")))
        assert client.get(f"/api/movies/{removed}").status_code == 404
        other = list(movies)[1]
        neighbours = client.get(f"/api/movies/{other}/similar", params={"k": MAX_K}).json()["results"]
        assert removed not in [r["external_id"] for r in neighbours]
    finally:
        with writer.get_session() as session:
            session.execute(update(Movie).where(Movie.external_id == removed).values(removed_at=None))
        writer.close_all()


def test_a_movie_comes_whole(client, movies) -> None:
    payload = a_movie_with(movies, "torrents", "cast", "genres", "summary")
    answer = client.get(f"/api/movies/{payload['id']}")
    assert answer.status_code == 200
    movie = answer.json()
    for field in ("title", "year", "runtime", "imdb_code", "summary", "language", "mpa_rating", "slug"):
        assert movie[field] == payload[field], field
    assert movie["external_id"] == payload["id"]
    assert movie["rating"] == pytest.approx(payload["rating"])
    assert movie["genres"] == sorted(payload["genres"])
    assert movie["cover_url"] == payload["medium_cover_image"]
    assert movie["images"]["large_cover_image"] == payload["large_cover_image"]
    assert len(movie["images"]["screenshots"]) == 3

    def torrents(of: dict) -> set[tuple]:
        return {(t["hash"].lower(), t["quality"], t["type"], t["size"], t["seeds"], t["peers"]) for t in of["torrents"]}

    assert torrents(movie) == torrents(payload)
    seeds = [t["seeds"] for t in movie["torrents"]]
    assert seeds == sorted(seeds, reverse=True)
    assert {(c["name"], c["character_name"]) for c in movie["cast"]} == {
        (c["name"], c.get("character_name")) for c in payload["cast"]
    }
    assert all(c.keys() >= {"name", "character_name", "imdb_code"} for c in movie["cast"])


def test_similar_is_never_the_movie_itself(client, movies) -> None:
    for movie_id in list(movies)[:10]:
        answer = client.get(f"/api/movies/{movie_id}/similar", params={"k": 5})
        assert answer.status_code == 200
        body = answer.json()
        assert body["movie"]["external_id"] == movie_id
        ids = [r["external_id"] for r in body["results"]]
        assert len(ids) == 5 and movie_id not in ids
        assert all(SUMMARY_FIELDS <= r.keys() for r in body["results"])


@pytest.mark.parametrize("sort", ["rating", "year", "added", "title", "seeds"])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_browse_lists_every_live_movie_in_order_without_overlap(client, movies, sort, order) -> None:
    listed = []
    for offset in range(0, len(movies), 30):
        page = client.get("/api/movies", params={"sort": sort, "order": order, "limit": 30, "offset": offset}).json()
        assert page["total"] == len(movies)
        listed += page["results"]
    assert sorted(r["external_id"] for r in listed) == sorted(movies)

    def key(payload: dict):
        return {
            "rating": payload["rating"],
            "year": payload["year"],
            "title": payload["title"].lower(),
            "added": payload["date_uploaded_unix"],
            "seeds": max((t["seeds"] for t in payload.get("torrents") or ()), default=None),
        }[sort]

    keys = [key(movies[r["external_id"]]) for r in listed]
    present = [k for k in keys if k is not None]
    assert present == sorted(present, reverse=order == "desc")
    assert keys[: len(present)] == present  # movies without a value (no torrent) come last


def test_browse_by_genre_counts_and_lists_its_movies(client, movies) -> None:
    counts = Counter(genre for payload in movies.values() for genre in genres_of(payload))
    genres = client.get("/api/genres").json()["results"]
    assert {g["name"]: g["movies"] for g in genres} == dict(counts)
    assert [g["movies"] for g in genres] == sorted(counts.values(), reverse=True)
    genre, count = counts.most_common(1)[0]
    page = client.get("/api/movies", params={"genre": genre.upper(), "limit": 100}).json()
    assert (page["genre"], page["total"]) == (genre, count)
    assert all(genre in r["genres"] for r in page["results"])


def test_stats_count_the_mirror(client, movies) -> None:
    stats = client.get("/api/stats").json()
    assert (stats["movies"], stats["embeddings"], stats["movies_removed"]) == (len(movies), len(movies), 0)
    assert stats["torrents"] == sum(len(m.get("torrents") or ()) for m in movies.values())


def test_the_serving_path_only_reads(client) -> None:
    db = client.app.state.database.get()
    with db.get_session() as session:
        assert session.scalar(text("SHOW transaction_read_only")) == "on"
        with pytest.raises(InternalError, match="read-only transaction"):
            session.execute(text("DELETE FROM genres"))


def test_openapi_lists_every_endpoint_and_docs_work_offline(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/health",
        "/api/stats",
        "/api/genres",
        "/api/search",
        "/api/recommend",
        "/api/movies",
        "/api/movies/{yts_id}",
        "/api/movies/{yts_id}/similar",
    }
    search_params = {p["name"] for p in paths["/api/search"]["get"]["parameters"]}
    assert search_params == {"q", "k", "mode", "genre", "year_from", "year_to", "min_rating", "quality", "offset"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static/docs/{asset}" in docs.text
        assert client.get(f"/static/docs/{asset}").status_code == 200


def test_cors_is_off_unless_configured(served, model) -> None:
    origin = {"Origin": "https://media-centre.example"}
    with TestClient(create_app(ServeSettings(), database_url=served[0], model=model)) as closed:
        assert "access-control-allow-origin" not in closed.get("/health", headers=origin).headers
    settings = ServeSettings(cors_origins=("https://media-centre.example",))
    with TestClient(create_app(settings, database_url=served[0], model=model)) as opened:
        assert opened.get("/health", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
        other = opened.get("/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_every_request_is_one_log_line_and_answers_carry_safe_headers(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="yts_pipeline.serve.access"):
        answer = client.get("/api/search", params={"q": "line\nbreak", "mode": "keyword"})
        client.get("/api/movies/0")
    lines = [r.getMessage() for r in caplog.records if r.name == "yts_pipeline.serve.access"]
    assert len(lines) == 2
    assert '"GET /api/search?q=line%0Abreak&mode=keyword" 200' in lines[0]
    assert '"GET /api/movies/0" 422' in lines[1]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_database_that_is_down_is_a_503_without_its_password(caplog) -> None:
    url = "postgresql+psycopg2://yts:s3cret-Passw0rd@127.0.0.1:9/yts"
    with (
        caplog.at_level(logging.INFO),
        TestClient(create_app(ServeSettings(), database_url=url, load_model=False)) as client,
    ):
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        for path in ("/api/search?q=x&mode=keyword", "/api/movies/1", "/api/stats", "/"):
            answer = client.get(path)
            assert answer.status_code == 503, path
            assert "s3cret" not in answer.text and "127.0.0.1" not in answer.text
        assert client.get("/api/search?q=x&mode=keyword").json() == {
            "error": "the database is unavailable; try again later",
            "parameter": None,
        }
    assert "s3cret" not in caplog.text
    assert "database unavailable" in caplog.text


PATHS = [
    "/api/search",
    "/api/movies",
    "/api/movies/{}",
    "/api/movies/{}/similar",
    "/api/recommend",
    "/",
    "/browse",
    "/genres/{}",
    "/movies/{}",
    "/api/genres",
    "/health",
]
NAMES = [
    "q",
    "k",
    "mode",
    "genre",
    "year_from",
    "year_to",
    "min_rating",
    "quality",
    "offset",
    "sort",
    "order",
    "limit",
    "liked",
    "disliked",
    "page",
]
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(
        [
            "",
            " ",
            "hybrid",
            "semantic",
            "keyword",
            "Drama",
            "1080p",
            "0",
            "-1",
            "1e309",
            "'; DROP TABLE movies; --",
            "%00",
            "\u0000",
            "tt0133093",
            "25",
            "NaN",
        ]
    ),
)
RAW = st.binary(max_size=12).map(lambda raw: "".join(f"%{byte:02X}" for byte in raw))


def test_nothing_a_client_sends_is_a_500_or_changes_the_database(client, served) -> None:
    before = table_fingerprint(served[0])

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(
        path=st.sampled_from(PATHS),
        segment=st.one_of(VALUES, RAW),
        params=st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=6),
        raw_query=RAW,
    )
    def send(path: str, segment: str, params: list[tuple[str, str]], raw_query: str) -> None:
        target = path.format(segment if segment.startswith("%") else quote(segment, safe=""))
        query = urlencode(params) + (f"&q={raw_query}" if raw_query else "")
        answer = client.get(f"{target}?{query}")
        assert answer.status_code < 500, (target, query, answer.text)
        if answer.status_code >= 400 and target.startswith("/api/"):
            assert set(answer.json()) == {"error", "parameter"}

    send()
    assert table_fingerprint(served[0]) == before


def test_a_model_that_cannot_load_leaves_keyword_search_working(served, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    with TestClient(create_app(ServeSettings(), database_url=served[0])) as client:
        semantic = client.get("/api/search", params={"q": "treasure", "mode": "semantic"})
        assert semantic.status_code == 503
        assert "EMBEDDING_MODEL" in semantic.json()["error"]
        assert client.get("/api/search", params={"q": "treasure", "mode": "keyword"}).status_code == 200
        assert client.get("/health").json()["model"] == "failed"


def test_recommend_is_never_a_liked_or_disliked_movie_and_gives_reasons(client, movies) -> None:
    liked, also_liked, disliked = list(movies)[:3]
    answer = client.get(
        "/api/recommend", params={"liked": [liked, movies[also_liked]["imdb_code"]], "disliked": [disliked], "k": 8}
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 8
    assert not {r["external_id"] for r in results} & {liked, also_liked, disliked}
    assert all(SUMMARY_FIELDS <= r.keys() and r["reasons"] for r in results)
    genre = "Drama"
    kept = client.get("/api/recommend", params={"liked": liked, "genre": genre, "k": MAX_K}).json()["results"]
    assert kept and all(genre in r["genres"] for r in kept)


def test_similar_gives_the_reasons_of_its_ranking(client, movies) -> None:
    results = client.get(f"/api/movies/{next(iter(movies))}/similar", params={"k": 5}).json()["results"]
    assert all(r["reasons"] and all(isinstance(reason, str) for reason in r["reasons"]) for r in results)


@pytest.mark.parametrize("parameter", ["liked", "disliked"])
def test_recommend_names_the_unknown_id_and_where_it_came_from(client, movies, parameter) -> None:
    unknown = max(movies) + 77
    params = {"liked": [next(iter(movies))], "disliked": []}
    params[parameter] = [*params[parameter], str(unknown)]
    answer = client.get("/api/recommend", params=params)
    assert answer.status_code == 404
    assert answer.json() == {"error": f"no movie with YTS id {unknown}", "parameter": parameter}


def test_recommend_refuses_a_movie_both_liked_and_disliked(client, movies) -> None:
    movie = movies[next(iter(movies))]
    answer = client.get("/api/recommend", params={"liked": movie["id"], "disliked": movie["imdb_code"]})
    assert answer.status_code == 409
    assert answer.json()["parameter"] == "disliked" and "both liked and disliked" in answer.json()["error"]
