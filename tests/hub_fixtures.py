"""Fixtures for tests of a running hub: uvicorn on loopback, an organization, a client.

Loaded for every test by `tests/conftest.py` (pytest_plugins)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from interlink.server import RunningHub, running_hub
from interlink.services.organizations import create_organization
from interlink.settings import Settings


@dataclass(frozen=True)
class Org:
    id: str
    key: str


@pytest.fixture
def hub_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "hub",
        allow_private_networks=True,
        secret_key="test-secret-key-0123456789-abcdefghijklmnop",
    )


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    async with running_hub(hub_settings, workers=False) as running:
        yield running


async def make_org(hub: RunningHub, name: str = "Acme") -> Org:
    async with hub.hub.database.transaction() as session:
        organization, key = await create_organization(session, name)
    return Org(organization.id, key)


@pytest.fixture
async def org(hub: RunningHub) -> Org:
    return await make_org(hub)


@pytest.fixture
async def api(hub: RunningHub, org: Org) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {org.key}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def anonymous(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        yield client
