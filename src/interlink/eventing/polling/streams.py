"""Which objects of an instance are polled, and how often: its EventStream rows.

Called in the same transaction as an instance's creation, change or deletion. A paused
stream (`next_poll_at` None) keeps its marks, so resuming polls from where it stopped; a
stream whose object is no longer watched is parked and reset, so watching it again starts
with a fresh baseline.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.hub import Hub
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow

BASELINING = "baselining"
LIVE = "live"


def poll_interval(instance: Instance) -> int | None:
    """Seconds between polls of the instance's objects; None when it is not polled at all.

    Polling mode polls on `poll_interval_seconds`; webhook mode only where a reconciliation
    poll was asked for, on its (slow) interval.
    """
    events: dict[str, Any] = instance.events or {}
    mode = events.get("mode", "polling")
    if mode == "polling":
        return int(events.get("poll_interval_seconds") or 300)
    if mode == "webhook" and events.get("reconciliation_interval_seconds"):
        return int(events["reconciliation_interval_seconds"])
    return None


def polled_objects(instance: Instance) -> list[str]:
    """The objects to poll now: none while events are off or the instance is deleted."""
    events: dict[str, Any] = instance.events or {}
    if instance.deleted_at is not None or not events.get("enabled"):
        return []
    if poll_interval(instance) is None:
        return []
    return list(dict.fromkeys(events.get("objects") or []))


def is_polled(instance: Instance, object_name: str) -> bool:
    return object_name in polled_objects(instance)


async def sync_streams(session: AsyncSession, hub: Hub, instance: Instance) -> None:
    """Make the instance's EventStream rows match its `events` settings. No vendor call."""
    now = utcnow()
    watched = polled_objects(instance)
    listed = set((instance.events or {}).get("objects") or [])
    interval = poll_interval(instance)
    streams = {
        stream.object_name: stream
        for stream in await session.scalars(
            select(EventStream).where(EventStream.instance_id == instance.id).with_for_update()
        )
    }
    for name in watched:
        stream = streams.get(name)
        if stream is None:
            session.add(
                EventStream(
                    instance_id=instance.id, object_name=name, state=BASELINING, next_poll_at=now
                )
            )
        elif stream.next_poll_at is None:
            stream.next_poll_at = now  # resumed: polls on from its marks
        elif interval is not None and stream.next_poll_at > now + timedelta(seconds=interval):
            stream.next_poll_at = now + timedelta(seconds=interval)  # a shorter interval
    for name, stream in streams.items():
        if name in watched:
            continue
        stream.next_poll_at = None
        if name not in listed:
            park(stream)
    await session.flush()


def park(stream: EventStream) -> None:
    """Forget a stream's progress: watching the object again starts with a new baseline.

    An in-flight poll of it notices (its run token is gone) and stops at its next commit.
    """
    stream.state = BASELINING
    stream.high_water_mark = None
    stream.deletes_mark = None
    stream.next_full_scan_at = None
    stream.checkpoint = None
