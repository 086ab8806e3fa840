"""The outermost layer: one log line per request, safe headers, and a plain 500 for anything unforeseen.

Logged: client, method, the path and query as sent (percent-encoded, so a crafted URL cannot
forge log lines; cut at 300 characters), status and milliseconds. Never headers or bodies.
"""

from __future__ import annotations

import json
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("yts_pipeline.serve.access")

MAX_LOGGED_TARGET = 300
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
INTERNAL_ERROR = json.dumps({"error": "internal error: the server log has the details", "parameter": None}).encode()


class AccessLog:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # a bug: answer 500 and log one line, the traceback only at debug level
            log.error("unhandled %s on %s: %s", type(exc).__name__, _target(scope), _first_line(exc))
            log.debug("traceback", exc_info=True)
            if status == 0:
                status = 500
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json"), *SECURITY_HEADERS],
                    }
                )
                await send({"type": "http.response.body", "body": INTERNAL_ERROR})
        finally:
            client = scope.get("client") or ("-", 0)
            log.info(
                '%s "%s %s" %d %.1f ms',
                client[0],
                scope["method"],
                _target(scope),
                status,
                (time.perf_counter() - started) * 1000,
            )


def _target(scope: Scope) -> str:
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    text = UNPRINTABLE.sub(lambda m: f"%{ord(m.group()):02X}", target.decode("ascii", "backslashreplace"))
    return text if len(text) <= MAX_LOGGED_TARGET else text[:MAX_LOGGED_TARGET] + "..."


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
