"""OneAhead: the next page is prepared while the caller works on the current one; failures stay per page."""

import threading

import pytest

from yts_pipeline.ahead import OneAhead


class Broken(RuntimeError):
    pass


def test_each_page_is_prepared_once_ahead_and_a_failure_is_its_pages_alone() -> None:
    prepared, previous_seen, started = [], {}, {page: threading.Event() for page in (1, 2, 3)}

    def prepare(page: int, previous: str | None) -> str:
        prepared.append(page)
        previous_seen[page] = previous
        started[page].set()
        if page == 2:
            raise Broken("page 2")
        return f"page {page}"

    with OneAhead([1, 2, 3], prepare) as ahead:
        assert ahead.take(1)[0] == "page 1"
        assert started[2].wait(5)  # prepared before the caller asks for it
        with pytest.raises(Broken):
            ahead.take(2)
        assert started[3].wait(5)  # the failed page does not stop the next one
        value, began = ahead.take(3)
    assert value == "page 3" and isinstance(began, float)
    assert prepared == [1, 2, 3]
    assert previous_seen == {1: None, 2: "page 1", 3: None}  # each is handed the value taken before it
