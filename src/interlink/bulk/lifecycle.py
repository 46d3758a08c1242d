"""A bulk job's status as its worker moves it: claimed, progressing, finished.

Each step is one short transaction. Finishing and queueing the completion callback are
one transaction, so a finished job with a callback URL always gets its callback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from interlink.bulk.jobs import FAILED, FINISHED, QUEUED, RUNNING
from interlink.bulk.task_names import CALLBACK_TASK
from interlink.hub import Hub
from interlink.runtime import RetryLater
from interlink.storage.models import BulkJob
from interlink.storage.types import utcnow
from interlink.vendor.errors import RetryableVendorError

# A vendor that stays unavailable: the job waits these between runs, then fails.
RETRY_DELAYS = (10.0, 30.0, 60.0, 300.0, 900.0)


class JobStopped(Exception):
    """The job was cancelled (or finished elsewhere) while it ran: stop quietly."""


async def claim(hub: Hub, job_id: str) -> BulkJob | None:
    """The job, now `running`; None when there is nothing to do (finished, cancelled, gone).

    A job already `running` is claimed again: its previous worker died, and the job
    resumes from its checkpoint (the runtime runs one job of a bulk job at a time).
    """
    async with hub.database.transaction() as session:
        job = await session.get(BulkJob, job_id)
        if job is None or job.status in FINISHED:
            return None
        if job.status == QUEUED:
            job.status = RUNNING
            job.started_at = utcnow()
        await session.flush()
        session.expunge(job)
        return job


async def running_job(session: AsyncSession, job_id: str) -> BulkJob:
    """The job inside a worker's transaction; JobStopped when it is no longer running."""
    job = await session.get(BulkJob, job_id)
    if job is None or job.status != RUNNING:
        raise JobStopped(job_id)
    return job


async def update_running(hub: Hub, job_id: str, **fields: Any) -> None:
    """Set fields of a running job (JobStopped when it no longer runs)."""
    async with hub.database.transaction() as session:
        job = await running_job(session, job_id)
        for name, value in fields.items():
            setattr(job, name, value)


async def finish(
    hub: Hub, job_id: str, status: str, *, error: str | None = None, **fields: Any
) -> bool:
    """End a running job; False when it had already ended (e.g. cancelled meanwhile)."""
    async with hub.database.transaction() as session:
        job = await session.get(BulkJob, job_id)
        if job is None or job.status != RUNNING:
            return False
        for name, value in fields.items():
            setattr(job, name, value)
        job.status = status
        job.error = error
        job.finished_at = utcnow()
        if job.callback_url:
            await hub.runtime.defer(CALLBACK_TASK, {"job_id": job.id}, session=session)
        return True


async def retry_or_fail(hub: Hub, job_id: str, exc: RetryableVendorError) -> None:
    """Run the job again later from its checkpoint (RetryLater), or fail it once the
    vendor has been unavailable through every delay. The count lives in the checkpoint."""
    async with hub.database.transaction() as session:
        try:
            job = await running_job(session, job_id)
        except JobStopped:
            return
        checkpoint = dict(job.checkpoint or {})
        retries = int(checkpoint.get("retries", 0))
        retry: float | None = None
        if retries < len(RETRY_DELAYS):
            retry = max(RETRY_DELAYS[retries], exc.retry_after or 0.0)
            job.checkpoint = {**checkpoint, "retries": retries + 1}
            job.error = f"retrying: {exc}"
    if retry is None:
        await finish(hub, job_id, FAILED, error=f"the vendor stayed unavailable: {exc}")
        return
    raise RetryLater(retry, f"vendor unavailable: {exc}")
