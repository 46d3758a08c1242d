"""Vendor connections kept between calls: one pool per vendor origin, for the process.

A poll, an export page and an upload chunk each build a client of their own; with a pool
per client, every poll paid a new connection (a TCP handshake here, a TLS handshake at an
HTTPS vendor). The hub holds one `PoolsByOrigin` and lends it to every client through a
`LentTransport`, which the client may close. A pool per origin rather than one for all:
httpcore looks over every connection of a pool, idle ones included, on each request.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

Origin = tuple[bytes, bytes, int | None]


class PoolsByOrigin(httpx.AsyncBaseTransport):
    """Routes each request to the pool of its scheme, host and port, made on first use."""

    def __init__(self, make_pool: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make_pool = make_pool
        self._pools: dict[Origin, httpx.AsyncBaseTransport] = {}

    @property
    def origins(self) -> list[Origin]:
        return list(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = self._make_pool()
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


class LentTransport(httpx.AsyncBaseTransport):
    """A client's handle on a transport it does not own: closing the client keeps it."""

    def __init__(self, owner: httpx.AsyncBaseTransport) -> None:
        self.owner = owner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.owner.handle_async_request(request)

    async def aclose(self) -> None:
        return None
