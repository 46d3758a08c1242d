"""One run of a download job: claim it, resume from its checkpoint, read, write, finish.

A run ends in one of four ways: the job completes; it fails for good (a query the
element no longer accepts, a vendor refusing for good); it asks to run again later (the
vendor is unavailable for now: RetryLater, a bounded number of times); or it stops
because it was cancelled. A process killed mid-run leaves the job `running` with its
checkpoint; the runtime runs it again and it resumes there.
"""

from __future__ import annotations

import logging

from interlink.bulk.export.ordering import sort_file
from interlink.bulk.export.sink import ExportCheckpoint, ExportSink, forget_ids, restart
from interlink.bulk.export.sources import export_native, export_pages
from interlink.bulk.files import data_key, runs_prefix, sorted_key
from interlink.bulk.jobs import COMPLETED, FAILED
from interlink.bulk.lifecycle import JobStopped, claim, finish, retry_or_fail, update_running
from interlink.bulk.plan import plan_query
from interlink.elements.catalog import find_element
from interlink.errors import InvalidInput, NotFound
from interlink.hub import Hub
from interlink.services.connections import vendor_client
from interlink.storage.models import BulkJob, Instance
from interlink.vendor.errors import RecordNotFound, RetryableVendorError, VendorError

logger = logging.getLogger(__name__)


async def run_export(hub: Hub, job_id: str) -> None:
    job = await claim(hub, job_id)
    if job is None:
        return
    try:
        await _export(hub, job)
    except JobStopped:
        logger.info("bulk job %s stopped: it is no longer running", job_id)
    except RetryableVendorError as exc:
        await retry_or_fail(hub, job_id, exc)
    except (VendorError, InvalidInput, NotFound) as exc:
        await finish(hub, job_id, FAILED, error=str(exc))
    else:
        await finish(hub, job_id, COMPLETED)
    await _forget_ids_if_finished(hub, job_id)


async def _export(hub: Hub, job: BulkJob) -> None:
    store = hub.files
    key = data_key(job.id)
    point = ExportCheckpoint.of(job.checkpoint)
    # Parts past the checkpoint were written by a run that died before committing them.
    await store.delete_parts_after(key, point.parts)
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, job.instance_id)
        if instance is None or instance.deleted_at is not None:
            raise NotFound(f"instance {job.instance_id} was deleted")
        element = await find_element(session, job.organization_id, instance.element_key)
    assert job.query is not None  # every download has one
    plan = plan_query(element, job.query)
    async with vendor_client(hub, instance, element) as client:
        native = job.native_requested and client.has_native_export(plan.object_name)
        if native != job.native:
            await update_running(hub, job.id, native=native)
        # A listing in an order changes do not move returns each record once, and so does
        # a vendor's export (a snapshot) unless the element says otherwise; a listing by
        # updated time (changed-since) is checked id by id.
        if native:
            assert plan.obj.bulk_export is not None  # chosen only where there is one
            stable = not plan.obj.bulk_export.may_repeat
        else:
            stable = plan.obj.stable_order and plan.changed_since is None
        # With `order by`, the limit applies to the sorted records, not to those read first.
        ordered = bool(plan.query.order_by)
        limit = None if ordered else plan.query.limit
        sink = ExportSink(hub, store, job.id, key, point, limit=limit, remember_ids=not stable)
        if not native:
            await export_pages(client, plan, sink)
        else:
            try:
                await export_native(client, plan, sink)
            except (RecordNotFound, NotFound):
                if "native" not in point.position:
                    raise
                # The vendor no longer has the export this job was reading: read a new one.
                logger.warning("bulk job %s: the vendor's export is gone; starting over", job.id)
                await restart(hub, store, job.id, key)
                sink.checkpoint = ExportCheckpoint(retries=point.retries)
                await export_native(client, plan, sink)
    if ordered:
        written = await sort_file(
            store,
            key,
            sorted_key(job.id),
            runs_prefix(job.id),
            plan.query.order_by,
            limit=plan.query.limit,
            fields=plan.query.fields,
        )
        await update_running(hub, job.id, records=written)


async def _stored(hub: Hub, job_id: str) -> BulkJob:
    async with hub.database.transaction() as session:
        job = await session.get(BulkJob, job_id)
        if job is None:
            raise JobStopped(job_id)
        session.expunge(job)
        return job


async def _forget_ids_if_finished(hub: Hub, job_id: str) -> None:
    job = await _stored(hub, job_id)
    if job.finished_at is not None:
        await forget_ids(hub, job_id)
