"""Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, the HMAC-SHA256
of `"<t>.<body>"` keyed with the endpoint secret (`whsec_…`, used as it is, not decoded).
Only `v1` counts; `v0` is Stripe's test-mode scheme and is ignored."""

from __future__ import annotations

from interlink.elements.definition import WebhookSignature
from interlink.eventing.webhooks.signatures.base import SignedRequest
from interlink.eventing.webhooks.signatures.timestamped import verify_timestamped

HEADER = "Stripe-Signature"


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    header = request.require(options.header or HEADER)
    verify_timestamped(
        secret,
        header,
        request.body,
        now=now,
        tolerance=options.tolerance_seconds,
        scheme="stripe",
    )
