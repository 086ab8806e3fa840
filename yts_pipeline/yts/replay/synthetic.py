"""Deterministic synthetic movies shaped like the YTS API's, quirks included.

One seeded ``random.Random`` drives everything, so a seed always yields the same catalog, and the
same later additions (``add_movies``, ``add_torrent``) when they are made in the same order.
URLs are host-less (see ``payloads``).
"""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from yts_pipeline.yts.replay.vocabulary import (
    ADJECTIVES,
    BIT_PARTS,
    CHARACTER_TITLES,
    FEMALE_NAMES,
    GENRE_AFFINITY,
    GENRE_TEXT,
    LAST_NAMES,
    MALE_NAMES,
    OF_NOUNS,
    PLACES,
    PRIMARY_GENRE_WEIGHTS,
    SEQUELS,
)


class _Weighted:
    """A weighted choice table, accumulated once (``random.choices`` would redo it on every call)."""

    def __init__(self, choices: Iterable[tuple[Any, int]]):
        values, weights = zip(*choices)
        self.values = values
        self.cum_weights = tuple(itertools.accumulate(weights))

    def pick(self, rng: random.Random) -> Any:
        return rng.choices(self.values, cum_weights=self.cum_weights)[0]


SERVER_ZONE = ZoneInfo("Europe/Paris")  # the API's "CET", daylight saving included
FIRST_UPLOAD = 1446320797  # 2015-10-31, the oldest uploads in the captures
LAST_UPLOAD = 1759300000  # 2025-10-01

# Rates of the quirks seen in real payloads.
NO_TORRENTS_RATE = 0.015
NO_GENRES_RATE = 0.015
EMPTY_TEXT_RATE = 0.03
ZERO_RATING_RATE = 0.04
ZERO_RUNTIME_RATE = 0.04
REMAKE_RATE = 0.01
DATE_ADDED_SWAP_RATE = 0.03

QUALITY_PLANS = _Weighted(
    (
        (("720p", "1080p"), 40),
        (("720p", "1080p", "2160p"), 12),
        (("720p", "1080p", "1080p.x265"), 14),
        (("720p", "1080p", "1080p.x265", "2160p"), 8),
        (("480p", "720p", "1080p"), 5),
        (("1080p",), 8),
        (("720p",), 6),
        (("1080p", "3D"), 2),
        (("720p", "1080p", "3D"), 2),
    )
)
GIGABYTES_PER_100_MIN = {"480p": 0.5, "720p": 0.9, "1080p": 1.8, "1080p.x265": 1.5, "2160p": 4.8, "3D": 1.9}
LANGUAGES = _Weighted((("en", 85), ("fr", 3), ("es", 3), ("de", 2), ("it", 2), ("ja", 2), ("ko", 2), ("hi", 1)))
MPA_RATINGS = _Weighted((("R", 25), ("PG-13", 20), ("PG", 10), ("G", 3), ("NR", 5), ("", 37)))
PRIMARY_GENRES = _Weighted(PRIMARY_GENRE_WEIGHTS.items())
EXTRA_GENRE_COUNTS = _Weighted(((0, 25), (1, 35), (2, 30), (3, 10)))
CAST_SIZES = _Weighted(((1, 5), (2, 10), (3, 20), (4, 65)))
FIRST_NAMES = FEMALE_NAMES + MALE_NAMES
TRAILER_ALPHABET = string.ascii_letters + string.digits + "-_"
TITLE_PATTERNS = _Weighted(
    (
        ("The {adj} {noun}", 5),
        ("{adj} {noun}", 4),
        ("{noun} of {of}", 3),
        ("The {noun}", 3),
        ("{first}'s {noun}", 1),
        ("{noun}", 2),
        ("{noun} in {place}", 2),
        ("The {adj} {noun} {sequel}", 1),
        ("{noun}: {adj} {noun2}", 1),
    )
)
PRONOUNS = {
    True: {"he": "she", "his": "her", "him": "her", "himself": "herself"},
    False: {"he": "he", "his": "his", "him": "him", "himself": "himself"},
}


def cet_time(unix: int) -> str:
    """``date_uploaded`` strings are the API server's local time, not UTC."""
    return datetime.fromtimestamp(unix, SERVER_ZONE).isoformat(sep=" ")[:19]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Person:
    name: str
    imdb_code: str | None  # digits only, like the API's cast entries
    has_image: bool


class MovieFactory:
    """Makes movies, torrents and cast from one RNG, never reusing an id, hash, imdb code or slug."""

    def __init__(self, seed: int, n_people: int = 30):
        self._rng = random.Random(seed)
        self._next_id = 10 + self._rng.randint(0, 20)
        self._clock = FIRST_UPLOAD
        self._titles: list[str] = []
        self._title_set: set[str] = set()
        self._slugs: set[str] = set()
        self._imdb_codes: set[str] = set()
        self._hashes: set[str] = set()
        self._people = self._make_people(n_people)

    def observe(self, movies: Iterable[dict[str, Any]]) -> None:
        """Reserve the identifiers of existing (loaded) movies so that new ones never collide."""
        for movie in movies:
            self._next_id = max(self._next_id, int(movie["id"]) + 1)
            self._clock = max(self._clock, int(movie.get("date_uploaded_unix") or 0))
            self._remember_title(str(movie.get("title", "")))
            self._slugs.add(str(movie.get("slug", "")))
            self._imdb_codes.add(str(movie.get("imdb_code", "")))
            for torrent in movie.get("torrents") or ():
                self._hashes.add(str(torrent.get("hash", "")).upper())

    def initial_catalog(self, n_movies: int) -> list[dict[str, Any]]:
        """``n_movies`` uploaded between 2015 and 2025, in date_added order.

        Date added mostly follows the id, with a few neighbours swapped, and upload times jitter
        around it: like the real API, neither ids nor upload dates give the date_added order.
        """
        step = (LAST_UPLOAD - FIRST_UPLOAD) / max(n_movies, 1)
        movies = []
        for i in range(n_movies):
            jitter = self._rng.uniform(-2 * step, 2 * step)
            uploaded = int(min(LAST_UPLOAD, max(FIRST_UPLOAD, FIRST_UPLOAD + i * step + jitter)))
            movies.append(self.movie(uploaded))
        for i in range(n_movies - 1):
            if self._rng.random() < DATE_ADDED_SWAP_RATE:
                movies[i], movies[i + 1] = movies[i + 1], movies[i]
        self._clock = max([LAST_UPLOAD, *(m["date_uploaded_unix"] for m in movies)])
        return movies

    def tick(self) -> int:
        """The upload time of the next addition: a little after the previous one."""
        self._clock += self._rng.randint(1800, 6 * 3600)
        return self._clock

    def movie(self, uploaded: int) -> dict[str, Any]:
        """One movie with every list and details field (URLs host-less)."""
        rng = self._rng
        movie_id = self._next_id
        self._next_id += 1 + (rng.randint(1, 6) if rng.random() < 0.2 else 0)
        genres = self._genres()
        title, year = self._title_and_year(genres[0])
        slug = slugify(f"{title} {year}")
        self._slugs.add(slug)
        folder = f"/assets/images/movies/{slug.replace('-', '_')}"
        text = "" if rng.random() < EMPTY_TEXT_RATE else self._summary(genres)
        runtime = 0 if rng.random() < ZERO_RUNTIME_RATE else int(rng.triangular(72, 175, 96))
        movie: dict[str, Any] = {
            "id": movie_id,
            "url": f"/movies/{slug}",
            "imdb_code": self._imdb_code(),
            "title": title,
            "title_english": title,
            "title_long": f"{title} ({year})",
            "slug": slug,
            "year": year,
            "rating": self._rating(),
            "runtime": runtime,
            "genres": sorted(genres),
            "summary": text,
            "description_full": text,
            "synopsis": text,
            "yt_trailer_code": "" if rng.random() < 0.15 else "".join(rng.choices(TRAILER_ALPHABET, k=11)),
            "language": LANGUAGES.pick(rng),
            "mpa_rating": MPA_RATINGS.pick(rng),
            "background_image": f"{folder}/background.jpg",
            "background_image_original": f"{folder}/background.jpg",
            "small_cover_image": f"{folder}/small-cover.jpg",
            "medium_cover_image": f"{folder}/medium-cover.jpg",
            "large_cover_image": f"{folder}/large-cover.jpg",
            "state": "ok",
            "torrents": self._torrents(uploaded, runtime),
            "date_uploaded": cet_time(uploaded),
            "date_uploaded_unix": uploaded,
            "like_count": min(5000, int(rng.paretovariate(1.2) * 10) - 10),
            "description_intro": text,
            **{
                f"{size}_screenshot_image{i}": f"{folder}/{size}-screenshot{i}.jpg"
                for size in ("medium", "large")
                for i in (1, 2, 3)
            },
            "cast": self._cast(genres[0]),
        }
        if rng.random() < 0.8:  # gone from the API by 2025
            movie["download_count"] = int(rng.expovariate(1 / 40000))
        if rng.random() < NO_GENRES_RATE:
            del movie["genres"]
        if rng.random() < NO_TORRENTS_RATE:
            del movie["torrents"]
        return movie

    def torrent(self, quality: str, kind: str, uploaded: int, runtime: int, repack: bool = False) -> dict[str, Any]:
        rng = self._rng
        torrent_hash = self._hash()
        codec = "x265" if quality in ("1080p.x265", "2160p") else "x264"
        gigabytes = GIGABYTES_PER_100_MIN[quality] * (runtime or 100) / 100 * rng.uniform(0.8, 1.25)
        size, size_bytes = _display_size(gigabytes)
        seeds = 0 if rng.random() < 0.1 else int(rng.expovariate(1 / 30))
        return {
            "url": f"/torrent/download/{torrent_hash}",
            "hash": torrent_hash,
            "quality": quality,
            "type": kind,
            "is_repack": "1" if repack else ("" if rng.random() < 0.05 else "0"),
            "video_codec": codec,
            "bit_depth": "10" if codec == "x265" and rng.random() < 0.7 else "8",
            "audio_channels": "5.1" if quality not in ("480p", "720p") and rng.random() < 0.5 else "2.0",
            "seeds": seeds,
            "peers": int(seeds * rng.random() * 0.5) + int(rng.random() < 0.3),
            "size": size,
            "size_bytes": size_bytes,
            "date_uploaded": cet_time(uploaded),
            "date_uploaded_unix": uploaded,
        }

    def extra_torrent(self, movie: dict[str, Any]) -> dict[str, Any]:
        """A torrent uploaded now for an existing movie (a new quality, or a repack of one it has)."""
        quality = self._rng.choice(tuple(GIGABYTES_PER_100_MIN))
        held = {t.get("quality") for t in movie.get("torrents") or ()}
        return self.torrent(
            quality,
            self._rng.choice(("web", "bluray")),
            self.tick(),
            int(movie.get("runtime") or 0),
            repack=quality in held,
        )

    def _torrents(self, uploaded: int, runtime: int) -> list[dict[str, Any]]:
        rng = self._rng
        qualities = list(QUALITY_PLANS.pick(rng))
        kind = "bluray" if rng.random() < 0.6 else "web"
        torrents = []
        when = uploaded
        for quality in qualities:
            torrents.append(self.torrent(quality, "bluray" if quality == "3D" else kind, when, runtime))
            when += rng.randint(600, 3 * 3600)
        if len(torrents) < 4 and rng.random() < 0.06:  # same quality twice: other source, or a repack
            quality = rng.choice(qualities)
            repack = rng.random() < 0.5
            other = kind if repack else ("web" if kind == "bluray" else "bluray")
            torrents.append(self.torrent(quality, other, when, runtime, repack=repack))
        return torrents

    def _genres(self) -> list[str]:
        rng = self._rng
        primary = PRIMARY_GENRES.pick(rng)
        extra = min(EXTRA_GENRE_COUNTS.pick(rng), len(GENRE_AFFINITY[primary]))
        return [primary, *rng.sample(GENRE_AFFINITY[primary], k=extra)]

    def _title_and_year(self, genre: str) -> tuple[str, int]:
        rng = self._rng
        if self._titles and rng.random() < REMAKE_RATE:
            title = rng.choice(self._titles)
        else:
            for _ in range(10):
                title = self._title(genre)
                if title not in self._title_set:
                    break
        for _ in range(100):
            year = int(rng.triangular(1950, 2026, 2019))
            if slugify(f"{title} {year}") not in self._slugs:
                break
        else:
            title = f"{title} {SEQUELS[0]}"
        self._remember_title(title)
        return title, year

    def _title(self, genre: str) -> str:
        rng = self._rng
        noun, noun2 = rng.sample(GENRE_TEXT[genre].nouns, k=2)
        return TITLE_PATTERNS.pick(rng).format(
            adj=rng.choice(ADJECTIVES),
            noun=noun,
            noun2=noun2,
            of=rng.choice(OF_NOUNS),
            place=rng.choice(PLACES),
            first=rng.choice(FIRST_NAMES),
            sequel=rng.choice(SEQUELS),
        )

    def _remember_title(self, title: str) -> None:
        if title not in self._title_set:
            self._title_set.add(title)
            self._titles.append(title)

    def _summary(self, genres: list[str]) -> str:
        """Three or four sentences from the genres' fragments, about one gendered protagonist."""
        rng = self._rng
        female = rng.random() < 0.5
        text = GENRE_TEXT[genres[0]]
        first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        role = rng.choice(text.roles).split("|")[0 if female else -1]
        opening = f"{first} {rng.choice(LAST_NAMES)}, {role}, {rng.choice(text.events)}"
        sentences = [f"{opening} {rng.choice(text.settings)}.", rng.choice(text.turns)]
        if len(genres) > 1:
            sentences.append(rng.choice(GENRE_TEXT[genres[1]].turns))
        sentences.append(rng.choice(text.stakes))
        return " ".join(sentences).format(name=first, **PRONOUNS[female])

    def _rating(self) -> float | int:
        """One decimal, ``0`` when unknown, and a bare int when integral (``7``, as PHP serves it)."""
        if self._rng.random() < ZERO_RATING_RATE:
            return 0
        rating = round(min(9.6, max(1.0, self._rng.gauss(6.3, 1.1))), 1)
        return int(rating) if rating.is_integer() else rating

    def _cast(self, genre: str) -> list[dict[str, Any]]:
        rng = self._rng
        size = CAST_SIZES.pick(rng)
        cast = []
        for person in rng.sample(self._people, k=min(size, len(self._people))):
            entry: dict[str, Any] = {"name": person.name, "character_name": self._character(genre)}
            if person.has_image:
                entry["url_small_image"] = f"/assets/images/actors/thumb/nm{person.imdb_code}.jpg"
            if person.imdb_code is not None:
                entry["imdb_code"] = person.imdb_code
            cast.append(entry)
        return cast

    def _character(self, genre: str) -> str:
        rng = self._rng
        if genre == "Documentary":
            return "Self"
        roll = rng.random()
        if roll < 0.6:
            return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if roll < 0.85:
            return f"{rng.choice(CHARACTER_TITLES)} {rng.choice(LAST_NAMES)}"
        return rng.choice(BIT_PARTS)

    def _make_people(self, n_people: int) -> list[Person]:
        """A pool of distinct people, so the same actor turns up in several movies."""
        rng = self._rng
        names: set[str] = set()
        codes: set[str] = set()
        people = []
        n_people = min(n_people, len(FIRST_NAMES) * len(LAST_NAMES) // 2)
        while len(people) < n_people:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            code = f"{rng.randint(1, 9_999_999):07d}"
            if name in names or code in codes:
                continue
            names.add(name)
            codes.add(code)
            known = rng.random() >= 0.08
            people.append(Person(name, code if known else None, known and rng.random() < 0.75))
        return people

    def _imdb_code(self) -> str:
        while True:
            code = f"tt{self._rng.randint(35_000, 35_000_000):07d}"
            if code not in self._imdb_codes:
                self._imdb_codes.add(code)
                return code

    def _hash(self) -> str:
        while True:
            torrent_hash = f"{self._rng.getrandbits(160):040X}"
            if torrent_hash not in self._hashes:
                self._hashes.add(torrent_hash)
                return torrent_hash


def _display_size(gigabytes: float) -> tuple[str, int]:
    """The API's size string, and ``size_bytes`` derived from the rounded string as the API does."""
    if gigabytes < 1:
        megabytes = round(gigabytes * 1024, 2)
        return f"{megabytes:.2f} MB", round(megabytes * 1024**2)
    gigabytes = round(gigabytes, 2)
    return f"{gigabytes:.2f} GB", round(gigabytes * 1024**3)
