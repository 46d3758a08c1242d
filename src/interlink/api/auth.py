"""Bearer authentication: the organization a request acts for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.problems import Problem
from interlink.hub import Hub
from interlink.security.api_keys import parse_bearer
from interlink.services.organizations import authenticate


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def get_session(hub: Hub = Depends(get_hub)) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    async with hub.database.transaction() as session:
        yield session


def transaction() -> Any:
    """`session: AsyncSession = transaction()`: the request's transaction, committed when
    the route returns and *before* the answer is sent. FastAPI's default scope ends a
    `yield` dependency after the response: a client acting on a 2xx could then miss the
    write it was told about (PostgreSQL shows it; SQLite's single writer hid it)."""
    return Depends(get_session, scope="function")


@dataclass(frozen=True)
class Caller:
    organization_id: str


UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="interlink"'}


async def get_caller(request: Request, hub: Hub = Depends(get_hub)) -> Caller:
    key = parse_bearer(request.headers.get("authorization"))
    if key is None:
        raise Problem(
            401, "Unauthorized", "send Authorization: Bearer <API key>", headers=UNAUTHORIZED
        )
    async with hub.database.transaction() as session:
        organization_id = await authenticate(session, key)
    if organization_id is None:
        raise Problem(401, "Unauthorized", "the API key is not valid", headers=UNAUTHORIZED)
    return Caller(organization_id)
