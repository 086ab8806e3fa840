"""Thread-safe counters of what a client did, for asset metadata ("API retries during this page")."""

from __future__ import annotations

import threading
from collections import Counter

COUNTERS = ("requests", "retries", "failures", "host_switches")


class ClientStats:
    """Counters: ``requests`` sent (retries and fallbacks included), ``retries`` (backoff waits),
    ``failures`` (calls that ended in an error), ``host_switches``, and ``calls.<endpoint>``.

    Take ``before = stats.snapshot()`` and later ``stats.since(before)`` for one unit of work.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def call(self, endpoint: str) -> None:
        self.add(f"calls.{endpoint}")

    def snapshot(self) -> dict[str, int]:
        """All counters at this moment, as a flat dict of ints."""
        with self._lock:
            return dict(self._counts)

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """What was counted after ``before`` (a ``snapshot()``), every counter included."""
        now = self.snapshot()
        return {name: value - before.get(name, 0) for name, value in now.items()}

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]
