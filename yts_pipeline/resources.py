"""Dagster resources that hand the cores (database, API client) to assets, sensors and schedules.

Each process builds one ``DatabaseManager`` and one ``YtsClient`` per configuration and reuses them
across steps, so the connection pool and the rate limit are shared by everything in the process.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import dagster as dg

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search.model import EmbeddingModel, get_model, model_location
from yts_pipeline.settings import ApiSettings, DatabaseSettings, parse_api_urls
from yts_pipeline.yts.client import YtsClient

_lock = threading.Lock()
_managers: dict[tuple[str | None, str], DatabaseManager] = {}
_clients: dict[ApiSettings, YtsClient] = {}


class DatabaseResource(dg.ConfigurableResource):
    """The Postgres mirror: ``DATABASE_URL`` when set, else the embedded server in ``YTS_DATA_DIR``."""

    database_url: str | None = None
    data_dir: str | None = None

    def manager(self) -> DatabaseManager:
        settings = DatabaseSettings.from_env()
        if self.data_dir:
            settings = dataclasses.replace(settings, data_dir=Path(self.data_dir))
        key = (self.database_url or settings.url, str(settings.data_dir))
        with _lock:
            if key not in _managers:
                _managers[key] = DatabaseManager(key[0], settings=settings)
            return _managers[key]


class YtsApiResource(dg.ConfigurableResource):
    """The YTS API client; unset fields come from the ``YTS_*`` environment variables."""

    base_urls: str | None = None
    requests_per_second: float | None = None
    detail_workers: int | None = None
    page_limit: int = 50

    def settings(self) -> ApiSettings:
        settings = ApiSettings.from_env()
        overrides = {
            "base_urls": parse_api_urls(self.base_urls) if self.base_urls else None,
            "requests_per_second": self.requests_per_second,
            "detail_workers": self.detail_workers,
            "page_limit": self.page_limit,
        }
        return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def client(self) -> YtsClient:
        settings = self.settings()
        with _lock:
            if settings not in _clients:
                _clients[settings] = YtsClient(settings)
            return _clients[settings]


class EmbeddingModelResource(dg.ConfigurableResource):
    """The sentence-transformers model, loaded once per process; ``EMBEDDING_MODEL`` when unset."""

    model_path: str | None = None

    def model(self) -> EmbeddingModel:
        return get_model(self.model_path)

    def model_name(self) -> str:
        """The name stored with each vector, without loading the model."""
        return model_location(self.model_path)[0]


def _from_env(name: str) -> dg.EnvVar | None:
    """An ``EnvVar`` (shown by name, never by value, in the UI) when the variable is set."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "database": DatabaseResource(database_url=_from_env("DATABASE_URL"), data_dir=_from_env("YTS_DATA_DIR")),
        "yts_api": YtsApiResource(base_urls=_from_env("YTS_API_URL")),
        "embedding_model": EmbeddingModelResource(model_path=_from_env("EMBEDDING_MODEL")),
    }
