"""An instance's OAuth tokens, renewed once at a time across every job and process.

The lock is two-level: an asyncio lock per instance in this process, then (on PostgreSQL)
a transaction-scoped advisory lock that other processes wait on. The stored tokens are
read after both are held, and renewed ones are written in that same transaction, so the
next holder reads them, never the spent refresh token.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.hub import Hub
from interlink.storage.models import Instance


class InstanceTokenKeeper:
    """The `TokenKeeper` of one instance, kept in its encrypted credentials."""

    def __init__(self, hub: Hub, instance_id: str) -> None:
        self._hub = hub
        self._instance_id = instance_id
        self._session: AsyncSession | None = None

    @asynccontextmanager
    async def renewal(self) -> AsyncIterator[Mapping[str, Any]]:
        async with self._hub.renewal_lock(self._instance_id):
            if self._hub.database.is_sqlite:
                # One process: the asyncio lock is enough. A write transaction held over
                # the vendor's token call would stall every other writer meanwhile.
                # (Read, then let go: SQLite's every transaction holds the write lock.)
                async with self._hub.database.sessions() as session:
                    stored = await self._stored(session)
                yield stored
                return
            async with self._hub.database.transaction() as session:
                await session.execute(
                    select(func.pg_advisory_xact_lock(_lock_key(self._instance_id)))
                )
                self._session = session
                try:
                    yield await self._stored(session)
                finally:
                    self._session = None

    async def save(self, tokens: dict[str, Any]) -> None:
        if self._session is not None:
            await self._write(self._session, tokens)
            return
        async with self._hub.database.transaction() as session:
            await self._write(session, tokens)

    async def _stored(self, session: AsyncSession) -> dict[str, Any]:
        credentials = await session.scalar(
            select(Instance.credentials).where(Instance.id == self._instance_id)
        )
        return {} if credentials is None else self._hub.secrets.decrypt_json(credentials)

    async def _write(self, session: AsyncSession, tokens: dict[str, Any]) -> None:
        # Saved at once: a rotated refresh token may be single-use.
        current = await session.get(Instance, self._instance_id)
        if current is None:
            return
        stored = self._hub.secrets.decrypt_json(current.credentials)
        current.credentials = self._hub.secrets.encrypt_json({**stored, **tokens})
        await session.flush()


def _lock_key(instance_id: str) -> int:
    digest = hashlib.sha256(f"interlink.oauth-renewal:{instance_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
