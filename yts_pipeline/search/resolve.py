"""Which movie a person means: a YTS id, an IMDb code or a title, typos included."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Movie
from yts_pipeline.search.errors import AmbiguousMovie, MovieNotFound

MAX_LISTED = 10  # candidates named in an ambiguity error
IMDB_CODE = re.compile(r"tt\d+", re.IGNORECASE)


def resolve_movie(session: Session, query: int | str) -> Row:
    """The one non-removed movie meant by ``query``: ``(id, external_id, title, year)``.

    An int or digit string is a YTS id; a digit string that is no id may still be an exact
    title ("1917"), and when it is neither the error speaks of the id. ``tt...`` is an IMDb
    code. A title is matched case-insensitively: exactly (or as "Title (Year)"), else as a
    prefix, else as a substring, else with difflib when exactly one title is close. Several
    matches raise ``AmbiguousMovie``, none ``MovieNotFound``; both messages quote ``query``.
    """
    raw = str(query).strip()
    live = (
        select(Movie.id, Movie.external_id, Movie.title, Movie.year)
        .where(Movie.removed_at.is_(None))
        .order_by(Movie.title, Movie.year, Movie.external_id)
    )
    if isinstance(query, int) or raw.isdigit():
        found = session.execute(live.where(Movie.external_id == int(raw))).first()
        if found is None and isinstance(query, str):
            found = _only_match(session, live.where(_exact_title(raw)), raw)
        if found is None:
            raise MovieNotFound(f"no movie with YTS id {raw}")
        return found
    if IMDB_CODE.fullmatch(raw):
        found = session.execute(live.where(Movie.imdb_code == raw.lower())).first()
        if found is None:
            raise MovieNotFound(f"no movie with IMDb code {raw}")
        return found
    if not raw:
        raise MovieNotFound("give a YTS id, an IMDb code (tt...) or a title")
    pattern = re.sub(r"([\\%_])", r"\\\1", raw)
    for condition in (
        _exact_title(raw),
        Movie.title.ilike(f"{pattern}%", escape="\\"),
        Movie.title.ilike(f"%{pattern}%", escape="\\"),
    ):
        found = _only_match(session, live.where(condition), raw)
        if found is not None:
            return found
    return _closest_title(session, live, raw)


def describe(movie: Row) -> str:
    """``Title (2020, id 123)``: how a movie is named in messages."""
    year = f"{movie.year}, " if movie.year else ""
    return f"{movie.title} ({year}id {movie.external_id})"


def _exact_title(raw: str):
    return or_(func.lower(Movie.title) == raw.lower(), func.lower(Movie.title_long) == raw.lower())


def _only_match(session: Session, query: Select, raw: str) -> Row | None:
    """The single movie ``query`` finds, ``None`` for none; several raise ``AmbiguousMovie``."""
    matches = session.execute(query.limit(MAX_LISTED + 1)).all()
    if len(matches) > 1:
        raise AmbiguousMovie(f"{raw!r} matches several movies: {_listing(matches)}; pass a YTS id instead")
    return matches[0] if matches else None


def _closest_title(session: Session, live: Select, raw: str) -> Row:
    """The movie whose title alone is close to ``raw`` (a typo), else an error suggesting the close ones."""
    by_title: dict[str, list[Row]] = defaultdict(list)
    for movie in session.execute(live):
        by_title[movie.title.lower()].append(movie)
    close = difflib.get_close_matches(raw.lower(), by_title, n=5, cutoff=0.6)
    if len(close) == 1 and len(by_title[close[0]]) == 1:
        return by_title[close[0]][0]
    suggestions = [movie for title in close for movie in by_title[title]]
    if suggestions:
        raise MovieNotFound(f"no movie titled {raw!r}; did you mean: {_listing(suggestions)}?")
    raise MovieNotFound(f"no movie titled {raw!r} (try a YTS id or an IMDb code)")


def _listing(movies: Sequence[Row]) -> str:
    listed = "; ".join(describe(movie) for movie in movies[:MAX_LISTED])
    return listed + ("; ..." if len(movies) > MAX_LISTED else "")
