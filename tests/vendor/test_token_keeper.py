"""OAuth renewals of one instance happen once, however many jobs and processes need one.

The token server rotates refresh tokens (each is single-use), as HubSpot and Salesforce
may: a second renewal with the same refresh token would be refused and fail the job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlink.elements.definition import ElementDefinition
from interlink.hub import Hub
from interlink.services.connections import vendor_client
from interlink.settings import Settings
from interlink.storage.migrate import migrate
from interlink.storage.models import Instance, Organization

from .support import serving
from .test_auth import OAUTH_VALUES, PROTECTED, AuthServer, refresh_element

CALLS_PER_HUB = 4


@pytest.fixture
async def server() -> AsyncIterator[AuthServer]:
    state = AuthServer()
    async with serving(state.app()) as url:
        state.url = url
        yield state


def _hub(database_url: str, data_dir: Path) -> Hub:
    return Hub.from_settings(
        Settings(
            database_url=database_url,
            data_dir=data_dir,
            allow_private_networks=True,
            secret_key="test-secret-key-0123456789-abcdefghijklmnop",
        )
    )


async def _stored_instance(hub: Hub, server: AuthServer) -> Instance:
    """An instance whose stored access token has expired: its next call must renew."""
    credentials = {
        **OAUTH_VALUES,
        "refresh_token": "rt-0",
        "access_token": "at-expired",
        "token_expires_at": int(time.time()) - 10,
    }
    async with hub.database.transaction() as session:
        session.add(Organization(id="org_oauth", name="oauth"))
        await session.flush()
        instance = Instance(
            id="inst_oauth",
            organization_id="org_oauth",
            element_key="oauth-test",
            name="oauth",
            config={"base_url": server.url},
            credentials=hub.secrets.encrypt_json(credentials),
            events={},
            signing_secret="whsec_test",
            hook_token="token",
        )
        session.add(instance)
    return instance


async def _call(hub: Hub, instance: Instance, element: ElementDefinition) -> str:
    async with vendor_client(hub, instance, element) as client:
        answer = await client.call(PROTECTED)
    token: str = answer["token"]
    return token


async def test_one_renewal_for_many_concurrent_clients_across_processes(
    database_url: str, server: AuthServer, tmp_path: Path
) -> None:
    # Two hubs with their own engines and locks are two processes; SQLite is embedded
    # (one process), so there one hub runs every client.
    first = _hub(database_url, tmp_path / "first")
    if first.database.is_sqlite:
        await migrate(first.database)
    hubs = [first] if first.database.is_sqlite else [first, _hub(database_url, tmp_path / "b")]
    element = refresh_element()
    try:
        instance = await _stored_instance(first, server)
        calls = [_call(hub, instance, element) for hub in hubs for _ in range(CALLS_PER_HUB)]
        tokens = await asyncio.gather(*calls)
        async with first.database.sessions() as session:
            stored = first.secrets.decrypt_json(
                (await session.get(Instance, instance.id)).credentials  # type: ignore[union-attr]
            )
    finally:
        for hub in hubs:
            await hub.close()

    assert [form["refresh_token"] for form in server.token_forms] == ["rt-0"]
    assert set(tokens) == {"at-1"}
    assert stored["refresh_token"] == "rt-1"
    assert stored["access_token"] == "at-1"


async def test_a_client_with_old_tokens_takes_the_renewed_ones_from_the_store(
    database_url: str, server: AuthServer, tmp_path: Path
) -> None:
    """A client built before another renewed holds a spent refresh token: it must not use it."""
    hub = _hub(database_url, tmp_path / "hub")
    if hub.database.is_sqlite:
        await migrate(hub.database)
    element = refresh_element()
    try:
        instance = await _stored_instance(hub, server)
        async with vendor_client(hub, instance, element) as stale:
            assert await _call(hub, instance, element) == "at-1"  # another job renews
            server.valid_tokens.discard("at-1")  # and the vendor revokes that token early
            assert (await stale.call(PROTECTED))["token"] == "at-2"
    finally:
        await hub.close()
    assert [form["refresh_token"] for form in server.token_forms] == ["rt-0", "rt-1"]
