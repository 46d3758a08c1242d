"""Metrics read from the shared state at scrape time: polling, deliveries, the job queue.

Counted in the database rather than in this process, so any API node reports the whole
deployment, workers included (they serve no HTTP). Each query reads an indexed column
or the small tables (streams, unfinished deliveries, waiting jobs).
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select

from interlink.hub import Hub
from interlink.storage.models import Delivery, EventStream
from interlink.storage.types import utcnow

# A polled stream whose poll is this late is behind: the workers do not keep up.
OVERDUE_AFTER = timedelta(seconds=60)


async def render_state_metrics(hub: Hub) -> bytes:
    registry = CollectorRegistry()
    streams = Gauge(
        "interlink_event_streams",
        "Polled instance objects by state and last poll outcome",
        ["state", "last_poll_outcome"],
        registry=registry,
    )
    overdue = Gauge(
        "interlink_event_streams_overdue",
        f"Polled instance objects whose poll is more than {OVERDUE_AFTER.seconds} s late",
        registry=registry,
    )
    deliveries = Gauge(
        "interlink_deliveries_unfinished",
        "Deliveries waiting for a first or a further attempt, by status",
        ["status"],
        registry=registry,
    )
    oldest = Gauge(
        "interlink_deliveries_oldest_unfinished_seconds",
        "Age of the oldest delivery not yet succeeded or dead (0: none)",
        registry=registry,
    )
    jobs = Gauge(
        "interlink_jobs",
        "Background jobs waiting (todo) or running (doing), by task",
        ["task", "status"],
        registry=registry,
    )
    now = utcnow()
    async with hub.database.sessions() as session:
        by_state = select(EventStream.state, EventStream.last_poll_outcome, func.count()).group_by(
            EventStream.state, EventStream.last_poll_outcome
        )
        for state, outcome, count in await session.execute(by_state):
            streams.labels(state, outcome or "none").set(count)
        late = select(func.count()).where(EventStream.next_poll_at < now - OVERDUE_AFTER)
        overdue.set(await session.scalar(late) or 0)
        unfinished = Delivery.status.in_(("pending", "failed"))
        by_status = select(Delivery.status, func.count()).where(unfinished)
        for status, count in await session.execute(by_status.group_by(Delivery.status)):
            deliveries.labels(status).set(count)
        first = await session.scalar(select(func.min(Delivery.created_at)).where(unfinished))
        oldest.set((now - first).total_seconds() if first is not None else 0)
    for (task, status), count in (await hub.runtime.queue_counts()).items():
        jobs.labels(task, status.value).set(count)
    return generate_latest(registry)
