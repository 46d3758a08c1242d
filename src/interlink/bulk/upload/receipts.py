"""Uploads being received: nothing is stored that the database does not know about.

A receipt is committed before the first byte of an upload's file is stored, and deleted
in the transaction that creates the upload's job. A process killed in between (mid-body,
or after the body and before the job) leaves a receipt, and the hourly maintenance
removes the files it names once the upload cannot still be under way.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.bulk.files import data_key, job_prefix
from interlink.hub import Hub
from interlink.storage.models import BulkJob, UploadReceipt
from interlink.storage.types import utcnow

logger = logging.getLogger(__name__)

# Far longer than any upload takes to arrive (a few GB, even over a slow link).
ABANDONED_AFTER = timedelta(hours=24)
# Receipts handled per transaction.
BATCH = 200


async def open_receipt(hub: Hub, job_id: str) -> None:
    """Committed before the upload's file is: its files are never unaccounted for."""
    async with hub.database.transaction() as session:
        session.add(UploadReceipt(job_id=job_id, started_at=utcnow()))


async def close_receipt(session: AsyncSession, job_id: str) -> None:
    """In the transaction that creates the job: from then on the job owns the files."""
    await session.execute(delete(UploadReceipt).where(UploadReceipt.job_id == job_id))


async def drop_upload(hub: Hub, job_id: str) -> None:
    """An upload refused or failed before its job was created: its file, then its receipt
    (a crash between the two leaves the receipt, and the sweep deletes it again)."""
    await hub.files.delete(data_key(job_id))
    async with hub.database.transaction() as session:
        await close_receipt(session, job_id)


async def sweep_abandoned_uploads(hub: Hub, *, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Remove the files of uploads whose process died before their job was created;
    how many uploads."""
    cutoff = utcnow() - older_than
    swept = 0
    while True:
        async with hub.database.reading() as session:
            job_ids = list(
                await session.scalars(
                    select(UploadReceipt.job_id)
                    .where(UploadReceipt.started_at < cutoff)
                    .order_by(UploadReceipt.started_at)
                    .limit(BATCH)
                )
            )
            # Never the files of a job that exists (a receipt outlives its job only if
            # something other than the job's creation wrote it).
            owned = set(await session.scalars(select(BulkJob.id).where(BulkJob.id.in_(job_ids))))
        if not job_ids:
            return swept
        for job_id in job_ids:
            if job_id not in owned:
                await hub.files.delete_older_than(job_prefix(job_id), cutoff)
        async with hub.database.transaction() as session:
            await session.execute(delete(UploadReceipt).where(UploadReceipt.job_id.in_(job_ids)))
        removed = len(job_ids) - len(owned)
        if removed:
            logger.info("removed the files of %d uploads cut short", removed)
        swept += removed
