"""A process-wide request rate limit shared by every thread and client.

The API throttles (429, 503) even at modest rates, and a worker pool or two clients in one
process must not add up to more than the configured rate. Requests therefore take slots
``1 / rate`` seconds apart from one limiter per process and rate, retries included. A slot is a
departure time booked in advance, so a thread that wakes up late on a busy machine does not slow
the others down; but it could then leave right before the next one, so the limiter also keeps the
times requests actually left, and holds a request back while ``ceil(rate)`` others left within the
last second (widened by a small margin): any one-second window then holds at most ``ceil(rate)``.

How many threads keep such a limit busy depends on how long the server takes to answer: see
``workers_to_fill``, which sizes the client's details pool from the latencies it observed.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections import deque

# Requests reach the server a little later than they leave, by a delay that varies: a window this
# much wider than a second absorbs up to 30 ms of that, so the server too counts no more than the rate.
WINDOW_MARGIN = 0.03


class RateLimiter:
    """Slots ``1 / rate`` seconds apart, never more than ``ceil(rate)`` departures a second; rate 0: no limit.

    ``defer`` lets one thread that was told to back off (``Retry-After``) hold back all others.
    """

    def __init__(self, requests_per_second: float):
        if requests_per_second < 0:
            raise ValueError(f"requests_per_second must be >= 0, got {requests_per_second}")
        self.requests_per_second = requests_per_second
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        window = max(1, math.ceil(requests_per_second))  # departures allowed per window
        self._window_seconds = window * self._interval * (1.0 + WINDOW_MARGIN)
        self._departures: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._next_slot = 0.0  # time.monotonic() of the earliest free slot

    def acquire(self) -> float:
        """Block until this caller may send; returns the ``time.monotonic()`` it was let go at."""
        if not self._interval:
            return time.monotonic()
        with self._lock:
            slot = max(time.monotonic(), self._next_slot)
            self._next_slot = slot + self._interval
        _sleep_until(slot)
        with self._lock:
            if len(self._departures) == self._departures.maxlen:
                _sleep_until(self._departures[0] + self._window_seconds)
            departed = time.monotonic()
            self._departures.append(departed)
        return departed

    def defer(self, seconds: float) -> None:
        """Let no request out before ``seconds`` from now (slots already handed out keep theirs)."""
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)


def _sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        time.sleep(wait)


# Before the first answer: about what a live API host takes to answer one call.
ASSUMED_LATENCY_SECONDS = 1.0


def workers_to_fill(requests_per_second: float, latency_seconds: float | None, most: int) -> int:
    """Threads that keep a rate limit busy: ``ceil(rate x latency) + 1``, at most ``most``.

    A worker holds one request for one latency, so ``rate x latency`` of them are in flight at
    the limit; one more covers the time a worker spends between requests. With no limit (rate
    0) the pool is simply ``most``: there is nothing to fill, only the machine to spare.
    """
    if not requests_per_second:
        return most
    latency = ASSUMED_LATENCY_SECONDS if latency_seconds is None else latency_seconds
    return max(1, min(most, math.ceil(requests_per_second * latency) + 1))


class RecentLatencies:
    """The median of the last ``size`` latencies, from any thread; ``None`` before the first."""

    def __init__(self, size: int = 50):
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)

    def median(self) -> float | None:
        with self._lock:
            samples = list(self._samples)
        return statistics.median(samples) if samples else None


_registry_lock = threading.Lock()
_limiters: dict[float, RateLimiter] = {}


def shared_limiter(requests_per_second: float) -> RateLimiter:
    """The one limiter of this process for this rate (a forked child starts with fresh ones)."""
    with _registry_lock:
        limiter = _limiters.get(requests_per_second)
        if limiter is None:
            limiter = _limiters[requests_per_second] = RateLimiter(requests_per_second)
        return limiter


def _forget_parent_limiters() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    _limiters.clear()


os.register_at_fork(after_in_child=_forget_parent_limiters)
