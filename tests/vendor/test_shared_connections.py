"""The hub's pools of vendor connections: clients come and go, connections stay (one pool
per vendor origin), and the hub closes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.hub import Hub
from interlink.settings import Settings


async def _peer(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"port": request.client.port})


VENDOR = Starlette(routes=[Route("/peer", _peer)])


@pytest.fixture
async def vendor_url() -> AsyncIterator[str]:
    async with serving(VENDOR) as url:
        yield url


@pytest.fixture
async def other_vendor_url() -> AsyncIterator[str]:
    async with serving(VENDOR) as url:
        yield url


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(
        data_dir=tmp_path,
        allow_private_networks=True,
        secret_key="shared-connections-secret-key-0123456789",
    )
    hub = Hub.from_settings(settings)
    yield hub
    await hub.close()


async def peer_port(hub: Hub, url: str) -> int:
    """One request through a client of its own, closed afterwards (as a poll's is)."""
    async with httpx.AsyncClient(transport=hub.vendor_transport()) as client:
        return int((await client.get(f"{url}/peer")).json()["port"])


async def test_clients_of_one_vendor_reuse_the_connection_the_last_one_left(
    hub: Hub, vendor_url: str
) -> None:
    first = await peer_port(hub, vendor_url)
    assert await peer_port(hub, vendor_url) == first  # same socket: no new handshake


async def test_each_vendor_origin_keeps_its_own_connections(
    hub: Hub, vendor_url: str, other_vendor_url: str
) -> None:
    first = await peer_port(hub, vendor_url)
    other = await peer_port(hub, other_vendor_url)
    assert await peer_port(hub, vendor_url) == first
    assert await peer_port(hub, other_vendor_url) == other
    assert len(hub._vendor_pools.origins) == 2


async def test_closing_the_hub_closes_the_pools_connections(hub: Hub, vendor_url: str) -> None:
    before = await peer_port(hub, vendor_url)
    await hub.close()
    assert await peer_port(hub, vendor_url) != before  # the kept one was closed
