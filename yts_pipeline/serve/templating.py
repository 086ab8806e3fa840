"""Jinja2 templates (autoescaped), what every page knows (this browser's likes, its own address), and the
headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from yts_pipeline.serve.taste import read_taste

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=PACKAGE / "templates")
STATIC_DIR = PACKAGE / "static"
# Covers load from wherever the mirror says; scripts and styles only from here; no framing.
PAGE_POLICY = (
    "default-src 'self'; img-src * data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("taste", read_taste(request))
    context.setdefault("here", here(request))
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_POLICY
    response.headers["vary"] = "Cookie"  # the like buttons show this browser's likes
    return response


def here(request: Request) -> str:
    """This page's path and query as sent (percent-encoded): where a like button comes back to."""
    query = request.url.query
    return quote(request.url.path) + (f"?{query}" if query else "")
