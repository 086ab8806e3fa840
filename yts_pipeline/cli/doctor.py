"""``doctor`` and ``stats``: the state of the database (the old ``test_db_connection`` and ``monitor_progress``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime

from yts_pipeline.cli import add_command


def _database():
    from yts_pipeline.db.manager import DatabaseManager

    return DatabaseManager()


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the connection, pgvector and every table."""
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
    print(
        f"  with details:    {stats['movies_with_details']:>9,}  "
        f"({stats['details_failures']:,} failed, retried next run)"
    )
    print(f"  embedded:        {stats['embeddings']:>9,}  ({stats['embedding_coverage']:.1%})")
    print(f"  added last hour: {stats['added_last_hour']:>9,}")
    print(f"genres:            {stats['genres']:>9,}")
    print(f"cast:              {stats['cast']:>9,}")
    print(f"torrents:          {stats['torrents']:>9,}")
    if stats["top_genres"]:
        print("top genres:        " + ", ".join(f"{g['genre']} {g['movies']:,}" for g in stats["top_genres"]))


def cmd_stats(args: argparse.Namespace) -> int:
    """Counts of what is mirrored; ``--watch`` repeats them until Ctrl-C."""
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    doctor = add_command(sub, "doctor", "check the database: connection, pgvector, tables, row counts", cmd_doctor)
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")

    stats = add_command(sub, "stats", "counts of movies, details, cast, torrents, embeddings", cmd_stats)
    stats.add_argument("--json", action="store_true", help="one JSON object per report")
    stats.add_argument("--watch", type=float, metavar="SECONDS", help="repeat every SECONDS until Ctrl-C")
