"""`/v1/api-keys`: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.auth import Caller, get_caller, transaction
from interlink.api.idempotency import idempotent
from interlink.api.pagination import PageParams, decode_cursor, encode_cursor, page
from interlink.services import organizations
from interlink.storage.models import ApiKey

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)


def describe(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


@router.post("", status_code=201)
async def create_api_key(
    request: Request,
    body: NewApiKey | None = None,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    async def create() -> tuple[int, Any]:
        row, key = await organizations.create_api_key(
            session, caller.organization_id, name=body.name if body else None
        )
        return 201, {**describe(row), "key": key}

    return await idempotent(request, session, caller.organization_id, create)


@router.get("")
async def list_api_keys(
    params: PageParams = Depends(),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    after = decode_cursor(params.cursor) if params.cursor else None
    rows = await organizations.list_api_keys(
        session, caller.organization_id, after=str(after) if after else None, limit=params.limit + 1
    )
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return page([describe(r) for r in rows], encode_cursor(rows[-1].id) if more else None)


@router.delete("/{key_id}", status_code=204)
async def revoke_api_key(
    key_id: str, caller: Caller = Depends(get_caller), session: AsyncSession = transaction()
) -> Response:
    await organizations.revoke_api_key(session, caller.organization_id, key_id)
    return Response(status_code=204)
