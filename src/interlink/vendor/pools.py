"""Vendor connections kept between calls: one pool per vendor origin, for the process.

A poll, an export page and an upload chunk each build a client of their own; with a pool
per client, every poll paid a new connection (a TCP handshake here, a TLS handshake at an
HTTPS vendor). The hub holds one `PoolsByOrigin` and lends it to every client through a
`LentTransport`, which the client may close. A pool per origin rather than one for all:
httpcore looks over every connection of a pool, idle ones included, on each request.

Origins come and go with the tenants' instances (a Shopify shop is an origin of its
own), so a pool no request has used for `idle_seconds` is closed and dropped, unless a
request of its own is still under way (a long download): a hub running for months keeps
pools, and their sockets, only for the vendors it still talks to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from interlink.security.transport import BackendTransport

Origin = tuple[bytes, bytes, int | None]
# Well past a connection's keep-alive (15 s for vendors), and far shorter than a day.
IDLE_SECONDS = 600.0


@dataclass
class _Pool:
    transport: BackendTransport
    used_at: float


class PoolsByOrigin(httpx.AsyncBaseTransport):
    """Routes each request to the pool of its scheme, host and port, made on first use."""

    def __init__(
        self,
        make_pool: Callable[[], BackendTransport],
        *,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_pool = make_pool
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._pools: dict[Origin, _Pool] = {}
        self._next_sweep = clock() + idle_seconds

    @property
    def origins(self) -> list[Origin]:
        return list(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = self._clock()
        if now >= self._next_sweep:
            await self._drop_idle(now)
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self._make_pool(), now)
        pool.used_at = now
        return await pool.transport.handle_async_request(request)

    async def _drop_idle(self, now: float) -> None:
        self._next_sweep = now + self._idle_seconds / 2
        cutoff = now - self._idle_seconds
        # Taken out before any await: a request arriving meanwhile makes a new pool
        # rather than use one being closed.
        idle = [
            origin
            for origin, pool in self._pools.items()
            if pool.used_at <= cutoff and not pool.transport.in_use
        ]
        dropped = [self._pools.pop(origin).transport for origin in idle]
        for transport in dropped:
            await transport.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()


class LentTransport(httpx.AsyncBaseTransport):
    """A client's handle on a transport it does not own: closing the client keeps it."""

    def __init__(self, owner: httpx.AsyncBaseTransport) -> None:
        self.owner = owner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.owner.handle_async_request(request)

    async def aclose(self) -> None:
        return None
