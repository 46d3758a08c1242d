"""Retention removes what is old and only that: events, deliveries, fingerprints of deleted
records, deleted instances; fingerprints of live records stay whatever their age."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from interlink.eventing.retention import apply_retention
from interlink.storage.database import Database
from interlink.storage.models import (
    Delivery,
    Event,
    Fingerprint,
    Instance,
    Organization,
)
from interlink.storage.types import utcnow

KEEP = timedelta(days=30)


def instance(instance_id: str, *, deleted_days_ago: float | None = None) -> Instance:
    return Instance(
        id=instance_id,
        organization_id="org_1",
        element_key="sandbox",
        name=instance_id,
        config={},
        credentials="sealed",
        events={},
        signing_secret="sealed",
        hook_token="token",
        deleted_at=utcnow() - timedelta(days=deleted_days_ago)
        if deleted_days_ago is not None
        else None,
    )


def event(event_id: str, instance_id: str, sequence: int, days_ago: float) -> Event:
    return Event(
        id=event_id,
        organization_id="org_1",
        instance_id=instance_id,
        sequence=sequence,
        object_name="contacts",
        record_id=f"ct_{sequence}",
        change="updated",
        record={"id": f"ct_{sequence}"},
        source="poll",
        recorded_at=utcnow() - timedelta(days=days_ago),
    )


def delivery(delivery_id: str, days_ago: float) -> Delivery:
    return Delivery(
        id=delivery_id,
        organization_id="org_1",
        instance_id="inst_live",
        event_ids=[],
        first_sequence=1,
        last_sequence=1,
        created_at=utcnow() - timedelta(days=days_ago),
    )


def fingerprint(record_id: str, *, deleted: bool, days_ago: float) -> Fingerprint:
    return Fingerprint(
        instance_id="inst_live",
        object_name="contacts",
        record_id=record_id,
        vendor_updated=None,
        content_hash="0" * 32,
        deleted=deleted,
        seen_at=utcnow() - timedelta(days=days_ago),
    )


async def count(database: Database, model: type) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_retention_removes_old_rows_and_keeps_the_rest(database: Database) -> None:
    async with database.transaction() as session:
        session.add(Organization(id="org_1", name="Acme"))
        await session.flush()
        session.add_all([instance("inst_live"), instance("inst_gone", deleted_days_ago=40)])
        session.add(instance("inst_recently_gone", deleted_days_ago=1))
        await session.flush()
        session.add_all(
            [
                event("evt_old", "inst_live", 1, 31),
                event("evt_new", "inst_live", 2, 1),
                event("evt_of_gone", "inst_gone", 1, 1),
                delivery("msg_old", 31),
                delivery("msg_new", 1),
                fingerprint("ct_deleted_old", deleted=True, days_ago=31),
                fingerprint("ct_deleted_new", deleted=True, days_ago=1),
                fingerprint("ct_live_old", deleted=False, days_ago=400),
            ]
        )

    async with database.transaction() as session:
        removed = await apply_retention(session, keep=KEEP)

    assert (removed.events, removed.deliveries, removed.fingerprints, removed.instances) == (
        1,
        1,
        1,
        1,
    )
    async with database.transaction() as session:
        events = set(await session.scalars(select(Event.id)))
        deliveries = set(await session.scalars(select(Delivery.id)))
        fingerprints = set(await session.scalars(select(Fingerprint.record_id)))
        instances = set(await session.scalars(select(Instance.id)))
    # The deleted instance's remaining event went with it (cascade).
    assert events == {"evt_new"}
    assert deliveries == {"msg_new"}
    assert fingerprints == {"ct_deleted_new", "ct_live_old"}
    assert instances == {"inst_live", "inst_recently_gone"}
