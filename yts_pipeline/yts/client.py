"""The YTS API client: host fallbacks, a process-wide rate limit, retries with backoff, and a details
pool sized to keep that rate limit busy.

Payload quirks are not handled here: bodies go to ``parsing``, whose verdicts (not JSON,
foreign shape, ...) and the HTTP status decide what happens next (see ``failures``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

from yts_pipeline.settings import ApiSettings
from yts_pipeline.yts import failures
from yts_pipeline.yts.failures import Action, Failure
from yts_pipeline.yts.parsing import ApiResponseError, parse_details, parse_list_page
from yts_pipeline.yts.ratelimit import RecentLatencies, shared_limiter, workers_to_fill
from yts_pipeline.yts.records import DetailsResult, ListPage
from yts_pipeline.yts.stats import ClientStats

USER_AGENT = f"yts_pipeline/0.1 (YTS catalog mirror; python-requests/{requests.__version__})"
SORT_FIELDS = frozenset({"title", "year", "rating", "peers", "seeds", "download_count", "like_count", "date_added"})

T = TypeVar("T")


class YtsApiError(Exception):
    """A call that failed for good: names the endpoint, the page or movie, the hosts tried and the cause.

    ``raw`` keeps the last body the API sent (``None`` when no body arrived); ``summary`` says the cause
    in a few words ("DNS lookup failed", "HTTP 429 (Retry-After 30s)").
    """

    def __init__(
        self,
        endpoint: str,
        where: str,
        cause: str,
        *,
        hosts: tuple[str, ...],
        attempts: int,
        raw: str | None = None,
        summary: str | None = None,
    ):
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        super().__init__(f"{endpoint} {where}: failed {tries} on {', '.join(hosts) or 'no host'}: {cause}")
        self.endpoint = endpoint
        self.where = where
        self.cause = cause
        self.summary = summary or cause
        self.hosts = hosts
        self.attempts = attempts
        self.raw = raw


def host_label(base_url: str) -> str:
    """``host[:port]`` of a base URL, without any credentials: what logs and errors may show."""
    return urlsplit(base_url).netloc.rpartition("@")[2]


def build_session(settings: ApiSettings) -> requests.Session:
    """A pooled session (per host, a connection per details worker at most, plus one for list calls).

    ``trust_env`` is what makes requests take proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
    """
    session = requests.Session()
    session.trust_env = True
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    adapter = HTTPAdapter(
        pool_connections=len(settings.base_urls), pool_maxsize=settings.detail_workers + 1, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class YtsClient:
    """Thread-safe client for ``list_movies`` and ``movie_details``.

    Base URLs are tried in order; the last one that answered is tried first next time (sticky).
    Every HTTP request, retries included, takes a slot from the process-wide rate limiter.
    A ``session`` passed in is used as given (its headers, proxies and adapters are left alone).
    """

    def __init__(
        self,
        settings: ApiSettings | None = None,
        session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ):
        self.settings = settings or ApiSettings.from_env()
        if not self.settings.base_urls:
            raise ValueError("ApiSettings.base_urls is empty")
        self.session = session or build_session(self.settings)
        self.log = logger or logging.getLogger(__name__)
        self.stats = ClientStats()
        self._limiter = shared_limiter(self.settings.requests_per_second)
        self._latency = RecentLatencies()
        self._rng = random.Random()
        self._host_lock = threading.Lock()
        self._current = 0  # index into base_urls of the host that last worked
        self._settings_by_host: dict[str, tuple[dict[str, object], object]] = {}

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    @property
    def detail_workers(self) -> int:
        """The details pool for the next call: enough workers to fill the rate limit at the median
        latency observed so far (``settings.detail_workers`` at most, and exactly that with no limit)."""
        return workers_to_fill(self.settings.requests_per_second, self._latency.median(), self.settings.detail_workers)

    @property
    def current_base_url(self) -> str:
        """The base URL the next call tries first: the last one that answered."""
        return self.settings.base_urls[self._current]

    def list_page(self, page: int, limit: int = 50, sort_by: str = "date_added", order_by: str = "asc") -> ListPage:
        """One ``list_movies`` page (1-based); oldest first keeps page numbers stable as the catalog grows."""
        if page < 1 or not 1 <= limit <= 50:
            raise ValueError(f"page must be >= 1 and limit 1..50, got page={page} limit={limit}")
        if sort_by not in SORT_FIELDS or order_by not in ("asc", "desc"):
            raise ValueError(f"unsupported order sort_by={sort_by!r} order_by={order_by!r}")
        params = {"page": page, "limit": limit, "sort_by": sort_by, "order_by": order_by}
        return self._call("list_movies", params, f"page {page}", lambda body: parse_list_page(body, page))

    def search(self, query_term: str, page: int = 1, limit: int = 50) -> ListPage:
        """``list_movies`` matching ``query_term`` (a title, or an IMDb code of a movie or of a person in it)."""
        params = {"query_term": query_term, "page": page, "limit": limit, "sort_by": "date_added", "order_by": "asc"}
        return self._call(
            "list_movies", params, f"query {query_term!r} page {page}", lambda body: parse_list_page(body, page)
        )

    def movie_count(self) -> int:
        """Total movies in the catalog, from the cheapest list call (page discovery divides it)."""
        return self.list_page(1, limit=1).movie_count

    def movie_details(self, movie_id: int, with_cast: bool = True, with_images: bool = True) -> DetailsResult:
        """One movie's details; ``result.movie`` is ``None`` when the API does not know the id."""
        params = {"movie_id": movie_id, "with_cast": _flag(with_cast), "with_images": _flag(with_images)}
        return self._call("movie_details", params, f"movie {movie_id}", lambda body: parse_details(body, movie_id))

    def movie_details_many(
        self,
        ids: Iterable[int],
        with_cast: bool = True,
        with_images: bool = True,
    ) -> list[tuple[int, DetailsResult | YtsApiError]]:
        """Details for many ids, in the order given, on a pool of ``detail_workers`` threads.

        The pool is sized again as each answer comes in, so the first latencies observed already
        widen (or narrow) it. A failed id yields its ``YtsApiError`` (after its retries) instead of
        stopping the others; the shared rate limit still holds for the pool as a whole.
        """
        ids = list(ids)
        if not ids:
            return []

        def fetch(movie_id: int) -> tuple[int, DetailsResult | YtsApiError]:
            try:
                return movie_id, self.movie_details(movie_id, with_cast=with_cast, with_images=with_images)
            except YtsApiError as exc:
                return movie_id, exc

        results: dict[int, tuple[int, DetailsResult | YtsApiError]] = {}
        waiting = iter(enumerate(ids))  # by position: an id asked for twice is answered twice
        running: dict[Future[tuple[int, DetailsResult | YtsApiError]], int] = {}
        with ThreadPoolExecutor(
            max_workers=min(self.settings.detail_workers, len(ids)), thread_name_prefix="yts-details"
        ) as pool:
            while True:
                while len(running) < self.detail_workers and (item := next(waiting, None)) is not None:
                    position, movie_id = item
                    running[pool.submit(fetch, movie_id)] = position
                if not running:
                    return [results[position] for position in range(len(ids))]
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    results[running.pop(future)] = future.result()

    def _call(self, endpoint: str, params: dict[str, object], where: str, parse: Callable[[bytes], T]) -> T:
        """Rounds over the hosts until one answers usably; backs off between rounds."""
        self.stats.call(endpoint)
        what = f"{endpoint} {where}"
        rejected: set[int] = set()  # hosts that are not the API, skipped for the rest of this call
        tried: dict[str, None] = {}
        attempt = 1
        while True:
            outcome = self._round(what, endpoint, params, parse, rejected, tried)
            if not isinstance(outcome, Failure):
                return outcome
            out_of_hosts = len(rejected) == len(self.settings.base_urls)
            if outcome.action is Action.GIVE_UP or out_of_hosts or attempt >= self.settings.max_attempts:
                self.stats.add("failures")
                raise YtsApiError(
                    endpoint,
                    where,
                    outcome.cause,
                    hosts=tuple(tried),
                    attempts=attempt,
                    raw=outcome.raw,
                    summary=outcome.summary,
                ) from outcome
            self._back_off(what, outcome, attempt)
            attempt += 1

    def _round(
        self,
        what: str,
        endpoint: str,
        params: dict[str, object],
        parse: Callable[[bytes], T],
        rejected: set[int],
        tried: dict[str, None],
    ) -> T | Failure:
        """One pass over the hosts not yet rejected, sticky host first; a transient failure ends it."""
        failure: Failure | None = None
        for index in self._host_order():
            if index in rejected:
                continue
            base_url = self.settings.base_urls[index]
            tried[host_label(base_url)] = None
            try:
                result = self._exchange(base_url, endpoint, params, parse)
            except Failure as exc:
                if exc.action in (Action.RETRY, Action.GIVE_UP):
                    return exc
                if exc.action is Action.REJECT_HOST:
                    rejected.add(index)
                self.log.debug("%s: host %s failed (%s)", what, host_label(base_url), exc.cause)
                failure = exc
                continue
            self._settle_on(index)
            return result
        assert failure is not None, "a round starts only while some host is not rejected"
        return failure

    def _exchange(self, base_url: str, endpoint: str, params: dict[str, object], parse: Callable[[bytes], T]) -> T:
        """One rate-limited request to one host; raises ``Failure`` saying what went wrong."""
        url = f"{base_url}{endpoint}.json"
        shown = f"{host_label(base_url)}{urlsplit(url).path}?{urlencode(params)}"
        started = time.monotonic()
        try:
            # What Session.get does, in two halves: the request is ready before it takes a slot, so
            # it leaves when the slot says, not a busy moment later.
            options, netrc_auth = self._host_settings(base_url, url)
            request = self._prepare(url, params, netrc_auth)
            started = self._limiter.acquire()
            self.stats.add("requests")
            response = self.session.send(request, timeout=self.settings.timeout_seconds, **options)
        except requests.RequestException as exc:
            failure = failures.from_request_exception(exc)
            self.log.debug("GET %s: %s after %.2fs", shown, failure.cause, time.monotonic() - started)
            raise failure from None
        latency = time.monotonic() - started
        self._latency.add(latency)
        self.log.debug("GET %s -> HTTP %s in %.2fs", shown, response.status_code, latency)
        failure = failures.from_status(response)
        if failure is not None:
            raise failure
        try:
            return parse(response.content)
        except ApiResponseError as exc:
            raise failures.from_parse_error(exc, response.status_code) from None

    def _host_settings(self, base_url: str, url: str) -> tuple[dict[str, object], object]:
        """What ``Session.get`` reads from the environment for a request: proxies, CA bundle and the like,
        and ~/.netrc credentials. They depend only on the host, so they are read once per host: reading
        them costs more than a loopback answer."""
        found = self._settings_by_host.get(base_url)
        if found is None:
            options = self.session.merge_environment_settings(url, {}, None, None, None)
            netrc_auth = get_netrc_auth(url) if self.session.trust_env else None
            found = self._settings_by_host[base_url] = (options, netrc_auth)
        return found

    def _prepare(self, url: str, params: dict[str, object], netrc_auth: object) -> requests.PreparedRequest:
        """``Session.prepare_request`` of a plain GET, given the host's ~/.netrc credentials: the session's
        headers, params, auth, cookies and hooks, without its two copies of the cookie jar per request."""
        session = self.session
        request = requests.PreparedRequest()
        # merge_setting's result, without its per-call runtime-protocol checks: the session's values,
        # the request's over them, None meaning "not this one"
        headers = CaseInsensitiveDict({k: v for k, v in session.headers.items() if v is not None})
        params = {k: v for k, v in {**session.params, **params}.items() if v is not None}
        request.prepare(
            method="GET",
            url=url,
            headers=headers,
            params=params,
            auth=session.auth or netrc_auth,
            cookies=session.cookies,
            hooks=session.hooks,
        )
        return request

    def _host_order(self) -> list[int]:
        """Host indexes starting at the sticky one, then the others in configured order."""
        count = len(self.settings.base_urls)
        start = self._current
        return [(start + offset) % count for offset in range(count)]

    def _settle_on(self, index: int) -> None:
        """Remember the host that answered, so the next call starts there."""
        with self._host_lock:
            previous, self._current = self._current, index
        if previous != index:
            self.stats.add("host_switches")
            self.log.warning(
                "switched API host from %s to %s",
                host_label(self.settings.base_urls[previous]),
                host_label(self.settings.base_urls[index]),
            )

    def _back_off(self, what: str, failure: Failure, attempt: int) -> None:
        """Sleep before the next round: jittered exponential backoff, at least ``Retry-After``."""
        settings = self.settings
        wait = failures.backoff_seconds(attempt, settings.backoff_seconds, settings.max_backoff_seconds, self._rng)
        if failure.retry_after is not None:
            wait = max(wait, failure.retry_after)
            self._limiter.defer(failure.retry_after)  # the server is throttling us, not just this thread
        self.stats.add("retries")
        self.log.warning(
            "%s: %s, retry %d/%d in %.1fs", what, failure.summary, attempt + 1, settings.max_attempts, wait
        )
        time.sleep(wait)


def _flag(value: bool) -> str:
    return "true" if value else "false"
