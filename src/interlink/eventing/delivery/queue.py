"""An instance's delivery queue in the database: its head, the events to send.

The queue is the instance's unfinished deliveries in `first_sequence` order. They are sent
in that order, each only once the one before has succeeded (or died), so a later event
of a record cannot overtake an earlier one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import Text, and_, case, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing.cloudevents import encode_batch
from interlink.eventing.delivery.outcome import UNFINISHED
from interlink.storage.models import Delivery, Event, Instance


def accepts_deliveries(instance: Instance | None) -> bool:
    """Deleted instances, disabled delivery and a missing callback URL stop the queue."""
    return (
        instance is not None
        and instance.deleted_at is None
        and instance.delivery_state == "enabled"
        and bool(instance.events.get("callback_url"))
    )


async def head_of_queue(session: AsyncSession, instance_id: str, *, limit: int) -> list[Delivery]:
    """The first `limit` unfinished deliveries, lowest first sequence first (then oldest)."""
    found = await session.scalars(
        select(Delivery)
        .where(Delivery.instance_id == instance_id, Delivery.status.in_(UNFINISHED))
        .order_by(Delivery.first_sequence, Delivery.id)
        .limit(limit)
    )
    return list(found)


class StoredEvent(NamedTuple):
    """What a CloudEvent is made of, read without building ORM objects (several times
    faster for the hundreds of events a run sends; the record is parsed by orjson)."""

    id: str
    instance_id: str
    sequence: int
    object_name: str
    record_id: str
    change: str
    record: dict[str, Any] | None
    vendor_time: str | None
    recorded_at: datetime | None  # only read where there is no vendor time


def encode(events: Sequence[StoredEvent], element_key: str) -> bytes:
    """The batch body, by the one CloudEvents mapping (it reads only these attributes)."""
    return encode_batch(cast(list[Event], list(events)), element_key)


async def events_of(
    session: AsyncSession, deliveries: Sequence[Delivery]
) -> dict[str, list[StoredEvent]]:
    """Each delivery's events still stored (retention may have removed some), in order."""
    if not deliveries:
        return {}
    # Sequence ranges lead the database to the (instance_id, sequence) index; ids alone let
    # SQLite walk every event of the instance in sequence order.
    ranges = _merged((d.first_sequence, d.last_sequence) for d in deliveries)
    query = select(
        Event.id,
        Event.instance_id,
        Event.sequence,
        Event.object_name,
        Event.record_id,
        Event.change,
        sql_cast(Event.record, Text).label("record"),
        Event.vendor_time,
        case((Event.vendor_time.is_(None), Event.recorded_at)).label("recorded_at"),
    ).where(
        Event.instance_id == deliveries[0].instance_id,
        or_(*(and_(Event.sequence >= low, Event.sequence <= high) for low, high in ranges)),
    )
    by_id = {row[0]: _stored(*row) for row in await session.execute(query)}
    found: dict[str, list[StoredEvent]] = {}
    for delivery in deliveries:
        events = [by_id[event_id] for event_id in delivery.event_ids if event_id in by_id]
        found[delivery.id] = sorted(events, key=lambda event: event.sequence)
    return found


def _stored(
    event_id: str,
    instance_id: str,
    sequence: int,
    object_name: str,
    record_id: str,
    change: str,
    record: str | None,
    vendor_time: str | None,
    recorded_at: datetime | None,
) -> StoredEvent:
    # Parsed again rather than spliced in as text: the stored text is not compact (nor
    # always ASCII-escaped the same way), and batch sizes are counted on compact JSON.
    parsed = None if record is None else orjson.loads(record)
    return StoredEvent(
        event_id,
        instance_id,
        sequence,
        object_name,
        record_id,
        change,
        parsed,
        vendor_time,
        recorded_at,
    )


def _merged(ranges: Any) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged
