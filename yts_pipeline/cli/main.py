"""The ``yts-pipeline`` command line: the parser, and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import traceback
from collections.abc import Sequence

from yts_pipeline.cli import doctor, pipeline, search
from yts_pipeline.cli.errors import explain

DESCRIPTION = (
    "Mirror the YTS movie catalog into PostgreSQL with Dagster, keep it in sync, and search it. "
    "Every setting is an environment variable (see docs/configuration.md)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yts-pipeline", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details, and tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pipeline.add_commands(sub)
    search.add_commands(sub)
    doctor.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("yts_pipeline").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"yts-pipeline {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        if args.verbose:
            traceback.print_exc()
        message, status = explained
        print(f"yts-pipeline {args.command}: error: {message}", file=sys.stderr)
        return status


def run() -> None:
    """The ``yts-pipeline`` script: ``main``, then an exit without a last garbage collection of a heap that
    ends with the process anyway (after a sync, Dagster's objects took it ~0.7 s). Files, connections and
    exit handlers are closed and run as usual; only cycles of objects are left to the exit."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
