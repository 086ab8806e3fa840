"""What went wrong with one HTTP exchange, and whether to retry, change host, or give up.

The client's retry loop only looks at ``Failure.action``; every rule about which statuses,
network errors and parse errors are transient lives here.
"""

from __future__ import annotations

import enum
import random
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from yts_pipeline.yts.parsing import ApiResponseError, ForeignShapeError

MAX_RETRY_AFTER_SECONDS = 300.0  # a server asking for more is waited on this long, then retried
_USERINFO = re.compile(r"://[^/@\s]*@")


class Action(enum.Enum):
    RETRY = "retry"  # transient: back off, then ask the same host again
    NEXT_HOST = "next host"  # host unreachable now: try the next one, this one again next round
    REJECT_HOST = "reject host"  # host is not the YTS API (copycat, parked, TLS): skip it for this call
    GIVE_UP = "give up"  # the API itself said no, or the answer cannot be parsed: retrying won't help


class Failure(Exception):
    """One failed exchange: a cause safe to log, a short summary for people, what to do next, the raw body."""

    def __init__(
        self,
        cause: str,
        action: Action,
        *,
        retry_after: float | None = None,
        raw: str | None = None,
        summary: str | None = None,
    ):
        super().__init__(cause)
        self.cause = cause
        self.summary = summary or cause
        self.action = action
        self.retry_after = retry_after
        self.raw = raw


def redact(text: str) -> str:
    """Drop ``user:password@`` from any URL in ``text`` (proxy URLs carry credentials)."""
    return _USERINFO.sub("://***@", text)


def from_status(response: requests.Response) -> Failure | None:
    """429 and 5xx (Cloudflare 52x included) are throttling or outages: retry, honouring Retry-After."""
    status = response.status_code
    if status != 429 and not 500 <= status <= 599:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cause = f"HTTP {status}" + (f" (Retry-After {retry_after:g}s)" if retry_after is not None else "")
    return Failure(cause, Action.RETRY, retry_after=retry_after, raw=response.text)


def from_parse_error(exc: ApiResponseError, status: int) -> Failure:
    """Map a parsing verdict to an action; a non-JSON 4xx page means a host that is not the API."""
    message = str(exc).removeprefix(f"{exc.endpoint} ({exc.where}): ")  # the caller names the call
    cause = f"HTTP {status}, {exc.__class__.__name__}: {message}"
    if isinstance(exc, ForeignShapeError) or (status >= 400 and exc.retryable):
        return Failure(cause, Action.REJECT_HOST, raw=exc.raw)
    return Failure(cause, Action.RETRY if exc.retryable else Action.GIVE_UP, raw=exc.raw)


def network_summary(exc: requests.RequestException, reason: object) -> str:
    """A few words a person understands for a network failure: DNS, refused, timeout, TLS, proxy."""
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy failed (check HTTPS_PROXY)"
    if isinstance(reason, NameResolutionError):
        return "DNS lookup failed (no network, or the host name is gone)"
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(reason, NewConnectionError):
        return "connection refused" if "refused" in str(reason).lower() else "cannot connect"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed (a proxy or a host that is not the YTS API?)"
    if isinstance(exc, requests.Timeout):
        return "no answer in time (read timeout)"
    return "connection broken"


def from_request_exception(exc: requests.RequestException) -> Failure:
    """Network trouble: refused or unresolvable hosts are skipped, broken exchanges retried."""
    reason = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    cause = redact(f"{exc.__class__.__name__}: {reason}")
    summary = network_summary(exc, reason)
    if isinstance(exc, requests.exceptions.ProxyError):
        return Failure(cause, Action.RETRY, summary=summary)  # the proxy, not the host, is in trouble
    if isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError):
        return Failure(cause, Action.NEXT_HOST, summary=summary)
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure(cause, Action.REJECT_HOST, summary=summary)
    if isinstance(
        exc,
        (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ),
    ):
        return Failure(cause, Action.RETRY, summary=summary)
    return Failure(cause, Action.GIVE_UP, summary=summary)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date), capped; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def backoff_seconds(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(retry-1))]``."""
    return rng.uniform(0.0, min(cap, base * 2 ** (retry - 1)))
