"""Failures the live API is known for, served on demand (scripted) or at a seeded random rate."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from yts_pipeline.yts.replay.endpoints import ENDPOINTS

# 429: plain-text throttle with Retry-After; 503: HTML "DDoS protection" page; truncated: HTTP 200
# with the JSON cut in half; slow: a correct answer after a long delay; empty: a list answer without
# its movies key (other endpoints answer normally); foreign: JSON of another shape (a copycat
# domain); reset: the connection is dropped without an answer.
FAULT_KINDS = ("429", "503", "truncated", "slow", "empty", "foreign", "reset")
DEFAULT_RANDOM_FAULTS = ("429", "503", "truncated", "slow")


@dataclass(frozen=True)
class ScriptedFault:
    """One queued answer: ``kind`` (``None`` = answer normally) for the next request that matches."""

    kind: str | None
    endpoint: str | None = None
    movie_id: int | None = None
    page: int | None = None

    def matches(self, endpoint: str, movie_id: int | None, page: int | None) -> bool:
        return (
            (self.endpoint is None or self.endpoint == endpoint)
            and (self.movie_id is None or self.movie_id == movie_id)
            and (self.page is None or self.page == page)
        )


class FaultPlan:
    """Decides each request's fault: the first matching scripted one, else a seeded random draw."""

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds: Sequence[str] = DEFAULT_RANDOM_FAULTS):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._scripted: list[ScriptedFault] = []
        self.rate = rate
        self.kinds = kinds

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate {rate} is not between 0 and 1")
        self._rate = rate

    @property
    def kinds(self) -> tuple[str, ...]:
        return self._kinds

    @kinds.setter
    def kinds(self, kinds: Sequence[str]) -> None:
        kinds = tuple(kinds)
        _check_kinds(kinds)
        if not kinds:
            raise ValueError("random faults need at least one kind")
        self._kinds = kinds

    def script(
        self,
        kinds: Iterable[str | None],
        endpoint: str | None = None,
        movie_id: int | None = None,
        page: int | None = None,
    ) -> None:
        """Queue answers for the next matching requests, in order; ``None`` answers normally."""
        kinds = tuple(kinds)
        _check_kinds(k for k in kinds if k is not None)
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        with self._lock:
            self._scripted.extend(ScriptedFault(kind, endpoint, movie_id, page) for kind in kinds)

    def pending(self) -> int:
        """How many scripted answers no request has consumed yet."""
        with self._lock:
            return len(self._scripted)

    def draw(self, endpoint: str, movie_id: int | None, page: int | None) -> str | None:
        """The fault for one request. Scripted answers never get a random fault on top."""
        with self._lock:
            for index, scripted in enumerate(self._scripted):
                if scripted.matches(endpoint, movie_id, page):
                    del self._scripted[index]
                    return scripted.kind
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
            return None


def _check_kinds(kinds: Iterable[str]) -> None:
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; expected some of {FAULT_KINDS}")
