"""An HTTP server that imitates the YTS API from a ``Catalog``, with latency and scriptable faults.

Tests, benchmarks and offline demos point the client at ``ReplayServer.base_url`` instead of a live
host. Counters and a request log let tests assert what the client actually asked for.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from yts_pipeline.yts.replay.catalog import Catalog
from yts_pipeline.yts.replay.endpoints import ENDPOINTS, ApiRequest, answer
from yts_pipeline.yts.replay.faults import FaultPlan

API_PREFIX = "/api/v2/"
TOO_MANY_REQUESTS = b"Too Many Requests"
DDOS_PAGE = (
    b"<!DOCTYPE html><html><head><title>DDoS protection</title></head><body>"
    b"<h1>DDoS protection</h1><p>Checking your browser before accessing the website.</p>"
    b"<p>This process is automatic. Please allow up to 5 seconds.</p></body></html>"
)
FOREIGN_BODY = json.dumps({"success": True, "results": []}).encode()
NOT_FOUND_PAGE = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


@dataclass
class Reply:
    """What the handler sends: after ``delay`` seconds, an HTTP answer, or a dropped connection."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False


class ReplayServer:
    """A YTS API look-alike on a loopback port, served from a daemon thread.

    The port is bound in the constructor (``port=0`` picks a free one), so ``base_url`` is known
    before ``start()``.

    Counters (all thread-safe to read between requests):
    ``calls[endpoint]`` every request to a known endpoint, faulted or not;
    ``list_calls[page]`` / ``details_calls[movie id]`` clean answers only (faults other than
    "slow" do not count, nor do ``status: error`` answers); ``list_attempts`` / ``details_attempts``
    every request; ``request_log`` ``(monotonic arrival time, endpoint, params, HTTP status)``,
    with endpoint the request path for unknown paths and status 0 for a dropped connection.
    """

    def __init__(
        self,
        catalog: Catalog,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        seed: int = 0,
        retry_after_seconds: int = 1,
        slow_seconds: float = 3.0,
    ):
        self.catalog = catalog
        self.latency_ms = latency_ms
        self.retry_after_seconds = retry_after_seconds
        self.slow_seconds = slow_seconds
        self._faults = FaultPlan(fault_rate, seed)
        self._stats_lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.list_calls: Counter[int] = Counter()
        self.list_attempts: Counter[int] = Counter()
        self.details_calls: Counter[int | str] = Counter()
        self.details_attempts: Counter[int | str] = Counter()
        self.request_log: list[tuple[float, str, dict[str, str], int]] = []
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        """``http://host:port`` as a client should dial it (a wildcard bind is dialled on loopback)."""
        host = str(self._httpd.server_address[0])
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``YTS_API_URL`` should be set to."""
        return self.origin + API_PREFIX

    @property
    def fault_rate(self) -> float:
        return self._faults.rate

    @fault_rate.setter
    def fault_rate(self, rate: float) -> None:
        self._faults.rate = rate

    @property
    def fault_kinds(self) -> tuple[str, ...]:
        """Kinds random faults choose from (scripted faults may use any of ``FAULT_KINDS``)."""
        return self._faults.kinds

    @fault_kinds.setter
    def fault_kinds(self, kinds: Sequence[str]) -> None:
        self._faults.kinds = kinds

    def script_faults(
        self,
        kinds: Iterable[str | None],
        endpoint: str | None = None,
        movie_id: int | None = None,
        page: int | None = None,
    ) -> None:
        """Queue faults for the next requests matching ``endpoint``/``movie_id``/``page``, one each.

        ``None`` in ``kinds`` answers normally. Scripted answers never get a random fault on top.
        """
        self._faults.script(kinds, endpoint, movie_id, page)

    @property
    def pending_faults(self) -> int:
        """Scripted faults no request has consumed yet."""
        return self._faults.pending()

    def reset_counters(self) -> None:
        with self._stats_lock:
            for counter in (self.calls, self.list_calls, self.list_attempts, self.details_calls, self.details_attempts):
                counter.clear()
            self.request_log.clear()

    def busiest_window(self, seconds: float = 1.0) -> int:
        """The most requests of the log that arrived less than ``seconds`` apart: what a server
        counting requests per window would have counted at worst."""
        with self._stats_lock:
            arrivals = [entry[0] for entry in self.request_log]
        return busiest_window(arrivals, seconds)

    def start(self) -> ReplayServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"replay-api-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections, so clients see a dead host at once."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def respond(self, target: str, host_header: str | None) -> Reply:
        """The reply to ``GET target``; HTTP-agnostic so that the decisions stay testable."""
        arrived = time.monotonic()
        url = urlsplit(target)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        name = url.path.removeprefix(API_PREFIX).removesuffix(".json")
        delay = self.latency_ms / 1000
        if not url.path.startswith(API_PREFIX) or not url.path.endswith(".json") or name not in ENDPOINTS:
            self._log(arrived, url.path, params, 404)
            return Reply(404, NOT_FOUND_PAGE, "text/html; charset=UTF-8", delay=delay)
        request = ApiRequest(name, params, f"http://{host_header}" if host_header else self.origin)
        fault = self._faults.draw(name, request.movie_id, request.page)
        if fault == "empty" and name != "list_movies":
            fault = None
        reply, clean = self._reply(request, fault)
        reply.delay += delay
        self._count(request, clean, arrived, 0 if reply.reset else reply.status)
        return reply

    def _reply(self, request: ApiRequest, fault: str | None) -> tuple[Reply, bool]:
        """The reply for a request under ``fault``, and whether it is a clean, successful answer."""
        if fault == "429":
            return Reply(
                429, TOO_MANY_REQUESTS, "text/plain; charset=UTF-8", {"Retry-After": str(self.retry_after_seconds)}
            ), False
        if fault == "503":
            return Reply(503, DDOS_PAGE, "text/html; charset=UTF-8"), False
        if fault == "foreign":
            return Reply(200, FOREIGN_BODY), False
        if fault == "reset":
            return Reply(0, reset=True), False
        doc = answer(self.catalog, request)
        ok = doc["status"] == "ok"
        if fault == "empty" and ok:
            doc["data"].pop("movies", None)
        body = json.dumps(doc, separators=(",", ":")).encode()
        if fault == "truncated":
            return Reply(200, body[: len(body) // 2]), False
        delay = self.slow_seconds if fault == "slow" else 0.0
        return Reply(200, body, delay=delay), ok and fault in (None, "slow")

    def _count(self, request: ApiRequest, clean: bool, arrived: float, status: int) -> None:
        with self._stats_lock:
            self.calls[request.endpoint] += 1
            if request.endpoint == "list_movies":
                self.list_attempts[request.page] += 1
                if clean:
                    self.list_calls[request.page] += 1
            elif request.endpoint == "movie_details":
                self.details_attempts[request.movie_key] += 1
                if clean:
                    self.details_calls[request.movie_key] += 1
            self.request_log.append((arrived, request.endpoint, dict(request.params), status))

    def _log(self, arrived: float, path: str, params: dict[str, str], status: int) -> None:
        with self._stats_lock:
            self.request_log.append((arrived, path, params, status))


def busiest_window(arrivals: Iterable[float], seconds: float = 1.0) -> int:
    """The most of these times that fall in one window ``[t, t + seconds)``, over every ``t``."""
    times = sorted(arrivals)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: ReplayServer):
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # the client hung up or timed out: its right
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks should not measure TCP handshakes
    disable_nagle_algorithm = True  # else small answers wait for the client's delayed ACK (~40 ms)
    timeout = 60  # idle keep-alive connections give their thread back
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)

    def do_GET(self) -> None:
        reply = self.server.app.respond(self.path, self.headers.get("Host"))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.reset:  # linger 0: closing sends RST, and the client sees no answer at all
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and benchmarks read the counters instead."""


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8000,
    movies: int = 1000,
    seed: int = 0,
    latency_ms: float = 0,
    fault_rate: float = 0.0,
    catalog_files: Sequence[str | PathLike[str]] | None = None,
) -> None:
    """Serve a synthetic (or captured, with ``catalog_files``) catalog until Ctrl-C or SIGTERM.

    Prints one line holding ``YTS_API_URL=<base url>``. Call it from the main thread (signals).
    """
    catalog = Catalog.from_files(catalog_files) if catalog_files else Catalog.synthetic(movies, seed)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ReplayServer(catalog, host, port, latency_ms, fault_rate, seed) as server:
            print(f"Replay YTS API serving {len(catalog)} movies; use YTS_API_URL={server.base_url}", flush=True)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
