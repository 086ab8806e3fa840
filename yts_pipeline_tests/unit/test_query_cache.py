"""The serving process's cache of query vectors, on the real model: a repeated search text is encoded once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from yts_pipeline.search import EmbeddingModel, get_model
from yts_pipeline.search.query_cache import with_query_cache
from yts_pipeline_tests.support.counting import CountingEncoder


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return get_model()


def counted(model: EmbeddingModel, size: int) -> tuple[EmbeddingModel, CountingEncoder]:
    counter = CountingEncoder(model.encoder)
    return with_query_cache(replace(model, encoder=counter), size), counter


def test_a_repeated_query_gets_the_same_vector_without_encoding_again(model) -> None:
    cached, counter = counted(model, 8)
    first = cached.encode(["a heist that goes wrong"])
    again = cached.encode(["  a heist   that goes wrong "])  # the same words, spaced otherwise
    assert counter.texts == ["a heist that goes wrong"]
    assert again is first and not first.flags.writeable
    np.testing.assert_array_equal(first, model.encode(["a heist that goes wrong"]))
    np.testing.assert_array_equal(first, model.encode(["  a heist   that goes wrong "]))


def test_the_least_recently_used_text_is_forgotten_first(model) -> None:
    cached, counter = counted(model, 2)
    for text in ("war", "revenge", "war", "treasure map", "war", "revenge"):
        cached.encode([text])
    assert counter.texts == ["war", "revenge", "treasure map", "revenge"]


def test_batches_and_a_cache_of_zero_encode_every_time(model) -> None:
    cached, counter = counted(model, 8)
    cached.encode(["war", "revenge"])
    cached.encode(["war", "revenge"])
    off, off_counter = counted(model, 0)
    off.encode(["war"])
    off.encode(["war"])
    assert (counter.texts, off_counter.texts) == (["war", "revenge"] * 2, ["war"] * 2)
