"""The text rules the OpenAPI document shows are the ones the API applies (params.py writes them once)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from yts_pipeline.serve.params import MOVIE_REFERENCE, PRINTABLE, SPACE, VISIBLE


def test_the_space_class_is_what_strip_removes() -> None:
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert {chr(c) for c in range(0x110000) if re.fullmatch(f"[{SPACE}]", chr(c))} == spaces


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
def test_visible_text_is_printable_text_that_is_not_blank(text: str) -> None:
    printable = not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    assert bool(re.fullmatch(PRINTABLE, text)) == printable
    assert bool(re.fullmatch(VISIBLE, text)) == (printable and bool(text.strip()))


def test_a_movie_reference_is_a_yts_id_or_an_imdb_code() -> None:
    for good in ("1", "0133093", "9" * 19, "tt0133093", "TT1"):
        assert re.fullmatch(MOVIE_REFERENCE, good)
    for bad in ("", " 1", "1 ", "9" * 20, "tt", "The Matrix", "١٢", "1;DROP"):
        assert not re.fullmatch(MOVIE_REFERENCE, bad)
