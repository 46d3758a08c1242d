"""Vendor time formats, rounded down so an inclusive changed-since filter loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from interlink.vendor import format_time, parse_time

MOMENT = datetime(2024, 5, 1, 12, 0, 0, 123_999, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("time_format", "text"),
    [
        ("rfc3339", "2024-05-01T10:00:00.123Z"),
        ("unix", "1714557600"),
        ("unix_ms", "1714557600123"),
    ],
)
def test_format_and_parse(time_format: str, text: str) -> None:
    assert format_time(MOMENT, time_format) == text  # type: ignore[arg-type]
    parsed = parse_time(text, time_format)  # type: ignore[arg-type]
    assert parsed.tzinfo is UTC
    assert MOMENT - timedelta(seconds=1) < parsed <= MOMENT


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_time(datetime(2024, 5, 1), "rfc3339")
    with pytest.raises(ValueError, match="offset"):
        parse_time("2024-05-01T10:00:00", "rfc3339")
