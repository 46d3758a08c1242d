"""Forgetting old events, deliveries, fingerprints of deleted records and deleted instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.storage.models import Delivery, Event, Fingerprint, Instance
from interlink.storage.types import utcnow


@dataclass(frozen=True)
class Removed:
    events: int
    deliveries: int
    fingerprints: int
    instances: int


async def apply_retention(session: AsyncSession, *, keep: timedelta) -> Removed:
    """Rows older than `keep`. Fingerprints of live records stay: they are what makes the
    next poll exact; those of deleted records are only needed until the mark moves on."""
    cutoff = utcnow() - keep
    deliveries = await session.execute(delete(Delivery).where(Delivery.created_at < cutoff))
    events = await session.execute(delete(Event).where(Event.recorded_at < cutoff))
    fingerprints = await session.execute(
        delete(Fingerprint).where(Fingerprint.deleted.is_(True), Fingerprint.seen_at < cutoff)
    )
    # Deleting the instance row cascades to whatever of its data is left.
    instances = await session.execute(
        delete(Instance).where(Instance.deleted_at.is_not(None), Instance.deleted_at < cutoff)
    )
    return Removed(
        events=_count(events),
        deliveries=_count(deliveries),
        fingerprints=_count(fingerprints),
        instances=_count(instances),
    )


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
