"""Storing events: sequence numbers, the events, and the deliveries they imply, in the
caller's transaction, so a crash can lose none of them and duplicate none."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing.cloudevents import encoded_batches
from interlink.eventing.task_names import DELIVER_TASK, deliver_lock
from interlink.ids import new_id
from interlink.runtime import AlreadyQueued, JobRuntime
from interlink.storage.models import Delivery, Event, Instance

Change = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class NewEvent:
    object_name: str
    record_id: str
    change: Change
    record: dict[str, Any] | None
    vendor_time: str | None
    source: Literal["poll", "webhook"]
    vendor_event_id: str | None = None


async def record_events(
    session: AsyncSession,
    instance: Instance,
    new_events: Sequence[NewEvent],
    runtime: JobRuntime,
) -> list[Event]:
    """Store the events in order with the next sequence numbers, and queue their delivery."""
    if not new_events:
        return []
    reserved = await session.execute(
        update(Instance)
        .where(Instance.id == instance.id)
        .values(event_sequence=Instance.event_sequence + len(new_events))
        .returning(Instance.event_sequence)
    )
    first = reserved.scalar_one() - len(new_events) + 1
    events = [
        Event(
            id=new_id("evt"),
            organization_id=instance.organization_id,
            instance_id=instance.id,
            sequence=first + offset,
            object_name=new.object_name,
            record_id=new.record_id,
            change=new.change,
            record=None if new.change == "deleted" else new.record,
            vendor_time=new.vendor_time,
            source=new.source,
            vendor_event_id=new.vendor_event_id,
        )
        for offset, new in enumerate(new_events)
    ]
    session.add_all(events)
    await session.flush()
    await queue_deliveries(session, instance, events, runtime)
    return events


async def queue_deliveries(
    session: AsyncSession,
    instance: Instance,
    events: list[Event],
    runtime: JobRuntime,
    *,
    reason: str | None = None,
) -> list[Delivery]:
    """Deliveries for the instance's callback URL, in batches, and the job that sends them.

    Each delivery keeps its body, the batch `encode_batch` gives for its events, encoded
    here once: every attempt posts those bytes and none reads the events again.
    """
    if not instance.events.get("callback_url") or not events:
        return []
    deliveries = [
        Delivery(
            id=new_id("msg"),
            organization_id=instance.organization_id,
            instance_id=instance.id,
            status="pending",
            event_ids=[event.id for event in batch.events],
            first_sequence=batch.events[0].sequence,
            last_sequence=batch.events[-1].sequence,
            payload=batch.body,
            reason=reason,
        )
        for batch in encoded_batches(events, instance.element_key)
    ]
    session.add_all(deliveries)
    await session.flush()
    await wake_delivery(session, instance.id, runtime)
    return deliveries


async def wake_delivery(
    session: AsyncSession | None, instance_id: str, runtime: JobRuntime
) -> None:
    """Make sure a delivery job will run for the instance (one waiting is enough)."""
    with contextlib.suppress(AlreadyQueued):
        await runtime.defer(
            DELIVER_TASK,
            {"instance_id": instance_id},
            lock=deliver_lock(instance_id),
            queueing_lock=deliver_lock(instance_id),
            session=session,
        )
