"""`/v1/instances/{id}/objects/{object}`: records read and written at the vendor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from interlink.api.auth import Caller, get_caller, get_hub
from interlink.api.idempotency import remember_answer, replay_answer
from interlink.api.pagination import PageParams, decode_cursor, encode_cursor, page
from interlink.api.problems import Problem
from interlink.hub import Hub
from interlink.services import records as service

router = APIRouter(prefix="/v1/instances/{instance_id}/objects/{object_name}", tags=["records"])

RecordBody = Body(..., description="the record's fields, in the vendor's shape")


@router.get("")
async def list_records(
    instance_id: str,
    object_name: str,
    where: str | None = Query(None, description="CEQL condition, e.g. email = 'a@b.c'"),
    params: PageParams = Depends(),
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    target = await service.resolve(hub, caller.organization_id, instance_id, object_name)
    position = decode_cursor(params.cursor) if params.cursor else None
    if position is not None and not isinstance(position, dict):
        raise Problem(
            400, "Invalid cursor", "cursor is not one this API handed out", field="cursor"
        )
    result = await service.list_records(
        hub, target, where=where, limit=params.limit, position=position
    )
    cursor = encode_cursor(result.next_position) if result.next_position else None
    return page(result.records, cursor)


@router.post("", status_code=201)
async def create_record(
    instance_id: str,
    object_name: str,
    request: Request,
    record: dict[str, Any] = RecordBody,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> Response:
    target = await service.resolve(hub, caller.organization_id, instance_id, object_name)
    # No transaction is held across the vendor call: look up, call, then remember.
    async with hub.database.transaction() as session:
        replay = await replay_answer(request, session, caller.organization_id)
    if replay is not None:
        return replay
    created = await service.create_record(hub, target, record)
    async with hub.database.transaction() as session:
        return await remember_answer(request, session, caller.organization_id, 201, created)


@router.get("/{record_id}")
async def get_record(
    instance_id: str,
    object_name: str,
    record_id: str,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    target = await service.resolve(hub, caller.organization_id, instance_id, object_name)
    return await service.get_record(hub, target, record_id)


@router.patch("/{record_id}")
async def patch_record(
    instance_id: str,
    object_name: str,
    record_id: str,
    fields: dict[str, Any] = RecordBody,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    target = await service.resolve(hub, caller.organization_id, instance_id, object_name)
    return await service.update_record(hub, target, record_id, fields)


@router.delete("/{record_id}", status_code=204)
async def delete_record(
    instance_id: str,
    object_name: str,
    record_id: str,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> Response:
    target = await service.resolve(hub, caller.organization_id, instance_id, object_name)
    await service.delete_record(hub, target, record_id)
    return Response(status_code=204)
