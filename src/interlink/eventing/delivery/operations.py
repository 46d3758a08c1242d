"""What the API can ask of delivery: try a delivery again now, replay a range of events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import Conflict, InvalidInput
from interlink.eventing.recorder import queue_deliveries, wake_delivery
from interlink.runtime import JobRuntime
from interlink.storage.models import Delivery, Event, Instance

REPLAY_REASON = "replay"
# A replay is written in one transaction; beyond this, ask for smaller ranges.
MAX_REPLAY_EVENTS = 100_000
# Events are read and batched in chunks, so a long range never sits in memory at once.
REPLAY_CHUNK = 1000


async def retry_delivery(
    session: AsyncSession, runtime: JobRuntime, instance: Instance, delivery: Delivery
) -> None:
    """A failed or dead delivery goes again as soon as it heads the instance's queue.

    Its attempts so far stay counted: a dead delivery retried by hand gets one attempt,
    a failed one goes on with the rest of its schedule.
    """
    if delivery.status == "succeeded":
        raise Conflict(f"delivery {delivery.id} has succeeded; replay its events instead")
    if instance.delivery_state != "enabled":
        raise Conflict(
            f"delivery is disabled for instance {instance.id} ({instance.delivery_reason}); "
            "re-enable it with PATCH /v1/instances/{id}"
        )
    if not instance.events.get("callback_url"):
        raise Conflict(f"instance {instance.id} has no callback_url to deliver to")
    delivery.status = "pending"
    delivery.next_attempt_at = None
    delivery.finished_at = None
    await session.flush()
    await wake_delivery(session, instance.id, runtime)


@dataclass(frozen=True)
class Replayed:
    events: int
    deliveries: int


async def replay_events(
    session: AsyncSession,
    runtime: JobRuntime,
    instance: Instance,
    since: datetime,
    until: datetime,
) -> Replayed:
    """The events recorded in [since, until) again, as new deliveries; ids unchanged."""
    if until <= since:
        raise InvalidInput("until must be later than since", field="until")
    if not instance.events.get("callback_url"):
        raise Conflict(f"instance {instance.id} has no callback_url to deliver to")
    in_range = (
        Event.instance_id == instance.id,
        Event.recorded_at >= since,
        Event.recorded_at < until,
    )
    total = await session.scalar(select(func.count()).select_from(Event).where(*in_range)) or 0
    if total > MAX_REPLAY_EVENTS:
        raise InvalidInput(
            f"the range holds {total} events; replay at most {MAX_REPLAY_EVENTS} at a time",
            field="until",
        )
    events = deliveries = 0
    after = -1
    while True:
        chunk = list(
            await session.scalars(
                select(Event)
                .where(*in_range, Event.sequence > after)
                .order_by(Event.sequence)
                .limit(REPLAY_CHUNK)
            )
        )
        if not chunk:
            return Replayed(events, deliveries)
        queued = await queue_deliveries(session, instance, chunk, runtime, reason=REPLAY_REASON)
        events += len(chunk)
        deliveries += len(queued)
        after = chunk[-1].sequence
