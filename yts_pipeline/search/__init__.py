"""Semantic search and recommendations over the mirror: the embedding model, the texts embedded per
movie, incremental embedding, ``search``, ``similar`` and ``recommend``. No Dagster here; assets and
the CLI call these.
"""

from yts_pipeline.search.embed import CoverageProblems, EmbedResult, embed_movies, embedding_coverage_problems
from yts_pipeline.search.errors import (
    AmbiguousMovie,
    EmbeddingModelError,
    MovieNotFound,
    NothingToSearch,
    SearchError,
    UnknownGenre,
)
from yts_pipeline.search.model import EmbeddingModel, get_model, model_location
from yts_pipeline.search.queries import SEARCH_MODES, Filters, Result, recommend, search, similar

__all__ = [
    "SEARCH_MODES",
    "AmbiguousMovie",
    "CoverageProblems",
    "EmbedResult",
    "EmbeddingModel",
    "EmbeddingModelError",
    "Filters",
    "MovieNotFound",
    "NothingToSearch",
    "Result",
    "SearchError",
    "UnknownGenre",
    "embed_movies",
    "embedding_coverage_problems",
    "get_model",
    "model_location",
    "recommend",
    "search",
    "similar",
]
