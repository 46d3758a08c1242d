"""Helpers of the conformance suite: catalog parameters, reading to the end, a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import ElementDefinition, ObjectDefinition, WebhookEvents
from interlink.security.outbound import guarded_transport
from interlink.vendor import Page, RateLimiterRegistry, VendorClient
from interlink.vendor.paths import lookup
from tests.conformance.harness import WAIT_SECONDS, Harness

MAX_PAGES = 1_000  # a listing longer than this is taken for a loop

ObjectFilter = Callable[[ElementDefinition, ObjectDefinition], bool]


# --- parameters: the catalog, read at collection time ------------------------------------


def element_params(where: Callable[[ElementDefinition], bool] = lambda element: True) -> list[Any]:
    """One parameter per element of the catalog that `where` admits, for `harness`."""
    return [
        pytest.param(key, id=key) for key, element in builtin_elements().items() if where(element)
    ]


def object_params(where: ObjectFilter = lambda element, obj: True) -> list[Any]:
    """One `(element key, object name)` per object of the catalog that `where` admits."""
    return [
        pytest.param(key, name, id=f"{key}-{name}")
        for key, element in builtin_elements().items()
        for name, obj in element.objects.items()
        if where(element, obj)
    ]


def per_element(
    where: Callable[[ElementDefinition], bool] = lambda element: True,
) -> pytest.MarkDecorator:
    """Runs the test once per element that `where` admits, with its `harness` started."""
    return pytest.mark.parametrize("harness", element_params(where), indirect=True)


def per_object(where: ObjectFilter = lambda element, obj: True) -> pytest.MarkDecorator:
    """Runs the test once per object that `where` admits, with `harness` and `object_name`."""
    return pytest.mark.parametrize(
        ("harness", "object_name"), object_params(where), indirect=["harness"]
    )


def writable(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return not obj.read_only


# --- the client and reading to the end -----------------------------------------------------


def vendor_client(harness: Harness, config: Mapping[str, Any] | None = None) -> VendorClient:
    """A real client, as the hub builds one (loopback allowed, as tests and the demo do)."""
    return VendorClient(
        harness.element,
        harness.config if config is None else config,
        transport=guarded_transport(allow_private=True),
        limiters=RateLimiterRegistry(),
        timeout=WAIT_SECONDS,
    )


async def read_pages(
    client: VendorClient,
    object_name: str,
    *,
    page_size: int | None = None,
    filters: Mapping[str, str] | None = None,
    changed_since: datetime | None = None,
    page_state: dict[str, Any] | None = None,
) -> list[Page]:
    """Every page to the end, bounded in time and in count."""
    pages: list[Page] = []
    async with asyncio.timeout(WAIT_SECONDS):
        async for page in client.iterate_pages(
            object_name,
            filters=filters or {},
            changed_since=changed_since,
            page_size=page_size,
            page_state=page_state,
        ):
            pages.append(page)
            assert len(pages) <= MAX_PAGES, "the listing does not end"
    return pages


async def read_deleted(
    client: VendorClient, object_name: str, since: datetime, *, page_size: int | None = None
) -> list[Page]:
    pages: list[Page] = []
    state: dict[str, Any] | None = None
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            page = await client.deleted_since(object_name, since, state, page_size=page_size)
            pages.append(page)
            assert len(pages) <= MAX_PAGES, "the deleted feed does not end"
            if page.next_state is None:
                return pages
            state = page.next_state


def records_of(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [record["id"] for record in records]


def vendor_id(record: Mapping[str, Any], obj: ObjectDefinition) -> str:
    """A raw vendor record's id, as the client must present it: a string."""
    return str(lookup(record, obj.id_field))


def in_vendor_shape(raw: Mapping[str, Any], obj: ObjectDefinition) -> dict[str, Any]:
    """What the client must make of a raw vendor record: the same fields, untouched, with
    its id at the top level as a string under `id`."""
    return {**{k: v for k, v in raw.items() if k != "id"}, "id": vendor_id(raw, obj)}


def query_text(value: Any) -> str:
    """A field value as an equality filter's query parameter."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- webhooks ------------------------------------------------------------------------------


@dataclass
class Post:
    body: bytes
    headers: httpx.Headers


@dataclass
class Receiver:
    """A webhook endpoint on loopback that keeps every post."""

    url: str = ""
    posts: list[Post] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for_posts(self, count: int) -> None:
        """Until `count` posts have come, within the suite's bound."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while len(self.posts) < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{len(self.posts)} posts came, not {count}") from None


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def hook(request: Request) -> Response:
        receiver.posts.append(Post(await request.body(), httpx.Headers(request.headers.raw)))
        receiver.arrived.set()
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serving(app) as url:
        receiver.url = f"{url}/hook"
        yield receiver


@dataclass(frozen=True)
class VendorEvent:
    """A vendor's webhook event read through the element's `webhooks.events` paths."""

    object_name: str | None
    change: str | None
    record_id: str
    record: Any


def read_event(
    events: WebhookEvents, body: bytes, headers: Mapping[str, str] | None = None
) -> VendorEvent:
    """`headers` (case-insensitive, httpx.Headers) for elements that read the type there."""
    payload = orjson.loads(body)
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]  # a post holding an array of one event (HubSpot)
    if events.type_header is not None:
        vendor_type = (headers or {}).get(events.type_header, "")
        action = lookup(payload, events.action_path) if events.action_path else None
        if isinstance(action, str) and action:
            vendor_type = f"{vendor_type}{events.type_separator}{action}"
    else:
        vendor_type = str(lookup(payload, events.type_path))
    prefix, _, suffix = vendor_type.rpartition(events.type_separator)
    object_name = events.objects.get(prefix)
    record_path = events.record_path_of(object_name or "")
    return VendorEvent(
        object_name=object_name,
        change=events.changes.get(suffix),
        record_id=str(lookup(payload, events.record_id_path_of(object_name or ""))),
        record=lookup(payload, record_path) if record_path is not None else None,
    )
