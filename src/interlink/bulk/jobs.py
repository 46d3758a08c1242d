"""Bulk jobs as the API sees them: create, read, list, cancel.

Creating a job and queueing its work are one transaction: a job row without its
background job (or the reverse) cannot exist.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.bulk.plan import plan_query
from interlink.bulk.task_names import EXPORT_TASK, UPLOAD_TASK, job_lock
from interlink.elements.catalog import find_element
from interlink.errors import Conflict, InvalidInput, NotFound
from interlink.hub import Hub
from interlink.security.outbound import check_url
from interlink.services.instances import get_instance
from interlink.storage.models import BulkJob
from interlink.storage.types import utcnow

DOWNLOAD = "download"
UPLOAD = "upload"
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)
FINISHED = (COMPLETED, FAILED, CANCELLED)
STATUSES = (QUEUED, RUNNING, *FINISHED)

Format = Literal["ndjson", "csv", "json"]
Action = Literal["create", "update", "upsert", "delete"]


class NewQueryJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=20_000, description="a CEQL query")
    format: Format = Field("ndjson", description="the download's format when Accept names none")
    native: bool = Field(
        True,
        description="false pages through the API even where the vendor has a native bulk export",
    )
    callback_url: str | None = Field(None, max_length=2000)


def new_job_id() -> str:
    return "bulk_" + secrets.token_hex(12)


async def create_query_job(
    hub: Hub, session: AsyncSession, organization_id: str, instance_id: str, body: NewQueryJob
) -> BulkJob:
    instance = await get_instance(session, organization_id, instance_id)
    element = await find_element(session, organization_id, instance.element_key)
    plan = plan_query(element, body.q)
    await _check_callback(hub, body.callback_url)
    return await _queue(
        hub,
        session,
        EXPORT_TASK,
        id=new_job_id(),
        organization_id=organization_id,
        instance_id=instance.id,
        object_name=plan.object_name,
        direction=DOWNLOAD,
        format=body.format,
        query=body.q,
        native_requested=body.native,
        callback_url=body.callback_url,
    )


async def add_upload_job(
    hub: Hub,
    session: AsyncSession,
    *,
    job_id: str,
    organization_id: str,
    instance_id: str,
    object_name: str,
    kind: Format,
    action: Action,
    identifier: str | None,
    callback_url: str | None,
    size: int,
) -> BulkJob:
    """The row and the queued work of an upload whose file is already stored."""
    return await _queue(
        hub,
        session,
        UPLOAD_TASK,
        id=job_id,
        organization_id=organization_id,
        instance_id=instance_id,
        object_name=object_name,
        direction=UPLOAD,
        format=kind,
        action=action,
        identifier=identifier,
        checkpoint={"size": size},
        native_requested=True,
        callback_url=callback_url,
    )


async def _queue(hub: Hub, session: AsyncSession, task: str, **fields: Any) -> BulkJob:
    """A new job row, queued, and its background job deferred in the same transaction."""
    job = BulkJob(
        status=QUEUED,
        native=False,
        records=0,
        failed=0,
        pages=0,
        bytes=0,
        created_at=utcnow(),
        **fields,
    )
    session.add(job)
    await session.flush()
    await hub.runtime.defer(task, {"job_id": job.id}, lock=job_lock(job.id), session=session)
    return job


async def _check_callback(hub: Hub, url: str | None) -> None:
    if url is not None:
        await check_url(
            url, allow_private=hub.settings.allow_private_networks, field="callback_url"
        )


async def get_job(session: AsyncSession, organization_id: str, job_id: str) -> BulkJob:
    """The organization's job; another organization's id is as unknown as a made-up one."""
    job = await session.get(BulkJob, job_id)
    if job is None or job.organization_id != organization_id:
        raise NotFound(f"bulk job {job_id!r} not found")
    return job


async def list_jobs(
    session: AsyncSession,
    organization_id: str,
    *,
    instance_id: str | None,
    status: str | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[BulkJob]:
    """Newest first; `before` is the (created_at, id) of the last job of the previous page."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    query = select(BulkJob).where(BulkJob.organization_id == organization_id)
    if instance_id is not None:
        query = query.where(BulkJob.instance_id == instance_id)
    if status is not None:
        query = query.where(BulkJob.status == status)
    if before is not None:
        created, last_id = before
        query = query.where(
            (BulkJob.created_at < created)
            | ((BulkJob.created_at == created) & (BulkJob.id < last_id))
        )
    query = query.order_by(BulkJob.created_at.desc(), BulkJob.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def cancel_job(session: AsyncSession, organization_id: str, job_id: str) -> BulkJob:
    """Stop a queued or running job; its worker notices at its next checkpoint."""
    job = await get_job(session, organization_id, job_id)
    if job.status in FINISHED:
        raise Conflict(f"bulk job {job_id} has already {_ended(job.status)}")
    job.status = CANCELLED
    job.finished_at = utcnow()
    return job


def _ended(status: str) -> str:
    return {COMPLETED: "completed", FAILED: "failed", CANCELLED: "been cancelled"}[status]


def describe(job: BulkJob, now: datetime | None = None) -> dict[str, Any]:
    """The job as the API shows it: the SPEC's fields, then progress and the request."""
    shown: dict[str, Any] = {
        "id": job.id,
        "instance_id": job.instance_id,
        "object": job.object_name,
        "direction": job.direction,
        "status": job.status,
        "records": job.records,
        "failed": job.failed,
        "native": job.native,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "format": job.format,
        "progress": {
            "pages": job.pages,
            "bytes": job.bytes,
            "records_per_second": _rate(job, now or utcnow()),
            "updated_at": _iso(job.progressed_at),
        },
    }
    if job.direction == DOWNLOAD:
        shown["query"] = job.query
    else:
        shown["action"] = job.action
        shown["identifier"] = job.identifier
        shown["progress"]["total_bytes"] = (job.checkpoint or {}).get("size")
    if job.callback_url:
        shown["callback_url"] = job.callback_url
    return shown


def _rate(job: BulkJob, now: datetime) -> float | None:
    if job.started_at is None:
        return None
    end = job.finished_at or job.progressed_at or now
    seconds = (end - job.started_at).total_seconds()
    done = job.records + job.failed
    return round(done / seconds, 1) if seconds > 0 else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
