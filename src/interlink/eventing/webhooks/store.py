"""Storing the events of one vendor post in one transaction: vendor event ids already stored
are dropped, fingerprints are updated (so a reconciliation poll does not emit the same
change again), then the events are recorded with their deliveries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.definition import ElementDefinition, TimeFormat
from interlink.eventing.fingerprints import content_hash, lookup, remember
from interlink.eventing.marks import is_older
from interlink.eventing.recorder import record_events
from interlink.eventing.webhooks.normalize import VendorEvent, to_new_event, vendor_updated
from interlink.hub import Hub
from interlink.storage.models import Event, Instance

LOOKUP_CHUNK = 500  # SQLite caps bound parameters
# A concurrent post of the same vendor event can win the race to the unique index; the
# transaction is then run again, and finds it stored.
ATTEMPTS = 3


@dataclass(frozen=True)
class Stored:
    received: int
    duplicates: int


class InstanceGone(Exception):
    """The instance was deleted, or its events paused, while the post was being read."""

    def __init__(self, instance_id: str, *, paused: bool) -> None:
        super().__init__(instance_id)
        self.paused = paused


async def store_post(
    hub: Hub, instance_id: str, element: ElementDefinition, events: Sequence[VendorEvent]
) -> Stored:
    """Store `events` once each; the answer counts what was new and what was known."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with hub.database.transaction() as session:
                return await _store(session, hub, instance_id, element, events)
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def known_event_ids(
    session: AsyncSession, instance_id: str, vendor_event_ids: Iterable[str]
) -> set[str]:
    wanted = list(dict.fromkeys(vendor_event_ids))
    known: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        rows = await session.scalars(
            select(Event.vendor_event_id).where(
                Event.instance_id == instance_id,
                Event.vendor_event_id.in_(wanted[start : start + LOOKUP_CHUNK]),
            )
        )
        known.update(value for value in rows if value is not None)
    return known


async def _store(
    session: AsyncSession,
    hub: Hub,
    instance_id: str,
    element: ElementDefinition,
    events: Sequence[VendorEvent],
) -> Stored:
    # Locking the instance row first serializes posts of one instance on PostgreSQL, so the
    # check below sees what a concurrent post committed (SQLite serializes writers anyway).
    instance = await session.scalar(
        select(Instance).where(Instance.id == instance_id).with_for_update()
    )
    if instance is None or instance.deleted_at is not None:
        raise InstanceGone(instance_id, paused=False)
    if not instance.events.get("enabled"):
        raise InstanceGone(instance_id, paused=True)
    known = await known_event_ids(session, instance_id, (e.vendor_event_id for e in events))
    fresh: list[VendorEvent] = []
    for event in events:
        if event.vendor_event_id not in known:
            known.add(event.vendor_event_id)  # the same event twice in one post, too
            fresh.append(event)
    await _remember(session, instance_id, element, fresh)
    await record_events(
        session, instance, [to_new_event(event, element) for event in fresh], hub.runtime
    )
    return Stored(received=len(fresh), duplicates=len(events) - len(fresh))


async def _remember(
    session: AsyncSession, instance_id: str, element: ElementDefinition, events: list[VendorEvent]
) -> None:
    """Fingerprints of the records as the webhooks left them; a late, older update does
    not move a fingerprint back."""
    by_object: dict[str, list[VendorEvent]] = {}
    for event in events:
        by_object.setdefault(event.object_name, []).append(event)
    for object_name, object_events in by_object.items():
        obj = element.objects[object_name]
        time_format: TimeFormat = obj.updated_field.format if obj.updated_field else "rfc3339"
        current = await lookup(
            session, instance_id, object_name, (event.record_id for event in object_events)
        )
        for event in object_events:
            updated = vendor_updated(event.record, obj)
            seen = current.get(event.record_id)
            if (
                event.change != "deleted"
                and seen is not None
                and is_older(updated, seen.vendor_updated, time_format)
            ):
                continue
            await remember(
                session,
                instance_id,
                object_name,
                event.record_id,
                vendor_updated=updated,
                digest=content_hash(event.record or {"id": event.record_id}),
                deleted=event.change == "deleted",
                scan_id=seen.scan_id if seen is not None else None,
            )
