"""Semantic, keyword and hybrid search, and "more like this", over the HNSW cosine index.

Vector queries run with pgvector's iterative index scans (``hnsw.iterative_scan =
relaxed_order``), so a filter that rejects most neighbours still yields ``k`` rows when ``k``
movies match; the relaxed order is put right by an outer ORDER BY. Every user value is a bound
parameter, so a query that looks like SQL is searched for literally.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Row, Select, bindparam, exists, func, or_, select, text
from sqlalchemy.orm import Session

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS, Genre, Movie, MovieEmbedding
from yts_pipeline.search.errors import AmbiguousMovie, MovieNotFound, NothingToSearch, SearchError, UnknownGenre
from yts_pipeline.search.model import EmbeddingModel, get_model

Mode = Literal["hybrid", "semantic", "keyword"]
SEARCH_MODES: tuple[Mode, ...] = ("hybrid", "semantic", "keyword")
RRF_K = 60  # Reciprocal Rank Fusion constant (Cormack et al.), as in pgvector-python's rrf.py
EF_SEARCH = 100  # HNSW candidate list; benchmarks/bench_query.py measures recall@10 with it
QUALITY_ORDER = ["2160p", "1080p", "1080p.x265", "720p", "480p", "3D"]  # best first
MAX_LISTED = 10  # candidates named in an ambiguity error
IMDB_CODE = re.compile(r"tt\d+", re.IGNORECASE)
# Where the query vector comes from (SQL for the vector, SQL for its model): a text encoded by the
# caller, or a stored movie (so "more like this" never ships a vector back and forth).
TEXT_VECTOR = (":vector", ":model")
MOVIE_VECTOR = ("(SELECT embedding FROM movie_embeddings WHERE movie_id = :target)",
                "(SELECT model FROM movie_embeddings WHERE movie_id = :target)")


@dataclass(frozen=True)
class Filters:
    """Conditions every result meets; ``None`` means no condition."""

    genre: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    min_rating: float | None = None
    quality: str | None = None


@dataclass(frozen=True)
class Result:
    """One movie found. ``score``: cosine similarity (semantic, similar), ts_rank_cd (keyword), RRF (hybrid)."""

    external_id: int
    title: str
    year: int | None
    rating: float | None
    genres: list[str]
    best_quality: str | None
    score: float


def search(db: DatabaseManager, query: str, mode: Mode = "hybrid", k: int = 10,
           filters: Filters | None = None, model: EmbeddingModel | None = None) -> list[Result]:
    """The ``k`` best movies for a free-text query; the model is loaded only for semantic and hybrid."""
    if not query.strip():
        raise SearchError("the search text is empty")
    _check_k(k)
    if mode not in SEARCH_MODES:
        raise SearchError(f"unknown search mode {mode!r}: choose one of {', '.join(SEARCH_MODES)}")
    filters = filters or Filters()
    params: dict[str, Any] = {"text": query, "k": k}
    if mode != "keyword":
        model = model or get_model()
        params.update(vector=model.encode([query])[0], model=model.name)
    ranked = {"semantic": _semantic_sql, "keyword": _keyword_sql, "hybrid": _hybrid_sql}[mode]
    with db.get_session() as session:
        where = _filter_sql(session, filters, params)
        results = _ranked_results(session, ranked(where), params)
        if not results and not (_has_movies(session) if mode == "keyword" else _has_vectors(session, params["model"])):
            raise NothingToSearch()
    return results


def similar(db: DatabaseManager, query: int | str, k: int = 10, filters: Filters | None = None) -> list[Result]:
    """The ``k`` movies nearest to one given by YTS id, IMDb code or title (see ``resolve_movie``); never itself."""
    _check_k(k)
    filters = filters or Filters()
    with db.get_session() as session:
        try:
            movie = resolve_movie(session, query)
        except MovieNotFound:
            if not _has_vectors(session):
                raise NothingToSearch() from None
            raise
        params: dict[str, Any] = {"target": movie.id, "k": k}
        where = _filter_sql(session, filters, params) + " AND m.id <> :target"
        results = _ranked_results(session, _semantic_sql(where, MOVIE_VECTOR), params)
        if not results and not _has_vectors(session, movie_id=movie.id):
            if not _has_vectors(session):
                raise NothingToSearch()
            raise SearchError(f"{_describe(movie)} has no embedding yet: run `yts-pipeline sync` first")
        return results


def resolve_movie(session: Session, query: int | str) -> Row:
    """The one non-removed movie meant by ``query``: ``(id, external_id, title, year)``.

    An int or digit string is a YTS id (a digit string that is no id is tried as a title, for
    "1917"); ``tt...`` is an IMDb code. A title is matched case-insensitively: exactly (or as
    "Title (Year)"), else as a prefix, else as a substring, else with difflib when exactly one
    title is close. Several matches raise ``AmbiguousMovie``, none ``MovieNotFound``.
    """
    raw = str(query).strip()
    live = (select(Movie.id, Movie.external_id, Movie.title, Movie.year)
            .where(Movie.removed_at.is_(None)).order_by(Movie.title, Movie.year, Movie.external_id))
    if isinstance(query, int) or raw.isdigit():
        found = session.execute(live.where(Movie.external_id == int(raw))).first()
        if found is not None:
            return found
        if isinstance(query, int):
            raise MovieNotFound(f"no movie with YTS id {raw}")
    elif IMDB_CODE.fullmatch(raw):
        found = session.execute(live.where(Movie.imdb_code == raw.lower())).first()
        if found is None:
            raise MovieNotFound(f"no movie with IMDb code {raw}")
        return found
    if not raw:
        raise MovieNotFound("give a YTS id, an IMDb code (tt...) or a title")
    pattern = re.sub(r"([\\%_])", r"\\\1", raw)
    for condition in (or_(func.lower(Movie.title) == raw.lower(), func.lower(Movie.title_long) == raw.lower()),
                      Movie.title.ilike(f"{pattern}%", escape="\\"),
                      Movie.title.ilike(f"%{pattern}%", escape="\\")):
        matches = session.execute(live.where(condition).limit(MAX_LISTED + 1)).all()
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousMovie(f"{raw!r} matches several movies: {_listing(matches)}; pass a YTS id instead")
    return _closest_title(session, live, raw)


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


def _check_k(k: int) -> None:
    if k < 1:
        raise SearchError(f"k must be at least 1, not {k}")


def _describe(movie: Row) -> str:
    year = f"{movie.year}, " if movie.year else ""
    return f"{movie.title} ({year}id {movie.external_id})"


def _listing(movies: Sequence[Row]) -> str:
    listed = "; ".join(_describe(movie) for movie in movies[:MAX_LISTED])
    return listed + ("; ..." if len(movies) > MAX_LISTED else "")


def _filter_sql(session: Session, filters: Filters, params: dict[str, Any]) -> str:
    """The WHERE conditions on ``movies m`` for ``filters``, adding their values to ``params``."""
    clauses = ["m.removed_at IS NULL"]
    if filters.genre is not None:
        _check_genre(session, filters.genre)
        clauses.append("EXISTS (SELECT 1 FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id "
                       "WHERE mg.movie_id = m.id AND lower(g.name) = lower(:genre))")
        params["genre"] = filters.genre
    if filters.year_from is not None:
        clauses.append("m.year >= :year_from")
        params["year_from"] = filters.year_from
    if filters.year_to is not None:
        clauses.append("m.year <= :year_to")
        params["year_to"] = filters.year_to
    if filters.min_rating is not None:
        clauses.append("m.rating >= :min_rating")
        params["min_rating"] = filters.min_rating
    if filters.quality is not None:
        clauses.append("EXISTS (SELECT 1 FROM torrents t "
                       "WHERE t.movie_id = m.id AND lower(t.quality) = lower(:quality))")
        params["quality"] = filters.quality
    return " AND ".join(clauses)


def _check_genre(session: Session, genre: str) -> None:
    """A misspelt genre would silently find nothing: name the known ones instead."""
    known = session.scalars(select(Genre.name).order_by(Genre.name)).all()
    if genre.lower() not in {name.lower() for name in known}:
        raise UnknownGenre(f"no genre {genre!r}; known genres: {', '.join(known) or 'none yet'}")


def _nearest_sql(where: str, limit: str, origin: tuple[str, str] = TEXT_VECTOR) -> str:
    """Movies by cosine distance to the ``origin`` vector through the HNSW index (iterative scan, relaxed order)."""
    vector, model = origin
    return f"""
        SELECT m.id, e.embedding <=> {vector} AS distance
        FROM movie_embeddings e JOIN movies m ON m.id = e.movie_id
        WHERE e.model = {model} AND {where}
        ORDER BY e.embedding <=> {vector}
        LIMIT {limit}"""


def _semantic_sql(where: str, origin: tuple[str, str] = TEXT_VECTOR) -> str:
    return f"""
        WITH nearest AS MATERIALIZED ({_nearest_sql(where, ':k', origin)})
        SELECT id, 1 - distance AS score FROM nearest"""


def _keyword_sql(where: str) -> str:
    return f"""
        SELECT m.id, ts_rank_cd(m.search_vector, query) AS score
        FROM movies m, websearch_to_tsquery('english', :text) query
        WHERE m.search_vector @@ query AND {where}
        ORDER BY score DESC, m.id
        LIMIT :k"""


def _hybrid_sql(where: str) -> str:
    """Reciprocal Rank Fusion of the semantic and keyword rankings, after pgvector-python's rrf.py."""
    return f"""
        WITH semantic AS MATERIALIZED ({_nearest_sql(where, ':candidates')}),
        semantic_ranked AS (
            SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM semantic
        ),
        keyword AS (
            SELECT m.id, row_number() OVER (ORDER BY ts_rank_cd(m.search_vector, query) DESC, m.id) AS rank
            FROM movies m, websearch_to_tsquery('english', :text) query
            WHERE m.search_vector @@ query AND {where}
            ORDER BY rank
            LIMIT :candidates
        )
        SELECT COALESCE(s.id, kw.id) AS id,
               COALESCE(1.0 / ({RRF_K} + s.rank), 0.0) + COALESCE(1.0 / ({RRF_K} + kw.rank), 0.0) AS score
        FROM semantic_ranked s FULL OUTER JOIN keyword kw ON s.id = kw.id
        ORDER BY score DESC, id
        LIMIT :k"""


def _ranked_results(session: Session, ranked_sql: str, params: dict[str, Any]) -> list[Result]:
    """Run a ranking (rows of ``id, score``) with the index settings, and attach each movie's details."""
    session.execute(text("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                         "set_config('hnsw.ef_search', :ef_search, true)"), {"ef_search": str(EF_SEARCH)})
    statement = text(f"""
        SELECT m.external_id, m.title, m.year, m.rating,
               ARRAY(SELECT g.name FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id
                     WHERE mg.movie_id = m.id ORDER BY g.name) AS genres,
               (SELECT t.quality FROM torrents t WHERE t.movie_id = m.id
                ORDER BY array_position(CAST(:qualities AS text[]), t.quality) NULLS LAST, t.quality
                LIMIT 1) AS best_quality,
               r.score
        FROM ({ranked_sql}) r JOIN movies m ON m.id = r.id
        ORDER BY r.score DESC, m.external_id""")
    if "vector" in params:
        statement = statement.bindparams(bindparam("vector", type_=VECTOR(EMBEDDING_DIMENSIONS)))
    params = {**params, "qualities": QUALITY_ORDER, "candidates": max(4 * params["k"], 40)}
    return [Result(external_id=row.external_id, title=row.title, year=row.year,
                   rating=float(row.rating) if row.rating is not None else None, genres=list(row.genres),
                   best_quality=row.best_quality, score=round(float(row.score), 6))
            for row in session.execute(statement, params)]


def _has_movies(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(Movie.removed_at.is_(None)))))


def _has_vectors(session: Session, model_name: str | None = None, movie_id: int | None = None) -> bool:
    """Whether any vector is stored (by ``model_name``, for ``movie_id``, when given)."""
    conditions = [MovieEmbedding.model == model_name] if model_name else []
    conditions += [MovieEmbedding.movie_id == movie_id] if movie_id else []
    return bool(session.scalar(select(exists().where(*conditions).select_from(MovieEmbedding))))
