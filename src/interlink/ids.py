"""Public identifiers: a short type prefix and a random, URL-safe, sortable-enough body."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`prefix_` + 6 bytes of milliseconds + 10 random bytes, base32-ish lower case.

    The time part keeps ids roughly ordered by creation, which keeps B-tree inserts local
    and makes cursor pagination by id match creation order.
    """
    millis = int(time.time() * 1000).to_bytes(6, "big")
    raw = millis + secrets.token_bytes(10)
    return f"{prefix}_{_encode(raw)}"


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, order-preserving


def _encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    digits = []
    for _ in range((len(raw) * 8 + 4) // 5):
        number, rest = divmod(number, 32)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))
