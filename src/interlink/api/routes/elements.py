"""`/v1/elements`: the catalog, and an organization's own element definitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.auth import Caller, get_caller, transaction
from interlink.api.idempotency import idempotent
from interlink.api.pagination import PageParams, decode_cursor, encode_cursor, page
from interlink.api.problems import Problem
from interlink.elements.capabilities import describe
from interlink.elements.catalog import builtin_elements, custom_elements, find_element
from interlink.elements.loading import validate_definition
from interlink.services import elements as element_service

router = APIRouter(prefix="/v1/elements", tags=["elements"])

MAX_DEFINITION_BYTES = 1024 * 1024
DEFINITION_BODY = {
    "requestBody": {
        "required": True,
        "description": "An element definition, JSON or YAML (`interlink elements schema`).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


async def _definition_text(request: Request) -> str:
    raw = await request.body()
    if len(raw) > MAX_DEFINITION_BYTES:
        raise Problem(413, "Definition too large", f"at most {MAX_DEFINITION_BYTES} bytes")
    if not raw.strip():
        raise Problem(400, "Empty body", "send the element definition as JSON or YAML")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Invalid encoding", "the definition must be UTF-8") from exc


@router.get("")
async def list_elements(
    params: PageParams = Depends(),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    everything = [describe(d) for d in builtin_elements().values()]
    everything += [
        describe(validate_definition(row.definition), custom=True)
        for row in await custom_elements(session, caller.organization_id)
    ]
    everything.sort(key=lambda element: str(element["key"]))
    after = str(decode_cursor(params.cursor)) if params.cursor else ""
    remaining = [element for element in everything if str(element["key"]) > after]
    chunk = remaining[: params.limit]
    more = len(remaining) > params.limit
    return page(chunk, encode_cursor(chunk[-1]["key"]) if more else None)


@router.get("/{key}")
async def get_element(
    key: str, caller: Caller = Depends(get_caller), session: AsyncSession = transaction()
) -> dict[str, Any]:
    definition = await find_element(session, caller.organization_id, key)
    return describe(definition, custom=key not in builtin_elements())


@router.post("", status_code=201, openapi_extra=DEFINITION_BODY)
async def register_element(
    request: Request,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    text = await _definition_text(request)

    async def create() -> tuple[int, Any]:
        definition = await element_service.register(session, caller.organization_id, text)
        return 201, describe(definition, custom=True)

    return await idempotent(request, session, caller.organization_id, create)


@router.put("/{key}", openapi_extra=DEFINITION_BODY)
async def replace_element(
    key: str,
    request: Request,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    text = await _definition_text(request)
    definition = await element_service.replace(session, caller.organization_id, key, text)
    return describe(definition, custom=True)


@router.delete("/{key}", status_code=204)
async def delete_element(
    key: str, caller: Caller = Depends(get_caller), session: AsyncSession = transaction()
) -> Response:
    await element_service.remove(session, caller.organization_id, key)
    return Response(status_code=204)
