"""Jinja2 templates (autoescaped) and the headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=PACKAGE / "templates")
STATIC_DIR = PACKAGE / "static"
# Covers load from wherever the mirror says; scripts and styles only from here; no framing.
PAGE_POLICY = ("default-src 'self'; img-src * data:; style-src 'self'; script-src 'self'; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_POLICY
    return response
