"""The embedding model for semantic and hybrid search, loaded in a background thread at startup.

Loading torch and MiniLM takes seconds; nothing else waits for it. A semantic query that arrives
first waits for the load (``get_model`` is thread-safe); keyword search, pages and /health never do.
The model remembers the vectors of recent search texts (``SERVE_QUERY_CACHE`` of them).
"""

from __future__ import annotations

import logging
import threading

from yts_pipeline.search import EmbeddingModel, EmbeddingModelError, get_model
from yts_pipeline.search.query_cache import with_query_cache
from yts_pipeline.settings import ServeSettings

log = logging.getLogger(__name__)


class BackgroundModel:
    """The model given (tests, benchmarks), or the configured one loaded once in the background."""

    def __init__(self, model: EmbeddingModel | None = None, query_cache: int = ServeSettings.query_cache):
        self._query_cache = query_cache
        self._model = with_query_cache(model, query_cache) if model is not None else None
        self._failure: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        if self._model is not None:
            return "ready"
        if self._failure is not None:
            return "failed"
        return "loading" if self._thread is not None else "not loaded"

    def start(self) -> None:
        if self._model is None and self._thread is None:
            self._thread = threading.Thread(target=self._load_in_background, name="embedding-model", daemon=True)
            self._thread.start()

    def get(self) -> EmbeddingModel:
        """The model, loading it now when the background load has not finished (or failed: it is retried)."""
        if self._model is None:
            self._load()
        assert self._model is not None
        return self._model

    def _load_in_background(self) -> None:
        try:
            self._load()
        except EmbeddingModelError:
            pass  # logged; a semantic query retries and answers 503 with the reason

    def _load(self) -> None:
        try:
            model = get_model()  # thread-safe: a second caller waits for the first load
        except Exception as exc:  # a missing or broken torch install too: semantic search is then a 503
            self._failure = str(exc)
            log.error("semantic and hybrid search are off: %s", exc)
            raise (
                exc
                if isinstance(exc, EmbeddingModelError)
                else EmbeddingModelError(f"cannot load the embedding model: {exc}")
            ) from exc
        if self._model is None:
            self._model, self._failure = with_query_cache(model, self._query_cache), None
            log.info("embedding model %s ready", model.name)
