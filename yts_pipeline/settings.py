"""Every environment variable the project reads, in one place.

Settings are read when asked for (``Settings.from_env()``), never at import time, so tests and
the CLI can change the environment before building clients and database managers.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

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


def _env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value


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
    def from_env(cls) -> ApiSettings:
        return cls(
            base_urls=parse_api_urls(os.environ.get("YTS_API_URL") or ",".join(DEFAULT_API_URLS)),
            requests_per_second=_env_float("YTS_REQUESTS_PER_SECOND", cls.requests_per_second),
            detail_workers=_env_int("YTS_DETAIL_WORKERS", cls.detail_workers, minimum=1),
            timeout_seconds=_env_float("YTS_HTTP_TIMEOUT", cls.timeout_seconds, minimum=0.1),
            max_attempts=_env_int("YTS_HTTP_ATTEMPTS", cls.max_attempts, minimum=1),
            backoff_seconds=_env_float("YTS_BACKOFF_SECONDS", cls.backoff_seconds),
            max_backoff_seconds=_env_float("YTS_MAX_BACKOFF_SECONDS", cls.max_backoff_seconds),
        )


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the database is: ``DATABASE_URL``, or an embedded server in ``data_dir``."""

    url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> DatabaseSettings:
        data_dir = os.environ.get("YTS_DATA_DIR")
        return cls(
            url=os.environ.get("DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            pool_size=_env_int("DB_POOL_SIZE", cls.pool_size, minimum=1),
            max_overflow=_env_int("DB_MAX_OVERFLOW", cls.max_overflow),
            pool_timeout=_env_float("DB_POOL_TIMEOUT", cls.pool_timeout, minimum=0.1),
        )


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which sentence-transformers model embeds movies; ``None`` means the packaged MiniLM."""

    model_path: str | None = None
    batch_size: int = 64

    @classmethod
    def from_env(cls) -> EmbeddingSettings:
        return cls(
            model_path=os.environ.get("EMBEDDING_MODEL") or None,
            batch_size=_env_int("EMBEDDING_BATCH_SIZE", cls.batch_size, minimum=1),
        )
