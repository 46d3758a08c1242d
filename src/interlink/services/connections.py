"""Talking to an instance's vendor: a client with its credentials, and its auth state.

Every real call tells us whether the credentials work, so the instance's `auth` status
is kept from them as well as from explicit checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import update

from interlink.elements.definition import ElementDefinition
from interlink.hub import Hub
from interlink.services.token_keeper import InstanceTokenKeeper
from interlink.storage.models import Instance
from interlink.storage.types import utcnow
from interlink.vendor import VendorAuthError, VendorClient

MAX_AUTH_MESSAGE = 500


@asynccontextmanager
async def vendor_client(
    hub: Hub, instance: Instance, element: ElementDefinition
) -> AsyncIterator[VendorClient]:
    """A client for the instance; auth failures and successes land in its status."""
    config = {**instance.config, **hub.secrets.decrypt_json(instance.credentials)}

    client = VendorClient(
        element,
        config,
        transport=hub.vendor_transport(),
        limiters=hub.limiters,
        token_keeper=InstanceTokenKeeper(hub, instance.id),
        timeout=hub.settings.vendor_timeout_seconds,
    )
    async with client:
        try:
            yield client
        except VendorAuthError as exc:
            await record_auth(hub, instance, ok=False, message=exc.vendor_message or str(exc))
            raise
    if instance.auth_state != "ok":
        await record_auth(hub, instance, ok=True, message=None)


async def record_auth(hub: Hub, instance: Instance, *, ok: bool, message: str | None) -> None:
    state = "ok" if ok else "failed"
    now = utcnow()
    async with hub.database.transaction() as session:
        await session.execute(
            update(Instance)
            .where(Instance.id == instance.id)
            .values(
                auth_state=state,
                auth_message=(message or "")[:MAX_AUTH_MESSAGE] or None,
                auth_checked_at=now,
            )
        )
    instance.auth_state, instance.auth_message, instance.auth_checked_at = state, message, now
