"""HubSpot v3: `X-HubSpot-Signature-v3: <base64 HMAC-SHA256>` over method + URI + body +
timestamp, keyed with the app's client secret; `X-HubSpot-Request-Timestamp` is in unix
milliseconds. The URI is the full public URL HubSpot posted to, with its URL-encoded
characters decoded (as HubSpot's guide says), never the Host header of the request."""

from __future__ import annotations

from urllib.parse import unquote

from interlink.elements.definition import WebhookSignature
from interlink.eventing.webhooks.signatures.base import (
    SignedRequest,
    check_age,
    digest,
    from_base64,
    parse_timestamp,
    require_match,
)

HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    signature = request.require(options.header or HEADER)
    stamp = request.require(options.timestamp_header or TIMESTAMP_HEADER)
    millis = parse_timestamp(stamp, "hubspot_v3")
    check_age(millis / 1000, now=now, tolerance=options.tolerance_seconds, scheme="hubspot_v3")
    message = f"{request.method}{unquote(request.url)}".encode() + request.body + stamp.encode()
    require_match(digest(secret, message), [from_base64(signature)], "hubspot_v3")
