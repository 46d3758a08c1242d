"""Where an instance keeps its webhook secrets: in its encrypted credentials.

`webhook_secret` verifies the vendor's posts. Where the element registers webhooks itself,
Interlink generates it; otherwise the user supplies it as the element's config field named
`webhook_secret` (declared `secret: true`), which lands in the same place. `webhook_id`
is the vendor's id of the subscription Interlink registered.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from interlink.elements.definition import ElementDefinition
from interlink.hub import Hub
from interlink.storage.models import Instance

WEBHOOK_SECRET = "webhook_secret"
WEBHOOK_ID = "webhook_id"
SECRET_BYTES = 32


def new_webhook_secret(element: ElementDefinition) -> str:
    """32 random bytes: url-safe text, or a `whsec_…` secret where the element's scheme is
    Standard Webhooks (whose secrets are base64 by definition)."""
    raw = secrets.token_bytes(SECRET_BYTES)
    hooks = element.webhooks
    if hooks is not None and hooks.signature.scheme == "standard_webhooks":
        return "whsec_" + base64.b64encode(raw).decode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_credentials(hub: Hub, instance: Instance) -> dict[str, Any]:
    return hub.secrets.decrypt_json(instance.credentials)


def webhook_secret(hub: Hub, instance: Instance) -> str | None:
    value = read_credentials(hub, instance).get(WEBHOOK_SECRET)
    return value if isinstance(value, str) and value else None


def update_credentials(hub: Hub, instance: Instance, **changes: Any) -> None:
    """Set (or, with `None`, forget) keys of the instance's credentials, re-encrypted."""
    stored = read_credentials(hub, instance)
    for key, value in changes.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    instance.credentials = hub.secrets.encrypt_json(stored)
