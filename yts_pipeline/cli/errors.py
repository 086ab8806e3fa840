"""What a person reads when a command fails: one line saying what failed and what to do, and an exit status."""

from __future__ import annotations

from pathlib import Path

OFFLINE_HINT = (
    "check the network or the proxy (HTTPS_PROXY), point YTS_API_URL at a host that answers, "
    "or work offline: `make replay` and the README's offline walkthrough"
)


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The message and exit status for an error a person can act on; ``None`` for a bug (shown as a traceback)."""
    from sqlalchemy.exc import OperationalError

    from yts_pipeline.cli.instance import InstanceError
    from yts_pipeline.cli.pipeline import UsageError
    from yts_pipeline.db.embedded import EmbeddedPostgresError
    from yts_pipeline.db.errors import DatabaseError, describe_server, scrub
    from yts_pipeline.search.errors import SearchError
    from yts_pipeline.settings import DatabaseSettings, SettingsError
    from yts_pipeline.yts.client import YtsApiError

    if isinstance(exc, SearchError):
        return str(exc), 1
    if isinstance(exc, YtsApiError):
        tries = f"{exc.attempts} attempt{'s' if exc.attempts != 1 else ''}"
        return (
            f"the YTS API did not answer ({exc.endpoint} {exc.where}, {tries} on {', '.join(exc.hosts)}): "
            f"{exc.summary}. To fix: {OFFLINE_HINT}",
            2,
        )
    if isinstance(exc, (SettingsError, DatabaseError, EmbeddedPostgresError, InstanceError, UsageError)):
        return str(exc), 2
    if isinstance(exc, OperationalError):
        url = DatabaseSettings.from_env().url
        cause = str(exc.orig or exc).strip().splitlines()[0]
        where = describe_server(url) if url else "the embedded Postgres"
        return f"the database at {where} stopped answering: {scrub(cause, url)}", 2
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {Path(exc.filename)}: {exc.strerror}. " + _folder_hint(Path(exc.filename)), 2
    return None


def _folder_hint(path: Path) -> str:
    from yts_pipeline.cli.instance import local_dagster_home
    from yts_pipeline.settings import DatabaseSettings

    if path.resolve().is_relative_to(local_dagster_home()):
        return "Set DAGSTER_HOME to a folder you can write."
    if path.resolve().is_relative_to(DatabaseSettings.from_env().data_dir.resolve()):
        return "Set YTS_DATA_DIR to a folder you can write."
    return "Check that the path exists and is yours to write."
