"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed with the app's
client secret. No timestamp is signed; the event id catches replays."""

from __future__ import annotations

from interlink.elements.definition import WebhookSignature
from interlink.eventing.webhooks.signatures.base import (
    SignedRequest,
    digest,
    from_base64,
    require_match,
)

HEADER = "X-Shopify-Hmac-Sha256"


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    header = request.require(options.header or HEADER)
    require_match(digest(secret, request.body), [from_base64(header)], "shopify")
