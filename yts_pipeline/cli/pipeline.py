"""``sync``, ``ui`` and ``replay-api``: the pipeline headless, the Dagster UI, and an offline API."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

from yts_pipeline.cli import add_command


class UsageError(RuntimeError):
    """A command cannot start as asked; the message says what to change."""


def cmd_sync(args: argparse.Namespace) -> int:
    """Run the pipeline headless; exit 0 only when every page and every integrity check passed."""
    from yts_pipeline.cli.dg_env import point_dg_at_default_instance
    from yts_pipeline.cli.instance import prepare_local_instance
    from yts_pipeline.cli.sync import parse_page_range, print_summary, run_sync

    try:
        pages = parse_page_range(args.pages) if args.pages else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    started = time.monotonic()
    home = prepare_local_instance()
    env_file = point_dg_at_default_instance(home)
    if env_file is not None:
        print(
            f"dg commands in {env_file.parent} use this instance too (DAGSTER_HOME written to {env_file})",
            file=sys.stderr,
        )
    totals = run_sync(
        home=home,
        pages=pages,
        max_pages=args.max_pages,
        refresh=args.refresh,
        skip_embeddings=args.skip_embeddings,
        pages_per_run=args.pages_per_run,
    )
    print_summary(totals, time.monotonic() - started)
    return 1 if totals.failed_pages or totals.failed_checks else 0


def check_port_free(host: str, port: int, likely: str) -> None:
    """Fail in one line before a server starts on a port that is taken (``likely``: who may hold it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror}): {likely} may be running there; "
                "stop it or pass --port"
            ) from None


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI and daemon (``dg dev``) on the local instance, from the project checkout."""
    from yts_pipeline.cli.dg_env import point_dg_at_default_instance, project_checkout
    from yts_pipeline.cli.instance import prepare_local_instance

    checkout = project_checkout()
    if checkout is None:
        raise UsageError(
            "the UI runs from the project checkout (dg reads its pyproject.toml): "
            "clone the repository and `pip install -e .` it, then run `make run` there"
        )
    check_port_free(args.host, args.port, "another Dagster UI")
    home = prepare_local_instance()
    point_dg_at_default_instance(home)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix  # dg compares it with the checkout's .venv
    dg = Path(sys.executable).with_name("dg")
    print(f"DAGSTER_HOME={home}; UI on http://{args.host}:{args.port}", file=sys.stderr)
    os.chdir(checkout)
    os.execve(dg, [str(dg), "dev", "--host", args.host, "--port", str(args.port)], env)
    return 0


def cmd_replay_api(args: argparse.Namespace) -> int:
    """Serve a synthetic (or recorded) catalog the way the YTS API does, for offline runs and tests."""
    from yts_pipeline.yts.replay import serve_forever

    serve_forever(
        host=args.host,
        port=args.port,
        movies=args.movies,
        seed=args.seed,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        catalog_files=args.catalog or None,
    )
    return 0


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_commands(sub: argparse._SubParsersAction) -> None:
    sync = add_command(
        sub, "sync", "run the pipeline headless on the local Dagster instance (or DAGSTER_HOME)", cmd_sync
    )
    sync.add_argument("--pages", metavar="A-B", help="only these pages (default: every page, then a full sweep)")
    sync.add_argument("--max-pages", type=positive_int, metavar="N", help="at most N pages")
    sync.add_argument("--refresh", action="store_true", help="fetch details again for movies that have them")
    sync.add_argument("--skip-embeddings", action="store_true", help="do not compute embeddings")
    sync.add_argument(
        "--pages-per-run",
        type=positive_int,
        metavar="N",
        help="pages per Dagster run (default: YTS_PAGES_PER_RUN, 25)",
    )

    ui = add_command(sub, "ui", "start the Dagster UI and daemon (dg dev) on the local instance", cmd_ui)
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    ui.add_argument("--port", type=positive_int, default=3000, help="port (default 3000)")

    replay = add_command(sub, "replay-api", "serve an offline imitation of the YTS API", cmd_replay_api)
    replay.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    replay.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    replay.add_argument("--movies", type=positive_int, default=1000, help="synthetic catalog size (default 1000)")
    replay.add_argument("--seed", type=int, default=0, help="seed of the synthetic catalog (default 0)")
    replay.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every answer")
    replay.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered with a fault")
    replay.add_argument("--catalog", nargs="*", help="serve movies from these API response JSON files instead")
