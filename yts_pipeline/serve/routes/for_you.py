"""The "For you" page: recommendations from what this browser liked and disliked, and the buttons' forms.

The like, dislike and forget buttons are plain forms: they post here, the answer rewrites the
cookies (``taste.py``) and redirects back to the page they were on, so they work without JavaScript.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from yts_pipeline.search import SearchError, recommend
from yts_pipeline.serve import movie_reads
from yts_pipeline.serve.deps import Database
from yts_pipeline.serve.errors import ParameterError, ServeError, from_search_error
from yts_pipeline.serve.params import MAX_YTS_ID
from yts_pipeline.serve.taste import MAX_KEPT, Taste, read_taste, write_taste
from yts_pipeline.serve.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RECOMMENDED = 24
MAX_FORM_BYTES = 4096
# A path on this site (with query and fragment): no scheme, no host, no "//" or "\" a browser reads as a host.
LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%#]{0,1999}")


@router.get("/for-you")
def for_you_page(request: Request, db: Database) -> HTMLResponse:
    """The recommendations for this browser's likes (with their reasons), and the likes to see and clear."""
    taste = read_taste(request)
    with db.get_session() as session:
        known = movie_reads.listed(session, [*taste.liked, *taste.disliked])
    liked = [known[i] for i in reversed(taste.liked) if i in known]  # newest first; removed movies dropped
    disliked = [known[i] for i in reversed(taste.disliked) if i in known]
    results, note = [], None
    if liked:
        try:
            found = recommend(db, [m.external_id for m in liked], [m.external_id for m in disliked], k=RECOMMENDED)
        except SearchError as exc:  # a liked movie not embedded yet, or an empty index: the page still shows
            note = from_search_error(exc, "liked").message
        else:
            with db.get_session() as session:
                results = movie_reads.ranked(found, movie_reads.listed(session, [r.external_id for r in found]))
    return render(
        request,
        "for_you.html",
        title="For you",
        liked=liked,
        disliked=disliked,
        results=results,
        note=note,
        max_kept=MAX_KEPT,
    )


@router.post("/for-you/{choice}")
async def choose(request: Request, choice: Literal["like", "dislike", "forget", "clear"]) -> RedirectResponse:
    """Like, dislike or forget the movie ``yts_id`` (or clear everything), then go ``back``."""
    _refuse_other_sites(request)
    form = await _form(request)
    if choice == "clear":
        taste = Taste()
    else:
        taste = read_taste(request).choose(choice, _yts_id(form.get("yts_id", "")))
    response = RedirectResponse(_local_path(form.get("back", "")), status_code=303)
    write_taste(response, taste)
    return response


def _refuse_other_sites(request: Request) -> None:
    """A form on another site must not rewrite this one's likes (the pages send no Referer, so the browser's
    ``Sec-Fetch-Site`` says where a post comes from)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise ServeError(403, "a form on another site cannot change your likes here")


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ServeError(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _yts_id(value: str) -> int:
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_YTS_ID):
        raise ParameterError("yts_id", f"yts_id: {value[:40]!r} is not a YTS id")
    return int(value)


def _local_path(value: str) -> str:
    """Where to go back to: the page the button was on when it is a path on this site, else /for-you."""
    return value if LOCAL_PATH.fullmatch(value) else "/for-you"
