"""Where an authorization stands, for `GET /v1/oauth/authorizations/{id}`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import NotFound
from interlink.services.oauth_connect.common import (
    iso_time,
)
from interlink.storage.models import OAuthAuthorization
from interlink.storage.types import utcnow


async def describe_authorization(
    session: AsyncSession, organization_id: str, authorization_id: str
) -> dict[str, Any]:
    row = await session.scalar(
        select(OAuthAuthorization).where(
            OAuthAuthorization.id == authorization_id,
            OAuthAuthorization.organization_id == organization_id,
        )
    )
    if row is None:
        raise NotFound(f"no authorization {authorization_id!r}")
    status = row.status
    if status == "pending" and row.expires_at <= utcnow():
        status = "expired"
    return {
        "id": row.id,
        "element": row.element_key,
        "status": status,
        "instance_id": row.instance_id,
        "error": row.error,
        "created_at": iso_time(row.created_at),
        "expires_at": iso_time(row.expires_at),
    }
