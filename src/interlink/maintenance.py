"""Housekeeping jobs: forget stale idempotency answers and old finished jobs, hourly."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from interlink.api.idempotency import purge_expired
from interlink.hub import Hub
from interlink.runtime import AlreadyQueued, JobContext, JobRuntime, TaskRegistry
from interlink.storage.types import utcnow

MAINTENANCE_TASK = "maintenance"
MAINTENANCE_EVERY = timedelta(hours=1)
FINISHED_JOBS_KEPT = timedelta(days=7)


def register_maintenance(registry: TaskRegistry, hub: Hub) -> None:
    @registry.task(name=MAINTENANCE_TASK)
    async def maintenance(context: JobContext) -> None:
        async with hub.database.transaction() as session:
            answers = await purge_expired(session)
        jobs = await context.runtime.purge_finished(FINISHED_JOBS_KEPT)
        context.log.info("maintenance: %d idempotency answers, %d jobs removed", answers, jobs)
        await schedule_maintenance(context.runtime, delay=MAINTENANCE_EVERY)


async def schedule_maintenance(runtime: JobRuntime, *, delay: timedelta = timedelta()) -> None:
    """Queue the next run unless one is already waiting (its queueing lock refuses twins)."""
    with contextlib.suppress(AlreadyQueued):
        await runtime.defer(
            MAINTENANCE_TASK,
            {},
            queueing_lock=MAINTENANCE_TASK,
            schedule_at=utcnow() + delay,
        )
