"""The retry policy: which failures are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable

import httpx2

from polar_orders_mcp.polar.errors import READ_METHODS

DEFAULT_MAX_RETRIES = 3
RETRY_STATUSES = frozenset({429, 502, 503, 504})
INITIAL_BACKOFF = 0.5  # seconds before the first retry, doubled each time
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 30.0  # never wait longer than this, whatever Retry-After says
# Reads may be repeated freely; anything else only when it provably never left.
IDEMPOTENT_METHODS = READ_METHODS

# Failures before any byte of the request left this process: safe to retry for every method.
NOT_SENT_ERRORS: tuple[type[httpx2.TransportError], ...] = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
)


def request_was_sent(exc: httpx2.TransportError) -> bool:
    """False only when the request provably never reached the server."""
    return not isinstance(exc, NOT_SENT_ERRORS)


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Jittered exponential backoff for retry number `attempt` (0-based): half fixed, half random."""
    ceiling = min(MAX_BACKOFF, INITIAL_BACKOFF * 2.0**attempt)
    return ceiling / 2 + rand() * ceiling / 2


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)  # a date in the past means "now"


def retry_delay(attempt: int, retry_after: float | None, rand: Callable[[], float] = random.random) -> float:
    """How long to sleep before retry `attempt`: Polar's Retry-After if given (capped), else backoff."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    return backoff(attempt, rand)
