"""Organizations (tenants) and their API keys; only SHA-256 hashes of keys are stored."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import InvalidInput, NotFound
from interlink.ids import new_id
from interlink.security.api_keys import generate_api_key, hash_api_key
from interlink.storage.models import ApiKey, Organization
from interlink.storage.types import utcnow

# Recording each use would turn every read into a write; once a minute is enough to see use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def create_organization(session: AsyncSession, name: str) -> tuple[Organization, str]:
    """A new organization and its first API key (the key is only ever shown here)."""
    name = name.strip()
    if not name:
        raise InvalidInput("an organization needs a name", field="name")
    organization = Organization(id=new_id("org"), name=name)
    session.add(organization)
    await session.flush()
    _, key = await create_api_key(session, organization.id, name="default")
    return organization, key


async def create_api_key(
    session: AsyncSession, organization_id: str, *, name: str | None
) -> tuple[ApiKey, str]:
    key, prefix, key_hash = generate_api_key()
    row = ApiKey(
        id=new_id("key"),
        organization_id=organization_id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_api_keys(
    session: AsyncSession, organization_id: str, *, after: str | None, limit: int
) -> list[ApiKey]:
    query = select(ApiKey).where(
        ApiKey.organization_id == organization_id, ApiKey.revoked_at.is_(None)
    )
    if after:
        query = query.where(ApiKey.id > after)
    rows = await session.scalars(query.order_by(ApiKey.id).limit(limit))
    return list(rows)


async def revoke_api_key(session: AsyncSession, organization_id: str, key_id: str) -> None:
    row = await session.scalar(
        select(ApiKey).where(
            ApiKey.id == key_id,
            ApiKey.organization_id == organization_id,
            ApiKey.revoked_at.is_(None),
        )
    )
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    row.revoked_at = utcnow()


async def authenticate(session: AsyncSession, key: str) -> str | None:
    """The organization id of a valid, unrevoked key, or None."""
    row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row.organization_id
