"""Webhook signature schemes, found by the name an element gives in `webhooks.signature`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType

from interlink.elements.definition import WebhookSignature
from interlink.eventing.webhooks.signatures import (
    generic_hmac,
    github,
    hubspot_v3,
    sandbox,
    shopify,
    standard_webhooks,
    stripe,
)
from interlink.eventing.webhooks.signatures.base import SignatureError, SignedRequest, Verifier

SCHEMES: Mapping[str, Verifier] = MappingProxyType(
    {
        "sandbox": sandbox.verify,
        "standard_webhooks": standard_webhooks.verify,
        "stripe": stripe.verify,
        "github": github.verify,
        "shopify": shopify.verify,
        "hubspot_v3": hubspot_v3.verify,
        "hmac": generic_hmac.verify,
    }
)


# Schemes that sign no time: their posts cannot go stale, and replays are caught by the
# vendor's event id instead.
UNTIMED_SCHEMES = frozenset({"github", "shopify"})


def signs_time(options: WebhookSignature) -> bool:
    """Whether the scheme signs a timestamp, so an old signature is refused as stale."""
    if options.scheme == "hmac":
        return options.timestamp_header is not None
    return options.scheme not in UNTIMED_SCHEMES


def verify_signature(
    options: WebhookSignature, secret: str, request: SignedRequest, *, now: float | None = None
) -> None:
    """Returns when `request` is signed with `secret` as the element's scheme says; raises
    `SignatureError` (missing, invalid or stale) otherwise."""
    SCHEMES[options.scheme](
        secret, request, now=time.time() if now is None else now, options=options
    )


__all__ = [
    "SCHEMES",
    "UNTIMED_SCHEMES",
    "SignatureError",
    "SignedRequest",
    "Verifier",
    "signs_time",
    "verify_signature",
]
