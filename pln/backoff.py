"""When to poll a source again: one policy for the batch job and the ingester.

A source that worked is polled again after its interval. After `n` consecutive failures it
waits `interval * 2**n`, at most `MAX_BACKOFF` (a day; longer only when the interval itself is
longer), so a broken source is still retried daily. A server's Retry-After wins when it asks
for longer, but never more than `MAX_RETRY_AFTER`: every input is bounded here, so no header
can overflow date arithmetic or park a source for years.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

MAX_BACKOFF = 86_400.0  # a failing source is retried at least once a day
MAX_RETRY_AFTER = 86_400.0  # the longest a server may make us wait
MAX_DOUBLINGS = 16  # 2**16 intervals is far past MAX_BACKOFF for any sane interval
MAX_INTERVAL = 366 * 86_400.0


def bounded_retry_after(seconds: float | None) -> float | None:
    """A Retry-After in whole seconds (rounded up: an HTTP date leaves fractions) within
    [0, MAX_RETRY_AFTER]; None when absent or not a number."""
    if seconds is None:
        return None
    try:
        seconds = float(seconds)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(seconds):
        return None
    return float(math.ceil(min(max(seconds, 0.0), MAX_RETRY_AFTER)))


def next_poll_delay(interval: float, errors: int = 0, retry_after: float | None = None) -> float:
    """Seconds until the next poll after `errors` consecutive failures (0: the last poll worked)."""
    interval = _bounded_interval(interval)
    if errors <= 0:
        delay = interval
    else:
        doublings = min(int(errors), MAX_DOUBLINGS)
        delay = max(interval, min(interval * 2**doublings, MAX_BACKOFF))
    return max(delay, bounded_retry_after(retry_after) or 0.0)


def _bounded_interval(interval: float) -> float:
    try:
        interval = float(interval)
    except (TypeError, ValueError, OverflowError):
        return MAX_BACKOFF
    if math.isnan(interval) or interval <= 0:
        return 1.0
    return min(interval, MAX_INTERVAL)


def shown_until(until: datetime, now: datetime) -> str:
    """When a source is polled again, for a person: with seconds when that is within the
    hour ("2026-12-04 07:59:40 UTC"), where minutes would show a time already begun."""
    seconds = ":%S" if until - now < timedelta(hours=1) else ""
    return until.strftime(f"%Y-%m-%d %H:%M{seconds} %Z")
