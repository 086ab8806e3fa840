"""``similar`` and ``recommend`` answered from the stored lists (``movie_neighbours``), or ``None``: rank live.

A list answers for the live ranking when it is of the current version (the movie's plot model,
the weights, the pool size) and, under filters, when at least ``k`` of its neighbours meet them
(or the list holds every other movie). One more case goes live: a neighbour the filters drop that
has other uploads, since the list collapsed those away and one of them may meet the filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from yts_pipeline.search.neighbour_lists import LIST_SIZE
from yts_pipeline.search.neighbour_store import listed_versions, read_stored_list
from yts_pipeline.search.neighbour_update import neighbours_version
from yts_pipeline.search.neighbours import as_profile
from yts_pipeline.search.ranking import Ranked


def stored_similar(session: Session, movie_id: int, k: int, where: str, params: dict[str, Any]) -> list[Ranked] | None:
    """The first ``k`` neighbours of ``movie_id``'s list that meet ``where``, as ``rank`` would give them."""
    if k > LIST_SIZE:
        return None
    rows = read_stored_list(session, movie_id, where, params)
    if not rows or rows[0].version != neighbours_version(rows[0].plot_model):
        return None
    ranked = []
    for row in rows:
        if row.passes:
            ranked.append(Ranked(as_profile(row), row.score, list(row.reasons)))
            if len(ranked) == k:
                return ranked
        elif row.has_copies:
            return None
    return ranked if rows[0].complete else None


def lists_version(session: Session, liked: Sequence[int]) -> tuple[str, bool] | None:
    """The version every liked movie's list has (and whether all of them hold every movie), else ``None``."""
    found = listed_versions(session, liked)
    versions = {row.version for row in found}
    if len(found) < len(set(liked)) or len(versions) != 1 or any(
            row.version != neighbours_version(row.plot_model) for row in found):
        return None
    return versions.pop(), all(row.complete for row in found)
