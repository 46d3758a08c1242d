"""How a vendor signs and shapes its webhooks, and how Interlink registers them."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from interlink.elements.format.base import (
    Change,
    Strict,
)
from interlink.elements.format.objects import (
    CollectionRequest,
    WebhookRequest,
)

# --- webhooks ---------------------------------------------------------------------------


class WebhookSignature(Strict):
    scheme: Literal[
        "sandbox", "standard_webhooks", "stripe", "github", "shopify", "hubspot_v3", "hmac"
    ]
    header: str | None = None
    tolerance_seconds: int = 300
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    signed_payload: str = Field(
        default="{body}", description="for scheme hmac: {timestamp}, {body}"
    )
    timestamp_header: str | None = None


class WebhookEvents(Strict):
    """Where the parts of a vendor's event sit in its payload (dotted paths)."""

    id_path: str = "id"
    type_path: str = "type"
    occurred_at_path: str | None = None
    record_path: str | None = "object"
    record_id_path: str = "object.id"
    objects: dict[str, str] = Field(description="vendor type prefix → object name")
    changes: dict[str, Change] = Field(description="vendor type suffix → change")
    type_separator: str = "."
    fetch_record: bool = False


class WebhookRegistration(Strict):
    create: CollectionRequest
    url_key: str = "url"
    secret_key: str | None = "secret"
    id_path: str = "id"
    delete: WebhookRequest = Field(description="path holds {webhook_id}")


class Webhooks(Strict):
    signature: WebhookSignature
    events: WebhookEvents
    registration: WebhookRegistration | None = None
