"""Housekeeping, hourly: retention of events, deliveries and bulk files, the files of
uploads cut short, stale idempotency answers, and finished jobs."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from interlink.api.idempotency import purge_expired
from interlink.bulk.retention import expire_bulk_files
from interlink.bulk.upload.receipts import sweep_abandoned_uploads
from interlink.eventing.delivery.task import wake_due_deliveries
from interlink.eventing.retention import apply_retention
from interlink.hub import Hub
from interlink.runtime import AlreadyQueued, JobContext, JobRuntime, TaskRegistry
from interlink.storage.types import utcnow

MAINTENANCE_TASK = "maintenance"
MAINTENANCE_EVERY = timedelta(hours=1)
FINISHED_JOBS_KEPT = timedelta(days=7)


def register_maintenance(registry: TaskRegistry, hub: Hub) -> None:
    @registry.task(name=MAINTENANCE_TASK)
    async def maintenance(context: JobContext) -> None:
        keep = timedelta(days=hub.settings.events_retention_days)
        async with hub.database.transaction() as session:
            answers = await purge_expired(session)
            removed = await apply_retention(session, keep=keep)
            # Belt and braces: queues whose deliver job gave up are picked up again.
            await wake_due_deliveries(session, context.runtime)
        bulk = await expire_bulk_files(
            hub, keep=timedelta(days=hub.settings.bulk_files_retention_days)
        )
        uploads = await sweep_abandoned_uploads(hub)
        jobs = await context.runtime.purge_finished(FINISHED_JOBS_KEPT)
        context.log.info(
            "maintenance removed %d events, %d deliveries, %d fingerprints, %d instances, "
            "%d idempotency answers, the files of %d bulk jobs and of %d uploads cut short, "
            "%d jobs",
            removed.events,
            removed.deliveries,
            removed.fingerprints,
            removed.instances,
            answers,
            bulk,
            uploads,
            jobs,
        )
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
