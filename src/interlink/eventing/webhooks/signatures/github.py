"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. GitHub signs no
timestamp, so there is no tolerance; replays are caught by the delivery id instead."""

from __future__ import annotations

from interlink.elements.definition import WebhookSignature
from interlink.eventing.webhooks.signatures.base import (
    SignatureError,
    SignedRequest,
    digest,
    from_hex,
    require_match,
)

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    header = request.require(options.header or HEADER)
    if not header.startswith(PREFIX):
        raise SignatureError("invalid", f"the github signature must start with {PREFIX!r}")
    require_match(digest(secret, request.body), [from_hex(header[len(PREFIX) :])], "github")
