"""The likes cookie: choices keep a movie on one side, the newest last, capped; bad values are ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from yts_pipeline.serve.taste import DISLIKED_COOKIE, LIKED_COOKIE, MAX_KEPT, Taste, read_taste


def request_with(cookie: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie.encode())]})


def test_a_choice_moves_a_movie_to_one_side_and_forget_removes_it() -> None:
    taste = Taste().choose("like", 1).choose("like", 2).choose("dislike", 3)
    assert taste == Taste((1, 2), (3,))
    assert taste.choose("dislike", 1) == Taste((2,), (3, 1))
    assert taste.choose("like", 1) == Taste((2, 1), (3,))  # liked again: the newest
    assert taste.choose("forget", 3) == Taste((1, 2), ())
    assert (taste.opinion(2), taste.opinion(3), taste.opinion(4)) == ("liked", "disliked", None)


def test_only_the_newest_likes_are_kept() -> None:
    taste = Taste()
    for movie in range(1, MAX_KEPT + 11):
        taste = taste.choose("like", movie)
    assert taste.liked == tuple(range(11, MAX_KEPT + 11))


def test_malformed_cookies_are_ignored_not_errors() -> None:
    cookie = f"{LIKED_COOKIE}=5.abc.-1.0.7..99999999999999999999999.5.%00.٣; {DISLIKED_COOKIE}=7.8.x"
    assert read_taste(request_with(cookie)) == Taste((7, 5), (8,))  # 7 liked and disliked: liked wins
    assert read_taste(request_with(f"{LIKED_COOKIE}=" + ".".join(map(str, range(1, 200))))).liked == tuple(
        range(200 - MAX_KEPT, 200)
    )


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters=";"), max_size=80))
def test_any_cookie_value_reads_as_some_taste(value: str) -> None:
    taste = read_taste(request_with(f"{LIKED_COOKIE}={value}; {DISLIKED_COOKIE}={value}"))
    assert len(taste.liked) <= MAX_KEPT and not set(taste.liked) & set(taste.disliked)
