"""Every movie's top neighbours under ``similar``'s ranking, for many movies at once (numpy, no database).

``ranking.rank`` orders a few hundred candidates for one request; rebuilding 75,000 lists that way
would take ~75,000 HNSW scans. Here a block of movies is matched against the whole catalog with
one matrix product, each movie's ``CANDIDATES`` nearest plots are taken exactly (the live ranking
takes them from the HNSW index), and the blend of ``ranking.py`` (genre tier, plot, Jaccard, era,
rating prior, then the IMDb-code collapse) is computed on arrays, with the same arithmetic in the
same order, so the order equals ``rank``'s. Reasons are worded by ``ranking.reasons_for``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from yts_pipeline.search.ranking import CANDIDATES, WEIGHTS, Profile, Weights, reasons_for

LIST_SIZE = 50  # neighbours kept per movie: similar and recommend read at most this many
BLOCK_ROWS = 128  # movies per matrix product (128 x 75,000 floats: 38 MB; their candidates' vectors: 79 MB)


@dataclass(frozen=True)
class PlotCatalog:
    """The movies with a plot vector of one model, as arrays in one row order (``profiles[i]`` is row ``i``).

    ``codes``: the IMDb code as a number, each movie without one its own negative number;
    ``genres``: a bit per genre name; ``years`` and ``ratings``: 0 where unknown (falsy, as in ``rank``).
    """

    profiles: list[Profile]
    vectors: np.ndarray
    movie_ids: np.ndarray
    external_ids: np.ndarray
    codes: np.ndarray
    genres: np.ndarray
    years: np.ndarray
    ratings: np.ndarray
    has_plot: np.ndarray

    @classmethod
    def of(cls, profiles: Sequence[Profile], vectors: np.ndarray) -> PlotCatalog:
        names = sorted({name for p in profiles for name in p.genres})
        bit = {name: np.uint64(1) << np.uint64(i) for i, name in enumerate(names)}
        if len(names) > 64:
            raise ValueError(f"{len(names)} genres do not fit a 64-bit mask")
        code_numbers: dict[str, int] = {}
        codes = [
            code_numbers.setdefault(p.imdb_code, len(code_numbers)) if p.imdb_code else -1 - row
            for row, p in enumerate(profiles)
        ]
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(profiles), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return cls(
            profiles=list(profiles),
            vectors=vectors / np.where(norms > 0, norms, 1),
            movie_ids=np.array([p.movie_id for p in profiles], dtype=np.int64),
            external_ids=np.array([p.external_id for p in profiles], dtype=np.int64),
            codes=np.array(codes, dtype=np.int64),
            genres=np.array([sum((bit[g] for g in p.genres), np.uint64(0)) for p in profiles], dtype=np.uint64),
            years=np.array([p.year or 0 for p in profiles], dtype=np.float64),
            ratings=np.array([p.rating or 0.0 for p in profiles], dtype=np.float64),
            has_plot=np.array([p.has_plot for p in profiles], dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.profiles)


@dataclass(frozen=True)
class NeighbourList:
    """One movie's list: neighbour rows, blended scores, plot cosines, reasons; ``candidates``: the rows of
    every candidate, ranked (the neighbours are the first of them, re-uploads collapsed); ``floor``: the
    plot cosine of its last candidate, ``None`` when every other movie was a candidate."""

    row: int
    neighbours: list[int]
    candidates: list[int]
    scores: list[float]
    similarities: list[float]
    reasons: list[list[str]]
    floor: float | None


def neighbour_lists(
    catalog: PlotCatalog,
    rows: Sequence[int] | np.ndarray,
    *,
    size: int = LIST_SIZE,
    candidates: int = CANDIDATES,
    weights: Weights = WEIGHTS,
) -> Iterator[NeighbourList]:
    """The list of each of ``rows``, block by block: what ``similar`` answers with ``candidates`` exact
    plot neighbours, the first ``size`` results."""
    rows = np.asarray(rows, dtype=np.int64)
    for start in range(0, len(rows), BLOCK_ROWS):
        yield from _block_lists(catalog, rows[start : start + BLOCK_ROWS], size, candidates, weights)


def _block_lists(
    catalog: PlotCatalog, rows: np.ndarray, size: int, candidates: int, weights: Weights
) -> Iterator[NeighbourList]:
    similarity = catalog.vectors[rows] @ catalog.vectors.T
    # not itself, nor another upload of itself: the live scan leaves them out before taking candidates
    itself = catalog.codes[rows][:, None] == catalog.codes[None, :]
    similarity[itself] = -np.inf
    eligible = len(catalog) - itself.sum(axis=1)
    top = _largest(similarity, min(candidates, len(catalog)))
    valid = np.isfinite(np.take_along_axis(similarity, top, axis=1))
    cosines = _pair_cosines(catalog, rows, top)
    tiers, scores = _blend(catalog, rows, top, np.where(valid, cosines, 0.0), weights)
    tiers, scores = np.where(valid, tiers, -1), np.where(valid, scores, -np.inf)
    order = np.lexsort((catalog.external_ids[top], -scores, -tiers), axis=1)
    top, cosines, scores = (np.take_along_axis(a, order, axis=1) for a in (top, cosines, scores))
    valid = np.take_along_axis(valid, order, axis=1)
    kept = valid & ~_later_copies(catalog.codes[top])
    floors = np.where(eligible > candidates, np.where(valid, cosines, np.inf).min(axis=1), np.nan)
    for i, row in enumerate(rows):
        columns = np.flatnonzero(kept[i])[:size]
        query = catalog.profiles[row]
        neighbours = top[i, columns].tolist()
        similarities = cosines[i, columns].tolist()
        yield NeighbourList(
            row=int(row),
            neighbours=neighbours,
            candidates=top[i, valid[i]].tolist(),
            scores=[round(s, 6) for s in scores[i, columns].tolist()],
            similarities=similarities,
            reasons=[
                reasons_for(query, catalog.profiles[n], s, weights)
                for n, s in zip(neighbours, similarities, strict=True)
            ],
            floor=None if np.isnan(floors[i]) else float(floors[i]),
        )


def _largest(similarity: np.ndarray, pool: int) -> np.ndarray:
    """Each row's ``pool`` largest columns, in no order."""
    width = similarity.shape[1]
    return np.argpartition(similarity, width - pool, axis=1)[:, width - pool :]


def _pair_cosines(catalog: PlotCatalog, rows: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The cosine of each pair computed on its own, not inside a matrix product whose summation order
    depends on the block: two uploads with one vector then tie exactly, as in pgvector, and the external
    id decides between them as it does live."""
    return np.einsum("ij,ikj->ik", catalog.vectors[rows], catalog.vectors[top]).astype(np.float64)


def _blend(
    catalog: PlotCatalog, rows: np.ndarray, top: np.ndarray, cosines: np.ndarray, weights: Weights
) -> tuple[np.ndarray, np.ndarray]:
    """``ranking._score`` on arrays: (tier, score) of each candidate ``top[i, j]`` for movie ``rows[i]``."""
    query_genres, genres = catalog.genres[rows][:, None], catalog.genres[top]
    shared = np.bitwise_count(query_genres & genres).astype(np.float64)
    union = np.bitwise_count(query_genres | genres).astype(np.float64)
    score = np.where(catalog.has_plot[rows], weights.plot, weights.plot_without_plot)[:, None] * cosines
    score = score + np.where(shared > 0, weights.jaccard * shared / np.maximum(union, 1), 0.0)
    query_years, years = catalog.years[rows][:, None], catalog.years[top]
    closeness = np.maximum(0.0, 1 - np.abs(query_years - years) / weights.era_years)
    score = score + np.where((query_years != 0) & (years != 0), weights.era * closeness, 0.0)
    ratings = catalog.ratings[top]
    score = score + np.where(ratings != 0, weights.quality * (ratings - weights.typical_rating) / 5, 0.0)
    return (shared > 0).astype(np.int64), score


def _later_copies(codes: np.ndarray) -> np.ndarray:
    """True where a row's IMDb code already came earlier in that row (a re-upload ranked lower)."""
    by_code = np.argsort(codes, axis=1, kind="stable")
    ordered = np.take_along_axis(codes, by_code, axis=1)
    repeated = np.zeros_like(ordered, dtype=bool)
    repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    later = np.zeros_like(repeated)
    np.put_along_axis(later, by_code, repeated, axis=1)
    return later
