"""Database errors a user can act on. Messages never carry a password."""

from __future__ import annotations

from sqlalchemy.engine import make_url


class DatabaseError(RuntimeError):
    """Base for errors the CLI prints as one line instead of a stack trace."""


class DatabaseUnavailable(DatabaseError):
    """The server cannot be reached or refused the login."""


class PgvectorMissing(DatabaseError):
    """The server has no ``vector`` extension to create."""


def safe_url(url: str) -> str:
    """The URL with its password masked, fit for logs and errors."""
    try:
        return scrub(make_url(url).render_as_string(hide_password=True), url)
    except Exception:  # an unparseable URL: show nothing of it
        return "<unparseable DATABASE_URL>"


def _secrets(url: str) -> list[str]:
    """The password, and the rest of it read as part of the host when it holds an unencoded ``@``."""
    parsed = make_url(url)
    found = [parsed.password] if parsed.password else []
    if parsed.host and "@" in parsed.host:
        found.append(parsed.host.rpartition("@")[0] + "@")
    return found


def describe_server(url: str) -> str:
    """``host:port/database`` (or the socket folder) for messages."""
    try:
        parsed = make_url(url)
    except Exception:
        return "<unparseable DATABASE_URL>"
    host = (parsed.host or "").rpartition("@")[2] or parsed.query.get("host") or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


def scrub(message: str, url: str | None) -> str:
    """Remove the password of ``url`` from ``message`` wherever a driver might have echoed it."""
    if not url:
        return message
    try:
        secrets = _secrets(url)
    except Exception:
        return message
    for secret in secrets:
        message = message.replace(secret, "***" if not secret.endswith("@") else "***@")
    return message
