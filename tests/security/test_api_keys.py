"""Organization API keys: generation, hashing, matching and Bearer parsing."""

from __future__ import annotations

import hashlib
import re

import pytest

from interlink.security.api_keys import (
    api_key_matches,
    display_prefix,
    generate_api_key,
    hash_api_key,
    parse_bearer,
)


def test_generated_key_shape() -> None:
    key, prefix, key_hash = generate_api_key()
    assert re.fullmatch(r"il_[A-Za-z0-9_-]{32,}", key)
    assert key.startswith(prefix)
    assert prefix == display_prefix(key)
    assert len(prefix) < len(key) // 2  # the displayed part reveals little of the key
    assert key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", key_hash)


def test_keys_are_unique() -> None:
    keys = {generate_api_key()[0] for _ in range(200)}
    assert len(keys) == 200


def test_hash_is_deterministic_and_matches_in_constant_time() -> None:
    key, _, key_hash = generate_api_key()
    assert hash_api_key(key) == key_hash
    assert api_key_matches(key, key_hash)
    assert not api_key_matches(key + "x", key_hash)
    assert not api_key_matches(key, "")
    assert not api_key_matches(key, "ünïcode")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer il_abc", "il_abc"),
        ("bearer il_abc", "il_abc"),
        ("BEARER il_abc", "il_abc"),
        ("  Bearer   il_abc-_.~+/=  ", "il_abc-_.~+/="),
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Token il_abc", None),
        ("Beareril_abc", None),
        ("Bearer il_abc extra", None),
        ("Bearer il_ab\tc", None),
        ("Bearer ïl_abc", None),
    ],
)
def test_parse_bearer(header: str | None, token: str | None) -> None:
    assert parse_bearer(header) == token
