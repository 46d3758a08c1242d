"""Cursors: opaque, round-tripping, and refused when garbled or from another order."""

from __future__ import annotations

import pytest

from interlink.sandbox.cursors import BY_ID, BY_UPDATED, decode_cursor, encode_cursor
from interlink.sandbox.errors import BadRequest


def test_round_trip() -> None:
    key = ("2024-05-01T12:00:00.000Z", "ct_000000000042")
    cursor = encode_cursor(BY_UPDATED, key)
    assert "ct_" not in cursor  # opaque to the client
    assert decode_cursor(cursor, BY_UPDATED, 2) == key


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", encode_cursor(BY_ID, ("a", "b"))])
def test_garbled_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequest, match="invalid cursor"):
        decode_cursor(cursor, BY_ID, 1)


def test_cursor_of_another_order_is_refused() -> None:
    with pytest.raises(BadRequest, match="another order"):
        decode_cursor(encode_cursor(BY_ID, ("ct_1",)), BY_UPDATED, 1)
