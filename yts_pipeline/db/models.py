"""The database schema: one source of truth, kept equal to ``database.sql`` by a test."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

EMBEDDING_DIMENSIONS = 384

# Title first, then the summary (the full description when there is no summary: usually the same text).
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, COALESCE(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(summary, description_full, '')), 'B')"
)


class Base(DeclarativeBase):
    type_annotation_map = {str: Text, int: BigInteger, datetime: DateTime(timezone=True)}


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Movie(Base):
    """A YTS movie. ``removed_at`` is set when a full sweep no longer finds it (never deleted)."""

    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[int] = mapped_column(unique=True)
    imdb_code: Mapped[str | None] = mapped_column(index=True)
    title: Mapped[str]
    title_english: Mapped[str | None]
    title_long: Mapped[str | None]
    slug: Mapped[str | None]
    year: Mapped[int | None] = mapped_column(Integer)
    rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 1))
    runtime: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None]
    description_full: Mapped[str | None]
    description_intro: Mapped[str | None]
    synopsis: Mapped[str | None]
    yt_trailer_code: Mapped[str | None]
    language: Mapped[str | None]
    mpa_rating: Mapped[str | None]
    like_count: Mapped[int | None]
    download_count: Mapped[int | None]
    url: Mapped[str | None]
    background_image: Mapped[str | None]
    background_image_original: Mapped[str | None]
    small_cover_image: Mapped[str | None]
    medium_cover_image: Mapped[str | None]
    large_cover_image: Mapped[str | None]
    medium_screenshot_image1: Mapped[str | None]
    medium_screenshot_image2: Mapped[str | None]
    medium_screenshot_image3: Mapped[str | None]
    large_screenshot_image1: Mapped[str | None]
    large_screenshot_image2: Mapped[str | None]
    large_screenshot_image3: Mapped[str | None]
    date_uploaded: Mapped[datetime | None]
    date_uploaded_unix: Mapped[int | None]
    details_fetched_at: Mapped[datetime | None]
    details_error: Mapped[str | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    search_vector: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True))

    genres: Mapped[list[Genre]] = relationship(secondary="movie_genres", viewonly=True)
    torrents: Mapped[list[Torrent]] = relationship(viewonly=True)

    __table_args__ = (Index("ix_movies_search_vector", "search_vector", postgresql_using="gin"),)


# The search vector stays in its row: a row of ~3 kB moves its widest values to the TOAST table, the search
# vector first, and ranking a keyword's matches then read each from there (half the hybrid statement's time).
SEARCH_VECTOR_INLINE = "ALTER TABLE movies ALTER COLUMN search_vector SET STORAGE MAIN"
event.listen(Movie.__table__, "after_create", DDL(SEARCH_VECTOR_INLINE))


class Genre(Base):
    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)


class MovieGenre(Base):
    __tablename__ = "movie_genres"

    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True)
    genre_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Cast(Base):
    """One person. Identity is the IMDb code when known, else the name (two partial unique indexes)."""

    __tablename__ = "casts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    imdb_code: Mapped[str | None]
    url_small_image: Mapped[str | None]

    __table_args__ = (
        Index("uq_casts_imdb_code", "imdb_code", unique=True, postgresql_where=text("imdb_code IS NOT NULL")),
        Index("uq_casts_name_without_imdb_code", "name", unique=True, postgresql_where=text("imdb_code IS NULL")),
    )


class MovieCast(Base):
    __tablename__ = "movie_casts"

    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True)
    cast_id: Mapped[int] = mapped_column(ForeignKey("casts.id", ondelete="CASCADE"), primary_key=True, index=True)
    character_name: Mapped[str | None]


class Torrent(Base):
    __tablename__ = "torrents"

    id: Mapped[int] = mapped_column(primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    hash: Mapped[str]
    quality: Mapped[str | None]
    type: Mapped[str | None]
    is_repack: Mapped[bool | None] = mapped_column(Boolean)
    video_codec: Mapped[str | None]
    bit_depth: Mapped[str | None]
    audio_channels: Mapped[str | None]
    seeds: Mapped[int | None]
    peers: Mapped[int | None]
    size: Mapped[str | None]
    size_bytes: Mapped[int | None]
    url: Mapped[str | None]
    date_uploaded: Mapped[datetime | None]
    date_uploaded_unix: Mapped[int | None]

    __table_args__ = (UniqueConstraint("movie_id", "hash", name="uq_torrents_movie_id_hash"),)


class _MovieVector:
    """A movie's vector from one model, and the hash of the text it was made from (``search/embed.py``)."""

    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    model: Mapped[str]
    content_hash: Mapped[str]
    updated_at: Mapped[datetime] = _now()

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (
            Index(
                f"ix_{cls.__tablename__}_embedding_hnsw",
                "embedding",
                postgresql_using="hnsw",
                postgresql_ops={"embedding": "vector_cosine_ops"},
            ),
        )


class MovieEmbedding(_MovieVector, Base):
    """The search vector: title, year, genres, plot and top cast, for free-text ``search``."""

    __tablename__ = "movie_embeddings"


class MoviePlotEmbedding(_MovieVector, Base):
    """The plot vector: what the movie is about, for ``similar`` and ``recommend``.

    A table of its own rather than a column, so that ``create_all`` adds it to an existing
    database and the first embedding run after an upgrade fills it.
    """

    __tablename__ = "movie_plot_embeddings"


class MovieNeighbours(Base):
    """A movie's top neighbours under ``similar``'s ranking, precomputed (``search/neighbour_update.py``).

    One row per movie, the list in arrays (``movies.id``, blended score, reasons), so that
    ``similar`` reads one row; ``candidate_ids`` are all its candidates (the nearest plots) in ranked
    order, the pool ``recommend`` fuses and a changed movie may leave. ``version`` keys the ranking
    (plot model, weights, candidates, list size): a list of another version is never read.
    ``fingerprint`` hashes the movie's inputs to the ranking when its list was made, so a changed
    movie is found; ``candidate_floor`` is the plot cosine of the last of its candidates (NULL: every
    movie was one), so a movie that enters the candidates is found.
    """

    __tablename__ = "movie_neighbours"

    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    version: Mapped[str]
    fingerprint: Mapped[str]
    candidate_floor: Mapped[float | None] = mapped_column(Double)
    neighbour_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    candidate_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    scores: Mapped[list[float]] = mapped_column(ARRAY(Double))
    reasons: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = _now()


class RawListPage(Base):
    """The raw JSON of a list page, so any page can be re-parsed without the API."""

    __tablename__ = "raw_list_pages"

    page: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payload: Mapped[Any] = mapped_column(JSONB)
    content_hash: Mapped[str]
    fetched_at: Mapped[datetime] = _now()


class RawMovieDetails(Base):
    """The raw JSON of a ``movie_details`` answer, keyed by the YTS id."""

    __tablename__ = "raw_movie_details"

    external_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    payload: Mapped[Any] = mapped_column(JSONB)
    content_hash: Mapped[str]
    fetched_at: Mapped[datetime] = _now()


class SyncedPage(Base):
    """What the mirror last applied from a list page, so a rerun can tell a page that needs nothing.

    ``content_hash`` is the raw answer the page's movies were saved from; ``rows_hash`` fingerprints
    the page's stored rows as the mirror last left them (``db.pages.page_fingerprints``), so rows
    edited or deleted behind the mirror's back are noticed; ``embedded_rows_hash`` is the fingerprint
    the page's embeddings (``embedding_model``) were last brought up to date for.
    """

    __tablename__ = "synced_pages"

    page: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str]
    rows_hash: Mapped[str]
    embedded_rows_hash: Mapped[str | None]
    embedding_model: Mapped[str | None]
    updated_at: Mapped[datetime] = _now()


MOVIE_TABLES = (
    "movies",
    "genres",
    "movie_genres",
    "casts",
    "movie_casts",
    "torrents",
    "movie_embeddings",
    "movie_plot_embeddings",
    "movie_neighbours",
)
ALL_TABLES = (*MOVIE_TABLES, "raw_list_pages", "raw_movie_details", "synced_pages")
