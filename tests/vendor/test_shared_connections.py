"""The hub's pools of vendor connections: clients come and go, connections stay (one pool
per vendor origin), a vendor nobody calls any more loses its pool, and the hub closes
them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.hub import VENDOR_LIMITS, Hub
from interlink.security.outbound import guarded_transport
from interlink.settings import Settings
from interlink.vendor.pools import LentTransport, PoolsByOrigin


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pools_on(clock: Clock) -> PoolsByOrigin:
    return PoolsByOrigin(
        lambda: guarded_transport(allow_private=True, limits=VENDOR_LIMITS),
        idle_seconds=600,
        clock=clock,
    )


async def port_through(pools: PoolsByOrigin, url: str) -> int:
    async with httpx.AsyncClient(transport=LentTransport(pools)) as client:
        return int((await client.get(f"{url}/peer")).json()["port"])


async def test_a_vendor_nobody_called_for_a_while_loses_its_pool(
    vendor_url: str, other_vendor_url: str
) -> None:
    clock = Clock()
    pools = pools_on(clock)
    try:
        kept = await port_through(pools, vendor_url)
        await port_through(pools, other_vendor_url)
        clock.now += 400
        assert await port_through(pools, vendor_url) == kept
        clock.now += 400  # the other vendor: 800 s unused; this one: 400 s
        assert await port_through(pools, vendor_url) == kept
        assert len(pools.origins) == 1
        assert pools.origins[0][2] == httpx.URL(vendor_url).port
        # Called again, the other vendor simply gets a new pool.
        await port_through(pools, other_vendor_url)
        assert len(pools.origins) == 2
    finally:
        await pools.aclose()


async def test_a_pool_with_a_request_under_way_is_kept_however_long_it_takes(
    vendor_url: str, other_vendor_url: str
) -> None:
    clock = Clock()
    pools = pools_on(clock)
    try:
        async with (
            httpx.AsyncClient(transport=LentTransport(pools)) as client,
            client.stream("GET", f"{other_vendor_url}/peer") as long_download,
        ):
            clock.now += 700
            kept = await port_through(pools, vendor_url)  # a sweep runs before this request
            assert len(pools.origins) == 2
            assert long_download.status_code == 200
            assert "port" in orjson.loads(await long_download.aread())
        clock.now += 500  # the download's pool: idle since it ended, unused for 1,200 s
        assert await port_through(pools, vendor_url) == kept
        assert [origin[2] for origin in pools.origins] == [httpx.URL(vendor_url).port]
    finally:
        await pools.aclose()
