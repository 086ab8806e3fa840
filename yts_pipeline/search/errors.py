"""Search errors a user can act on: the CLI prints their message as one line, never a stack trace."""

from __future__ import annotations


class SearchError(RuntimeError):
    """Base for every error of ``yts_pipeline.search``."""


class EmbeddingModelError(SearchError):
    """The embedding model cannot be loaded, or would write vectors the table cannot hold."""


class BackendUnavailable(EmbeddingModelError):
    """The fast embedding backend cannot run here (not installed, not exportable, or disagreeing with torch)."""


class NothingToSearch(SearchError):
    """No movie has been embedded yet (or, for keyword search, saved yet)."""

    def __init__(self, message: str = "nothing to search yet: run `yts-pipeline sync` first"):
        super().__init__(message)


class MovieNotFound(SearchError):
    """No movie matches the id, IMDb code or title given to ``similar`` or ``recommend``."""


class AmbiguousMovie(SearchError):
    """Several movies match the title given to ``similar`` or ``recommend``; the message lists them."""


class UnknownGenre(SearchError):
    """The genre filter names no stored genre; the message lists the known ones."""
