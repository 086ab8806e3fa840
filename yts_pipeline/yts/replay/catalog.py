"""The movies a replay server serves: synthetic or loaded from captured responses, and mutable.

Movies are kept in date_added order (the API's hidden "position of addition"), with host-less URLs.
Every method takes one lock, so tests may mutate the catalog while a server answers from it.
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import Any

from yts_pipeline.yts.replay.payloads import (
    LIST_FIELDS,
    MOVIE_FIELDS,
    details_fields,
    render,
    strip_hosts,
    unknown_movie,
)
from yts_pipeline.yts.replay.synthetic import MovieFactory

DEFAULT_ORIGIN = "https://yts.mx"
SORT_FIELDS = ("title", "year", "rating", "peers", "seeds", "download_count", "like_count", "date_added")
ORDERS = ("desc", "asc")


def _torrent_max(field: str) -> Callable[[dict[str, Any]], Any]:
    return lambda movie: max((t.get(field) or 0 for t in movie.get("torrents") or ()), default=0)


_SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "title": lambda movie: str(movie.get("title", "")).lower(),
    "year": lambda movie: movie.get("year") or 0,
    "rating": lambda movie: float(movie.get("rating") or 0),
    "peers": _torrent_max("peers"),
    "seeds": _torrent_max("seeds"),
    "download_count": lambda movie: movie.get("download_count") or 0,
    "like_count": lambda movie: movie.get("like_count") or 0,
}


class Catalog:
    """An ordered, thread-safe set of movies plus the generator that makes new ones."""

    def __init__(self, movies: Iterable[dict[str, Any]] = (), factory: MovieFactory | None = None):
        """``movies`` in date_added order, URLs host-less; ``factory`` makes additions."""
        self._lock = threading.RLock()
        self._movies: dict[int, dict[str, Any]] = {int(m["id"]): m for m in movies}
        if factory is None:
            factory = MovieFactory(seed=0)
            factory.observe(self._movies.values())
        self._factory = factory
        self._orders: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._removed: dict[int, tuple[int, dict[str, Any]]] = {}  # id: (position, movie), for restore_movie

    @classmethod
    def synthetic(cls, n_movies: int, seed: int = 0) -> Catalog:
        """``n_movies`` realistic movies; the same seed always gives the same catalog."""
        factory = MovieFactory(seed, n_people=max(30, n_movies // 3))
        return cls(factory.initial_catalog(n_movies), factory)

    @classmethod
    def from_files(cls, paths: Iterable[str | PathLike[str]]) -> Catalog:
        """Movies of captured ``list_movies`` / ``movie_details`` responses.

        A movie found in several files is merged, details fields over list fields. Date added is
        unknown in captures, so upload time (then id) stands in for it.
        """
        listed: dict[int, dict[str, Any]] = {}
        detailed: dict[int, dict[str, Any]] = {}
        for path in paths:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, dict):
                continue
            items = data.get("movies")
            for item in items if isinstance(items, list) else ():
                _merge_into(listed, item)
            _merge_into(detailed, data.get("movie"))
        merged = [
            strip_hosts({**listed.get(movie_id, {}), **detailed.get(movie_id, {})})
            for movie_id in listed.keys() | detailed.keys()
        ]
        merged.sort(key=lambda m: (int(m.get("date_uploaded_unix") or 0), m["id"]))
        return cls(merged)

    def __len__(self) -> int:
        with self._lock:
            return len(self._movies)

    def ids(self) -> list[int]:
        """Movie ids in date_added order, oldest first."""
        with self._lock:
            return list(self._movies)

    def movie(self, movie_id: int, origin: str = DEFAULT_ORIGIN) -> dict[str, Any]:
        """Every field held for a movie (list and details fields, images, cast), URLs on ``origin``."""
        with self._lock:
            return render(self._movies[movie_id], origin)

    # -- mutations, for incremental-sync scenarios -------------------------------------------------

    def add_movies(self, n: int, before: int | None = None) -> list[int]:
        """Add ``n`` new movies at the end of date_added order; returns their ids.

        ``before`` (a movie id) inserts them just before that movie instead: a late insert, which
        shifts every later movie ``n`` positions on.
        """
        with self._lock:
            added = [self._factory.movie(self._factory.tick()) for _ in range(n)]
            self._insert(list(self._movies).index(before) if before is not None else len(self._movies), added)
            return [m["id"] for m in added]

    def set_seeds(self, movie_id: int, seeds: int, peers: int) -> None:
        """Set seeds and peers of every torrent of a movie (they change daily on the real API)."""
        with self._lock:
            torrents = self._movies[movie_id].get("torrents")
            if not torrents:
                raise ValueError(f"movie {movie_id} has no torrents")
            for torrent in torrents:
                torrent["seeds"], torrent["peers"] = seeds, peers
            self._orders.clear()

    def add_torrent(self, movie_id: int) -> str:
        """Add a freshly uploaded torrent to a movie; returns its hash."""
        with self._lock:
            movie = self._movies[movie_id]
            torrent = self._factory.extra_torrent(movie)
            movie.setdefault("torrents", []).append(torrent)
            self._orders.clear()
            return torrent["hash"]

    def remove_movie(self, movie_id: int) -> None:
        """Take a movie down: later movies shift by one position in date_added order."""
        with self._lock:
            self._removed[movie_id] = (list(self._movies).index(movie_id), self._movies.pop(movie_id))
            self._orders.clear()

    def restore_movie(self, movie_id: int) -> None:
        """Put a removed movie back at its place in date_added order, as YTS restores a taken-down movie."""
        with self._lock:
            position, movie = self._removed.pop(movie_id)
            self._insert(position, [movie])

    def _insert(self, position: int, movies: list[dict[str, Any]]) -> None:
        items = list(self._movies.items())
        items[position:position] = [(m["id"], m) for m in movies]
        self._movies = dict(items)
        self._orders.clear()

    def update_movie(self, movie_id: int, **fields: Any) -> None:
        """Overwrite API fields of a movie (values as the API would serve them; URLs on any host)."""
        refused = sorted(set(fields) - (MOVIE_FIELDS - {"id"}))
        if refused:
            raise ValueError(f"cannot set {refused}: not settable API fields")
        with self._lock:
            self._movies[movie_id].update(strip_hosts(fields))
            self._orders.clear()

    # -- queries the server answers ----------------------------------------------------------------

    def list_page(
        self,
        origin: str,
        page: int = 1,
        limit: int = 20,
        sort_by: str = "date_added",
        order_by: str = "desc",
        query_term: str | None = None,
        genre: str | None = None,
        minimum_rating: float = 0,
        quality: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """``(movie_count, movies of the page)`` of a ``list_movies`` query; pages start at 1."""
        if page < 1 or limit < 1:
            raise ValueError(f"page {page} and limit {limit} must both be at least 1")
        with self._lock:
            movies = self._ordered(sort_by, order_by)
            if query_term or genre or minimum_rating or quality:
                keep = _filter(query_term, genre, minimum_rating, quality)
                movies = [m for m in movies if keep(m)]
            start = (page - 1) * limit
            return len(movies), [render(m, origin, LIST_FIELDS) for m in movies[start : start + limit]]

    def details(
        self,
        origin: str,
        movie_id: int | None = None,
        imdb_id: str | None = None,
        with_images: bool = False,
        with_cast: bool = False,
    ) -> dict[str, Any]:
        """The ``movie_details`` movie object; a hollow movie with id 0 when nothing matches."""
        with self._lock:
            movie = self._movies.get(movie_id) if movie_id is not None else self._by_imdb(imdb_id)
            if movie is None:
                return unknown_movie(origin)
            return render(movie, origin, details_fields(with_images, with_cast))

    def suggestions(self, origin: str, movie_id: int, count: int = 4) -> list[dict[str, Any]]:
        """Movies sharing the most genres with ``movie_id`` (closest year breaks ties); [] if unknown."""
        with self._lock:
            movie = self._movies.get(movie_id)
            if movie is None:
                return []
            genres = set(movie.get("genres") or ())
            year = movie.get("year") or 0

            def distance(other: dict[str, Any]) -> tuple[int, int, int]:
                shared = len(genres.intersection(other.get("genres") or ()))
                return -shared, abs((other.get("year") or 0) - year), other["id"]

            others = (m for m in self._movies.values() if m["id"] != movie_id)
            return [render(m, origin, LIST_FIELDS) for m in heapq.nsmallest(count, others, key=distance)]

    def _ordered(self, sort_by: str, order_by: str) -> list[dict[str, Any]]:
        """Movies in a sort order, cached until the next mutation; ties keep date_added order."""
        if sort_by not in SORT_FIELDS or order_by not in ORDERS:
            raise ValueError(f"unknown sort_by={sort_by!r} or order_by={order_by!r}")
        key = (sort_by, order_by)
        if key not in self._orders:
            movies = list(self._movies.values())
            if sort_by != "date_added":
                movies.sort(key=_SORT_KEYS[sort_by])  # stable: ties stay in date_added order
            if order_by == "desc":
                movies.reverse()
            self._orders[key] = movies
        return self._orders[key]

    def _by_imdb(self, imdb_id: str | None) -> dict[str, Any] | None:
        if not imdb_id:
            return None
        return next((m for m in self._movies.values() if m.get("imdb_code") == imdb_id), None)


def _merge_into(movies: dict[int, dict[str, Any]], item: Any) -> None:
    if isinstance(item, dict) and isinstance(item.get("id"), int) and item["id"] > 0:
        movies[item["id"]] = {**movies.get(item["id"], {}), **item}


def _filter(
    query_term: str | None, genre: str | None, minimum_rating: float, quality: str | None
) -> Callable[[dict[str, Any]], bool]:
    """The list filters, simply: query_term matches title, IMDb code or a cast member."""
    term = (query_term or "").strip().lower()
    genre = (genre or "").lower()
    quality = (quality or "").lower()

    def matches_term(movie: dict[str, Any]) -> bool:
        if term in str(movie.get("title", "")).lower() or term == str(movie.get("imdb_code", "")).lower():
            return True
        person_code = term.removeprefix("nm")
        return any(
            term in str(person.get("name", "")).lower() or person_code == person.get("imdb_code")
            for person in movie.get("cast") or ()
        )

    def keep(movie: dict[str, Any]) -> bool:
        if genre and genre not in (g.lower() for g in movie.get("genres") or ()):
            return False
        if minimum_rating and float(movie.get("rating") or 0) < minimum_rating:
            return False
        qualities = (str(t.get("quality", "")).lower() for t in movie.get("torrents") or ())
        if quality and quality not in qualities:
            return False
        return not term or matches_term(movie)

    return keep
