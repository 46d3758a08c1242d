"""Test support: a real ASGI server on loopback, a hand-driven clock, elements and clients."""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from interlink.elements.definition import ElementDefinition
from interlink.vendor import RateLimiterRegistry, VendorClient

API_KEY = "sk_test_7f3a9c1e5b2d4f6a"
STARTUP_SECONDS = 5.0


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Runs `app` with uvicorn on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def free_port() -> int:
    """A loopback port nobody listens on (for connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class FakeClock:
    """A clock that moves only when slept on; `sleeps` records every wait asked for."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


BASE_ELEMENT: dict[str, Any] = {
    "key": "acme",
    "name": "Acme CRM",
    "base_url": "{config.base_url}",
    "config": [
        {"name": "base_url", "type": "url"},
        {"name": "api_key", "secret": True},
    ],
    "auth": {"type": "bearer", "token": "{config.api_key}"},
    "pagination": {"type": "cursor", "page_size": 10},
    "rate_limit": {"requests": 100, "per_seconds": 1, "concurrency": 4},
    "retry": {"max_attempts": 3, "base_delay_seconds": 0.5, "max_delay_seconds": 5},
    "errors": {"message_paths": ["message", "error.message"]},
    "objects": {"contacts": {"path": "/api/contacts"}},
}


def make_element(**overrides: Any) -> ElementDefinition:
    """The test element with top-level sections replaced by `overrides`."""
    document = copy.deepcopy(BASE_ELEMENT)
    document.update(copy.deepcopy(overrides))
    return ElementDefinition.model_validate(document)


def make_client(
    element: ElementDefinition,
    base_url: str,
    clock: FakeClock,
    *,
    limiters: RateLimiterRegistry | None = None,
    config: dict[str, Any] | None = None,
    timeout: float = 5.0,
    **options: Any,
) -> VendorClient:
    """A client on a real transport; waits and token expiry go by `clock`, never real time."""
    return VendorClient(
        element,
        {"base_url": base_url, "api_key": API_KEY, **(config or {})},
        transport=httpx.AsyncHTTPTransport(),
        limiters=limiters or RateLimiterRegistry(clock=clock, sleep=clock.sleep),
        timeout=timeout,
        sleep=clock.sleep,
        clock=clock,
        **options,
    )
