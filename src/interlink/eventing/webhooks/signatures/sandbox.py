"""The Sandbox CRM: `X-Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""

from __future__ import annotations

from interlink.elements.definition import WebhookSignature
from interlink.eventing.webhooks.signatures.base import SignedRequest
from interlink.eventing.webhooks.signatures.timestamped import verify_timestamped

HEADER = "X-Sandbox-Signature"


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    header = request.require(options.header or HEADER)
    verify_timestamped(
        secret,
        header,
        request.body,
        now=now,
        tolerance=options.tolerance_seconds,
        scheme="sandbox",
    )
