"""What a visitor liked and disliked, kept in their browser: two cookies the server reads and rewrites.

No account and nothing stored server-side: the page stays server-rendered and works without
JavaScript (forms post, the server answers with the new cookies and a redirect back). Each cookie
holds at most ``MAX_KEPT`` YTS ids, the newest last; a value that does not parse is ignored, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from yts_pipeline.serve.params import MAX_LIKED, MAX_YTS_ID

LIKED_COOKIE = "yts_liked"
DISLIKED_COOKIE = "yts_disliked"
MAX_KEPT = MAX_LIKED  # as many as /api/recommend takes: about 1 KB of cookie at most
KEPT_FOR_SECONDS = 365 * 24 * 3600
Choice = Literal["like", "dislike", "forget"]


@dataclass(frozen=True)
class Taste:
    liked: tuple[int, ...] = field(default=())
    disliked: tuple[int, ...] = field(default=())

    def opinion(self, external_id: int) -> str | None:
        """``"liked"``, ``"disliked"`` or None, for a card's buttons."""
        if external_id in self.liked:
            return "liked"
        return "disliked" if external_id in self.disliked else None

    def choose(self, choice: Choice, external_id: int) -> Taste:
        """The taste after a button press: a movie is on one side at most, the newest choice last."""
        liked = tuple(i for i in self.liked if i != external_id)
        disliked = tuple(i for i in self.disliked if i != external_id)
        if choice == "like":
            liked = (*liked, external_id)[-MAX_KEPT:]
        elif choice == "dislike":
            disliked = (*disliked, external_id)[-MAX_KEPT:]
        return Taste(liked, disliked)


def read_taste(request: Request) -> Taste:
    liked = _ids(request.cookies.get(LIKED_COOKIE, ""))
    disliked = tuple(i for i in _ids(request.cookies.get(DISLIKED_COOKIE, "")) if i not in liked)
    return Taste(liked, disliked)


def write_taste(response: Response, taste: Taste) -> None:
    for name, ids in ((LIKED_COOKIE, taste.liked), (DISLIKED_COOKIE, taste.disliked)):
        if ids:
            response.set_cookie(
                name, ".".join(map(str, ids)), max_age=KEPT_FOR_SECONDS, path="/", httponly=True, samesite="lax"
            )
        else:
            response.delete_cookie(name, path="/", httponly=True, samesite="lax")


def _ids(value: str) -> tuple[int, ...]:
    """The YTS ids in a cookie value (``12.345.6``), deduplicated, the newest ``MAX_KEPT``; the rest dropped."""
    ids: dict[int, None] = {}
    for part in value[:4096].split("."):
        if part.isascii() and part.isdigit() and len(part) <= 19 and 1 <= int(part) <= MAX_YTS_ID:
            ids.pop(int(part), None)
            ids[int(part)] = None
    return tuple(ids)[-MAX_KEPT:]
