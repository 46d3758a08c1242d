"""Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (unix seconds)
and `webhook-signature` (space-separated `v1,<base64>`), the HMAC-SHA256 of
`"<id>.<timestamp>.<body>"` keyed with the base64 of a `whsec_…` secret.

The `standardwebhooks` package computes the signature; the headers and the timestamp are
checked here, against our clock and the element's tolerance (the package's own `verify`
reads the wall clock with a fixed five minutes)."""

from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from interlink.elements.definition import WebhookSignature
from interlink.errors import ConfigurationError
from interlink.eventing.webhooks.signatures.base import (
    SignatureError,
    SignedRequest,
    check_age,
    from_base64,
    parse_timestamp,
    require_match,
)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def verify(secret: str, request: SignedRequest, *, now: float, options: WebhookSignature) -> None:
    message_id = request.require(ID_HEADER)
    stamp = request.require(options.timestamp_header or TIMESTAMP_HEADER)
    signatures = request.require(options.header or SIGNATURE_HEADER)
    timestamp = parse_timestamp(stamp, "standard_webhooks")
    check_age(timestamp, now=now, tolerance=options.tolerance_seconds, scheme="standard_webhooks")
    try:
        text = request.body.decode()
    except UnicodeDecodeError:
        raise SignatureError("invalid", "the body is not UTF-8 text") from None
    try:
        webhook = Webhook(secret)
    except (ValueError, RuntimeError, EmptyWebhookSecretError) as exc:  # binascii.Error too
        raise ConfigurationError("the webhook secret is not a Standard Webhooks secret") from exc
    signed = webhook.sign(message_id, datetime.fromtimestamp(timestamp, UTC), text)
    expected = from_base64(signed.split(",", 1)[1])
    assert expected is not None  # the package's own encoding
    given = []
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1":
            given.append(from_base64(value))
    require_match(expected, given, "standard_webhooks")
