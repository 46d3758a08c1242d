"""Fixtures of the bulk tests: a hub serving its API on SQLite and on PostgreSQL (jobs run
by the test, one at a time), a seeded sandbox, and an instance of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from interlink.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from interlink.security.outbound import guarded_transport
from interlink.server import RunningHub
from interlink.settings import Settings

API_KEY = "bulk-tests-sandbox-key"
SEED = 250


@pytest.fixture
def hub_settings(tmp_path: Path, database_url: str) -> Settings:
    """The hub of every bulk test, once per database backend."""
    return Settings(
        data_dir=tmp_path / "hub",
        database_url=database_url,
        allow_private_networks=True,
        secret_key="bulk-tests-secret-key-0123456789-abcdefghij",
    )


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(api_key=API_KEY, seed=SEED, random_seed=7)


@pytest.fixture
async def sandbox(sandbox_config: SandboxConfig) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(sandbox_config) as running:
        yield running


@pytest.fixture
async def instance_id(api: httpx.AsyncClient, sandbox: RunningSandbox) -> str:
    answer = await api.post(
        "/v1/instances",
        json={
            "element": "sandbox",
            "name": "crm",
            "config": {"base_url": sandbox.url, "api_key": API_KEY},
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


Hook = Callable[[int, httpx.Request], Awaitable[httpx.Response | None]]


@dataclass
class VendorTap:
    """Every vendor call of the hub goes through here; `on_request` sees each request
    (numbered from 1) and may answer it instead of the vendor, or raise."""

    on_request: Hook | None = None
    count: int = 0
    requests: list[str] = field(default_factory=list)

    def install(self, running: RunningHub) -> None:
        tap = self

        class Tapped(httpx.AsyncBaseTransport):
            def __init__(self) -> None:
                self.inner = guarded_transport(allow_private=True)

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                tap.count += 1
                tap.requests.append(
                    f"{request.method} {request.url.path}?{request.url.query.decode()}"
                )
                if tap.on_request is not None:
                    answer = await tap.on_request(tap.count, request)
                    if answer is not None:
                        return answer
                return await self.inner.handle_async_request(request)

            async def aclose(self) -> None:
                await self.inner.aclose()

        running.hub.vendor_transport = Tapped  # type: ignore[method-assign]


@pytest.fixture
def tap(hub: RunningHub) -> VendorTap:
    tap = VendorTap()
    tap.install(hub)
    return tap
