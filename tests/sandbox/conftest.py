"""Fixtures for the Sandbox CRM: a store on a hand-driven clock, a live sandbox, a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.sandbox import RunningSandbox, SandboxStore, running_sandbox

from .helpers import FakeTime, Receiver, client_for, make_config


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def store(fake_time: FakeTime) -> SandboxStore:
    return SandboxStore(fake_time)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A live sandbox with 250 contacts and 25 companies."""
    async with running_sandbox(make_config(seed=250)) as running:
        yield running


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sandbox) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A live webhook receiver; set `fail_first` to have it refuse the first posts."""
    state = Receiver()

    async def hook(request: Request) -> Response:
        body = await request.body()
        state.posts.append((body, dict(request.headers)))
        state.arrived.set()
        if len(state.posts) <= state.fail_first:
            return Response(status_code=500)
        state.accepted.append(body)
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serving(app) as url:
        state.url = f"{url}/hook"
        yield state
