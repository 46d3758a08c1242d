"""How CEQL compares a record's value with a literal: numbers, instants, strings, booleans."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from interlink.ceql.tree import Value

_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WHOLE_TEXT = re.compile(r"[+-]?\d+")
# RFC 3339 and the ISO 8601 extended forms vendors send: a date, optionally a time,
# optionally a zone (none means UTC). Basic forms like 20240101 are left to be strings.
_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zone_hour>\d{2}):?(?P<zone_minute>\d{2}))?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_TRUTH = {"true": True, "false": False}


def compare(found: Any, literal: Value) -> int | None:
    """-1, 0 or 1 as `found` (from a record, not None) sorts against `literal`; None when
    the two cannot be compared (a word against a number, a list against anything…).

    A number literal compares numerically with numbers and numeric strings; two strings that
    both read as timestamps compare as instants, other strings as strings (case-sensitive);
    a boolean literal compares with booleans and the strings 'true'/'false'.
    """
    if isinstance(literal, bool):
        flag = _boolean(found)
        return None if flag is None else _sign(flag, literal)
    if isinstance(literal, int | float):
        amount = number(found)
        return None if amount is None else _sign(amount, literal)
    if isinstance(found, str | date):
        left, right = instant(found), instant(literal)
        if left is not None and right is not None:
            return _sign(left, right)
        return _sign(found, literal) if isinstance(found, str) else None
    if isinstance(found, int | float) and not isinstance(found, bool):
        amount = number(literal)
        return None if amount is None else _sign(found, amount)
    return None


def number(value: Any) -> int | float | None:
    """A number, or a string that spells one; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value):
        return int(value) if _WHOLE_TEXT.fullmatch(value) else float(value)
    return None


def instant(value: Any) -> Decimal | None:
    """Seconds since the epoch, exactly (nanoseconds and all), or None if not a timestamp."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        elapsed = aware - _EPOCH
        whole = elapsed.days * 86400 + elapsed.seconds
        return Decimal(whole) + Decimal(elapsed.microseconds).scaleb(-6)
    if isinstance(value, date):
        return Decimal((value - _EPOCH.date()).days * 86400)
    # The cheap test keeps the regex off the ordinary strings of a large export.
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        return _parse_instant(value)
    return None


@lru_cache(maxsize=4096)
def _parse_instant(text: str) -> Decimal | None:
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        return None
    parts = found.groupdict()
    try:
        moment = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            tzinfo=UTC,
        )
    except ValueError:  # 2024-02-30, 25:00, a leap second: not an instant we can place
        return None
    seconds = (moment - _EPOCH) // _SECOND
    if parts["sign"]:
        zone_hour, zone_minute = int(parts["zone_hour"]), int(parts["zone_minute"])
        if zone_hour > 23 or zone_minute > 59:
            return None
        offset = zone_hour * 3600 + zone_minute * 60
        seconds -= offset if parts["sign"] == "+" else -offset
    fraction = parts["fraction"]
    return Decimal(seconds) + (Decimal(f"0.{fraction}") if fraction else 0)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _TRUTH.get(value.lower())
    return None


def _sign(left: Any, right: Any) -> int | None:
    # Written out rather than (a > b) - (a < b) so that NaN is incomparable, not equal.
    if left < right:
        return -1
    if left > right:
        return 1
    if left == right:
        return 0
    return None


def is_nan(value: Any) -> bool:
    """A float NaN, which sorts after every other number."""
    return isinstance(value, float) and math.isnan(value)
