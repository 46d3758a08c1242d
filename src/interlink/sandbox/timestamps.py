"""The sandbox's clock and its RFC 3339 timestamps, to the millisecond, in UTC with `Z`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from interlink.sandbox.errors import BadRequest

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_millis(millis: int) -> str:
    """`2024-05-01T12:00:00.123Z` for milliseconds since the epoch.

    The fixed width makes string order equal time order, which the indexes rely on.
    """
    moment = _EPOCH + timedelta(milliseconds=millis)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}."
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str, *, parameter: str) -> str:
    """An RFC 3339 time from a caller, as the canonical string it compares with; 400 if bad.

    Sub-millisecond parts round up: stored times have whole milliseconds, so "at or after
    12:00:00.0005" means "at or after 12:00:00.001".
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"parameter '{parameter}' must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise BadRequest(f"parameter '{parameter}' needs a time zone, such as 'Z'")
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return format_millis(-(-micros // 1000))


class Clock:
    """Milliseconds that never go backwards, even if the wall clock does.

    Pollers keep a high-water mark on `updated_at`; a clock stepping back would hide writes
    from them, which no test wants to chase.
    """

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._last = 0

    def millis(self) -> int:
        """Now, in milliseconds since the epoch, at least the last value given."""
        # Rounded, not truncated: 1714564800.003 s is 1714564800002.9998 ms as a float.
        self._last = max(self._last, round(self._now() * 1000))
        return self._last

    def advance_to(self, millis: int) -> None:
        """Never answer earlier than `millis` again (seeded records may sit up to now)."""
        self._last = max(self._last, millis)

    def timestamp(self) -> str:
        """Now, formatted."""
        return format_millis(self.millis())
