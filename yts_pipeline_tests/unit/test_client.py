"""YtsClient against real HTTP on loopback: the replay server for API behaviour and faults, and two
tiny servers of our own, one serving fixed bodies (shared samples, garbage) and one forwarding proxy."""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from yts_pipeline.settings import ApiSettings
from yts_pipeline.yts.client import USER_AGENT, YtsApiError, YtsClient
from yts_pipeline.yts.failures import parse_retry_after
from yts_pipeline.yts.ratelimit import (
    ASSUMED_LATENCY_SECONDS,
    RateLimiter,
    RecentLatencies,
    shared_limiter,
    workers_to_fill,
)
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline.yts.replay.server import busiest_window
from yts_pipeline_tests.support.ports import free_port
from yts_pipeline_tests.support.samples import SAMPLES_DIR

FAST = ApiSettings(
    base_urls=("http://127.0.0.1:9/api/v2/",),
    requests_per_second=0,
    detail_workers=2,
    timeout_seconds=2.0,
    max_attempts=4,
    backoff_seconds=0.01,
    max_backoff_seconds=0.05,
)

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture(autouse=True)
def _no_proxy_from_the_developer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback tests must not go through whatever proxy the machine running them has set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def settings_for(*base_urls: str, **changes: object) -> ApiSettings:
    return replace(FAST, base_urls=tuple(base_urls), **changes)


def closed_port_url() -> str:
    """A base URL on a loopback port nobody listens on: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/api/v2/"


@contextmanager
def serving(answer: Callable[[BaseHTTPRequestHandler], Reply]) -> Iterator[str]:
    """A loopback HTTP server answering every GET with ``answer(handler)``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, headers, body = answer(self)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/"
    finally:
        server.shutdown()
        server.server_close()


def fixed(
    body: bytes | str,
    status: int = 200,
    seen: list[str] | None = None,
) -> Callable[[BaseHTTPRequestHandler], Reply]:
    """Always the same answer; request paths are appended to ``seen`` when given."""
    data = body.encode() if isinstance(body, str) else body

    def answer(handler: BaseHTTPRequestHandler) -> Reply:
        if seen is not None:
            seen.append(handler.path)
        return status, {"Content-Type": "application/json"}, data

    return answer


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.synthetic(120, seed=7)


@pytest.fixture
def api(catalog: Catalog) -> Iterator[ReplayServer]:
    with ReplayServer(catalog, retry_after_seconds=1, slow_seconds=0.6) as server:
        yield server


# --- the replay server: retries, fallbacks, rate limit ------------------------------------------


def test_list_page_movie_count_and_details(api: ReplayServer, catalog: Catalog) -> None:
    client = YtsClient(settings_for(api.base_url))
    page = client.list_page(2, limit=50)
    assert page.page == 2 and page.limit == 50 and len(page.movies) == 50
    assert client.movie_count() == len(catalog) == page.movie_count
    movie_id = page.movies[0].external_id
    result = client.movie_details(movie_id)
    assert result.movie is not None and result.movie.external_id == movie_id and result.movie.cast is not None
    assert api.request_log[-2][2] == {"page": "1", "limit": "1", "sort_by": "date_added", "order_by": "asc"}
    assert client.stats.snapshot() == {
        "requests": 3,
        "retries": 0,
        "failures": 0,
        "host_switches": 0,
        "calls.list_movies": 2,
        "calls.movie_details": 1,
    }


def test_unknown_movie_is_none_not_an_error(api: ReplayServer) -> None:
    result = YtsClient(settings_for(api.base_url)).movie_details(987654)
    assert result.movie_id == 987654 and result.movie is None


@pytest.mark.parametrize("kind", ["503", "truncated", "reset", "slow"])
def test_each_fault_is_retried_then_succeeds(
    api: ReplayServer, catalog: Catalog, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    movie_id = catalog.ids()[3]
    api.script_faults([kind, kind], endpoint="movie_details", movie_id=movie_id)
    client = YtsClient(settings_for(api.base_url, timeout_seconds=0.3))  # "slow" answers after 0.6 s
    result = client.movie_details(movie_id)
    assert result.movie is not None and result.movie.external_id == movie_id
    assert api.details_attempts[movie_id] == 3
    assert client.stats["retries"] == 2 and client.stats["requests"] == 3
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2 and retries[1].startswith(f"movie_details movie {movie_id}: ")
    assert "retry 3/4 in" in retries[1]


def test_slow_answer_within_the_timeout_is_not_retried(api: ReplayServer, catalog: Catalog) -> None:
    api.script_faults(["slow"], endpoint="list_movies", page=1)
    client = YtsClient(settings_for(api.base_url, timeout_seconds=2.0))
    started = time.monotonic()
    assert len(client.list_page(1).movies) == 50
    assert time.monotonic() - started >= 0.6 and client.stats["retries"] == 0


def test_retry_after_is_waited_for(api: ReplayServer, caplog: pytest.LogCaptureFixture) -> None:
    api.script_faults(["429"], endpoint="list_movies", page=3)
    client = YtsClient(settings_for(api.base_url))  # backoff alone would wait at most 0.01 s
    started = time.monotonic()
    client.list_page(3)
    assert time.monotonic() - started >= 1.0
    assert api.list_attempts[3] == 2
    assert "list_movies page 3: HTTP 429 (Retry-After 1s), retry 2/4 in 1.0s" in caplog.text


def test_exhausted_retries_name_the_page_and_the_host(api: ReplayServer) -> None:
    api.script_faults(["503"] * 4, endpoint="list_movies", page=5)
    client = YtsClient(settings_for(api.base_url))
    with pytest.raises(YtsApiError) as caught:
        client.list_page(5)
    assert str(caught.value) == (f"list_movies page 5: failed after 4 attempts on 127.0.0.1:{api.port}: HTTP 503")
    assert "DDoS protection" in (caught.value.raw or "")
    assert client.stats["failures"] == 1 and client.stats["retries"] == 3


def test_one_failing_id_does_not_stop_the_others(api: ReplayServer, catalog: Catalog) -> None:
    ids = catalog.ids()[:6]
    api.script_faults(["reset"] * 4, endpoint="movie_details", movie_id=ids[2])
    results = YtsClient(settings_for(api.base_url)).movie_details_many(ids)
    assert [movie_id for movie_id, _ in results] == ids
    failed = results[2][1]
    assert isinstance(failed, YtsApiError) and failed.where == f"movie {ids[2]}" and "reset" in failed.cause
    assert all(result.movie is not None for _, result in results if not isinstance(result, YtsApiError))
    assert sum(isinstance(result, YtsApiError) for _, result in results) == 1


def test_dead_first_host_falls_back_and_sticks(api: ReplayServer, caplog: pytest.LogCaptureFixture) -> None:
    dead = closed_port_url()
    client = YtsClient(settings_for(dead, api.base_url))
    assert len(client.list_page(1).movies) == 50
    assert client.current_base_url == api.base_url and client.stats["host_switches"] == 1
    assert f"switched API host from {urlsplit(dead).netloc} to 127.0.0.1:{api.port}" in caplog.text
    client.list_page(2)
    assert client.stats["requests"] == 3  # the dead host was not asked again


def test_foreign_shape_host_falls_back(api: ReplayServer, catalog: Catalog) -> None:
    with ReplayServer(catalog, fault_rate=1.0) as copycat:
        copycat.fault_kinds = ["foreign"]
        client = YtsClient(settings_for(copycat.base_url, api.base_url))
        assert client.movie_details(catalog.ids()[0]).movie is not None
        assert client.movie_details(catalog.ids()[1]).movie is not None
        assert copycat.calls["movie_details"] == 1 and api.calls["movie_details"] == 2


def test_only_foreign_hosts_fail_at_once(catalog: Catalog) -> None:
    with ReplayServer(catalog, fault_rate=1.0) as copycat:
        copycat.fault_kinds = ["foreign"]
        with pytest.raises(YtsApiError, match=r"list_movies page 1: failed after 1 attempt on .*Foreign"):
            YtsClient(settings_for(copycat.base_url)).list_page(1)
        assert copycat.calls["list_movies"] == 1


def test_all_hosts_down_is_retried_then_names_every_host() -> None:
    first, second = closed_port_url(), closed_port_url()
    client = YtsClient(settings_for(first, second, max_attempts=2))
    with pytest.raises(YtsApiError, match="Connection refused") as caught:
        client.movie_details(1)
    assert caught.value.hosts == (urlsplit(first).netloc, urlsplit(second).netloc)
    assert caught.value.attempts == 2 and client.stats["requests"] == 4


def departures_of(limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times ``limiter`` lets requests go at, as it decides them (arrivals add the machine's jitter)."""
    departures: list[float] = []
    let_go = limiter.acquire
    monkeypatch.setattr(limiter, "acquire", lambda: departures.append(let_go()) or departures[-1])
    return departures


def test_rate_limit_holds_across_threads_and_clients(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = 25.0
    departures = departures_of(shared_limiter(rate), monkeypatch)
    with ReplayServer(catalog, latency_ms=5, fault_rate=0.2) as server:
        server.fault_kinds = ["503", "truncated"]  # retries must take their slots too
        clients = [
            YtsClient(settings_for(server.base_url, requests_per_second=rate, detail_workers=2, max_attempts=6))
            for _ in range(2)
        ]
        halves = [catalog.ids()[:30], catalog.ids()[30:60]]
        threads = [
            threading.Thread(target=client.movie_details_many, args=(ids,)) for client, ids in zip(clients, halves)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(c.stats["retries"] for c in clients) > 0
    assert len(server.request_log) == len(departures) == sum(c.stats["requests"] for c in clients) > 60
    assert busiest_window(departures, 1.0) <= rate
    assert server.busiest_window(1.0) <= rate + 1  # what arrives, a busy machine's delays included


# --- the details pool: sized from the rate limit and the latency the server shows ---------------


def test_the_pool_grows_to_the_latency_and_meets_the_rate_without_exceeding_it(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate, latency = 4.0, 1.5  # 6 requests in flight at the limit; the prior latency would give 5 workers
    departures = departures_of(shared_limiter(rate), monkeypatch)
    with ReplayServer(catalog, latency_ms=latency * 1000) as server:
        client = YtsClient(settings_for(server.base_url, requests_per_second=rate, detail_workers=16))
        assert client.detail_workers == math.ceil(rate * ASSUMED_LATENCY_SECONDS) + 1
        client.movie_details(catalog.ids()[0])  # the first latency observed
        assert client.detail_workers >= math.ceil(rate * latency) + 1
        server.reset_counters()
        results = client.movie_details_many(catalog.ids()[1:17])
        arrivals = sorted(entry[0] for entry in server.request_log)
    assert len(arrivals) == 16 and all(not isinstance(r, YtsApiError) for _, r in results)
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert max(gaps) < 1.5 / rate  # every slot taken: with 5 workers a 1 / rate gap would open per round
    assert busiest_window(departures, 1.0) <= rate  # and never one too many


def test_with_the_limit_off_the_pool_is_the_cap(catalog: Catalog) -> None:
    with ReplayServer(catalog, latency_ms=300) as server:
        client = YtsClient(settings_for(server.base_url, requests_per_second=0, detail_workers=4))
        client.movie_details_many(catalog.ids()[:12])
        assert client.detail_workers == 4
        assert server.busiest_window(0.3) == 4  # four in flight at once, never a fifth


@pytest.mark.parametrize(
    ("rate", "latency", "most", "expected"),
    [
        (1, 2.0, 8, 3),
        (10, 0.1, 8, 2),
        (10, 0.5, 8, 6),
        (10, 2.0, 8, 8),
        (1, None, 8, 2),
        (0, 5.0, 8, 8),
        (0.5, 2.0, 1, 1),
    ],
)
def test_workers_to_fill(rate: float, latency: float | None, most: int, expected: int) -> None:
    assert workers_to_fill(rate, latency, most) == expected


def test_recent_latencies_are_the_median_of_the_latest() -> None:
    window = RecentLatencies(size=3)
    assert window.median() is None
    for seconds in (9.0, 0.1, 0.2, 0.3):
        window.add(seconds)
    assert window.median() == 0.2


def test_stats_snapshot_and_since(api: ReplayServer) -> None:
    client = YtsClient(settings_for(api.base_url))
    client.list_page(1)
    before = client.stats.snapshot()
    api.script_faults(["503"], endpoint="list_movies", page=2)
    client.list_page(2)
    assert client.stats.since(before) == {
        "requests": 2,
        "retries": 1,
        "failures": 0,
        "host_switches": 0,
        "calls.list_movies": 1,
    }


# --- the shared samples: real bodies captured from the live API ---------------------------------


def sample_files() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.json"))


def test_the_shared_samples_are_there() -> None:
    assert SAMPLES_DIR.is_dir(), f"expected the shared API samples at {SAMPLES_DIR} (../shared beside the clone)"
    assert len(sample_files()) >= 9


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.stem)
def test_every_shared_sample_parses_through_the_client(path: Path) -> None:
    body = path.read_bytes()
    with serving(fixed(body)) as url:
        client = YtsClient(settings_for(url))
        if path.name.startswith("list_movies"):
            page = client.list_page(1)
            assert page.movie_count == json.loads(body)["data"]["movie_count"]
            assert len(page.movies) == len(json.loads(body)["data"].get("movies", []))
            assert not page.rejected
        else:
            movie_id = json.loads(body)["data"]["movie"]["id"]
            result = client.movie_details(movie_id)
            assert result.movie is not None and result.movie.external_id == movie_id
    assert client.stats.snapshot()["requests"] == 1


# --- garbage and foreign answers ----------------------------------------------------------------


def test_html_forever_is_retried_then_a_clear_error_keeps_the_body() -> None:
    page = "<html><body>Checking your browser before accessing yts</body></html>"
    with serving(fixed(page)) as url, pytest.raises(YtsApiError) as caught:
        YtsClient(settings_for(url)).list_page(7)
    error = caught.value
    assert (error.endpoint, error.where, error.attempts) == ("list_movies", "page 7", FAST.max_attempts)
    assert "list_movies page 7" in str(error) and "127.0.0.1" in str(error) and "NotJsonError" in str(error)
    assert error.raw == page


def test_unparseable_movie_is_not_retried_and_names_the_movie() -> None:
    body = json.dumps({"status": "ok", "status_message": "", "data": {"movie": {"id": 42, "title": ["no"]}}})
    calls: list[str] = []
    with serving(fixed(body, seen=calls)) as url:
        client = YtsClient(settings_for(url))
        with pytest.raises(YtsApiError, match=r"movie_details movie 42: .*PayloadError.*'title'") as caught:
            client.movie_details(42)
    assert len(calls) == 1 and caught.value.raw == body
    assert client.stats.snapshot()["failures"] == 1


def test_api_status_error_is_not_retried() -> None:
    body = json.dumps({"status": "error", "status_message": "Invalid movie_id", "data": {}})
    calls: list[str] = []
    with serving(fixed(body, 400, seen=calls)) as url:
        with pytest.raises(YtsApiError, match="ApiStatusError"):
            YtsClient(settings_for(url)).movie_details(5)
    assert len(calls) == 1


def test_a_page_not_found_host_is_given_up_on_without_retries() -> None:
    calls: list[str] = []
    with serving(fixed("<h1>Not Found</h1>", 404, seen=calls)) as url:
        with pytest.raises(YtsApiError, match="HTTP 404"):
            YtsClient(settings_for(url)).list_page(1)
    assert len(calls) == 1


# --- settings that reach the wire ---------------------------------------------------------------


def test_session_sends_the_project_user_agent_and_the_query() -> None:
    seen = []
    body = (SAMPLES_DIR / "list_movies_zero_results_2025-04-19.json").read_bytes()

    def answer(handler: BaseHTTPRequestHandler) -> Reply:
        seen.append((handler.headers["User-Agent"], handler.path))
        return fixed(body)(handler)

    with serving(answer) as url:
        YtsClient(settings_for(url)).list_page(3, limit=20)
    assert seen == [(USER_AGENT, "/api/v2/list_movies.json?page=3&limit=20&sort_by=date_added&order_by=asc")]
    assert USER_AGENT.startswith("yts_pipeline/")


def test_cookies_the_api_sets_and_netrc_credentials_go_with_the_next_requests(monkeypatch, tmp_path: Path) -> None:
    """As with ``Session.get``: a cookie a host sets (Cloudflare's, say) and ~/.netrc's login for the host."""
    seen = []
    body = (SAMPLES_DIR / "list_movies_zero_results_2025-04-19.json").read_bytes()

    def answer(handler: BaseHTTPRequestHandler) -> Reply:
        seen.append((handler.headers["Cookie"], handler.headers["Authorization"]))
        return 200, {"Content-Type": "application/json", "Set-Cookie": f"__cf_bm=visit{len(seen)}; Path=/"}, body

    with serving(answer) as url:
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login mirror password s3cret\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        client = YtsClient(settings_for(url))
        for page in (1, 2, 3):
            client.list_page(page)
    assert [cookie for cookie, _ in seen] == [None, "__cf_bm=visit1", "__cf_bm=visit2"]
    assert all(auth is not None and auth.startswith("Basic ") for _, auth in seen)


@contextmanager
def forwarding_proxy() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """A plain-HTTP forward proxy on loopback; yields its address and (url, Proxy-Authorization) seen."""
    seen: list[tuple[str, str | None]] = []

    def answer(handler: BaseHTTPRequestHandler) -> Reply:
        seen.append((handler.path, handler.headers["Proxy-Authorization"]))
        target = urlsplit(handler.path)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
        try:
            conn.request("GET", f"{target.path}?{target.query}")
            response = conn.getresponse()
            return response.status, {"Content-Type": response.getheader("Content-Type", "")}, response.read()
        finally:
            conn.close()

    with serving(answer) as url:
        yield url.removesuffix("/api/v2/"), seen


def test_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (SAMPLES_DIR / "movie_details_id10_plain_2021-05.json").read_bytes()
    with serving(fixed(body)) as api, forwarding_proxy() as (proxy, seen):
        proxy_with_password = proxy.replace("http://", "http://mirror:s3cret@")
        monkeypatch.setenv("HTTP_PROXY", proxy_with_password)
        assert requests.utils.get_environ_proxies(api)["http"] == proxy_with_password
        result = YtsClient(settings_for(api)).movie_details(10)
    assert result.movie is not None
    assert len(seen) == 1 and seen[0][0].startswith(api + "movie_details.json?movie_id=10")
    assert seen[0][1] is not None and seen[0][1].startswith("Basic ")


def test_proxy_password_never_reaches_logs_or_errors(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dead_proxy = closed_port_url().removesuffix("/api/v2/").replace("http://", "http://mirror:s3cret@")
    monkeypatch.setenv("HTTP_PROXY", dead_proxy)
    caplog.set_level(logging.DEBUG, logger="yts_pipeline")
    with pytest.raises(YtsApiError) as caught:
        YtsClient(settings_for("http://api.example.invalid/api/v2/", max_attempts=2)).list_page(1)
    assert "ProxyError" in str(caught.value)
    assert "retry 2/2" in caplog.text
    assert "s3cret" not in caplog.text and "s3cret" not in str(caught.value)


# --- rate limiter and small helpers -------------------------------------------------------------


def test_limiter_spaces_requests_and_defer_holds_everyone_back() -> None:
    limiter = RateLimiter(20)
    started = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - started >= 4 / 20 - 0.01
    limiter.defer(0.3)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.29


def test_no_more_than_the_rate_leaves_within_a_second() -> None:
    limiter = RateLimiter(2)
    departures = [limiter.acquire() for _ in range(5)]
    assert all(later - earlier >= 1.0 for earlier, later in zip(departures, departures[2:]))


def test_a_late_thread_does_not_let_the_next_ones_crowd_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    from yts_pipeline.yts import ratelimit

    limiter = RateLimiter(4)
    sleep_until = ratelimit._sleep_until
    late = threading.Event()

    def first_one_late(moment: float) -> None:  # the first slot's thread wakes 0.1 s late, as under load
        if not late.is_set():
            late.set()
            moment += 0.1
        sleep_until(moment)

    monkeypatch.setattr(ratelimit, "_sleep_until", first_one_late)
    departures: list[float] = []
    first = threading.Thread(target=lambda: departures.append(limiter.acquire()))
    first.start()
    late.wait()
    others = [threading.Thread(target=lambda: departures.append(limiter.acquire())) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join()
    assert len(departures) == 5 and busiest_window(departures, 1.0) <= 4  # slots alone would let 5 through


def test_one_limiter_per_rate_in_a_process() -> None:
    assert shared_limiter(3.5) is shared_limiter(3.5)
    assert shared_limiter(3.5) is not shared_limiter(7.0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("99999", 300.0),
        ("soon", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_header(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_as_a_future_http_date() -> None:
    from email.utils import formatdate

    assert 8 <= (parse_retry_after(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10
