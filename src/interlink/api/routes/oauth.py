"""`/v1/oauth`: creating instances through the vendor's OAuth2 consent (authorization code).

`GET /v1/oauth/{element}/authorize` answers 302 to the vendor (for a caller that hands the
`Location` to a browser); `POST` takes the same in a JSON body (secret config included)
and answers 201 with the `authorize_url`. `GET /v1/oauth/callback` is where the vendor
sends the browser back: it carries no API key, the single-use `state` is the proof.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.auth import Caller, get_caller, get_hub, transaction
from interlink.api.idempotency import idempotent
from interlink.api.problems import problem_response
from interlink.hub import Hub
from interlink.services import oauth_connect as service

router = APIRouter(prefix="/v1/oauth", tags=["oauth"])

# Nothing of a flow under way belongs in a cache (the answers name states and instances).
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/callback", include_in_schema=True)
async def callback(
    request: Request,
    hub: Hub = Depends(get_hub),
) -> Response:
    query = request.query_params
    try:
        completed = await service.complete_authorization(
            hub,
            state=query.get("state"),
            code=query.get("code"),
            error=query.get("error"),
            error_description=query.get("error_description"),
            query=list(query.multi_items()),
        )
    except service.AuthorizationFailed as exc:
        if exc.redirect_after is not None:
            return _redirect(
                exc.redirect_after,
                error=exc.code,
                error_description=exc.detail,
                authorization_id=exc.authorization_id,
            )
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            headers=NO_STORE,
            error=exc.code,
            authorization_id=exc.authorization_id,
        )
    instance = completed.instance
    if completed.redirect_after is not None:
        return _redirect(
            completed.redirect_after,
            instance_id=instance["id"],
            authorization_id=completed.authorization_id,
        )
    return Response(
        orjson.dumps(instance),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/v1/instances/{instance['id']}", **NO_STORE},
    )


@router.get("/authorizations/{authorization_id}")
async def get_authorization(
    authorization_id: str,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    """Where a flow stands: pending, exchanging, completed (with `instance_id`), failed, expired."""
    return await service.describe_authorization(
        session,
        caller.organization_id,
        authorization_id,
        vendor_timeout_seconds=hub.settings.vendor_timeout_seconds,
    )


@router.get("/{element}/authorize", status_code=302)
async def authorize_redirect(
    element: str,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    """302 to the vendor's consent screen; the body says the same as JSON."""
    body = await service.request_from_query(
        session, caller.organization_id, element, list(request.query_params.multi_items())
    )
    started = await service.start_authorization(hub, session, caller.organization_id, element, body)
    return Response(
        orjson.dumps(started.describe()),
        status_code=302,
        media_type="application/json",
        headers={"Location": started.authorize_url, **NO_STORE},
    )


@router.post("/{element}/authorize", status_code=201)
async def authorize(
    element: str,
    body: service.AuthorizationRequest,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    """201 `{"id", "authorize_url", "expires_at"}`: send the browser to `authorize_url`."""

    async def create() -> tuple[int, Any]:
        started = await service.start_authorization(
            hub, session, caller.organization_id, element, body
        )
        return 201, started.describe()

    return await idempotent(request, session, caller.organization_id, create)


def _redirect(target: str, **params: str | None) -> Response:
    url = httpx.URL(target)
    extra = urlencode({name: value for name, value in params.items() if value is not None})
    query = f"{url.query.decode()}&{extra}" if url.query else extra
    return Response(
        status_code=302, headers={"Location": str(url.copy_with(query=query.encode())), **NO_STORE}
    )
