"""`/v1/instances/{id}/bulk/…` (new jobs) and `/v1/bulk/…` (status, files, cancel, list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.auth import Caller, get_caller, get_hub, transaction
from interlink.api.idempotency import idempotent, remember_answer, replay_answer
from interlink.api.pagination import PageParams, decode_cursor, encode_cursor, page
from interlink.api.problems import Problem
from interlink.api.uploads import receive_upload
from interlink.bulk import jobs as service
from interlink.bulk.downloads import MEDIA_TYPES, NotAcceptable, download_chunks, negotiate
from interlink.bulk.files import data_key, download_key, errors_key, results_key
from interlink.bulk.upload.create import check_metadata, upload_target
from interlink.bulk.upload.receipts import close_receipt, drop_upload, open_receipt
from interlink.ceql import Query, parse_query
from interlink.errors import InvalidInput
from interlink.hub import Hub
from interlink.storage.models import BulkJob

router = APIRouter(tags=["bulk"])

# Uploads are fingerprinted by method and path alone: see create_upload_job.
UPLOAD = "upload"


@router.post("/v1/instances/{instance_id}/bulk/query", status_code=202)
async def create_query_job(
    instance_id: str,
    body: service.NewQueryJob,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    """Queue a query job: every record the CEQL query selects, into one file (202)."""

    async def create() -> tuple[int, Any]:
        job = await service.create_query_job(
            hub, session, caller.organization_id, instance_id, body
        )
        return 202, service.describe(job)

    return await idempotent(request, session, caller.organization_id, create)


# The body is read as a stream (never through FastAPI's form parsing), so it is described here.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV with a header row, NDJSON, or a JSON array",
                        },
                        "metadata": {
                            "type": "string",
                            "description": (
                                'JSON: {"action": "create|update|upsert|delete", '
                                '"identifier"?, "format"?: "csv|ndjson|json", "callback_url"?}'
                            ),
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/v1/instances/{instance_id}/bulk/{object_name}", status_code=202, openapi_extra=UPLOAD_BODY
)
async def create_upload_job(
    instance_id: str,
    object_name: str,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> Response:
    """Queue an upload job (multipart: `file`, and `metadata` JSON with `action`, optional
    `identifier`). The file streams into the file store; no transaction is open meanwhile
    (a receipt committed before it names its files, should the process die: receipts.py).

    With an Idempotency-Key, the same key on the same URL within 24 hours answers the
    first job again without reading the new body (a body cannot be compared unread)."""
    _, _, obj = await upload_target(hub, caller.organization_id, instance_id, object_name)
    async with hub.database.transaction() as session:
        replay = await replay_answer(request, session, caller.organization_id, fingerprint=UPLOAD)
    if replay is not None:
        return replay
    job_id = service.new_job_id()
    key = data_key(job_id)
    await open_receipt(hub, job_id)
    try:
        received = await receive_upload(
            request, hub.files, key, max_bytes=hub.settings.max_upload_bytes
        )
        if received.size == 0:
            raise InvalidInput("the file is empty", field="file")
        metadata = await check_metadata(hub, obj, received.metadata)
        async with hub.database.transaction() as session:
            job = await service.add_upload_job(
                hub,
                session,
                job_id=job_id,
                organization_id=caller.organization_id,
                instance_id=instance_id,
                object_name=object_name,
                kind=metadata.format or received.kind,
                action=metadata.action,
                identifier=metadata.identifier,
                callback_url=metadata.callback_url,
                size=received.size,
            )
            await close_receipt(session, job_id)
            answer = service.describe(job)
            return await remember_answer(
                request, session, caller.organization_id, 202, answer, fingerprint=UPLOAD
            )
    except BaseException:
        await drop_upload(hub, job_id)
        raise


@router.get("/v1/bulk")
async def list_jobs(
    instance_id: str | None = None,
    status: str | None = None,
    params: PageParams = Depends(),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    """The organization's bulk jobs, newest first."""
    before = _position(params.cursor) if params.cursor else None
    rows = await service.list_jobs(
        session,
        caller.organization_id,
        instance_id=instance_id,
        status=status,
        before=before,
        limit=params.limit + 1,
    )
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    cursor = encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id]) if more else None
    return page([service.describe(row) for row in rows], cursor)


def _position(cursor: str) -> tuple[datetime, str]:
    decoded = decode_cursor(cursor)
    try:
        created, job_id = decoded
        return datetime.fromisoformat(created), str(job_id)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("cursor is not one this API handed out", field="cursor") from exc


@router.get("/v1/bulk/{job_id}")
async def get_job(
    job_id: str,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    return service.describe(await service.get_job(session, caller.organization_id, job_id))


@router.post("/v1/bulk/{job_id}/cancel")
async def cancel_job(
    job_id: str,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    """Cancel a queued or running job (409 once it has finished)."""
    job = await service.cancel_job(session, caller.organization_id, job_id)
    return service.describe(job)


@router.get("/v1/bulk/{job_id}/results")
async def upload_results(
    job_id: str, hub: Hub = Depends(get_hub), caller: Caller = Depends(get_caller)
) -> StreamingResponse:
    """An upload's succeeded rows, one NDJSON line each: `{"row", "id", "outcome"}`."""
    return await _outcomes(hub, caller, job_id, results_key(job_id))


@router.get("/v1/bulk/{job_id}/errors")
async def upload_errors(
    job_id: str, hub: Hub = Depends(get_hub), caller: Caller = Depends(get_caller)
) -> StreamingResponse:
    """An upload's failed rows, one NDJSON line each: `{"row", "record", "error"}`."""
    return await _outcomes(hub, caller, job_id, errors_key(job_id))


async def _outcomes(hub: Hub, caller: Caller, job_id: str, key: str) -> StreamingResponse:
    """Served as they are so far, also while the job runs: rows already done stay done."""
    async with hub.database.transaction() as session:
        job = await service.get_job(session, caller.organization_id, job_id)
    if job.direction != service.UPLOAD:
        raise Problem(409, "Not an upload", f"bulk job {job.id} is a download: see /file")
    if job.files_removed_at is not None:
        raise Problem(410, "Gone", f"the files of bulk job {job.id} have expired")
    return StreamingResponse(
        download_chunks(hub.files, key, "ndjson"), media_type=MEDIA_TYPES["ndjson"]
    )


@router.get("/v1/bulk/{job_id}/file")
async def download_file(
    job_id: str,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> StreamingResponse:
    """The downloaded records, streamed as `Accept` asks (default: the job's format)."""
    return await _download(hub, caller, job_id, None, request.headers.get("accept"))


@router.get("/v1/bulk/{job_id}/{object_name}")
async def download_object(
    job_id: str,
    object_name: str,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> StreamingResponse:
    """The same file, by the job's object name."""
    return await _download(hub, caller, job_id, object_name, request.headers.get("accept"))


async def _download(
    hub: Hub, caller: Caller, job_id: str, object_name: str | None, accept: str | None
) -> StreamingResponse:
    # The transaction ends before the body streams: a slow reader holds no database lock.
    async with hub.database.transaction() as session:
        job = await service.get_job(session, caller.organization_id, job_id)
        if object_name is not None and object_name != job.object_name:
            raise Problem(
                404, "Not found", f"bulk job {job_id} is about {job.object_name}, not {object_name}"
            )
        _check_downloadable(job)
        query = parse_query(job.query) if job.query else None
    try:
        fmt = negotiate(accept, job.format)  # type: ignore[arg-type]
    except NotAcceptable as exc:
        raise Problem(406, "Not acceptable", str(exc)) from exc
    filename = f"{job.id}-{job.object_name}.{fmt}"
    key = download_key(job.id, ordered=bool(query and query.order_by))
    return StreamingResponse(
        download_chunks(hub.files, key, fmt, field_order=_header_start(query)),
        media_type=MEDIA_TYPES[fmt],
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def _check_downloadable(job: BulkJob) -> None:
    if job.direction != service.DOWNLOAD:
        raise Problem(
            409, "Not a download", f"bulk job {job.id} is an upload: see /results and /errors"
        )
    if job.files_removed_at is not None:
        raise Problem(410, "Gone", f"the files of bulk job {job.id} have expired")
    if job.status != service.COMPLETED:
        raise Problem(
            409, "Not ready", f"bulk job {job.id} is {job.status}; its file is ready once completed"
        )


def _header_start(query: Query | None) -> list[str]:
    """The CSV header's order: `id`, then the query's fields (`select *`: the records')."""
    fields = list(query.fields or ()) if query is not None else []
    return ["id", *(field for field in fields if field != "id")]
