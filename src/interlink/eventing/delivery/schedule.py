"""When a failed delivery is tried again: the configured schedule, jitter, `Retry-After`."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A receiver may ask for more time with Retry-After, but not for more than this.
RETRY_AFTER_CAP_SECONDS = 3600.0
# Deliveries failing together (a receiver's outage) must not all come back together.
JITTER = 0.2


def retry_delay(
    delays: Sequence[float],
    failed_attempts: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait after failed attempt number `failed_attempts`; None: no attempt left.

    `delays[n-1]` follows attempt n, spread by ±20%. A `Retry-After` (capped at an hour)
    only ever lengthens the wait: a receiver saying "in 0 s" must not burn the schedule.
    """
    if failed_attempts < 1 or failed_attempts > len(delays):
        return None
    nominal = max(delays[failed_attempts - 1], 0.0)
    spread = (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)
    delay = nominal * spread
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date; None if absent or
    unreadable. A date in the past means now (0)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a bare one is read as UTC
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
