"""Element definitions the webhook tests use besides the built-in sandbox."""

from __future__ import annotations

from typing import Any

from interlink.elements.definition import ElementDefinition
from interlink.elements.loading import validate_definition


def hubspot_like(base_url: str = "{config.base_url}", **webhooks: Any) -> dict[str, Any]:
    """A vendor that posts arrays of id-only events with numeric ids and millisecond times,
    signs them HubSpot's way, and whose records must be fetched."""
    return {
        "key": "acme-crm",
        "name": "Acme CRM",
        "base_url": base_url,
        "config": [
            {"name": "base_url", "type": "url"},
            {"name": "api_key", "secret": True},
            {"name": "webhook_secret", "secret": True},
        ],
        "auth": {"type": "bearer", "token": "{config.api_key}"},
        "webhooks": {
            "signature": {"scheme": "hubspot_v3"},
            "events": {
                "id_path": "eventId",
                "type_path": "subscriptionType",
                "occurred_at_path": "occurredAt",
                "record_path": None,
                "record_id_path": "objectId",
                "objects": {"contact": "contacts"},
                "changes": {
                    "creation": "created",
                    "propertyChange": "updated",
                    "deletion": "deleted",
                },
                "fetch_record": True,
            },
            **webhooks,
        },
        "objects": {
            "contacts": {
                "path": "/api/contacts",
                "updated_field": {"name": "updated_at"},
            }
        },
    }


def element(document: dict[str, Any]) -> ElementDefinition:
    return validate_definition(document)
