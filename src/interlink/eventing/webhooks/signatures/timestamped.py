"""The `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` header shared by the Sandbox
CRM and Stripe. Several `v1` values may be given (a secret being rolled); any may match."""

from __future__ import annotations

from interlink.eventing.webhooks.signatures.base import (
    SignatureError,
    check_age,
    digest,
    from_hex,
    key_values,
    parse_timestamp,
    require_match,
)


def verify_timestamped(
    secret: str, header: str, body: bytes, *, now: float, tolerance: float, scheme: str
) -> None:
    pairs = key_values(header)
    stamps = [value for key, value in pairs if key == "t"]
    signatures = [value for key, value in pairs if key == "v1"]
    if len(stamps) != 1 or not signatures:
        raise SignatureError("invalid", f"the {scheme} signature header needs one t= and a v1=")
    timestamp = parse_timestamp(stamps[0], scheme)
    check_age(timestamp, now=now, tolerance=tolerance, scheme=scheme)
    expected = digest(secret, stamps[0].encode() + b"." + body)
    require_match(expected, (from_hex(value) for value in signatures), scheme)
