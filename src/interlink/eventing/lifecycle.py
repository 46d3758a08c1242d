"""What eventing does when an instance is created, changed or deleted — in the same
transaction as the change, so the instance and its jobs commit together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing.polling.streams import sync_streams
from interlink.eventing.recorder import wake_delivery
from interlink.eventing.webhooks.registration import schedule_registration, schedule_removal
from interlink.hub import Hub
from interlink.storage.models import Instance


async def instance_created(session: AsyncSession, hub: Hub, instance: Instance) -> None:
    await sync_streams(session, hub, instance)
    await schedule_registration(session, hub, instance)


async def instance_updated(
    session: AsyncSession, hub: Hub, instance: Instance, *, delivery_reenabled: bool
) -> None:
    await sync_streams(session, hub, instance)
    await schedule_registration(session, hub, instance)
    if delivery_reenabled:
        await wake_delivery(session, instance.id, hub.runtime)


async def instance_deleted(session: AsyncSession, hub: Hub, instance: Instance) -> None:
    await sync_streams(session, hub, instance)
    await schedule_removal(session, hub, instance)
