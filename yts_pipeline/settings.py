"""Every environment variable the project reads, in one place.

Settings are read when asked for (``Settings.from_env()``), never at import time, so tests and
the CLI can change the environment before building clients and database managers.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)

DEFAULT_API_URLS = (
    "https://movies-api.accel.li/api/v2/",
    "https://yts.bz/api/v2/",
    "https://yts.lt/api/v2/",
    "https://yts.gg/api/v2/",
    "https://yts.mx/api/v2/",
)


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use."""


def default_data_dir() -> Path:
    """Per-user data folder, never under /root (the embedded server runs as another user there)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    home = Path.home()
    if xdg and not Path(xdg).resolve().is_relative_to("/root"):
        return Path(xdg) / "yts_pipeline"
    if not home.resolve().is_relative_to("/root"):
        return home / ".local" / "share" / "yts_pipeline"
    return Path("/var/lib") / f"yts_pipeline-{getpass.getuser()}"


def _env_number(name: str, default: N, minimum: N) -> N:
    """The variable as a number of ``default``'s type (int or float), at least ``minimum``; ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {'an integer' if kind is int else 'a number'}") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _env_float(name: str, default: float, minimum: float = 0.0) -> float:
    return _env_number(name, float(default), float(minimum))


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    return _env_number(name, int(default), int(minimum))


DEFAULT_PAGES_PER_RUN = 25


def pages_per_run() -> int:
    """``YTS_PAGES_PER_RUN``: the most pages one run takes, in a backfill (the page assets' backfill policy)
    and in ``sync`` (its ``--pages-per-run`` default)."""
    return _env_int("YTS_PAGES_PER_RUN", DEFAULT_PAGES_PER_RUN, minimum=1)


def parse_database_url(raw: str) -> str:
    """A SQLAlchemy URL of a Postgres server (``postgres://`` accepted); the error never shows the password."""
    from sqlalchemy.engine import make_url

    scheme = raw.partition("://")[0] if "://" in raw else None
    if scheme == "postgres":
        raw = "postgresql" + raw[len("postgres") :]
        scheme = "postgresql"
    if scheme is None or scheme.split("+")[0] != "postgresql":
        shown = f"starts with {scheme + '://'!r}" if scheme else "has no scheme"
        raise SettingsError(
            f"DATABASE_URL {shown}: it must be a Postgres URL such as "
            "postgresql+psycopg2://user:password@host:5432/dbname (or unset it for the embedded one)"
        )
    try:
        make_url(raw)
    except Exception:
        raise SettingsError(
            "DATABASE_URL cannot be parsed: expected "
            "postgresql+psycopg2://user:password@host:5432/dbname (quote special characters "
            "of the password with %XX)"
        ) from None
    return raw


def parse_api_urls(raw: str) -> tuple[str, ...]:
    """Split a comma-separated list of base URLs; each must end in ``/api/v2/``."""
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    if not urls:
        raise SettingsError("YTS_API_URL is empty")
    normalized = []
    for url in urls:
        if not url.endswith("/"):
            url += "/"
        if not url.startswith(("http://", "https://")) or not url.endswith("/api/v2/"):
            raise SettingsError(f"YTS_API_URL entry {url!r} must be an http(s) URL ending in /api/v2/")
        normalized.append(url)
    return tuple(normalized)


@dataclass(frozen=True)
class ApiSettings:
    """How the YTS client talks to the API."""

    base_urls: tuple[str, ...] = DEFAULT_API_URLS
    requests_per_second: float = 1.0  # 0 turns the limit off
    detail_workers: int = 8  # the most details threads; the client sizes its pool to the rate (see ratelimit)
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    page_limit: int = 50

    @classmethod
    def from_env(cls, base_urls: str | None = None, **given: float | int | None) -> ApiSettings:
        """The ``YTS_*`` variables. ``base_urls`` (read as ``YTS_API_URL`` is) and the fields in ``given``
        stand in for their variables where they are not None: a Dagster resource's fields."""
        settings = cls(
            base_urls=parse_api_urls(base_urls or os.environ.get("YTS_API_URL") or ",".join(DEFAULT_API_URLS)),
            requests_per_second=_env_float("YTS_REQUESTS_PER_SECOND", cls.requests_per_second),
            detail_workers=_env_int("YTS_DETAIL_WORKERS", cls.detail_workers, minimum=1),
            timeout_seconds=_env_float("YTS_HTTP_TIMEOUT", cls.timeout_seconds, minimum=0.1),
            max_attempts=_env_int("YTS_HTTP_ATTEMPTS", cls.max_attempts, minimum=1),
            backoff_seconds=_env_float("YTS_BACKOFF_SECONDS", cls.backoff_seconds),
            max_backoff_seconds=_env_float("YTS_MAX_BACKOFF_SECONDS", cls.max_backoff_seconds),
        )
        return replace(settings, **{name: value for name, value in given.items() if value is not None})


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the database is: ``DATABASE_URL``, or an embedded server in ``data_dir``."""

    url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0

    @classmethod
    def from_env(cls, url: str | None = None, data_dir: str | None = None) -> DatabaseSettings:
        """``DATABASE_URL``, ``YTS_DATA_DIR`` and ``DB_*``. ``url`` and ``data_dir`` stand in for the first
        two where they are not None (a Dagster resource's fields), and are read as those are."""
        url = url or os.environ.get("DATABASE_URL")
        data_dir = data_dir or os.environ.get("YTS_DATA_DIR")
        return cls(
            url=parse_database_url(url) if url else None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            pool_size=_env_int("DB_POOL_SIZE", cls.pool_size, minimum=1),
            max_overflow=_env_int("DB_MAX_OVERFLOW", cls.max_overflow),
            pool_timeout=_env_float("DB_POOL_TIMEOUT", cls.pool_timeout, minimum=0.1),
        )


@dataclass(frozen=True)
class DagsterSettings:
    """The local Dagster instance's folder: ``DAGSTER_HOME``, else ``<YTS_DATA_DIR>/dagster_home``.

    ``chosen_by`` names the variable that put it there (``None``: the default), for errors and for
    whether ``dg`` needs telling where it is.
    """

    home: Path
    chosen_by: str | None = None

    @classmethod
    def from_env(cls) -> DagsterSettings:
        if os.environ.get("DAGSTER_HOME"):
            return cls(Path(os.environ["DAGSTER_HOME"]).expanduser().resolve(), "DAGSTER_HOME")
        chosen_by = "YTS_DATA_DIR" if os.environ.get("YTS_DATA_DIR") else None
        return cls((DatabaseSettings.from_env().data_dir / "dagster_home").expanduser().resolve(), chosen_by)


EMBEDDING_BACKENDS = ("auto", "torch", "openvino")


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which sentence-transformers model embeds movies (``None``: the packaged MiniLM), and on what.

    ``backend``: ``openvino`` runs the model exported to ONNX on the OpenVINO runtime (same
    vectors, 3-4x torch's speed on CPUs with bf16, no torch import); ``torch`` runs
    sentence-transformers itself; ``auto`` takes OpenVINO when it loads and torch otherwise.
    """

    model_path: str | None = None
    batch_size: int = 64
    backend: str = "auto"

    @classmethod
    def from_env(cls) -> EmbeddingSettings:
        backend = os.environ.get("EMBEDDING_BACKEND", "").strip().lower() or cls.backend
        if backend not in EMBEDDING_BACKENDS:
            raise SettingsError(f"EMBEDDING_BACKEND={backend!r} is not one of {', '.join(EMBEDDING_BACKENDS)}")
        return cls(
            model_path=os.environ.get("EMBEDDING_MODEL") or None,
            batch_size=_env_int("EMBEDDING_BATCH_SIZE", cls.batch_size, minimum=1),
            backend=backend,
        )


def _env_list(name: str) -> tuple[str, ...]:
    """A comma-separated variable as a tuple of its non-empty, stripped entries."""
    return tuple(entry.strip() for entry in os.environ.get(name, "").split(",") if entry.strip())


@dataclass(frozen=True)
class ServeSettings:
    """The HTTP API and web page (``yts_pipeline.serve``). Host and port come from the command line."""

    cors_origins: tuple[str, ...] = ()  # none: CORS off, browsers keep other sites' pages out
    statement_timeout_seconds: float = 10.0  # a query running longer is cancelled, the client gets a 503
    query_cache: int = 1024  # vectors of recent search texts kept (1.5 kB each); 0 encodes every search

    @classmethod
    def from_env(cls) -> ServeSettings:
        origins = _env_list("SERVE_CORS_ORIGINS")
        for origin in origins:
            if origin != "*" and (not origin.startswith(("http://", "https://")) or origin.endswith("/")):
                raise SettingsError(
                    f"SERVE_CORS_ORIGINS entry {origin!r} must be * or an origin like "
                    "https://example.org (scheme and host, no trailing slash)"
                )
        return cls(
            cors_origins=origins,
            statement_timeout_seconds=_env_float("SERVE_STATEMENT_TIMEOUT", cls.statement_timeout_seconds, minimum=0.1),
            query_cache=_env_int("SERVE_QUERY_CACHE", cls.query_cache),
        )
