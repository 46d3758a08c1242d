"""How a vendor signs and shapes its webhooks, and how Interlink registers them."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from interlink.elements.format.base import (
    Change,
    Strict,
    invalid,
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


class EventRecord(Strict):
    """Where one object's events hold its record and the record's id (dotted paths)."""

    record_path: str | None
    record_id_path: str


class WebhookEvents(Strict):
    """Where the parts of a vendor's event sit in its payload (dotted paths), or in the
    post's headers for vendors that put the event's id and type there (Shopify)."""

    id_path: str = "id"
    type_path: str = "type"
    id_header: str | None = Field(
        default=None,
        description=(
            "the header holding the event id (e.g. X-Shopify-Webhook-Id), for vendors that "
            "send it there rather than in the body; replaces id_path, and the post is one "
            "event"
        ),
    )
    type_header: str | None = Field(
        default=None,
        description=(
            "the header holding the event type (e.g. X-Shopify-Topic: customers/update); "
            "replaces type_path, and the post is one event"
        ),
    )
    occurred_at_path: str | None = None
    record_path: str | None = Field(
        default="object", description="where the record sits; '' for the whole body"
    )
    record_id_path: str = "object.id"
    objects: dict[str, str] = Field(description="vendor type prefix → object name")
    changes: dict[str, Change] = Field(description="vendor type suffix → change")
    type_separator: str = "."
    fetch_record: bool = False
    action_path: str | None = Field(
        default=None,
        description=(
            "with type_header: where the body holds the event's action, which ends the "
            "type after type_separator (GitHub: X-GitHub-Event 'issues' and action "
            "'opened' make 'issues.opened')"
        ),
    )
    per_object: dict[str, EventRecord] = Field(
        default_factory=dict,
        description=(
            "object name → where its events hold the record and its id, for vendors whose "
            "objects' events differ (GitHub: issue, pull_request); objects not named here "
            "use record_path and record_id_path"
        ),
    )

    @model_validator(mode="after")
    def _action_follows_a_type_header(self) -> WebhookEvents:
        if self.action_path is not None and self.type_header is None:
            raise invalid(
                ("action_path",),
                "action_path completes the type read from type_header: give type_header",
                self.action_path,
            )
        return self

    def record_path_of(self, object_name: str) -> str | None:
        place = self.per_object.get(object_name)
        return self.record_path if place is None else place.record_path

    def record_id_path_of(self, object_name: str) -> str:
        place = self.per_object.get(object_name)
        return self.record_id_path if place is None else place.record_id_path


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
