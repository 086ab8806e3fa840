"""Keep ``movie_neighbours`` as ``similar`` ranks live: rebuild all lists, or the lists a change touches.

A full rebuild runs when the stored lists are of another version (first run, another plot model,
other weights, pool or list size). Otherwise the lists to redo are those of the new and changed
movies (their fingerprint differs) and those a changed or removed movie enters or leaves: it is
one of the list's candidates (``candidate_ids``), or its plot is now at least as close as the
list's last candidate (``candidate_floor``).
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import asdict, dataclass

import numpy as np

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search.neighbour_lists import LIST_SIZE, PlotCatalog, neighbour_lists
from yts_pipeline.search.neighbour_store import StoredList, lists_holding, read_catalog, stored_lists, write_lists
from yts_pipeline.search.ranking import CANDIDATES, WEIGHTS

ALGORITHM = 1  # bump when the lists' meaning changes without a weight or size changing
FLOOR_SLACK = 1e-6  # cosines from numpy and from pgvector differ in the last float32 digits


@dataclass(frozen=True)
class NeighboursReport:
    """What one update did: ``mode`` full, incremental or none; movies changed, removed, lists written."""

    mode: str
    version: str
    movies: int
    changed: int
    removed: int
    lists_written: int
    seconds: float

    def metadata(self) -> dict[str, str | int | float]:
        return asdict(self)


@functools.cache
def neighbours_version(model_name: str) -> str:
    """The key of the ranking the lists follow: stored lists of another key are never read."""
    key = f"{model_name}|{WEIGHTS}|candidates={CANDIDATES}|size={LIST_SIZE}|algorithm={ALGORITHM}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def update_neighbour_lists(db: DatabaseManager, model_name: str, *, full: bool = False) -> NeighboursReport:
    """Bring every stored list up to date for the plot vectors of ``model_name``; ``full`` rebuilds all."""
    started, version = time.perf_counter(), neighbours_version(model_name)
    with db.get_session() as session:
        catalog, fingerprints = read_catalog(session, model_name)
        stored = stored_lists(session)
        full = full or any(s.version != version for s in stored.values()) or not stored
        row_of = {int(movie_id): row for row, movie_id in enumerate(catalog.movie_ids)}
        gone = sorted(set(stored) - set(row_of))
        changed = (
            [
                row
                for row, movie_id in enumerate(catalog.movie_ids.tolist())
                if movie_id not in stored or stored[movie_id].fingerprint != fingerprints[row]
            ]
            if not full
            else list(range(len(catalog)))
        )
        if full:
            redo = np.arange(len(catalog))
        else:
            holders = lists_holding(session, [*catalog.movie_ids[changed].tolist(), *gone])
            redo = _touched(catalog, stored, changed, [row_of[h] for h in holders if h in row_of])
        written = write_lists(
            session,
            version,
            catalog,
            fingerprints,
            neighbour_lists(catalog, redo),
            delete=None if full else [*gone, *catalog.movie_ids[redo].tolist()],
        )
    mode = "full" if full else "incremental" if written or gone else "none"
    return NeighboursReport(
        mode=mode,
        version=version,
        movies=len(catalog),
        changed=len(changed),
        removed=len(gone),
        lists_written=written,
        seconds=round(time.perf_counter() - started, 3),
    )


def _touched(catalog: PlotCatalog, stored: dict[int, StoredList], changed: list[int], holding: list[int]) -> np.ndarray:
    """The changed rows, the rows ``holding`` a changed or gone movie among their candidates (it may leave),
    and the rows whose last candidate is no closer than a changed movie's plot (it enters)."""
    redo = {*changed, *holding}
    if changed:
        floors = np.array([_floor(stored.get(movie_id)) for movie_id in catalog.movie_ids.tolist()])
        for start in range(0, len(catalog), 4096):
            closest = (catalog.vectors[start : start + 4096] @ catalog.vectors[changed].T).max(axis=1)
            entered = np.flatnonzero(closest >= floors[start : start + 4096] - FLOOR_SLACK)
            redo.update((start + entered).tolist())
    return np.array(sorted(redo), dtype=np.int64)


def _floor(stored: StoredList | None) -> float:
    """A list's last candidate cosine; -inf when every movie was a candidate, or when it has no list."""
    return -np.inf if stored is None or stored.floor is None else stored.floor
