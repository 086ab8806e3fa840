"""Dagster resources that hand the cores (database, API client, embedding model) to assets, sensors and schedules.

A process builds one ``DatabaseManager`` and one ``YtsClient`` per whole settings value and reuses
them across steps and runs, so the connection pool and the rate limit are shared by everything in
the process; a changed setting (``DB_POOL_SIZE``, ``YTS_HTTP_TIMEOUT``, ...) gets its own instance.
Everything built here is closed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import dagster as dg

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search.model import EmbeddingModel, get_model, model_location
from yts_pipeline.settings import ApiSettings, DatabaseSettings
from yts_pipeline.yts.client import YtsClient

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedInstances(Generic[K, V]):
    """One ``build(settings)`` per distinct settings value in this process, all closed at exit."""

    def __init__(self, build: Callable[[K], V], close: Callable[[V], None]):
        self._build, self._close = build, close
        self._lock = threading.Lock()
        self._instances: dict[K, V] = {}
        atexit.register(self.close_all)

    def get(self, settings: K) -> V:
        with self._lock:
            if settings not in self._instances:
                self._instances[settings] = self._build(settings)
            return self._instances[settings]

    def close_all(self) -> None:
        with self._lock:
            instances, self._instances = list(self._instances.values()), {}
        for instance in instances:
            self._close(instance)


DATABASES: SharedInstances[DatabaseSettings, DatabaseManager] = SharedInstances(
    lambda settings: DatabaseManager(settings=settings), DatabaseManager.close_all
)
API_CLIENTS: SharedInstances[ApiSettings, YtsClient] = SharedInstances(YtsClient, YtsClient.close)


class DatabaseResource(dg.ConfigurableResource):
    """The Postgres mirror: ``DATABASE_URL`` when set, else the embedded server in ``YTS_DATA_DIR``."""

    database_url: str | None = None
    data_dir: str | None = None

    def settings(self) -> DatabaseSettings:
        """The ``DATABASE_URL`` / ``DB_*`` / ``YTS_DATA_DIR`` settings, with this resource's fields on top."""
        return DatabaseSettings.from_env(url=self.database_url, data_dir=self.data_dir)

    def manager(self) -> DatabaseManager:
        return DATABASES.get(self.settings())


class YtsApiResource(dg.ConfigurableResource):
    """The YTS API client; unset fields come from the ``YTS_*`` environment variables."""

    base_urls: str | None = None
    requests_per_second: float | None = None
    detail_workers: int | None = None
    page_limit: int = 50

    def settings(self) -> ApiSettings:
        """The ``YTS_*`` settings, with this resource's fields on top."""
        return ApiSettings.from_env(
            self.base_urls,
            requests_per_second=self.requests_per_second,
            detail_workers=self.detail_workers,
            page_limit=self.page_limit,
        )

    def client(self) -> YtsClient:
        return API_CLIENTS.get(self.settings())


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


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
