"""The two ways to run a sentence-transformers model: torch itself, or its ONNX export on OpenVINO.

Both give unit float32 rows, texts encoded longest first in batches, as
``SentenceTransformer.encode(..., normalize_embeddings=True)`` does. Only the torch one imports
torch: a process whose model is already exported is ready in about a second, with a third less memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from yts_pipeline.db.models import EMBEDDING_DIMENSIONS
from yts_pipeline.search.errors import BackendUnavailable, EmbeddingModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MANIFEST = "export.json"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# the model inputs an export may have, and the field of a ``tokenizers.Encoding`` that feeds each
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class Encoder(Protocol):
    backend: str

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


def load_sentence_transformer(folder: Path) -> SentenceTransformer:
    """The model in ``folder``, read from disk only (never from a hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(folder), local_files_only=True)
    except Exception as exc:
        raise EmbeddingModelError(f"cannot load the embedding model in {folder}: {exc}") from exc


def sentence_dimensions(transformer: SentenceTransformer) -> int:
    return (getattr(transformer, "get_embedding_dimension", None) or transformer.get_sentence_embedding_dimension)()


def require_table_dimensions(name: str, folder: Path, dimensions: int) -> None:
    """Refuse a model whose vectors ``movie_embeddings.embedding`` cannot hold."""
    if dimensions != EMBEDDING_DIMENSIONS:
        raise EmbeddingModelError(
            f"the embedding model {name!r} ({folder}) makes {dimensions}-dimensional vectors, but "
            f"movie_embeddings.embedding holds {EMBEDDING_DIMENSIONS}: use a {EMBEDDING_DIMENSIONS}-dimensional "
            "model (or change EMBEDDING_DIMENSIONS and migrate the table)"
        )


class TorchEncoder:
    """sentence-transformers on torch: the reference every other backend is checked against."""

    backend = "torch"

    def __init__(self, transformer: SentenceTransformer) -> None:
        self.transformer = transformer

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.transformer.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class OpenVinoEncoder:
    """An exported model (see ``export.py``) on the OpenVINO runtime, tokenized by ``tokenizers``.

    The ONNX graph holds the whole sentence-transformers pipeline after the tokenizer (the
    transformer, the model's own pooling and normalization), so only tokenizing and the final
    normalization happen here. Thread-safe: each call has its own inference request.
    """

    backend = "openvino"

    def __init__(self, export: Path) -> None:
        try:
            import openvino
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise BackendUnavailable(f"the OpenVINO runtime is not installed ({exc})") from exc
        manifest = json.loads((export / MANIFEST).read_text())
        self.dimensions: int = manifest["dimensions"]
        self._inputs: list[str] = manifest["inputs"]
        self._tokenizer = Tokenizer.from_file(str(export / TOKENIZER_FILE))
        try:
            self._compiled = openvino.Core().compile_model(str(export / ONNX_FILE), "CPU")
        except Exception as exc:
            raise BackendUnavailable(f"OpenVINO cannot compile {export / ONNX_FILE}: {exc}") from exc

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        texts = list(texts)
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        request = self._compiled.create_infer_request()
        longest_first = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(texts), batch_size):
            rows = longest_first[start : start + batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in rows])
            feed = {
                name: np.array([getattr(e, ENCODING_FIELDS[name]) for e in encodings], dtype=np.int64)
                for name in self._inputs
            }
            vectors[rows] = unit_rows(request.infer(feed)[0])
        return vectors


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as ``torch.nn.functional.normalize`` does (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Agreement:
    """How far one backend's vectors are from the reference's on the same texts, for every purpose.

    Per text, the cosine with the reference vector; per text, the share of its ``k`` nearest
    other texts that are also among the reference's ``k`` nearest (what search and "more like
    this" would show).
    """

    mean_cosine: float
    min_cosine: float
    neighbour_overlap: float


def agreement(reference: np.ndarray, other: np.ndarray, k: int = 10) -> Agreement:
    cosines = np.sum(reference * other, axis=1)
    k = min(k, len(reference) - 1)
    if k < 1:
        return Agreement(float(cosines.mean()), float(cosines.min()), 1.0)
    neighbours = [_nearest(vectors, k) for vectors in (reference, other)]
    shared = [len(set(a) & set(b)) for a, b in zip(*neighbours, strict=True)]
    return Agreement(float(cosines.mean()), float(cosines.min()), float(np.mean(shared)) / k)


def _nearest(vectors: np.ndarray, k: int) -> np.ndarray:
    """The indices of each row's ``k`` most similar other rows."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argpartition(-similarity, k, axis=1)[:, :k]
