"""Opaque page cursors: the sort key of the last record served, tagged with its order."""

from __future__ import annotations

import base64

import orjson

from interlink.sandbox.errors import BadRequest

# Each order of a listing has its own tag, so a cursor cannot be replayed in another order.
BY_ID = "i"
BY_UPDATED = "u"
BY_DELETED = "d"


def encode_cursor(order: str, key: tuple[str, ...]) -> str:
    """A URL-safe string holding the order and the key to continue after."""
    raw = orjson.dumps([order, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, order: str, size: int) -> tuple[str, ...]:
    """The key inside `cursor`; 400 if it is garbled or belongs to another order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = orjson.loads(raw)
    except ValueError:  # bad base64 (binascii.Error) and bad JSON are both ValueErrors
        raise BadRequest("invalid cursor") from None
    if (
        not isinstance(parts, list)
        or len(parts) != size + 1
        or not all(isinstance(part, str) for part in parts)
    ):
        raise BadRequest("invalid cursor")
    if parts[0] != order:
        raise BadRequest("this cursor belongs to a listing in another order")
    return tuple(parts[1:])
