"""What the pages and the API read besides rankings: one movie whole, covers, browse lists, genres.

Rankings come from ``yts_pipeline.search``; this module only reads the mirror's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import ColumnElement, ScalarSelect, Select, exists, func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Cast, Genre, Movie, MovieCast, MovieEmbedding, MovieGenre, Torrent
from yts_pipeline.search import Filters, Result
from yts_pipeline.serve.schemas import (
    BrowseAnswer,
    CastMember,
    GenreCount,
    Images,
    MovieDetail,
    MovieSummary,
    TorrentOut,
)

Sort = Literal["rating", "year", "seeds", "added", "title"]
Order = Literal["desc", "asc"]
SORTS: tuple[Sort, ...] = ("rating", "year", "seeds", "added", "title")
LIVE = Movie.removed_at.is_(None)
NO_FILTERS = Filters()
COVER = func.coalesce(Movie.medium_cover_image, Movie.large_cover_image, Movie.small_cover_image)
DETAIL_FIELDS = (
    "external_id",
    "imdb_code",
    "title",
    "title_english",
    "title_long",
    "slug",
    "year",
    "runtime",
    "summary",
    "description_full",
    "synopsis",
    "language",
    "mpa_rating",
    "like_count",
    "download_count",
    "yt_trailer_code",
    "url",
    "date_uploaded",
)
IMAGE_FIELDS = (
    "background_image",
    "background_image_original",
    "small_cover_image",
    "medium_cover_image",
    "large_cover_image",
)
SCREENSHOTS = tuple(f"{size}_screenshot_image{n}" for size in ("large", "medium") for n in (1, 2, 3))


class UnknownMovie(LookupError):
    """No live movie has this YTS id (never mirrored, or removed)."""


def movie_detail(session: Session, external_id: int) -> MovieDetail:
    """The movie with its genres, torrents (best seeded first) and cast, in one statement; or ``UnknownMovie``.

    One statement, not four: a movie's page and the API's answer are among the most asked for."""
    movie = session.execute(
        select(
            *(Movie.__table__.c[name] for name in (*DETAIL_FIELDS, "rating", *IMAGE_FIELDS, *SCREENSHOTS)),
            _genre_names().label("genres"),
            _torrents().label("torrents"),
            _cast().label("cast"),
        ).where(Movie.external_id == external_id, LIVE)
    ).first()
    if movie is None:
        raise UnknownMovie(f"no movie with YTS id {external_id}")
    screenshots = [movie.large_screenshot_image1, movie.large_screenshot_image2, movie.large_screenshot_image3]
    if not any(screenshots):
        screenshots = [movie.medium_screenshot_image1, movie.medium_screenshot_image2, movie.medium_screenshot_image3]
    return MovieDetail(
        **{name: getattr(movie, name) for name in DETAIL_FIELDS},
        rating=_number(movie.rating),
        genres=list(movie.genres),
        cover_url=movie.medium_cover_image or movie.large_cover_image or movie.small_cover_image,
        images=Images(
            **{name: getattr(movie, name) for name in IMAGE_FIELDS}, screenshots=[s for s in screenshots if s]
        ),
        torrents=[TorrentOut(**torrent) for torrent in movie.torrents],
        cast=[CastMember(**person) for person in movie.cast],
    )


def listed(session: Session, external_ids: Sequence[int]) -> dict[int, MovieSummary]:
    """The live movies among ``external_ids`` as list entries (with genres and cover), in one query."""
    rows = session.execute(_listed().where(Movie.external_id.in_(list(external_ids)), LIVE)).all()
    return {row.external_id: _summary(row) for row in rows}


def ranked(results: Sequence[Result], found: dict[int, MovieSummary]) -> list[MovieSummary]:
    """Ranked results as list entries: the ranking's fields, the cover from ``found`` (``Result`` has none)."""
    return [
        MovieSummary(
            external_id=r.external_id,
            title=r.title,
            year=r.year,
            rating=r.rating,
            genres=r.genres,
            best_quality=r.best_quality,
            score=r.score,
            cover_url=found[r.external_id].cover_url if r.external_id in found else None,
            reasons=r.reasons,
        )
        for r in results
    ]


def browse(session: Session, genre: str | None, sort: Sort, order: Order, limit: int, offset: int) -> BrowseAnswer:
    """Live movies (of one genre, when given) in ``sort`` order; ties broken by YTS id, so pages never overlap."""
    where: list[ColumnElement[bool]] = [LIVE]
    if genre is not None:
        where.append(
            exists().where(
                MovieGenre.movie_id == Movie.id,
                MovieGenre.genre_id == Genre.id,
                func.lower(Genre.name) == genre.lower(),
            )
        )
    total = session.scalar(select(func.count(Movie.id)).where(*where)) or 0
    key = _sort_key(sort)
    ordered = key.desc().nulls_last() if order == "desc" else key.asc().nulls_last()
    tiebreak = Movie.external_id.desc() if order == "desc" else Movie.external_id.asc()
    rows = session.execute(_listed().where(*where).order_by(ordered, tiebreak).limit(limit).offset(offset))
    return BrowseAnswer(
        results=[_summary(row) for row in rows],
        total=total,
        sort=sort,
        order=order,
        genre=genre,
        limit=limit,
        offset=offset,
    )


def genre_counts(session: Session) -> list[GenreCount]:
    """Every genre with its number of live movies, the largest first (genres of removed movies only: 0)."""
    count = func.count(Movie.id)
    rows = session.execute(
        select(Genre.name, count)
        .outerjoin(MovieGenre, MovieGenre.genre_id == Genre.id)
        .outerjoin(Movie, (Movie.id == MovieGenre.movie_id) & LIVE)
        .group_by(Genre.name)
        .order_by(count.desc(), Genre.name)
    )
    return [GenreCount(name=name, movies=movies) for name, movies in rows]


def genre_name(session: Session, genre: str) -> str | None:
    """The stored spelling of a genre matched case-insensitively, or None."""
    return session.scalar(select(Genre.name).where(func.lower(Genre.name) == genre.lower()).limit(1))


def counts(session: Session) -> tuple[int, int]:
    """Live movies and stored embeddings, for ``/health``."""
    movies = session.scalar(select(func.count(Movie.id)).where(LIVE)) or 0
    return movies, session.scalar(select(func.count()).select_from(MovieEmbedding)) or 0


def _sort_key(sort: Sort) -> ColumnElement:
    if sort == "seeds":
        return select(func.max(Torrent.seeds)).where(Torrent.movie_id == Movie.id).scalar_subquery()
    return {"rating": Movie.rating, "year": Movie.year, "added": Movie.date_uploaded, "title": func.lower(Movie.title)}[
        sort
    ]


def _listed() -> Select:
    return select(
        Movie.external_id, Movie.title, Movie.year, Movie.rating, COVER.label("cover"), _genre_names().label("genres")
    )


def _genre_names() -> ScalarSelect:
    return (
        select(func.coalesce(func.array_agg(aggregate_order_by(Genre.name, Genre.name)), text("'{}'")))
        .join(MovieGenre, MovieGenre.genre_id == Genre.id)
        .where(MovieGenre.movie_id == Movie.id)
        .scalar_subquery()
    )


def _torrents() -> ScalarSelect:
    """The movie's torrents as JSON objects with ``TorrentOut``'s fields, best seeded first."""
    fields = func.json_build_object(
        *(part for name in TorrentOut.model_fields for part in (name, Torrent.__table__.c[name]))
    )
    ordered = aggregate_order_by(fields, Torrent.seeds.desc().nulls_last(), Torrent.quality, Torrent.id)
    return (
        select(func.coalesce(func.json_agg(ordered), text("'[]'")))
        .where(Torrent.movie_id == Movie.id)
        .scalar_subquery()
    )


def _cast() -> ScalarSelect:
    """The movie's cast as JSON objects with ``CastMember``'s fields, by name."""
    fields = func.json_build_object(
        "name",
        Cast.name,
        "character_name",
        MovieCast.character_name,
        "imdb_code",
        Cast.imdb_code,
        "image_url",
        Cast.url_small_image,
    )
    return (
        select(func.coalesce(func.json_agg(aggregate_order_by(fields, Cast.name, Cast.id)), text("'[]'")))
        .join(MovieCast, MovieCast.cast_id == Cast.id)
        .where(MovieCast.movie_id == Movie.id)
        .scalar_subquery()
    )


def _summary(row) -> MovieSummary:
    return MovieSummary(
        external_id=row.external_id,
        title=row.title,
        year=row.year,
        rating=_number(row.rating),
        genres=list(row.genres),
        cover_url=row.cover,
    )


def _number(value) -> float | None:
    return float(value) if value is not None else None
