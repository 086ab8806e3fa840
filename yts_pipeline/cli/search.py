"""``search``, ``similar``, ``recommend`` and ``serve``: the mirror's search and recommendations, on the
command line and over HTTP."""

from __future__ import annotations

import argparse
import dataclasses
import json

from yts_pipeline.cli import add_command
from yts_pipeline.cli.pipeline import check_port_free, positive_int


def _filters(args: argparse.Namespace):
    from yts_pipeline.search.queries import Filters

    return Filters(
        genre=args.genre,
        year_from=args.year_from,
        year_to=args.year_to,
        min_rating=args.min_rating,
        quality=args.quality,
    )


def _clip(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def print_results(results: list, as_json: bool) -> None:
    """An aligned table (title, year, rating, genres, best quality, score), each result's reasons indented
    under it; or a JSON list with ``--json``."""
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
        return
    if not results:
        print("no movie matches")
        return
    rows = [
        (
            _clip(r.title, 48),
            str(r.year or ""),
            "" if r.rating is None else f"{r.rating:.1f}",
            _clip(", ".join(r.genres), 36),
            r.best_quality or "",
            f"{r.score:.4f}",
        )
        for r in results
    ]
    header = ("title", "year", "rating", "genres", "quality", "score")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {1, 2, 5}  # numbers

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()

    print(line(header))
    for result, row in zip(results, rows):
        print(line(row))
        if result.reasons:
            print("    " + "; ".join(result.reasons))


def _run_query(args: argparse.Namespace, query) -> int:
    from yts_pipeline.db.manager import DatabaseManager

    db = DatabaseManager()
    try:
        print_results(query(db), args.json)
        return 0
    finally:
        db.close_all()


def cmd_search(args: argparse.Namespace) -> int:
    """Movies for a free-text query: hybrid (keyword + semantic, RRF), semantic or keyword."""
    from yts_pipeline.search.queries import search

    return _run_query(args, lambda db: search(db, args.text, mode=args.mode, k=args.k, filters=_filters(args)))


def cmd_similar(args: argparse.Namespace) -> int:
    """Movies most like one given by YTS id, IMDb code or title."""
    from yts_pipeline.search.queries import similar

    return _run_query(args, lambda db: similar(db, args.movie, k=args.k, filters=_filters(args)))


def cmd_recommend(args: argparse.Namespace) -> int:
    """Movies like the liked ones and unlike the disliked ones, with the reasons of each."""
    from yts_pipeline.search.queries import recommend

    return _run_query(args, lambda db: recommend(db, args.liked, args.disliked, k=args.k, filters=_filters(args)))


def cmd_serve(args: argparse.Namespace) -> int:
    """The web page and the JSON API until Ctrl-C or SIGTERM."""
    from yts_pipeline.serve import run

    check_port_free(args.host, args.port, "another server")
    run(args.host, args.port)
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    """Export the embedding model for the OpenVINO backend now, instead of in the first process that needs it."""
    from yts_pipeline.search.model import export_model

    print(export_model(args.model).summary())
    return 0


def _add_filters(command: argparse.ArgumentParser) -> None:
    command.add_argument("-k", type=positive_int, default=10, help="how many movies (default 10)")
    command.add_argument("--genre", help="only movies of this genre (any case)")
    command.add_argument("--year-from", type=int, metavar="YEAR", help="only movies from this year on")
    command.add_argument("--year-to", type=int, metavar="YEAR", help="only movies up to this year")
    command.add_argument("--min-rating", type=float, metavar="R", help="only movies rated at least R")
    command.add_argument("--quality", metavar="Q", help="only movies with a torrent of this quality, e.g. 2160p")
    command.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def add_commands(sub: argparse._SubParsersAction) -> None:
    from yts_pipeline.search.queries import SEARCH_MODES

    search = add_command(sub, "search", "find movies by what they are about (semantic + keyword)", cmd_search)
    search.add_argument("text", help="what to look for, in plain words")
    search.add_argument(
        "--mode",
        choices=SEARCH_MODES,
        default="hybrid",
        help="hybrid (default: keyword and semantic ranks fused), semantic or keyword",
    )
    _add_filters(search)

    similar = add_command(sub, "similar", "movies most like one movie (more like this), with the reasons", cmd_similar)
    similar.add_argument("movie", help="a YTS id, an IMDb code (tt...) or a title")
    _add_filters(similar)

    recommend = add_command(
        sub, "recommend", "movies like the ones you liked and unlike the ones you did not", cmd_recommend
    )
    recommend.add_argument(
        "--liked",
        action="append",
        required=True,
        metavar="MOVIE",
        help="a movie you liked: YTS id, IMDb code (tt...) or title; repeat for more",
    )
    recommend.add_argument(
        "--disliked",
        action="append",
        default=[],
        metavar="MOVIE",
        help="a movie you did not like (same forms); repeat for more",
    )
    _add_filters(recommend)

    export = add_command(
        sub, "export-model", "export the embedding model once for the fast (OpenVINO) backend", cmd_export_model
    )
    export.add_argument(
        "--model",
        metavar="PATH",
        help="a local sentence-transformers model folder "
        "(default: EMBEDDING_MODEL, else the packaged all-MiniLM-L6-v2)",
    )

    serve = add_command(sub, "serve", "serve the web page and the JSON API (docs at /docs)", cmd_serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
