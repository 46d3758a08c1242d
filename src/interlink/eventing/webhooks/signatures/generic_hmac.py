"""A configurable HMAC for vendors with a scheme of their own: the element names the header,
the algorithm, hex or base64, an optional timestamp header and the signed payload
(`{body}`, `{timestamp}`, e.g. `"{timestamp}.{body}"`).

The signature may carry the algorithm as a prefix (`sha256=…`). A timestamp larger than
10¹¹ is taken for milliseconds when measuring its age (vendors use both)."""

from __future__ import annotations

from interlink.elements.definition import WebhookSignature
from interlink.errors import ConfigurationError
from interlink.eventing.webhooks.signatures.base import (
    SignedRequest,
    check_age,
    digest,
    from_base64,
    from_hex,
    parse_timestamp,
    require_match,
)

MILLISECONDS_FROM = 10**11  # in seconds that is the year 5138; in milliseconds, 1973


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    if options.header is None:
        raise ConfigurationError("webhooks.signature.header is needed for scheme hmac")
    signature = request.require(options.header)
    stamp = ""
    if options.timestamp_header is not None:
        stamp = request.require(options.timestamp_header)
        seconds: float = parse_timestamp(stamp, "hmac")
        if seconds >= MILLISECONDS_FROM:
            seconds /= 1000
        check_age(seconds, now=now, tolerance=options.tolerance_seconds, scheme="hmac")
    elif "{timestamp}" in options.signed_payload:
        raise ConfigurationError(
            "webhooks.signature.signed_payload names {timestamp} "
            "but no timestamp_header says where it is"
        )
    prefix = f"{options.algorithm}="
    if signature.lower().startswith(prefix):
        signature = signature[len(prefix) :]
    decode = from_hex if options.encoding == "hex" else from_base64
    message = signed_payload(options.signed_payload, request.body, stamp)
    require_match(digest(secret, message, options.algorithm), [decode(signature)], "hmac")


def signed_payload(template: str, body: bytes, timestamp: str) -> bytes:
    """The template with the raw body bytes spliced in (the body need not be UTF-8)."""
    parts = template.replace("{timestamp}", timestamp).split("{body}")
    return body.join(part.encode() for part in parts)
