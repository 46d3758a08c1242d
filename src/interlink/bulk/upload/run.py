"""One run of an upload job: claim it, skip the rows its checkpoint has done, apply the
rest chunk by chunk, write every row's outcome, finish.

A checkpoint is one transaction after the outcome parts it counts are written. Before a
chunk is sent, the in-flight mark must cover it (see checkpoint.py), so a run killed at
any line leaves rows that are done, rows that are certainly not sent, and rows that are
checked before they are sent again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from interlink.bulk.files import data_key, errors_key, results_key
from interlink.bulk.formats import InvalidFile, Kind, Row, read_rows
from interlink.bulk.jobs import COMPLETED, FAILED
from interlink.bulk.lifecycle import (
    JobStopped,
    claim,
    finish,
    retry_or_fail,
    running_job,
    update_running,
)
from interlink.bulk.upload.apply import Applier
from interlink.bulk.upload.checkpoint import IN_FLIGHT_WINDOW, UploadCheckpoint
from interlink.bulk.upload.ingest import Ingester, ingest_for
from interlink.bulk.upload.outcomes import OutcomeFiles
from interlink.elements.catalog import find_element
from interlink.errors import InvalidInput, NotFound
from interlink.files import FileStore
from interlink.hub import Hub
from interlink.services.connections import vendor_client
from interlink.storage.models import BulkJob, Instance
from interlink.storage.types import utcnow
from interlink.vendor.errors import RetryableVendorError, VendorError

logger = logging.getLogger(__name__)

# Record-by-record writes in flight at once, within the element's own concurrency.
MAX_CONCURRENCY = 8


async def run_upload(hub: Hub, job_id: str) -> None:
    job = await claim(hub, job_id)
    if job is None:
        return
    try:
        point = await _upload(hub, job)
    except JobStopped:
        logger.info("bulk job %s stopped: it is no longer running", job_id)
    except RetryableVendorError as exc:
        await retry_or_fail(hub, job_id, exc)
    except InvalidFile as exc:
        await finish(hub, job_id, FAILED, error=f"the file cannot be read: {exc}")
    except (VendorError, InvalidInput, NotFound) as exc:
        await finish(hub, job_id, FAILED, error=str(exc))
    else:
        await finish(hub, job_id, COMPLETED, records=point.records, failed=point.failed)


class _Counted:
    """The upload's bytes as read, counted for the progress bar."""

    def __init__(self, store: FileStore, key: str) -> None:
        self._store = store
        self._key = key
        self.read = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        stream = await self._store.read(self._key)
        try:
            async for chunk in stream:
                self.read += len(chunk)
                yield chunk
        finally:
            await stream.aclose()


async def _upload(hub: Hub, job: BulkJob) -> UploadCheckpoint:
    store = hub.files
    point = UploadCheckpoint.of(job.checkpoint)
    # Parts past the checkpoint belong to a run that died before committing them.
    await store.delete_parts_after(results_key(job.id), point.results_parts)
    await store.delete_parts_after(errors_key(job.id), point.errors_parts)
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, job.instance_id)
        if instance is None or instance.deleted_at is not None:
            raise NotFound(f"instance {job.instance_id} was deleted")
        element = await find_element(session, job.organization_id, instance.element_key)
    obj = element.find_object(job.object_name)
    if obj is None:
        raise NotFound(f"element {element.key} no longer has the object {job.object_name}")
    assert job.action is not None  # every upload has one
    source = _Counted(store, data_key(job.id))
    files = OutcomeFiles(
        store, job.id, results_parts=point.results_parts, errors_parts=point.errors_parts
    )
    resumed = UploadCheckpoint.of(job.checkpoint)  # what was in flight when the last run died
    async with vendor_client(hub, instance, element) as client:
        applier = Applier(
            client,
            job.object_name,
            obj,
            action=job.action,
            identifier=job.identifier,
            concurrency=min(element.rate_limit.concurrency, MAX_CONCURRENCY),
            duplicate_id_paths=element.errors.duplicate_id_paths,
        )
        kind: Kind = job.format  # type: ignore[assignment]
        rows = _after(read_rows(source.chunks(), kind, schema=obj.fields), point.rows)
        spec = ingest_for(obj, job.action)
        if spec is None:
            point.mode = "rows"
        elif point.mode is None:
            # Decided on the file's first rows, once (the checkpoint keeps it).
            ahead: list[Row] = []
            async for row in rows:
                ahead.append(row)
                if len(ahead) >= spec.min_rows:
                    break
            point.mode = "ingest" if len(ahead) >= spec.min_rows else "rows"
            rows = _chained(ahead, rows)
        native = applier.native or point.mode == "ingest"
        if native != job.native:
            await update_running(hub, job.id, native=native)
        if point.mode == "ingest" and spec is not None:
            ingester = Ingester(
                client,
                job.object_name,
                obj,
                spec,
                applier,
                action=job.action,
                identifier=job.identifier,
            )
            await _ingest_rows(hub, job.id, point, files, applier, ingester, rows, resumed, source)
        else:
            chunk: list[Row] = []
            async for row in rows:
                chunk.append(row)
                if len(chunk) >= applier.chunk_size:
                    await _step(hub, job.id, point, files, applier, chunk, resumed, source)
                    chunk = []
            if chunk:
                await _step(hub, job.id, point, files, applier, chunk, resumed, source)
        await _checkpoint(hub, job.id, point, files, source, force=True)
    return point


async def _after(rows: AsyncIterator[Row], done: int) -> AsyncIterator[Row]:
    async for row in rows:
        if row.number > done:
            yield row


async def _chained(ahead: list[Row], rest: AsyncIterator[Row]) -> AsyncIterator[Row]:
    for row in ahead:
        yield row
    async for row in rest:
        yield row


async def _ingest_rows(
    hub: Hub,
    job_id: str,
    point: UploadCheckpoint,
    files: OutcomeFiles,
    applier: Applier,
    ingester: Ingester,
    rows: AsyncIterator[Row],
    resumed: UploadCheckpoint,
    source: _Counted,
) -> None:
    """Rows in chunks of one ingest job each. Rows a crashed run may have sent through
    the applier (its in-flight window) go through the applier again, checked; the chunk
    whose job a crashed run started is read back from that job (see ingest.py)."""
    pending = point.ingest
    checked: list[Row] = []
    builder = ingester.builder()

    async def ingest(chunk: list[Row], existing: str | None) -> None:
        async def started(ingest_id: str) -> None:
            point.ingest = {"id": ingest_id, "first": chunk[0].number, "last": chunk[-1].number}
            # Committed before the data goes out: a resumed run follows this job.
            await _checkpoint(hub, job_id, point, files, source, force=True)

        outcomes = await ingester.apply(chunk, existing, started)
        files.add(outcomes)
        files.last_row = chunk[-1].number
        point.ingest = None
        await _checkpoint(hub, job_id, point, files, source, force=True)

    async for row in rows:
        if pending is not None:
            builder.rows.append(row)
            if row.number >= int(pending["last"]):
                await ingest(builder.rows, str(pending["id"]))
                pending, builder = None, ingester.builder()
            continue
        if resumed.uncertain(row.number):
            checked.append(row)
            if len(checked) >= applier.chunk_size:
                await _step(hub, job_id, point, files, applier, checked, resumed, source)
                checked = []
            continue
        if checked:
            await _step(hub, job_id, point, files, applier, checked, resumed, source)
            checked = []
        if not builder.accepts(row):
            await ingest(builder.rows, None)
            builder = ingester.builder()
        builder.add(row)
    if pending is not None:
        raise InvalidInput(
            f"the file ends before row {pending['last']}, the last of ingest job {pending['id']}"
        )
    if checked:
        await _step(hub, job_id, point, files, applier, checked, resumed, source)
    if builder.rows:
        await ingest(builder.rows, None)


async def _step(
    hub: Hub,
    job_id: str,
    point: UploadCheckpoint,
    files: OutcomeFiles,
    applier: Applier,
    chunk: list[Row],
    resumed: UploadCheckpoint,
    source: _Counted,
) -> None:
    last = chunk[-1].number
    if last > point.in_flight_end:
        # Committed before the rows go out: a crash now leaves them checked, not resent blind.
        point.in_flight_end = last + IN_FLIGHT_WINDOW
        await _checkpoint(hub, job_id, point, files, source, force=True)
    files.add(await applier.apply(chunk, resumed.uncertain))
    files.last_row = last
    if files.due:
        await _checkpoint(hub, job_id, point, files, source, force=False)


async def _checkpoint(
    hub: Hub,
    job_id: str,
    point: UploadCheckpoint,
    files: OutcomeFiles,
    source: _Counted,
    *,
    force: bool,
) -> None:
    """Write the buffered outcomes, then commit how far the job has got."""
    if not force and not files.due:
        return
    ok, bad = await files.write()
    async with hub.database.transaction() as session:
        job = await running_job(session, job_id)
        point.rows = max(point.rows, files.last_row)
        point.in_flight_end = max(point.in_flight_end, point.rows)
        point.results_parts, point.errors_parts = files.results_parts, files.errors_parts
        point.records += ok
        point.failed += bad
        point.bytes = max(point.bytes, source.read)
        job.checkpoint = point.stored()
        job.records, job.failed, job.bytes = point.records, point.failed, point.bytes
        job.progressed_at = utcnow()
