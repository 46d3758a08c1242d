"""Retention of bulk files: a finished job's files are removed once they are old enough.

The job row stays (its status is still worth reading); `files_removed_at` marks it, and
its downloads answer 410 from then on.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from interlink.bulk.export.sink import forget_ids
from interlink.bulk.files import job_prefix
from interlink.hub import Hub
from interlink.storage.models import BulkJob
from interlink.storage.types import utcnow

# Jobs handled per transaction: each one's files are deleted before its row says so.
BATCH = 200


async def expire_bulk_files(hub: Hub, *, keep: timedelta) -> int:
    """Remove the files of jobs finished more than `keep` ago; return how many jobs."""
    cutoff = utcnow() - keep
    expired = 0
    while True:
        async with hub.database.transaction() as session:
            jobs = list(
                await session.scalars(
                    select(BulkJob.id)
                    .where(BulkJob.finished_at < cutoff, BulkJob.files_removed_at.is_(None))
                    .order_by(BulkJob.finished_at)
                    .limit(BATCH)
                )
            )
        if not jobs:
            return expired
        for job_id in jobs:
            # Files first: a crash before the row is marked just deletes them again.
            # Everything under the job's folder: data, results, errors, sorted, runs.
            await hub.files.delete_older_than(job_prefix(job_id), utcnow())
            await forget_ids(hub, job_id)
        async with hub.database.transaction() as session:
            for job_id in jobs:
                job = await session.get(BulkJob, job_id)
                if job is not None:
                    job.files_removed_at = utcnow()
        expired += len(jobs)
