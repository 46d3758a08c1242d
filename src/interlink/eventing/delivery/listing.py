"""What the API reads: the events feed, single events, the delivery log with its attempts,
and their public shapes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import InvalidInput, NotFound
from interlink.eventing.cloudevents import to_cloudevent
from interlink.storage.models import Delivery, DeliveryAttempt, Event, Instance

CHANGES = ("created", "updated", "deleted")


def parse_event_type(event_type: str) -> tuple[str, str]:
    """`contacts.updated` → (`contacts`, `updated`)."""
    object_name, _, change = event_type.rpartition(".")
    if not object_name or change not in CHANGES:
        raise InvalidInput(
            f"type must look like 'contacts.updated' with a change among {list(CHANGES)}",
            field="type",
        )
    return object_name, change


async def sequence_of(session: AsyncSession, instance_id: str, event_id: str) -> int:
    """Where the feed continues after `event_id`, which must be one of the instance's."""
    sequence = await session.scalar(
        select(Event.sequence).where(Event.id == event_id, Event.instance_id == instance_id)
    )
    if sequence is None:
        raise InvalidInput(f"no event {event_id!r} in this instance's feed", field="after")
    return sequence


async def list_events(
    session: AsyncSession,
    instance_id: str,
    *,
    object_name: str | None,
    change: str | None,
    after_sequence: int | None,
    limit: int,
) -> list[Event]:
    """The instance's stored events in sequence (= recording) order."""
    query = select(Event).where(Event.instance_id == instance_id)
    if object_name is not None:
        query = query.where(Event.object_name == object_name)
    if change is not None:
        query = query.where(Event.change == change)
    if after_sequence is not None:
        query = query.where(Event.sequence > after_sequence)
    return list(await session.scalars(query.order_by(Event.sequence).limit(limit)))


async def find_event(session: AsyncSession, organization_id: str, event_id: str) -> Event:
    """An event of the organization's live instances; anything else is not found."""
    event = await session.scalar(
        select(Event)
        .join(Instance, Instance.id == Event.instance_id)
        .where(
            Event.id == event_id,
            Event.organization_id == organization_id,
            Instance.deleted_at.is_(None),
        )
    )
    if event is None:
        raise NotFound(f"no event {event_id!r}")
    return event


async def element_key_of(session: AsyncSession, instance_id: str) -> str:
    return (
        await session.scalars(select(Instance.element_key).where(Instance.id == instance_id))
    ).one()


async def find_delivery(session: AsyncSession, organization_id: str, delivery_id: str) -> Delivery:
    delivery = await session.scalar(
        select(Delivery)
        .join(Instance, Instance.id == Delivery.instance_id)
        .where(
            Delivery.id == delivery_id,
            Delivery.organization_id == organization_id,
            Instance.deleted_at.is_(None),
        )
    )
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    return delivery


async def list_deliveries(
    session: AsyncSession,
    instance_id: str,
    *,
    status: str | None,
    before_id: str | None,
    limit: int,
) -> list[Delivery]:
    """The instance's deliveries, newest first."""
    query = select(Delivery).where(Delivery.instance_id == instance_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    if before_id is not None:
        query = query.where(Delivery.id < before_id)
    return list(await session.scalars(query.order_by(Delivery.id.desc()).limit(limit)))


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[DeliveryAttempt]]:
    found: dict[str, list[DeliveryAttempt]] = defaultdict(list)
    if delivery_ids:
        rows = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
            .order_by(DeliveryAttempt.id)
        )
        for attempt in rows:
            found[attempt.delivery_id].append(attempt)
    return found


def describe_event(event: Event, element_key: str) -> dict[str, Any]:
    """The CloudEvent as delivered, plus when Interlink recorded it and how it learnt of it
    (`origin`: `poll` or `webhook`; `source` is the CloudEvents attribute)."""
    return {
        **to_cloudevent(event, element_key),
        "recorded_at": iso(event.recorded_at),
        "origin": event.source,
    }


def describe_delivery(delivery: Delivery, attempts: Sequence[DeliveryAttempt]) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "instance_id": delivery.instance_id,
        "status": delivery.status,
        "reason": delivery.reason,
        "event_ids": delivery.event_ids,
        "first_sequence": delivery.first_sequence,
        "last_sequence": delivery.last_sequence,
        "attempt_count": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "created_at": iso(delivery.created_at),
        "finished_at": iso(delivery.finished_at),
        "attempts": [
            {
                "attempted_at": iso(attempt.attempted_at),
                "status_code": attempt.status_code,
                "latency_ms": attempt.latency_ms,
                "error": attempt.error,
                "response_body": attempt.response_body,
            }
            for attempt in attempts
        ],
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
