"""Timestamps: canonical format, parsing of callers' times, a clock that never goes back."""

from __future__ import annotations

import pytest

from interlink.sandbox.errors import BadRequest
from interlink.sandbox.timestamps import Clock, format_millis, parse_timestamp

from .helpers import FakeTime


def test_format_has_milliseconds_and_z() -> None:
    assert format_millis(1_714_564_800_123) == "2024-05-01T12:00:00.123Z"
    assert format_millis(0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01T14:00:00.5+02:00", "2024-05-01T12:00:00.500Z"),
        # Stored times are whole milliseconds: "since .0001" starts at the next one.
        ("2024-05-01T12:00:00.0001Z", "2024-05-01T12:00:00.001Z"),
    ],
)
def test_parse_gives_the_canonical_string(text: str, canonical: str) -> None:
    assert parse_timestamp(text, parameter="since") == canonical


@pytest.mark.parametrize("text", ["yesterday", "2024-05-01T12:00:00", ""])
def test_parse_refuses_bad_or_zoneless_times(text: str) -> None:
    with pytest.raises(BadRequest, match="since"):
        parse_timestamp(text, parameter="since")


def test_clock_never_goes_backwards() -> None:
    time = FakeTime()
    clock = Clock(time)
    first = clock.millis()
    time.advance(-5)
    assert clock.millis() == first
    clock.advance_to(first + 10)
    assert clock.millis() == first + 10
