"""Polls asked for through the API: queue them now, and optionally wait for them."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import Conflict
from interlink.eventing.polling.streams import polled_objects
from interlink.eventing.task_names import POLL_TASK, poll_lock
from interlink.hub import Hub
from interlink.runtime import AlreadyQueued
from interlink.storage.models import EventStream, Instance

WAIT_POLL_SECONDS = 0.1


async def request_poll(session: AsyncSession, hub: Hub, instance: Instance) -> list[str]:
    """Queue a poll of every polled object now; a poll already waiting will do."""
    watched = polled_objects(instance)
    streams = await session.scalars(
        select(EventStream).where(
            EventStream.instance_id == instance.id,
            EventStream.object_name.in_(watched),
            EventStream.next_poll_at.is_not(None),
        )
    )
    names = sorted(stream.object_name for stream in streams)
    if not names:
        raise Conflict("events of this instance are not polled (disabled, paused or webhook)")
    for name in names:
        key = poll_lock(instance.id, name)
        with contextlib.suppress(AlreadyQueued):
            await hub.runtime.defer(
                POLL_TASK,
                {"instance_id": instance.id, "object_name": name},
                lock=key,
                queueing_lock=key,
                session=session,
            )
    return names


async def wait_for_polls(
    hub: Hub, instance_id: str, object_names: list[str], since: datetime
) -> None:
    """Return once each object has had a poll that began at or after `since` and ended.

    The polls may run in another process: the database is the only place to watch. The
    caller bounds the wait (`asyncio.timeout`).
    """
    while True:
        if await _polled_since(hub, instance_id, object_names, since):
            return
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def _polled_since(
    hub: Hub, instance_id: str, object_names: list[str], since: datetime
) -> bool:
    async with hub.database.sessions() as session:
        rows = await session.execute(
            select(EventStream.object_name, EventStream.last_poll_at).where(
                EventStream.instance_id == instance_id,
                EventStream.object_name.in_(object_names),
            )
        )
        done = {name for name, last in rows if last is not None and last >= since}
    return done >= set(object_names)
