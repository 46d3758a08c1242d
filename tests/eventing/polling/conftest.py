"""Fixtures of the polling tests: a hub on the test database (SQLite and PostgreSQL) with
the poll task registered, and a live sandbox on a test-driven clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlink.eventing.polling.tasks import register_polling
from interlink.hub import Hub
from interlink.runtime import EmbeddedRuntime, TaskRegistry
from interlink.sandbox import RunningSandbox, SandboxConfig, SandboxStore, running_sandbox
from interlink.security.secrets_box import SecretBox
from interlink.settings import Settings
from interlink.storage.database import Database

from .support import API_KEY, VendorClock, VendorTap, make_org

SECRET_KEY = "polling-tests-secret-key-0123456789-abcdef"


@pytest.fixture
async def poll_hub(database: Database, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(
        data_dir=tmp_path / "hub",
        database_url=database.url,
        allow_private_networks=True,
        secret_key=SECRET_KEY,
        poll_jitter=0,
    )
    hub = Hub(settings=settings, database=database, secrets=SecretBox(settings.secret_keys))
    registry = TaskRegistry()
    register_polling(registry, hub)
    hub.runtime_ = EmbeddedRuntime(database, registry, poll_interval=0.02)
    yield hub
    await hub.close()  # its vendor connections (the database fixture disposes again: harmless)


@pytest.fixture
async def org_id(poll_hub: Hub) -> str:
    return await make_org(poll_hub)


@pytest.fixture
def vendor_clock() -> VendorClock:
    return VendorClock()


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(api_key=API_KEY)


@pytest.fixture
async def sandbox(
    sandbox_config: SandboxConfig, vendor_clock: VendorClock
) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(sandbox_config, store=SandboxStore(vendor_clock)) as running:
        yield running


@pytest.fixture
def tap(poll_hub: Hub) -> VendorTap:
    tap = VendorTap()
    tap.install(poll_hub)
    return tap
