"""What every signature scheme shares: the request as it was signed, the one error, and the
small checks (headers, timestamps, constant-time digest comparison)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from interlink.elements.definition import WebhookSignature
from interlink.errors import InterlinkError

Reason = Literal["missing", "invalid", "stale"]
Algorithm = Literal["sha256", "sha1", "sha512"]


class SignatureError(InterlinkError):
    """A post whose signature is missing, wrong or too old. The message never holds a secret
    or an expected digest: it is shown to whoever posted."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SignedRequest:
    """An inbound post as its signature covers it. `url` is the hub's public URL of the
    request (HubSpot signs it); header names are kept lower case."""

    body: bytes
    headers: Mapping[str, str] = field(repr=False)
    method: str = "POST"
    url: str = ""

    @classmethod
    def of(
        cls,
        body: bytes,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        method: str = "POST",
        url: str = "",
    ) -> SignedRequest:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls(body, {name.lower(): value for name, value in pairs}, method.upper(), url)

    def header(self, name: str) -> str | None:
        """The header's value without surrounding blanks; `None` when absent or empty."""
        value = self.headers.get(name.lower())
        value = value.strip() if value is not None else None
        return value or None

    def require(self, name: str) -> str:
        value = self.header(name)
        if value is None:
            raise SignatureError("missing", f"the {name} header is missing")
        return value


class Verifier(Protocol):
    """One scheme: returns when `request` is signed with `secret`, else raises SignatureError."""

    def __call__(
        self, secret: str, request: SignedRequest, *, now: float, options: WebhookSignature
    ) -> None: ...


def digest(secret: str | bytes, message: bytes, algorithm: Algorithm = "sha256") -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def require_match(expected: bytes, given: Iterable[bytes | None], scheme: str) -> None:
    """Passes when one of `given` equals `expected`; every comparison in constant time."""
    matched = False
    for candidate in given:
        if candidate is not None and hmac.compare_digest(expected, candidate):
            matched = True
    if not matched:
        raise SignatureError("invalid", f"the {scheme} signature does not match")


def check_age(timestamp: float, *, now: float, tolerance: float, scheme: str) -> None:
    """The signed time must lie within `tolerance` seconds of now, either way: an old one
    is a replay, a future one a clock we cannot trust."""
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            "stale", f"the {scheme} signature's timestamp is outside the {tolerance:g} s tolerance"
        )


def parse_timestamp(value: str, scheme: str) -> int:
    """Whole unix seconds (or milliseconds, as the scheme says) from a header."""
    if not value.isascii() or not value.isdigit():
        raise SignatureError("invalid", f"the {scheme} signature's timestamp is not a number")
    return int(value)


def from_hex(value: str) -> bytes | None:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def from_base64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def key_values(header: str) -> list[tuple[str, str]]:
    """`t=1,v1=ab,v1=cd` as pairs, in order (a key may repeat)."""
    pairs = []
    for part in header.split(","):
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs
