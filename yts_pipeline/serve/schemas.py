"""The JSON the API answers with (and the pages render): one model per shape, documented in /docs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: one line saying what failed, and the query parameter at fault."""

    error: str = Field(examples=["k: input should be greater than or equal to 1"])
    parameter: str | None = Field(default=None, examples=["k"])


class MovieSummary(BaseModel):
    """One movie in a list. ``score``: the ranking's (see ``yts_pipeline.search.Result``); none when browsing."""

    external_id: int = Field(description="the YTS id")
    title: str
    year: int | None
    rating: float | None
    genres: list[str]
    best_quality: str | None = None
    score: float | None = None
    cover_url: str | None = Field(description="the stored cover image URL (often unreachable offline)")
    reasons: list[str] = Field(default_factory=list, description="why it was ranked here (similar, recommend)")


class SearchFilters(BaseModel):
    genre: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    min_rating: float | None = None
    quality: str | None = None


class ResultList(BaseModel):
    """A ranked list: search, similar, recommend."""

    results: list[MovieSummary]
    k: int
    offset: int = 0
    filters: SearchFilters


class SearchAnswer(ResultList):
    query: str
    mode: str


class SimilarAnswer(ResultList):
    movie: MovieSummary


class BrowseAnswer(BaseModel):
    """A page of the catalog in one order, with the number of movies in it."""

    results: list[MovieSummary]
    total: int
    sort: str
    order: str
    genre: str | None
    limit: int
    offset: int


class TorrentOut(BaseModel):
    hash: str
    quality: str | None
    type: str | None
    size: str | None
    size_bytes: int | None
    seeds: int | None
    peers: int | None
    video_codec: str | None
    url: str | None


class CastMember(BaseModel):
    name: str
    character_name: str | None
    imdb_code: str | None
    image_url: str | None


class Images(BaseModel):
    background_image: str | None
    background_image_original: str | None
    small_cover_image: str | None
    medium_cover_image: str | None
    large_cover_image: str | None
    screenshots: list[str] = Field(description="large screenshots, else medium ones")


class MovieDetail(BaseModel):
    """The whole movie as mirrored."""

    external_id: int
    imdb_code: str | None
    title: str
    title_english: str | None
    title_long: str | None
    slug: str | None
    year: int | None
    rating: float | None
    runtime: int | None
    genres: list[str]
    summary: str | None
    description_full: str | None
    synopsis: str | None
    language: str | None
    mpa_rating: str | None
    like_count: int | None
    download_count: int | None
    yt_trailer_code: str | None
    url: str | None
    date_uploaded: datetime | None
    cover_url: str | None
    images: Images
    torrents: list[TorrentOut]
    cast: list[CastMember]


class GenreCount(BaseModel):
    name: str
    movies: int


class GenreList(BaseModel):
    results: list[GenreCount]


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(examples=["reachable"])
    movies: int | None = None
    embeddings: int | None = None
    model: str = Field(description="the embedding model for semantic and hybrid search: loading, ready or failed")
