"""Where an authorization stands, for `GET /v1/oauth/authorizations/{id}`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import NotFound
from interlink.services.oauth_connect.common import iso_time
from interlink.storage.models import OAuthAuthorization
from interlink.storage.types import utcnow

# The token call's bound is the vendor timeout for each of its phases (pool, connect,
# write, read); beyond that, time for the DNS check before it and the transaction after.
PHASES = 4
EXCHANGE_MARGIN = timedelta(minutes=1)
INTERRUPTED = (
    "Exchange interrupted: the hub stopped before the authorization code was exchanged "
    "and the instance created; nothing was created. Start again from "
    "/v1/oauth/{element}/authorize"
)


async def describe_authorization(
    session: AsyncSession,
    organization_id: str,
    authorization_id: str,
    *,
    vendor_timeout_seconds: float,
) -> dict[str, Any]:
    """The flow as `GET /v1/oauth/authorizations/{id}` shows it.

    An exchange is one call to the vendor's token endpoint and one transaction that
    creates the instance and completes the flow together. A flow still `exchanging` well
    past that was cut short (the hub stopped mid-exchange): it shows as failed, since no
    instance was created and the spent code cannot be used again.
    """
    row = await session.scalar(
        select(OAuthAuthorization).where(
            OAuthAuthorization.id == authorization_id,
            OAuthAuthorization.organization_id == organization_id,
        )
    )
    if row is None:
        raise NotFound(f"no authorization {authorization_id!r}")
    status, error, now = row.status, row.error, utcnow()
    if status == "pending" and row.expires_at <= now:
        status = "expired"
    give_up = timedelta(seconds=PHASES * vendor_timeout_seconds) + EXCHANGE_MARGIN
    if status == "exchanging" and row.used_at is not None and row.used_at + give_up <= now:
        status, error = "failed", INTERRUPTED.format(element=row.element_key)
    return {
        "id": row.id,
        "element": row.element_key,
        "status": status,
        "instance_id": row.instance_id,
        "error": error,
        "created_at": iso_time(row.created_at),
        "expires_at": iso_time(row.expires_at),
    }
