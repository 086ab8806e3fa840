"""Free-text search (semantic, keyword, hybrid), "more like this" (``similar``) and ``recommend``.

``search`` ranks on the search vector (title, genres, plot, cast) and the full-text index.
``similar`` and ``recommend`` rank on the plot vector: candidates from its HNSW index, then the
blend of ``ranking.py`` (genres first, plot, era, a small rating prior), each result with its reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Row, bindparam, exists, select, text
from sqlalchemy.orm import Session

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS, Movie, MovieEmbedding, MoviePlotEmbedding
from yts_pipeline.search.errors import MovieNotFound, NothingToSearch, SearchError
from yts_pipeline.search.from_lists import lists_version, stored_similar
from yts_pipeline.search.model import EmbeddingModel, get_model
from yts_pipeline.search.neighbour_lists import LIST_SIZE
from yts_pipeline.search.neighbours import Neighbourhood, neighbourhood
from yts_pipeline.search.ranking import CANDIDATES, Ranked, rank
from yts_pipeline.search.resolve import describe, resolve_movie
from yts_pipeline.search.sql import BEST_QUALITY, GENRES, QUALITY_ORDER, Filters, check_k, filter_sql, use_index_scans

__all__ = [
    "SEARCH_MODES",
    "Filters",
    "Result",
    "recommend",
    "recommend_live",
    "resolve_movie",
    "search",
    "similar",
    "similar_live",
]

Mode = Literal["hybrid", "semantic", "keyword"]
SEARCH_MODES: tuple[Mode, ...] = ("hybrid", "semantic", "keyword")
RRF_K = 60  # Reciprocal Rank Fusion constant (Cormack et al.), as in pgvector-python's rrf.py
CANDIDATES_PER_RESULT = 20  # and for a long list, this many plot neighbours per result asked for


@dataclass(frozen=True)
class Result:
    """One movie found, and why.

    ``score``: cosine similarity (semantic), ts_rank_cd (keyword), RRF (hybrid), the blended
    score of ``ranking.py`` (similar, recommend). ``reasons``: short phrases for a person
    ("shares Sci-Fi, Adventure", "similar plot (0.62)", "same era"); empty for ``search``.
    """

    external_id: int
    title: str
    year: int | None
    rating: float | None
    genres: list[str]
    best_quality: str | None
    score: float
    reasons: list[str] = field(default_factory=list)


def search(
    db: DatabaseManager,
    query: str,
    mode: Mode = "hybrid",
    k: int = 10,
    filters: Filters | None = None,
    model: EmbeddingModel | None = None,
) -> list[Result]:
    """The ``k`` best movies for a free-text query; the model is loaded only for semantic and hybrid."""
    if not query.strip():
        raise SearchError("the search text is empty")
    check_k(k)
    if mode not in SEARCH_MODES:
        raise SearchError(f"unknown search mode {mode!r}: choose one of {', '.join(SEARCH_MODES)}")
    filters = filters or Filters()
    params: dict[str, Any] = {"text": query, "k": k}
    if mode != "keyword":
        model = model or get_model()
        params.update(vector=model.encode([query])[0], model=model.name)
    ranked = {"semantic": _semantic_sql, "keyword": _keyword_sql, "hybrid": _hybrid_sql}[mode]
    with db.get_session() as session:
        where = filter_sql(session, filters, params)
        results = _ranked_results(session, ranked(where), params)
        if not results and not (
            _has_movies(session) if mode == "keyword" else _has_vectors(session, model_name=params["model"])
        ):
            raise NothingToSearch()
    return results


def similar(db: DatabaseManager, query: int | str, k: int = 10, filters: Filters | None = None) -> list[Result]:
    """The ``k`` movies most like one given by YTS id, IMDb code or title (see ``resolve_movie``); never itself.

    Read from the movie's stored list (``movie_neighbours``) when it can answer, else ranked live.
    """
    return _like(db, [query], [], k, filters, name_the_liked=False, from_lists=True)


def similar_live(db: DatabaseManager, query: int | str, k: int = 10, filters: Filters | None = None) -> list[Result]:
    """``similar`` ranked on the spot from the HNSW index: the stored lists' fallback, and their baseline."""
    return _like(db, [query], [], k, filters, name_the_liked=False, from_lists=False)


def recommend(
    db: DatabaseManager,
    liked: Sequence[int | str],
    disliked: Sequence[int | str] = (),
    k: int = 10,
    filters: Filters | None = None,
) -> list[Result]:
    """The ``k`` movies most like the ``liked`` ones and least like the ``disliked`` (ids, IMDb codes or titles).

    Never a liked or disliked movie, nor another upload of one. Each result's reasons start with
    the liked movie it is most like. ``MovieNotFound`` / ``AmbiguousMovie`` name the input at fault.
    From the stored lists: one liked movie's list as it is (``similar``'s rules), or the candidates stored
    with several liked movies' lists when no filter applies (filtered, they differ from the live scan's).
    """
    _check_liked(liked, disliked)
    return _like(db, list(liked), list(disliked), k, filters, name_the_liked=True, from_lists=True)


def recommend_live(
    db: DatabaseManager,
    liked: Sequence[int | str],
    disliked: Sequence[int | str] = (),
    k: int = 10,
    filters: Filters | None = None,
) -> list[Result]:
    """``recommend`` with candidates from the HNSW index: the stored lists' fallback, and their baseline."""
    _check_liked(liked, disliked)
    return _like(db, list(liked), list(disliked), k, filters, name_the_liked=True, from_lists=False)


def _check_liked(liked: Sequence[int | str], disliked: Sequence[int | str]) -> None:
    if isinstance(liked, (str, int)) or isinstance(disliked, (str, int)):
        raise SearchError("liked and disliked are lists of movies, e.g. recommend(db, ['Interstellar'])")
    if not liked:
        raise SearchError("name at least one liked movie (a YTS id, an IMDb code or a title)")


def _like(
    db: DatabaseManager,
    liked: list[int | str],
    disliked: list[int | str],
    k: int,
    filters: Filters | None,
    *,
    name_the_liked: bool,
    from_lists: bool,
) -> list[Result]:
    """Resolve the movies, gather their plot neighbours, re-rank them (``ranking.rank``); ``from_lists``: one
    liked movie's stored list as it is, or the liked movies' lists as the candidates, when they answer."""
    check_k(k)
    with db.get_session() as session:
        liked_rows, disliked_rows = _resolve_all(session, liked), _resolve_all(session, disliked)
        liked_ids, disliked_ids = _unique(row.id for row in liked_rows), _unique(row.id for row in disliked_rows)
        if set(liked_ids) & set(disliked_ids):
            movie = next(row for row in liked_rows if row.id in disliked_ids)
            raise SearchError(f"{describe(movie)} is both liked and disliked; keep it on one side")
        params: dict[str, Any] = {}
        where = filter_sql(session, filters or Filters(), params)
        filtered, one_liked = (filters or Filters()) != Filters(), not disliked_ids and len(liked_ids) == 1
        if from_lists and one_liked:
            stored = stored_similar(session, liked_ids[0], k, where, params, filtered=filtered)
            if stored is not None:
                like = [f"like {liked_rows[0].title}"] if name_the_liked else []
                return [_result(Ranked(r.movie, r.score, like + r.reasons)) for r in stored]
        found = _candidates(
            session, liked_ids, disliked_ids, k, where, params, from_lists=from_lists and not one_liked and not filtered
        )
        model = found.references[liked_ids[0]][1]
        for row in (*liked_rows, *disliked_rows):
            if model is None or found.references[row.id][1] != model:
                if not _has_vectors(session, MoviePlotEmbedding):
                    raise NothingToSearch()
                raise SearchError(f"{describe(row)} has no embedding yet: run `yts-pipeline sync` first")
    liked_profiles = [found.references[i][0] for i in liked_ids]
    disliked_profiles = [found.references[i][0] for i in disliked_ids]
    return [
        _result(ranked)
        for ranked in rank(liked_profiles, disliked_profiles, found.candidates, k, name_the_liked=name_the_liked)
    ]


def _candidates(
    session: Session,
    liked_ids: list[int],
    disliked_ids: list[int],
    k: int,
    where: str,
    params: dict[str, Any],
    *,
    from_lists: bool,
) -> Neighbourhood:
    """The candidates stored with the liked movies' lists (each one's nearest plots, as the HNSW scan finds
    them) when they all have a list, else their HNSW neighbours."""
    listed = from_lists and k <= LIST_SIZE and lists_version(session, liked_ids)
    if listed:
        version, complete = listed
        found = neighbourhood(session, liked_ids, disliked_ids, where, params, LIST_SIZE, lists_version=version)
        if len(found.candidates) >= k or complete:
            return found
    return neighbourhood(session, liked_ids, disliked_ids, where, params, max(CANDIDATES, CANDIDATES_PER_RESULT * k))


def _resolve_all(session: Session, queries: Sequence[int | str]) -> list[Row]:
    """``resolve_movie`` for each; on an empty database, "nothing to search" instead of "not found"."""
    try:
        return [resolve_movie(session, query) for query in queries]
    except MovieNotFound:
        if not _has_vectors(session, MoviePlotEmbedding):
            raise NothingToSearch() from None
        raise


def _unique(movie_ids: Iterable[int]) -> list[int]:
    """The ids in order, each once (a movie named twice, by title and by id, counts once)."""
    return list(dict.fromkeys(movie_ids))


def _result(ranked: Ranked) -> Result:
    movie = ranked.movie
    return Result(
        external_id=movie.external_id,
        title=movie.title,
        year=movie.year,
        rating=movie.rating,
        genres=sorted(movie.genres),
        best_quality=movie.best_quality,
        score=ranked.score,
        reasons=ranked.reasons,
    )


def _nearest_sql(where: str, limit: str) -> str:
    """Movies by cosine distance to the query vector through the HNSW index (iterative scan, relaxed order)."""
    return f"""
        SELECT m.id, e.embedding <=> :vector AS distance
        FROM movie_embeddings e JOIN movies m ON m.id = e.movie_id
        WHERE e.model = :model AND {where}
        ORDER BY e.embedding <=> :vector
        LIMIT {limit}"""


def _semantic_sql(where: str) -> str:
    return f"""
        WITH nearest AS MATERIALIZED ({_nearest_sql(where, ":k")})
        SELECT id, 1 - distance AS score FROM nearest"""


def _keyword_sql(where: str, limit: str = ":k") -> str:
    return f"""
        SELECT m.id, ts_rank_cd(m.search_vector, query) AS score
        FROM movies m, websearch_to_tsquery('english', :text) query
        WHERE m.search_vector @@ query AND {where}
        ORDER BY score DESC, m.id
        LIMIT {limit}"""


def _hybrid_sql(where: str) -> str:
    """Reciprocal Rank Fusion of the semantic and keyword rankings, after pgvector-python's rrf.py.

    Each side is cut to its best ``:candidates`` before it is numbered: numbering every keyword match
    first sorted and windowed them all (thousands for a common word at 75,000 movies)."""
    return f"""
        WITH semantic AS MATERIALIZED ({_nearest_sql(where, ":candidates")}),
        semantic_ranked AS (
            SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM semantic
        ),
        keyword AS (
            SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank
            FROM ({_keyword_sql(where, ":candidates")}) best
        )
        SELECT COALESCE(s.id, kw.id) AS id,
               COALESCE(1.0 / ({RRF_K} + s.rank), 0.0) + COALESCE(1.0 / ({RRF_K} + kw.rank), 0.0) AS score
        FROM semantic_ranked s FULL OUTER JOIN keyword kw ON s.id = kw.id
        ORDER BY score DESC, id
        LIMIT :k"""


def _ranked_results(session: Session, ranked_sql: str, params: dict[str, Any]) -> list[Result]:
    """Run a ranking (rows of ``id, score``) with the index settings, and attach each movie's details."""
    use_index_scans(session)
    statement = text(f"""
        SELECT m.external_id, m.title, m.year, m.rating, {GENRES} AS genres, {BEST_QUALITY} AS best_quality, r.score
        FROM ({ranked_sql}) r JOIN movies m ON m.id = r.id
        ORDER BY r.score DESC, m.external_id""")
    if "vector" in params:
        statement = statement.bindparams(bindparam("vector", type_=VECTOR(EMBEDDING_DIMENSIONS)))
    params = {**params, "qualities": QUALITY_ORDER, "candidates": max(4 * params["k"], 40)}
    return [
        Result(
            external_id=row.external_id,
            title=row.title,
            year=row.year,
            rating=float(row.rating) if row.rating is not None else None,
            genres=list(row.genres),
            best_quality=row.best_quality,
            score=round(float(row.score), 6),
        )
        for row in session.execute(statement, params)
    ]


def _has_movies(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(Movie.removed_at.is_(None)))))


def _has_vectors(
    session: Session, table: type[MovieEmbedding | MoviePlotEmbedding] = MovieEmbedding, model_name: str | None = None
) -> bool:
    """Whether ``table`` holds any vector (by ``model_name``, when given)."""
    conditions = [table.model == model_name] if model_name else []
    return bool(session.scalar(select(exists().where(*conditions).select_from(table))))
