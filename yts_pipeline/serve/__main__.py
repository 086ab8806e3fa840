"""``python -m yts_pipeline.serve [--host H] [--port P]``: the same as ``yts-pipeline serve``."""

from __future__ import annotations

import argparse
import sys

from yts_pipeline.serve.server import run
from yts_pipeline.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yts_pipeline.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    args = parser.parse_args(argv)
    try:
        run(args.host, args.port)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
