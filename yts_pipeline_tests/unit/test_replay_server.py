"""The replay server answers like the YTS API: envelope, paging, details, quirks, faults, counters."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from yts_pipeline.yts.replay import FAULT_KINDS, Catalog, ReplayServer
from yts_pipeline_tests.support.samples import SAMPLES_DIR

HASH = re.compile(r"^[0-9A-F]{40}$")


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.synthetic(120, seed=1)


@pytest.fixture
def server(catalog: Catalog) -> Iterator[ReplayServer]:
    with ReplayServer(catalog, slow_seconds=0.3, retry_after_seconds=7) as running:
        yield running


def get(server: ReplayServer, endpoint: str, **params: Any) -> requests.Response:
    return requests.get(f"{server.base_url}{endpoint}.json", params=params, timeout=5)


def list_page(server: ReplayServer, page: int, limit: int = 50, **params: Any) -> dict[str, Any]:
    body = get(server, "list_movies", page=page, limit=limit, sort_by="date_added", order_by="asc", **params).json()
    assert body["status"] == "ok"
    return body["data"]


def walk_ids(server: ReplayServer, limit: int = 50) -> list[int]:
    first = list_page(server, 1, limit)
    pages = -(-first["movie_count"] // limit)
    ids = [m["id"] for m in first.get("movies", [])]
    for page in range(2, pages + 1):
        ids += [m["id"] for m in list_page(server, page, limit).get("movies", [])]
    return ids


def test_envelope_and_list_items_have_the_captured_shape(server: ReplayServer, catalog: Catalog) -> None:
    body = get(server, "list_movies", limit=50).json()
    assert list(body) == ["status", "status_message", "data", "@meta"]
    assert body["status"] == "ok" and body["status_message"] == "Query was successful"
    assert body["@meta"]["server_timezone"] == "CET" and body["@meta"]["api_version"] == 2
    assert isinstance(body["@meta"]["server_time"], int)
    assert list(body["data"]) == ["movie_count", "limit", "page_number", "movies"]
    assert body["data"]["movie_count"] == len(catalog)
    assert [m["id"] for m in body["data"]["movies"]] == catalog.ids()[::-1][:50]  # default: newest first

    item = next(m for m in body["data"]["movies"] if "torrents" in m and "genres" in m)
    assert list(item) == [  # as in the 2021 capture
        "id",
        "url",
        "imdb_code",
        "title",
        "title_english",
        "title_long",
        "slug",
        "year",
        "rating",
        "runtime",
        "genres",
        "summary",
        "description_full",
        "synopsis",
        "yt_trailer_code",
        "language",
        "mpa_rating",
        "background_image",
        "background_image_original",
        "small_cover_image",
        "medium_cover_image",
        "large_cover_image",
        "state",
        "torrents",
        "date_uploaded",
        "date_uploaded_unix",
    ]
    assert item["title_long"] == f"{item['title']} ({item['year']})"
    assert list(item["torrents"][0]) == [
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


def test_date_added_ascending_walks_every_id_once_and_new_movies_land_last(
    server: ReplayServer, catalog: Catalog
) -> None:
    assert walk_ids(server) == catalog.ids()
    before = [list_page(server, p)["movies"] for p in (1, 2)]

    new_ids = catalog.add_movies(3)
    assert [list_page(server, p)["movies"] for p in (1, 2)] == before
    last = list_page(server, 3)
    assert [m["id"] for m in last["movies"]][-3:] == new_ids
    assert walk_ids(server) == catalog.ids() and catalog.ids()[-3:] == new_ids
    assert len(catalog) == 123


def test_empty_page_has_no_movies_key_but_keeps_the_count(server: ReplayServer) -> None:
    data = list_page(server, 99)
    assert data == {"movie_count": 120, "limit": 50, "page_number": 99}


@pytest.mark.parametrize(
    ("limit", "page", "served_limit", "served_page"),
    [(0, 1, 20, 1), (51, 2, 20, 2), ("abc", 0, 20, 1), (50, -3, 50, 1), (1, "x", 1, 1)],
)
def test_out_of_range_paging_falls_back_to_defaults(
    server: ReplayServer, limit: Any, page: Any, served_limit: int, served_page: int
) -> None:
    data = get(server, "list_movies", limit=limit, page=page).json()["data"]
    assert (data["limit"], data["page_number"], len(data["movies"])) == (served_limit, served_page, served_limit)


def test_sorting_and_filters(server: ReplayServer, catalog: Catalog) -> None:
    ratings = [
        float(m["rating"])
        for m in get(server, "list_movies", limit=50, sort_by="rating", order_by="asc").json()["data"]["movies"]
    ]
    assert ratings == sorted(ratings)
    titles = [
        m["title"].lower() for m in get(server, "list_movies", limit=50, sort_by="title").json()["data"]["movies"]
    ]
    assert titles == sorted(titles, reverse=True)

    action = get(server, "list_movies", limit=50, genre="action").json()["data"]
    assert action["movie_count"] > 0 and all("Action" in m["genres"] for m in action["movies"])
    good = get(server, "list_movies", limit=50, minimum_rating=7).json()["data"]
    assert all(float(m["rating"]) >= 7 for m in good["movies"])
    uhd = get(server, "list_movies", limit=50, quality="2160p").json()["data"]
    assert all(any(t["quality"] == "2160p" for t in m["torrents"]) for m in uhd["movies"])
    movie = catalog.movie(catalog.ids()[7])
    found = get(server, "list_movies", query_term=movie["imdb_code"]).json()["data"]
    assert [m["id"] for m in found["movies"]] == [movie["id"]]
    by_title = get(server, "list_movies", query_term=movie["title"].upper()).json()["data"]
    assert movie["id"] in [m["id"] for m in by_title["movies"]]


def test_details_plain_with_images_and_with_cast(server: ReplayServer, catalog: Catalog) -> None:
    movie_id = catalog.ids()[0]
    plain = get(server, "movie_details", movie_id=movie_id).json()["data"]["movie"]
    assert plain["id"] == movie_id
    assert {"like_count", "description_intro", "description_full"} <= plain.keys()
    assert not {"cast", "medium_screenshot_image1", "summary", "synopsis", "state"} & plain.keys()

    full = get(server, "movie_details", movie_id=movie_id, with_images="true", with_cast=1).json()["data"]["movie"]
    assert full["large_screenshot_image3"].startswith(server.origin + "/assets/images/movies/")
    assert 1 <= len(full["cast"]) <= 4
    for person in full["cast"]:
        assert {"name", "character_name"} <= person.keys() <= {"name", "character_name", "imdb_code", "url_small_image"}
        assert person.get("imdb_code", "0").isdigit()

    by_imdb = get(server, "movie_details", imdb_id=full["imdb_code"], with_cast="false").json()["data"]["movie"]
    assert by_imdb["id"] == movie_id and "cast" not in by_imdb


def test_unknown_movie_is_status_ok_with_id_0(server: ReplayServer) -> None:
    body = get(server, "movie_details", movie_id=999_999_999).json()
    assert body["status"] == "ok" and body["data"]["movie"]["id"] == 0
    assert get(server, "movie_details", imdb_id="tt0000000").json()["data"]["movie"]["id"] == 0


def test_bad_parameters_get_status_error_and_unknown_paths_404(server: ReplayServer) -> None:
    for endpoint, params in [
        ("list_movies", {"sort_by": "popularity"}),
        ("list_movies", {"order_by": "up"}),
        ("list_movies", {"minimum_rating": 11}),
        ("list_movies", {"quality": "8K"}),
        ("movie_details", {}),
        ("movie_details", {"movie_id": "abc"}),
        ("movie_suggestions", {}),
    ]:
        response = get(server, endpoint, **params)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "error" and body["status_message"] and "data" not in body, (endpoint, params)
    assert get(server, "list_upcoming").status_code == 404
    assert requests.get(server.origin + "/", timeout=5).status_code == 404


def test_suggestions_are_four_related_movies(server: ReplayServer, catalog: Catalog) -> None:
    movie = next(catalog.movie(i) for i in catalog.ids() if catalog.movie(i).get("genres"))
    data = get(server, "movie_suggestions", movie_id=movie["id"]).json()["data"]
    assert data["movie_count"] == 4 and movie["id"] not in [m["id"] for m in data["movies"]]
    assert all(set(m.get("genres", ())) & set(movie["genres"]) for m in data["movies"])


def test_each_fault_kind_scripted_once_then_normal(server: ReplayServer) -> None:
    normal = get(server, "list_movies", page=1).text
    server.script_faults(FAULT_KINDS, endpoint="list_movies", page=1)
    assert get(server, "list_movies", page=2).json()["status"] == "ok"  # not targeted

    too_many = get(server, "list_movies", page=1)
    assert too_many.status_code == 429 and too_many.text == "Too Many Requests"
    assert too_many.headers["Retry-After"] == "7" and too_many.headers["Content-Type"].startswith("text/plain")

    ddos = get(server, "list_movies", page=1)
    assert ddos.status_code == 503 and "DDoS protection" in ddos.text

    truncated = get(server, "list_movies", page=1)
    assert truncated.status_code == 200 and normal.startswith(truncated.text) and len(truncated.text) < len(normal)
    with pytest.raises(ValueError):
        truncated.json()

    started = time.monotonic()
    slow = get(server, "list_movies", page=1)
    assert time.monotonic() - started >= 0.3 and slow.json()["status"] == "ok"

    empty = get(server, "list_movies", page=1).json()
    assert empty["status"] == "ok" and empty["data"]["movie_count"] == 120 and "movies" not in empty["data"]

    foreign = get(server, "list_movies", page=1)
    assert foreign.status_code == 200 and "status" not in foreign.json()

    with pytest.raises(requests.ConnectionError):
        get(server, "list_movies", page=1)

    assert server.pending_faults == 0
    assert len(get(server, "list_movies", page=1).json()["data"]["movies"]) == 20
    assert [entry[3] for entry in server.request_log] == [200, 200, 429, 503, 200, 200, 200, 200, 0, 200]


def test_scripted_faults_match_their_target_and_none_answers_normally(server: ReplayServer, catalog: Catalog) -> None:
    target, other = catalog.ids()[:2]
    server.script_faults([None, "503"], endpoint="movie_details", movie_id=target)
    assert get(server, "movie_details", movie_id=other).status_code == 200
    assert get(server, "movie_details", movie_id=target).status_code == 200
    assert server.pending_faults == 1
    assert get(server, "movie_details", movie_id=target).status_code == 503
    with pytest.raises(ValueError):
        server.script_faults(["500"])


def test_random_faults_follow_the_seed_and_never_hit_scripted_answers(catalog: Catalog) -> None:
    def statuses(seed: int) -> list[int]:
        with ReplayServer(catalog, fault_rate=0.5, seed=seed) as server:
            server.fault_kinds = ("429", "503")
            return [get(server, "movie_details", movie_id=catalog.ids()[0]).status_code for _ in range(30)]

    first = statuses(3)
    assert first == statuses(3) != statuses(4)
    assert {200, 429, 503} == set(first)

    with ReplayServer(catalog, fault_rate=1.0) as server:
        server.fault_kinds = ("429",)
        server.script_faults([None, None])
        assert [get(server, "list_movies").status_code for _ in range(2)] == [200, 200]
        assert get(server, "list_movies").status_code != 200


def test_counters_count_attempts_and_clean_answers(server: ReplayServer, catalog: Catalog) -> None:
    movie_id = catalog.ids()[3]
    server.script_faults(["429", "truncated"], endpoint="movie_details")
    for _ in range(3):
        get(server, "movie_details", movie_id=movie_id)
    get(server, "list_movies", page=2, limit=50)
    get(server, "list_movies", page=2, limit=50)
    get(server, "movie_suggestions", movie_id=movie_id)

    assert server.calls == {"movie_details": 3, "list_movies": 2, "movie_suggestions": 1}
    assert server.details_calls == {movie_id: 1} and server.details_attempts == {movie_id: 3}
    assert server.list_calls == {2: 2} and server.list_attempts == {2: 2}
    stamp, endpoint, params, status = server.request_log[0]
    assert (endpoint, params, status) == ("movie_details", {"movie_id": str(movie_id)}, 429)
    assert stamp <= time.monotonic()

    server.reset_counters()
    assert not server.calls and not server.details_calls and not server.list_calls and not server.request_log


def test_latency_delays_every_request(catalog: Catalog) -> None:
    with ReplayServer(catalog, latency_ms=150) as server:
        started = time.monotonic()
        get(server, "list_movies")
        assert time.monotonic() - started >= 0.15


def test_mutations_show_up_in_the_next_answer(server: ReplayServer, catalog: Catalog) -> None:
    movie_id = next(i for i in catalog.ids() if catalog.movie(i).get("torrents"))
    catalog.set_seeds(movie_id, seeds=4321, peers=12)
    catalog.update_movie(movie_id, summary="A lighthouse keeper befriends a whale.")
    [listed] = get(server, "list_movies", query_term=catalog.movie(movie_id)["imdb_code"]).json()["data"]["movies"]
    assert {(t["seeds"], t["peers"]) for t in listed["torrents"]} == {(4321, 12)}
    assert listed["summary"] == "A lighthouse keeper befriends a whale."

    new_hash = catalog.add_torrent(movie_id)
    details = get(server, "movie_details", movie_id=movie_id).json()["data"]["movie"]
    assert HASH.match(new_hash) and details["torrents"][-1]["hash"] == new_hash
    assert details["torrents"][-1]["url"] == f"{server.origin}/torrent/download/{new_hash}"

    catalog.remove_movie(movie_id)
    assert get(server, "movie_details", movie_id=movie_id).json()["data"]["movie"]["id"] == 0
    assert list_page(server, 1)["movie_count"] == 119 and movie_id not in catalog.ids()
    with pytest.raises(ValueError):
        catalog.update_movie(catalog.ids()[0], id=5)


def test_urls_embed_the_host_that_served_them(server: ReplayServer, catalog: Catalog) -> None:
    text = get(server, "movie_details", movie_id=catalog.ids()[0], with_images=1, with_cast=1).text
    urls = re.findall(r'"(https?://[^"]+)"', text)
    assert urls and all(url.startswith(server.origin + "/") for url in urls)
    assert server.base_url == f"{server.origin}/api/v2/" and server.origin.startswith("http://127.0.0.1:")

    other = requests.get(f"{server.base_url}list_movies.json", headers={"Host": "yts.example:8080"}, timeout=5)
    assert other.json()["data"]["movies"][0]["url"].startswith("http://yts.example:8080/movies/")
    assert catalog.movie(catalog.ids()[0])["url"].startswith("https://yts.mx/movies/")


def test_same_seed_same_catalog(catalog: Catalog) -> None:
    again = Catalog.synthetic(120, seed=1)
    assert [catalog.movie(i) for i in catalog.ids()] == [again.movie(i) for i in again.ids()]
    assert catalog.add_movies(2) == again.add_movies(2)
    assert catalog.movie(catalog.ids()[-1]) == again.movie(again.ids()[-1])
    other = Catalog.synthetic(120, seed=2)
    assert [catalog.movie(i)["title"] for i in catalog.ids()[:20]] != [
        other.movie(i)["title"] for i in other.ids()[:20]
    ]


def test_synthetic_catalog_is_realistic_and_carries_the_quirks() -> None:
    catalog = Catalog.synthetic(1500, seed=9)
    movies = [catalog.movie(i) for i in catalog.ids()]
    ids = sorted(m["id"] for m in movies)
    assert any(b - a > 1 for a, b in zip(ids, ids[1:])), "ids have gaps"
    assert catalog.ids() != ids, "date_added order is not id order"
    assert len({m["slug"] for m in movies}) == len(movies)
    assert len({m["title"] for m in movies}) > 0.97 * len(movies)

    torrents = [t for m in movies for t in m.get("torrents", ())]
    assert all(HASH.match(t["hash"]) for t in torrents) and len({t["hash"] for t in torrents}) == len(torrents)
    assert {t["quality"] for t in torrents} == {"480p", "720p", "1080p", "1080p.x265", "2160p", "3D"}
    assert {t["is_repack"] for t in torrents} == {"0", "1", ""}
    for t in torrents[:50]:
        local = datetime.fromtimestamp(t["date_uploaded_unix"], ZoneInfo("Europe/Paris"))
        assert t["date_uploaded"] == local.strftime("%Y-%m-%d %H:%M:%S")
        assert t["size_bytes"] == round(float(t["size"].split()[0]) * 1024 ** (3 if t["size"].endswith("GB") else 2))

    assert any("torrents" not in m for m in movies) and any("genres" not in m for m in movies)
    assert any(m["summary"] == "" for m in movies) and any(m["runtime"] == 0 for m in movies)
    assert any(m["rating"] == 0 for m in movies)
    assert any(isinstance(m["rating"], int) and m["rating"] > 0 for m in movies)
    assert any("download_count" not in m for m in movies) and any("download_count" in m for m in movies)
    assert all(1950 <= m["year"] <= 2025 for m in movies)

    people = [p for m in movies for p in m["cast"]]
    codes: dict[str, set[str]] = {}
    for person in people:
        codes.setdefault(person["name"], set()).add(person.get("imdb_code", ""))
    assert all(len(c) == 1 for c in codes.values()), "a person keeps one imdb code"
    assert len(codes) < len(people) / 2, "people appear in several movies"
    assert any("imdb_code" not in p for p in people) and any("url_small_image" not in p for p in people)

    def share(genre: str, words: tuple[str, ...]) -> float:
        summaries = [m["summary"].lower() for m in movies if m.get("genres") == [genre] and m["summary"]]
        return sum(any(w in s for w in words) for s in summaries) / len(summaries)

    space = ("space", "planet", "robot", "android", "alien", "galaxy", "astronaut", "starship", "wormhole")
    love = ("love", "heart", "romance", "kiss")
    assert share("Sci-Fi", space) > 0.8 and share("Sci-Fi", love) == 0
    assert share("Romance", love) > 0.8 and share("Romance", space) == 0


def test_shared_samples_load_and_merge(tmp_path: Path) -> None:
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES_DIR}")
    catalog = Catalog.from_files(sorted(SAMPLES_DIR.glob("*.json")))
    assert {10, 15, 1632, 26245, 62044} <= set(catalog.ids())
    merged = catalog.movie(15)  # in two details captures: both merged, the later file winning
    assert merged["cast"][0]["name"] == "Bruce Willis" and merged["like_count"] == 53
    with ReplayServer(catalog) as server:
        text = get(server, "movie_details", movie_id=15, with_cast=1, with_images=1).text
        assert "yts.mx" not in text and json.loads(text)["data"]["movie"]["title"] == "16 Blocks"
        listed = [m["id"] for m in get(server, "list_movies", limit=50, order_by="asc").json()["data"]["movies"]]
        assert listed == catalog.ids()[:50]
        assert catalog.add_movies(1)[0] > max(listed)

    list_only = tmp_path / "list.json"
    details = json.loads((SAMPLES_DIR / "movie_details_id10_plain_2021-05.json").read_text())
    listed_10 = dict(details["data"]["movie"], summary="from the list", like_count=1)
    list_only.write_text(json.dumps({"status": "ok", "data": {"movies": [listed_10]}}))
    one = Catalog.from_files([SAMPLES_DIR / "movie_details_id10_plain_2021-05.json", list_only])
    assert one.movie(10)["summary"] == "from the list" and one.movie(10)["like_count"] == 269


def test_stop_drops_kept_alive_connections(catalog: Catalog) -> None:
    session = requests.Session()
    server = ReplayServer(catalog).start()
    assert session.get(f"{server.base_url}list_movies.json", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{server.base_url}list_movies.json", timeout=5)


def test_serve_forever_prints_the_base_url_and_stops_on_sigterm() -> None:
    code = "from yts_pipeline.yts.replay import serve_forever; serve_forever(port=0, movies=30, seed=4)"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"YTS_API_URL=(http://127\.0\.0\.1:\d+/api/v2/)$", line.strip())
        assert match, line
        assert requests.get(match.group(1) + "list_movies.json", timeout=5).json()["data"]["movie_count"] == 30
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
