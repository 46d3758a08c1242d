"""`/v1/instances`: create, list, get, patch, delete, check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.auth import Caller, get_caller, get_hub, transaction
from interlink.api.idempotency import idempotent
from interlink.api.pagination import PageParams, decode_cursor, encode_cursor, page
from interlink.elements.catalog import find_element
from interlink.hub import Hub
from interlink.services import instances as service
from interlink.services.records import check_connection
from interlink.vendor import VendorError

router = APIRouter(prefix="/v1/instances", tags=["instances"])


@router.post("", status_code=201)
async def create_instance(
    body: service.NewInstance,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    async def create() -> tuple[int, Any]:
        instance = await service.create_instance(hub, session, caller.organization_id, body)
        return 201, await service.describe_instance(hub, session, instance)

    return await idempotent(request, session, caller.organization_id, create)


@router.get("")
async def list_instances(
    params: PageParams = Depends(),
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    after = str(decode_cursor(params.cursor)) if params.cursor else None
    rows = await service.list_instances(
        session, caller.organization_id, after=after, limit=params.limit + 1
    )
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    data = [await service.describe_instance(hub, session, row) for row in rows]
    return page(data, encode_cursor(rows[-1].id) if more else None)


@router.get("/{instance_id}")
async def get_instance(
    instance_id: str,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    instance = await service.get_instance(session, caller.organization_id, instance_id)
    return await service.describe_instance(hub, session, instance)


@router.patch("/{instance_id}")
async def patch_instance(
    instance_id: str,
    body: service.InstancePatch,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    instance = await service.get_instance(session, caller.organization_id, instance_id)
    instance = await service.update_instance(hub, session, instance, body)
    return await service.describe_instance(hub, session, instance)


@router.delete("/{instance_id}", status_code=204)
async def delete_instance(
    instance_id: str,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    instance = await service.get_instance(session, caller.organization_id, instance_id)
    await service.delete_instance(hub, session, instance)
    return Response(status_code=204)


@router.post("/{instance_id}/check")
async def check_instance(
    instance_id: str, hub: Hub = Depends(get_hub), caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    """Tests the connection now; the outcome is in `status.auth` (the call itself succeeds)."""
    async with hub.database.transaction() as session:
        instance = await service.get_instance(session, caller.organization_id, instance_id)
        element = await find_element(session, caller.organization_id, instance.element_key)
    outcome: dict[str, Any] = {"ok": True, "error": None}
    try:
        await check_connection(hub, instance, element)
    except VendorError as exc:
        outcome = {"ok": False, "error": str(exc)}
    async with hub.database.transaction() as session:
        instance = await service.get_instance(session, caller.organization_id, instance_id)
        return {"check": outcome, **await service.describe_instance(hub, session, instance)}
