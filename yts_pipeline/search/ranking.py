"""How ``similar`` and ``recommend`` order the candidates the plot index proposes, and why each one is there.

Pure Python on a few hundred candidates: the SQL side (``neighbours.py``) fetches the nearest
plot vectors and each candidate's genres, year and rating; this module blends them, collapses
re-uploads of the same film, and words the reasons (for the results only: the scores of every
candidate are plain arithmetic). No database here, so the benchmark can re-rank the whole
catalog with exactly the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Weights:
    """Every weight of the ranking, in one place, with why it is there.

    Order: a candidate that shares at least one genre with the movie it is matched to comes
    before one that shares none (a tier, not a weight: "more like Interstellar" should not
    answer a documentary about space, however close its text). Within a tier, the score is

        plot * plot cosine + jaccard * genre Jaccard + era * era closeness + quality * rating prior

    - ``plot`` (1.0): the base signal, what the movies are about.
    - ``plot_without_plot`` (0.3): when the query movie has no plot text its vector is made of
      its title and genres, so title words would decide; the ranking leans on genres instead.
    - ``jaccard`` (0.25): among movies sharing a genre, the more of the genre set they share
      the better ({Sci-Fi, Adventure} over {Sci-Fi, Romance}); modest, so that a close plot
      with a partial genre match still beats a far plot with an exact one. A cosine gap of
      0.25 is roughly "same kind of story" versus "unrelated story" for MiniLM.
    - ``era`` (0.04) over ``era_years`` (20): a small pull towards films of the same period, for
      plots that are otherwise about as close; never enough to beat a clearly closer plot.
    - ``quality`` (0.03): a small prior for well-rated films among near-equals, centred on
      ``typical_rating`` (a 9.0 gains +0.016, a 3.0 loses -0.020); unknown ratings are neutral.
    - ``disliked`` (0.5): ``recommend`` subtracts half the plot cosine to the closest disliked
      movie, so a candidate as close to a disliked film as to a liked one sinks.
    - ``fusion_k`` (10): ``recommend`` with several liked movies fuses their rankings by
      reciprocal rank, sum of 1 / (fusion_k + rank): a candidate in the top 11 of two liked
      movies beats the best match of one, and each liked movie gets its share of the top.
      Smaller than RRF's usual 60, which lets middling consensus crowd out every best match.
    - ``similar_plot`` (0.3) and ``same_era_years`` (5): thresholds of the reasons only ("similar
      plot" from 0.3, "loosely similar plot" from half of it, "same era" within 5 years).
    """

    plot: float = 1.0
    plot_without_plot: float = 0.3
    jaccard: float = 0.25
    era: float = 0.04
    era_years: float = 20.0
    quality: float = 0.03
    typical_rating: float = 6.3
    disliked: float = 0.5
    fusion_k: int = 10
    similar_plot: float = 0.3
    same_era_years: int = 5


WEIGHTS = Weights()
# Plot neighbours re-ranked per liked movie. On the 5,000-movie replay catalog the top 10 from 200
# equals re-ranking the whole catalog for 96% of queries (82% from 100, 98% from 400):
# benchmarks/bench_recommend.py prints it.
CANDIDATES = 200
WELL_RATED = 7.5  # a rating worth naming as a reason


class Profile(NamedTuple):
    """A movie as the ranking sees it (a tuple: hundreds are made per query)."""

    movie_id: int
    external_id: int
    imdb_code: str | None
    title: str
    year: int | None
    rating: float | None
    genres: frozenset[str]
    has_plot: bool
    best_quality: str | None = None  # shown, not ranked on


@dataclass(frozen=True)
class Ranked:
    """A candidate's place: its profile, blended score and the reasons a person reads."""

    movie: Profile
    score: float
    reasons: list[str]


def rank(
    liked: Sequence[Profile],
    disliked: Sequence[Profile],
    candidates: Sequence[tuple[Profile, Sequence[float]]],
    k: int,
    *,
    name_the_liked: bool = False,
    weights: Weights = WEIGHTS,
) -> list[Ranked]:
    """The ``k`` best candidates, one per IMDb code, none of them liked, disliked or a copy of one.

    Each candidate comes with its plot cosines to the liked movies, then to the disliked ones, in
    that order. Each liked movie orders the candidates by its match (tier, then score). With one
    liked movie that is the ranking; with several the orders are fused by reciprocal rank
    (``fusion_k``), so each liked movie gets its share of the top and a candidate close to
    several comes first. ``name_the_liked`` starts the reasons with "like <title>", the liked
    movie it ranks highest for (``recommend``).
    """
    references = (*liked, *disliked)
    excluded_ids = {m.movie_id for m in references}
    excluded_codes = {m.imdb_code for m in references if m.imdb_code}
    kept = [
        (candidate, similarities)
        for candidate, similarities in candidates
        if candidate.movie_id not in excluded_ids and candidate.imdb_code not in excluded_codes
    ]
    n_liked = len(liked)
    matches = [
        [
            _score(reference, candidate, similarity, weights)
            for reference, similarity in zip(liked, similarities, strict=False)
        ]
        for candidate, similarities in kept
    ]
    if disliked:
        for row, (_, similarities) in zip(matches, kept, strict=True):
            penalty = weights.disliked * max(similarities[n_liked:])
            row[:] = [(tier, score - penalty) for tier, score in row]
    places = [[0] * n_liked for _ in kept]  # each candidate's place (0 = first) in each liked movie's order
    for column in range(n_liked):
        order = sorted(
            range(len(kept)), key=lambda i: (-matches[i][column][0], -matches[i][column][1], kept[i][0].external_id)
        )
        for place, i in enumerate(order):
            places[i][column] = place
    if n_liked == 1:
        scores = [row[0][1] for row in matches]
        order = sorted(range(len(kept)), key=lambda i: places[i][0])
    else:
        scores = [sum(1 / (weights.fusion_k + 1 + place) for place in row) for row in places]
        order = sorted(range(len(kept)), key=lambda i: (-scores[i], kept[i][0].external_id))
    ranked, listed_codes = [], set()
    for i in order:
        candidate, similarities = kept[i]
        if candidate.imdb_code in listed_codes:
            continue  # a re-upload of a film already listed
        if candidate.imdb_code:
            listed_codes.add(candidate.imdb_code)
        nearest = min(range(n_liked), key=lambda column: places[i][column])
        reasons = reasons_for(liked[nearest], candidate, similarities[nearest], weights)
        if name_the_liked:
            reasons.insert(0, f"like {liked[nearest].title}")
        ranked.append(Ranked(candidate, round(scores[i], 6), reasons))
        if len(ranked) == k:
            break
    return ranked


def _score(reference: Profile, candidate: Profile, plot_similarity: float, weights: Weights) -> tuple[int, float]:
    """(tier, score) of ``candidate`` for ``reference``: 1 when they share a genre, then the blend."""
    shared = len(reference.genres & candidate.genres)
    score = (weights.plot if reference.has_plot else weights.plot_without_plot) * plot_similarity
    if shared:
        score += weights.jaccard * shared / len(reference.genres | candidate.genres)
    if reference.year and candidate.year:
        score += weights.era * max(0.0, 1 - abs(reference.year - candidate.year) / weights.era_years)
    if candidate.rating:
        score += weights.quality * (candidate.rating - weights.typical_rating) / 5
    return (1 if shared else 0), score


def reasons_for(reference: Profile, candidate: Profile, plot_similarity: float, weights: Weights) -> list[str]:
    """The short phrases that say why ``candidate`` is there, in the order of ``_score``'s terms."""
    shared = reference.genres & candidate.genres
    reasons = [f"shares {', '.join(sorted(shared))}"] if shared else []
    if reference.has_plot and candidate.has_plot and plot_similarity >= weights.similar_plot / 2:
        closeness = "similar" if plot_similarity >= weights.similar_plot else "loosely similar"
        reasons.append(f"{closeness} plot ({plot_similarity:.2f})")
    if reference.year and candidate.year and abs(reference.year - candidate.year) <= weights.same_era_years:
        reasons.append("same era")
    if candidate.rating and candidate.rating >= WELL_RATED:
        reasons.append(f"well rated ({candidate.rating:.1f})")
    return reasons or ["no closer match"]
