"""Vendor times as marks: compared as instants, stored as the vendor wrote them.

A mark is never the hub's clock. Comparing the strings would be wrong across offsets and
precisions (`…00Z` vs `…00.000+00:00`), so marks are parsed to compare and kept verbatim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from interlink.elements.definition import TimeFormat
from interlink.vendor.times import format_time, parse_time


def vendor_text(value: Any) -> str | None:
    """A vendor time as the string we store (unix times come as numbers too)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    return value if isinstance(value, str) else str(value)


def instant(value: str | None, time_format: TimeFormat) -> datetime | None:
    """The instant a vendor time stands for; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return parse_time(value, time_format)
    except (ValueError, TypeError, OverflowError):
        return None


def later(current: str | None, candidate: str | None, time_format: TimeFormat) -> str | None:
    """The later of two marks. An unreadable candidate never replaces a readable mark."""
    candidate_at = instant(candidate, time_format)
    if candidate_at is None:
        return current
    current_at = instant(current, time_format)
    if current_at is None or candidate_at > current_at:
        return candidate
    return current


def latest(values: list[str | None], time_format: TimeFormat) -> str | None:
    mark: str | None = None
    for value in values:
        mark = later(mark, value, time_format)
    return mark


def is_older(value: str | None, than: str | None, time_format: TimeFormat) -> bool:
    """True only when both are readable and `value` is strictly before `than`."""
    value_at, than_at = instant(value, time_format), instant(than, time_format)
    return value_at is not None and than_at is not None and value_at < than_at


def reach_back(mark: str | None, time_format: TimeFormat, seconds: float) -> datetime | None:
    """The mark moved back by `seconds` (the overlap window): where a listing starts."""
    at = instant(mark, time_format)
    return None if at is None else at - timedelta(seconds=max(seconds, 0.0))


def shifted_mark(
    mark: str | None, from_format: TimeFormat, to_format: TimeFormat, seconds: float
) -> str | None:
    """A mark moved back by `seconds`, written in `to_format` (rounded down: loses nothing)."""
    at = reach_back(mark, from_format, seconds)
    return None if at is None else format_time(at, to_format)
