"""Organization API keys: generated once, stored only as a hash, read from Bearer headers."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

API_KEY_PREFIX = "il_"
_RANDOM_BYTES = 32  # 256 bits: 43 url-safe characters
_DISPLAY_CHARS = 8  # 48 of the 256 bits: enough to tell keys apart, useless to guess one
# RFC 6750 b64token: what a Bearer credential may contain.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def generate_api_key() -> tuple[str, str, str]:
    """(the full key, shown once; its display prefix; its SHA-256 hex hash, stored)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return key, display_prefix(key), hash_api_key(key)


def display_prefix(key: str) -> str:
    """The start of a key, safe to list so its owner can recognise it."""
    return key[: len(API_KEY_PREFIX) + _DISPLAY_CHARS]


def hash_api_key(key: str) -> str:
    # A plain SHA-256 is the right hash here, unlike for passwords: a key holds 256 random
    # bits, so nobody can guess it from a leaked hash, and a slow KDF (bcrypt, argon2)
    # would only add cost to every authenticated request. Being unsalted and deterministic,
    # the hash can also be the indexed lookup column.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_matches(key: str, stored_hash: str) -> bool:
    """Whether `key` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_api_key(key).encode(), stored_hash.encode())


def parse_bearer(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None if there is none."""
    if header_value is None:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _BEARER_TOKEN.fullmatch(token):
        return None
    return token
