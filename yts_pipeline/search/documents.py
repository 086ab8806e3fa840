"""The text embedded for each movie, and the hash that tells when it must be embedded again."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from yts_pipeline.db.models import Cast, Genre, Movie, MovieCast, MovieGenre

TOP_CAST = 5


@dataclass(frozen=True)
class MovieFields:
    """What a movie's document is made of, as ``document_fields`` selects it."""

    movie_id: int
    title: str
    year: int | None
    summary: str | None
    description_full: str | None
    description_intro: str | None
    genres: Sequence[str]
    cast: Sequence[str]


def movie_document(movie: MovieFields) -> str:
    """The text that stands for a movie in free-text search.

    Title and year, then genres, then the plot (see ``plot_text``), then up to ``TOP_CAST``
    cast names. The model reads about 256 word pieces, so the most telling parts come first
    and a long plot only crowds out the cast. Genres and cast arrive sorted by name, since the
    API's billing order is not stored: the same movie always yields the same text, whatever
    order it was saved in.
    """
    heading = f"{movie.title} ({movie.year})" if movie.year else movie.title
    lines = [heading + "."]
    if movie.genres:
        lines.append(f"Genres: {', '.join(movie.genres)}.")
    plot = plot_text(movie)
    if plot:
        lines.append(plot)
    if movie.cast:
        lines.append(f"Starring {', '.join(movie.cast[:TOP_CAST])}.")
    return "\n".join(lines)


def plot_document(movie: MovieFields) -> str:
    """The text that stands for what a movie is about, for ``similar`` and ``recommend``: the plot alone.

    No title, year or cast: MiniLM weighs a title's few tokens heavily, so neighbours by the
    search document share title words rather than stories. A movie without plot text falls
    back to its title and genres; its vector then says little, and the ranking leans on genres.
    """
    plot = plot_text(movie)
    if plot:
        return plot
    return f"{movie.title}. Genres: {', '.join(movie.genres)}." if movie.genres else f"{movie.title}."


def plot_text(movie: MovieFields) -> str | None:
    """``summary``, else ``description_full``, else ``description_intro`` (list and details fill different ones)."""
    return next(
        (
            text.strip()
            for text in (movie.summary, movie.description_full, movie.description_intro)
            if text and text.strip()
        ),
        None,
    )


def content_hash(model_name: str, document: str) -> str:
    """sha256 of model name and document: a new text, or a new model, means a new vector."""
    return hashlib.sha256(f"{model_name}\n{document}".encode()).hexdigest()


def document_fields() -> Select:
    """One set-based SELECT of ``MovieFields`` for every non-removed movie (callers add filters)."""
    genres = (
        select(Genre.name)
        .join(MovieGenre, MovieGenre.genre_id == Genre.id)
        .where(MovieGenre.movie_id == Movie.id)
        .order_by(Genre.name)
    )
    cast = (
        select(Cast.name)
        .join(MovieCast, MovieCast.cast_id == Cast.id)
        .where(MovieCast.movie_id == Movie.id)
        .order_by(Cast.name)
        .limit(TOP_CAST)
    )
    return select(
        Movie.id.label("movie_id"),
        Movie.title,
        Movie.year,
        Movie.summary,
        Movie.description_full,
        Movie.description_intro,
        func.array(genres.scalar_subquery()).label("genres"),
        func.array(cast.scalar_subquery()).label("cast"),
    ).where(Movie.removed_at.is_(None))
