"""A process-wide request rate limit shared by every thread and client.

The API throttles (429, 503) even at modest rates, and a worker pool or two clients in one
process must not add up to more than the configured rate. Requests therefore take spaced
slots, ``1 / rate`` seconds apart, from one limiter per process and rate: any one-second
window then holds at most ``rate + 1`` requests, retries included.
"""

from __future__ import annotations

import os
import threading
import time


class RateLimiter:
    """Hands out send times at least ``1 / rate`` seconds apart; ``rate`` 0 means no spacing.

    ``defer`` lets one thread that was told to back off (``Retry-After``) hold back all others.
    """

    def __init__(self, requests_per_second: float):
        if requests_per_second < 0:
            raise ValueError(f"requests_per_second must be >= 0, got {requests_per_second}")
        self.requests_per_second = requests_per_second
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._lock = threading.Lock()
        self._next_slot = 0.0  # time.monotonic() of the earliest free slot

    def acquire(self) -> float:
        """Block until this caller may send; returns the seconds it waited."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
        return wait

    def defer(self, seconds: float) -> None:
        """Let no request out before ``seconds`` from now (slots already handed out keep theirs)."""
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)


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
