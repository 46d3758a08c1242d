"""Fixtures of the webhook tests: a real sandbox and a real hub on loopback, a receiver for
the callback URL, and helpers to sign posts and read what was stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.eventing.task_names import REGISTER_WEBHOOK_TASK
from interlink.eventing.webhooks.credentials import read_credentials
from interlink.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from interlink.sandbox.signing import sign
from interlink.server import RunningHub
from interlink.storage.models import Event, Instance

SANDBOX_KEY = "webhook-tests-key"
WAIT_SECONDS = 10.0


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    config = SandboxConfig(api_key=SANDBOX_KEY, webhook_retry_base_seconds=0.01)
    async with running_sandbox(config) as running:
        yield running


@pytest.fixture
async def vendor(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's own HTTP API, as its users call it."""
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    async with httpx.AsyncClient(
        base_url=sandbox.url, headers=headers, timeout=WAIT_SECONDS, trust_env=False
    ) as client:
        yield client


@pytest.fixture
async def callback_url() -> AsyncIterator[str]:
    """Somewhere deliveries can land (what they carry is the delivery tests' business)."""

    async def accept(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    async with serving(Starlette(routes=[Route("/hook", accept, methods=["POST"])])) as url:
        yield f"{url}/hook"


@pytest.fixture
def wired(hub: RunningHub) -> RunningHub:
    """The hub, whose app and task registry carry the webhook route and jobs."""
    assert REGISTER_WEBHOOK_TASK in hub.hub.runtime.registry  # type: ignore[attr-defined]
    return hub


def webhook_events(callback_url: str, **changes: Any) -> dict[str, Any]:
    events: dict[str, Any] = {
        "enabled": True,
        "mode": "webhook",
        "objects": ["contacts"],
        "callback_url": callback_url,
    }
    events.update(changes)
    return events


async def create_instance(
    api: httpx.AsyncClient, sandbox_url: str, events: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    body = {
        "element": "sandbox",
        "name": "crm",
        "config": {"base_url": sandbox_url, "api_key": SANDBOX_KEY},
        "events": events,
        **extra,
    }
    response = await api.post("/v1/instances", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def credentials_of(hub: RunningHub, instance_id: str) -> dict[str, Any]:
    async with hub.hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        return read_credentials(hub.hub, instance)


async def stored_events(hub: RunningHub, instance_id: str) -> list[Event]:
    async with hub.hub.database.transaction() as session:
        rows = await session.scalars(
            select(Event).where(Event.instance_id == instance_id).order_by(Event.sequence)
        )
        return list(rows)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = WAIT_SECONDS) -> None:
    """Returns once `check()` holds; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.02)


def sandbox_signed(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """Headers of a post signed as the sandbox signs (at `at`, default now)."""
    stamp = int(time.time() if at is None else at)
    return {"Content-Type": "application/json", "X-Sandbox-Signature": sign(secret, body, stamp)}
