"""One page ahead: a step's first half for the next page runs in the background while the caller
finishes the current one (the next page's API calls while this page is saved, say)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
SWITCH_SECONDS = 0.001


class OneAhead(Generic[T]):
    """``prepare(page, previous)`` for each of ``pages``, in order, one page ahead of the caller.

    ``take(page)`` returns the page's prepared value (prepared there and then when it was not
    ahead) with the moment the caller's time on the page began, and starts preparing the next page
    of ``pages``, handing it the value just taken (so it can leave out what that page has in hand).
    A ``prepare`` that raised raises from ``take`` for its page. Only one page is ever ahead, and
    the caller finishes pages in its own order. Use as a context manager: leaving waits for it.

    Meanwhile the GIL changes hands every ``SWITCH_SECONDS`` instead of Python's 5 ms: the caller's
    work is mostly statements to Postgres, and each answer would otherwise wait up to 5 ms behind the
    background's API calls before the caller runs on (a first sync took ~10% longer).
    """

    def __init__(self, pages: Iterable[int], prepare: Callable[[int, T | None], T]):
        self._queue = list(pages)
        self._prepare = prepare
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yts-ahead")
        self._ahead: tuple[int, Future[T]] | None = None

    def __enter__(self) -> OneAhead[T]:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch, SWITCH_SECONDS))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        sys.setswitchinterval(self._switch)

    def take(self, page: int) -> tuple[T, float]:
        """``page``'s value, and the ``time.monotonic()`` of this call: the page's own time starts
        here, not when its preparation began in the background."""
        called = time.monotonic()
        ahead, self._ahead = self._ahead, None
        value: T | None = None
        try:
            value = ahead[1].result() if ahead is not None and ahead[0] == page else self._prepare(page, None)
            return value, called
        finally:
            self._queue = [p for p in self._queue if p > page]
            if self._queue:
                self._ahead = (self._queue[0], self._pool.submit(self._prepare, self._queue[0], value))
