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


def cmd_sync(args: argparse.Namespace) -> int:
    """Run the pipeline headless; exit 0 only when every page and every integrity check passed."""
    from yts_pipeline.assets.partitions import PAGES_PER_RUN
    from yts_pipeline.runner import parse_page_range, run_sync

    try:
        pages = parse_page_range(args.pages) if args.pages else None
    except ValueError as exc:
        print(f"yts-pipeline sync: error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    totals = run_sync(pages=pages, max_pages=args.max_pages, refresh=args.refresh,
                      skip_embeddings=args.skip_embeddings, pages_per_run=args.pages_per_run or PAGES_PER_RUN)
    elapsed = time.monotonic() - started
    print(f"synced {totals.pages_done - len(totals.failed_pages)}/{totals.pages_done} pages in {elapsed:.1f} s: "
          f"{totals.new} new, {totals.changed} changed, {totals.unchanged} unchanged movies; "
          f"{totals.details_calls} details calls, {totals.failures} failures")
    if totals.swept:
        print(f"full sweep: {totals.removed} movies newly marked removed, {totals.revived} back again")
    print(f"integrity checks: {totals.checks_passed} passed"
          + "".join(f", {name} warned" for name in totals.check_warnings)
          + "".join(f", {name} FAILED" for name in totals.failed_checks))
    if totals.failed_pages:
        print(f"FAILED pages: {', '.join(map(str, totals.failed_pages))} (see the runs in the UI; "
              f"rerun with --pages to retry)", file=sys.stderr)
    if totals.failed_checks:
        print(f"FAILED integrity checks: {', '.join(totals.failed_checks)} (their results in the UI, on the "
              f"movies asset's Checks tab, name the rows)", file=sys.stderr)
    return 1 if totals.failed_pages or totals.failed_checks else 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI and daemon (``dagster dev``) on the local instance."""
    import os

    from yts_pipeline.instance import dagster_home

    home = dagster_home()
    print(f"DAGSTER_HOME={home}; UI on http://{args.host}:{args.port}", file=sys.stderr)
    command = [sys.executable, "-m", "dagster", "dev", "-m", "yts_pipeline.definitions",
               "-h", args.host, "-p", str(args.port)]
    os.execv(command[0], command)
    return 0


def _search_filters(args: argparse.Namespace):
    from yts_pipeline.search.queries import Filters

    return Filters(genre=args.genre, year_from=args.year_from, year_to=args.year_to,
                   min_rating=args.min_rating, quality=args.quality)


def _print_results(results: list, as_json: bool) -> None:
    """An aligned table (title, year, rating, genres, best quality, score), or a JSON list with ``--json``."""
    import dataclasses

    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
        return
    if not results:
        print("no movie matches")
        return

    def clip(value: str, width: int) -> str:
        return value if len(value) <= width else value[:width - 1] + "…"

    rows = [(clip(r.title, 48), str(r.year or ""), "" if r.rating is None else f"{r.rating:.1f}",
             clip(", ".join(r.genres), 36), r.best_quality or "", f"{r.score:.4f}") for r in results]
    header = ("title", "year", "rating", "genres", "quality", "score")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {1, 2, 5}  # numbers
    for row in (header, *rows):
        print("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())


def _run_search(args: argparse.Namespace, query: Callable[[object], list]) -> int:
    """Run ``query`` on the database; a search error is one line on stderr and exit status 1."""
    from yts_pipeline.search.errors import SearchError

    db = _database()
    try:
        _print_results(query(db), args.json)
        return 0
    except SearchError as exc:
        print(f"yts-pipeline {args.command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close_all()


def cmd_search(args: argparse.Namespace) -> int:
    """Movies for a free-text query: hybrid (keyword + semantic, RRF), semantic or keyword."""
    from yts_pipeline.search.queries import search

    return _run_search(args, lambda db: search(db, args.text, mode=args.mode, k=args.k,
                                               filters=_search_filters(args)))


def cmd_similar(args: argparse.Namespace) -> int:
    """Movies most like one given by YTS id, IMDb code or title."""
    from yts_pipeline.search.queries import similar

    return _run_search(args, lambda db: similar(db, args.movie, k=args.k, filters=_search_filters(args)))


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_search_commands(sub: argparse._SubParsersAction) -> None:
    from yts_pipeline.search.queries import SEARCH_MODES

    search = sub.add_parser("search", help="find movies by what they are about (semantic + keyword)")
    search.add_argument("text", help="what to look for, in plain words")
    search.add_argument("--mode", choices=SEARCH_MODES, default="hybrid",
                        help="hybrid (default: keyword and semantic ranks fused), semantic or keyword")
    search.set_defaults(handler=cmd_search)
    similar = sub.add_parser("similar", help="movies most like one movie (more like this)")
    similar.add_argument("movie", help="a YTS id, an IMDb code (tt...) or a title")
    similar.set_defaults(handler=cmd_similar)
    for command in (search, similar):
        command.add_argument("-k", type=_positive_int, default=10, help="how many movies (default 10)")
        command.add_argument("--genre", help="only movies of this genre (any case)")
        command.add_argument("--year-from", type=int, metavar="YEAR", help="only movies from this year on")
        command.add_argument("--year-to", type=int, metavar="YEAR", help="only movies up to this year")
        command.add_argument("--min-rating", type=float, metavar="R", help="only movies rated at least R")
        command.add_argument("--quality", metavar="Q", help="only movies with a torrent of this quality, e.g. 2160p")
        command.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


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

    sync = sub.add_parser("sync", help="run the pipeline headless on the instance at DAGSTER_HOME")
    sync.add_argument("--pages", metavar="A-B", help="only these pages (default: every page; a full sweep)")
    sync.add_argument("--max-pages", type=_positive_int, metavar="N", help="at most N pages")
    sync.add_argument("--refresh", action="store_true", help="fetch details again for movies that have them")
    sync.add_argument("--skip-embeddings", action="store_true", help="do not compute embeddings")
    sync.add_argument("--pages-per-run", type=_positive_int, metavar="N",
                      help="pages per Dagster run (default: as many as a backfill batches, 25)")
    sync.set_defaults(handler=cmd_sync)

    ui = sub.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on the local instance")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=cmd_ui)

    replay = sub.add_parser("replay-api", help="serve an offline imitation of the YTS API")
    replay.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    replay.add_argument("--port", type=int, default=8000)
    replay.add_argument("--movies", type=int, default=1000, help="size of the synthetic catalog")
    replay.add_argument("--seed", type=int, default=0)
    replay.add_argument("--latency-ms", type=float, default=0.0)
    replay.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered with a fault")
    replay.add_argument("--catalog", nargs="*", help="serve movies from these API response JSON files instead")
    replay.set_defaults(handler=cmd_replay_api)

    _add_search_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("yts_pipeline").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.handler(args)
    except (DatabaseError, SettingsError) as exc:
        print(f"yts-pipeline {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
