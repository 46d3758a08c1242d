"""Times as vendors write them: RFC 3339, unix seconds or unix milliseconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from interlink.elements.definition import TimeFormat


def format_time(moment: datetime, time_format: TimeFormat) -> str:
    """`moment` for a query parameter, rounded down so an inclusive filter loses nothing."""
    if moment.tzinfo is None:
        # A naive time is ambiguous by hours; guessing would skip or repeat changes.
        raise ValueError("vendor times must be timezone-aware")
    moment = moment.astimezone(UTC)
    if time_format == "unix":
        return str(math.floor(moment.timestamp()))
    if time_format == "unix_ms":
        return str(math.floor(moment.timestamp() * 1000))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | int | float, time_format: TimeFormat) -> datetime:
    """A vendor's time field as an aware UTC datetime; `ValueError` when it is not one."""
    if time_format == "unix":
        return datetime.fromtimestamp(float(value), UTC)
    if time_format == "unix_ms":
        return datetime.fromtimestamp(float(value) / 1000, UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("an RFC 3339 time needs an offset")
    return parsed.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """`moment` in RFC 3339 UTC (`…Z`): milliseconds, or microseconds where it has them."""
    moment = moment.astimezone(UTC)
    timespec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")
