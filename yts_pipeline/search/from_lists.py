"""``similar`` and ``recommend`` from the stored lists (``movie_neighbours``), or ``None``: rank them live.

A list answers for the live ranking when it is of the current version (the movie's plot model,
the weights, the pool size). When filters (or a removal since) drop some of its first neighbours,
the live ranking would look further, past the list's candidates: the list still answers when its
``k``-th kept neighbour beats anything a movie beyond its last candidate could score (plot no closer
than ``candidate_floor``, every other term at its best), and the live ranking answers otherwise.
A dropped neighbour with other uploads also sends the query live: the list collapsed those away.
``recommend`` with several liked movies fuses the candidates stored with their lists, unfiltered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from yts_pipeline.search.neighbour_lists import LIST_SIZE
from yts_pipeline.search.neighbour_store import list_owner, listed_versions, read_stored_list
from yts_pipeline.search.neighbour_update import neighbours_version
from yts_pipeline.search.neighbours import as_profile
from yts_pipeline.search.ranking import WEIGHTS, Ranked, Weights

BEST_RATING = 10.0
TIE_MARGIN = 1e-5  # stored scores are rounded to 6 decimals, and their cosines are numpy's, not pgvector's


def stored_similar(
    session: Session, movie_id: int, k: int, where: str, params: dict[str, Any], *, filtered: bool
) -> list[Ranked] | None:
    """The first ``k`` neighbours of ``movie_id``'s list that meet ``where``, as ``rank`` would give them;
    ``filtered``: ``where`` holds conditions of the caller's filters."""
    if k > LIST_SIZE:
        return None
    rows = read_stored_list(session, movie_id, where, params, LIST_SIZE if filtered else k)
    if not rows or rows[0].version != neighbours_version(rows[0].plot_model):
        return None
    complete = rows[0].candidate_floor is None
    if not filtered and all(row.passes for row in rows):
        return [_ranked(row) for row in rows] if len(rows) == k or complete else None
    if not filtered:  # a neighbour removed since the list was made
        rows = read_stored_list(session, movie_id, where, params, LIST_SIZE)
    ranked = []
    for row in rows:
        if row.has_copies:
            return None
        if row.passes:
            ranked.append(_ranked(row))
            if len(ranked) == k:
                break
    if complete:
        return ranked
    if len(ranked) < k:
        return None
    owner = list_owner(session, movie_id)
    last = (1 if set(owner.genres) & ranked[-1].movie.genres else 0, ranked[-1].score)
    beyond = best_beyond(rows[0].candidate_floor, bool(owner.genres), owner.has_plot)
    ahead = last[0] > beyond[0] or last[0] == beyond[0] and last[1] > beyond[1] + TIE_MARGIN
    return ranked if ahead else None


def _ranked(row: Any) -> Ranked:
    return Ranked(as_profile(row), row.score, list(row.reasons))


def best_beyond(floor: float, has_genres: bool, has_plot: bool, weights: Weights = WEIGHTS) -> tuple[int, float]:
    """The best (tier, score) of a movie not among a list's candidates (``ranking._score``'s terms)."""
    plot = (weights.plot if has_plot else weights.plot_without_plot) * floor
    rest = weights.era + weights.quality * (BEST_RATING - weights.typical_rating) / 5
    return (1, plot + weights.jaccard + rest) if has_genres else (0, plot + rest)


def lists_version(session: Session, liked: Sequence[int]) -> tuple[str, bool] | None:
    """The version every liked movie's list has (and whether all of them hold every movie), else ``None``."""
    found = listed_versions(session, liked)
    versions = {row.version for row in found}
    if (
        len(found) < len(set(liked))
        or len(versions) != 1
        or any(row.version != neighbours_version(row.plot_model) for row in found)
    ):
        return None
    return versions.pop(), all(row.complete for row in found)
