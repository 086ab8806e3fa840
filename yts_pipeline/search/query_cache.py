"""The vectors of recent search texts, kept by a serving process: people repeat searches (the next page
of results, the same few words), and encoding one costs more CPU than the hybrid statement that uses it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from yts_pipeline.search.backends import Encoder
from yts_pipeline.search.model import EmbeddingModel


def with_query_cache(model: EmbeddingModel, size: int) -> EmbeddingModel:
    """``model`` remembering the vectors of its last ``size`` distinct single texts (0: remembering none)."""
    return replace(model, encoder=QueryCache(model.name, model.encoder, size)) if size > 0 else model


def normalised(query: str) -> str:
    """The text as the model reads it: runs of whitespace are one space, none at the ends."""
    return " ".join(query.split())


class QueryCache:
    """An encoder that answers a single text from a least-recently-used cache keyed by model and text.

    Batches (embedding movies) go straight through. A cached vector is read-only: every caller shares it.
    """

    def __init__(self, model_name: str, encoder: Encoder, size: int):
        self.backend = encoder.backend
        self._model_name, self._encoder, self._size = model_name, encoder, size
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if len(texts) != 1:
            return self._encoder.encode(texts, batch_size=batch_size)
        key = (self._model_name, normalised(texts[0]))
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
                return vector
        vector = self._encoder.encode([key[1]], batch_size=batch_size)
        vector.flags.writeable = False
        with self._lock:
            self._vectors[key] = vector
            if len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return vector
