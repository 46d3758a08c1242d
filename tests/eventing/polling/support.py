"""Helpers of the polling tests: a hub on the test database, instances, a vendor clock,
a transport that can fail or stall chosen vendor calls, and reading the events table."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from interlink.elements.catalog import builtin_elements
from interlink.elements.loading import validate_definition
from interlink.eventing.polling.streams import sync_streams
from interlink.hub import Hub
from interlink.ids import new_id
from interlink.security.outbound import guarded_transport
from interlink.services.organizations import create_organization
from interlink.storage.models import CustomElement, Event, EventStream, Instance

API_KEY = "vendor-key"


class VendorClock:
    """The sandbox's clock: every write 1 ms after the last, or all at one time if frozen."""

    def __init__(self, start: float = 1_714_564_800.0) -> None:  # 2024-05-01T12:00:00Z
        self.now = start
        self.frozen = False

    def __call__(self) -> float:
        if not self.frozen:
            self.now += 0.001
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SimulatedCrash(BaseException):
    """The process dying mid-poll: nothing catches it, as nothing survives a kill -9."""


Hook = Callable[[int, httpx.Request], Awaitable[httpx.Response | None]]


@dataclass
class VendorTap:
    """Every vendor call of the hub goes through here; `on_list` sees each list request
    (numbered from 1) and may answer it instead of the vendor, stall it, or raise."""

    on_list: Hook | None = None
    lists: int = 0
    requests: list[str] = field(default_factory=list)

    def install(self, hub: Hub) -> None:
        tap = self

        class Tapped(httpx.AsyncBaseTransport):
            def __init__(self) -> None:
                self.inner = guarded_transport(allow_private=True)

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                tap.requests.append(
                    f"{request.method} {request.url.path}?{request.url.query.decode()}"
                )
                if request.method == "GET" and request.url.path.count("/") == 2:
                    tap.lists += 1
                    if tap.on_list is not None:
                        answer = await tap.on_list(tap.lists, request)
                        if answer is not None:
                            return answer
                return await self.inner.handle_async_request(request)

            async def aclose(self) -> None:
                await self.inner.aclose()

        hub.vendor_transport = Tapped  # type: ignore[method-assign]


def sandbox_variant(key: str, **objects_changes: Any) -> dict[str, Any]:
    """The sandbox element under another key, with `contacts` changed as given
    (`None` removes a setting); `pagination`/`retry`/`rate_limit` change the element."""
    document = builtin_elements()["sandbox"].model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["key"] = key
    document.pop("webhooks", None)
    for name in ("pagination", "retry", "rate_limit", "polling"):
        if name in objects_changes:
            document[name] = {**document[name], **objects_changes.pop(name)}
    contacts = document["objects"]["contacts"]
    for name, value in objects_changes.items():
        if value is None:
            contacts.pop(name, None)
        else:
            contacts[name] = value
    validate_definition(document)
    return document


async def make_org(hub: Hub, name: str = "Acme") -> str:
    async with hub.database.transaction() as session:
        organization, _ = await create_organization(session, name)
    return organization.id


async def add_element(hub: Hub, organization_id: str, definition: dict[str, Any]) -> str:
    async with hub.database.transaction() as session:
        session.add(
            CustomElement(
                id=new_id("elem"),
                organization_id=organization_id,
                key=definition["key"],
                definition=definition,
            )
        )
    return str(definition["key"])


async def make_instance(
    hub: Hub,
    organization_id: str,
    base_url: str,
    *,
    element: str = "sandbox",
    objects: tuple[str, ...] = ("contacts",),
    **events: Any,
) -> str:
    """An instance as the instances service stores it (no callback URL: no deliveries),
    and its streams, in one transaction."""
    settings = {
        "enabled": True,
        "mode": "polling",
        "objects": list(objects),
        "poll_interval_seconds": 60,
        "callback_url": None,
        "initial": "baseline",
        "reconciliation_interval_seconds": None,
        **events,
    }
    async with hub.database.transaction() as session:
        instance = Instance(
            id=new_id("inst"),
            organization_id=organization_id,
            element_key=element,
            name="test",
            config={"base_url": base_url},
            credentials=hub.secrets.encrypt_json({"api_key": API_KEY}),
            events=settings,
            signing_secret=hub.secrets.encrypt("whsec_dGVzdA=="),
            hook_token="token",
        )
        session.add(instance)
        await session.flush()
        await sync_streams(session, hub, instance)
    return instance.id


async def change_events(hub: Hub, instance_id: str, **settings: Any) -> None:
    """Change the instance's events settings as a PATCH would, streams included."""
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        instance.events = {**instance.events, **settings}
        await sync_streams(session, hub, instance)


async def events_of(hub: Hub, instance_id: str) -> list[Event]:
    async with hub.database.transaction() as session:
        rows = await session.scalars(
            select(Event).where(Event.instance_id == instance_id).order_by(Event.sequence)
        )
        return list(rows)


async def changes(hub: Hub, instance_id: str, *, after: int = 0) -> list[tuple[str, str]]:
    """(change, record id) of the events recorded after the first `after`, in order."""
    return [(event.change, event.record_id) for event in await events_of(hub, instance_id)][after:]


async def stream_of(hub: Hub, instance_id: str, object_name: str = "contacts") -> EventStream:
    async with hub.database.transaction() as session:
        stream = await session.get(EventStream, (instance_id, object_name))
        assert stream is not None
        return stream


async def eventually(condition: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Until `condition()` holds; `within` only guards against hanging."""
    async with asyncio.timeout(within):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)


# For tests whose PostgreSQL run would add time but no coverage (the SQL they run is
# already exercised on PostgreSQL by the core tests).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
