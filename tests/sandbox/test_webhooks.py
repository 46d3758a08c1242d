"""The webhook dispatcher against a mock transport: payload, signature, order, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from interlink.sandbox import SIGNATURE_HEADER, SandboxStore, verify
from interlink.sandbox.errors import NotFoundError, ValidationFailed
from interlink.sandbox.webhooks import RETRIES, WebhookDispatcher

from .helpers import until


class Endpoint:
    """Answers posts with the statuses given, then 200; remembers every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.statuses:
            status = self.statuses.pop(0)
            if status == 0:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(status)
        return httpx.Response(200)

    def bodies(self) -> list[dict[str, object]]:
        return [orjson.loads(request.content) for request in self.requests]


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint()


@pytest.fixture
async def dispatcher(store: SandboxStore, endpoint: Endpoint) -> AsyncIterator[WebhookDispatcher]:
    webhooks = WebhookDispatcher(
        store.clock,
        retry_base_seconds=0.001,
        now=lambda: 1_714_564_800.0,
        transport=httpx.MockTransport(endpoint),
    )
    await webhooks.start()
    store.add_listener(webhooks.publish)
    yield webhooks
    await webhooks.aclose()


async def test_each_change_is_posted_signed(
    store: SandboxStore, dispatcher: WebhookDispatcher, endpoint: Endpoint
) -> None:
    subscription = dispatcher.subscribe("http://127.0.0.1:9/hook", "s3cret")
    record = store.contacts.create({"email": "a@example.com"})
    store.contacts.update(record["id"], {"title": "CTO"})
    store.contacts.delete(record["id"])
    await until(lambda: len(endpoint.requests) == 3)

    bodies = endpoint.bodies()
    assert [body["type"] for body in bodies] == [
        "contact.created",
        "contact.updated",
        "contact.deleted",
    ]
    assert bodies[0]["object"] == record
    assert bodies[1]["occurred_at"] == bodies[1]["object"]["updated_at"]  # type: ignore[index]
    assert bodies[2]["object"]["id"] == record["id"]  # type: ignore[index]
    assert len({body["id"] for body in bodies}) == 3
    for request in endpoint.requests:
        header = request.headers[SIGNATURE_HEADER]
        assert verify("s3cret", request.content, header, now=1_714_564_800.0)
    assert subscription.public()["delivered"] == 3


async def test_failed_posts_are_retried_in_order(
    store: SandboxStore, dispatcher: WebhookDispatcher, endpoint: Endpoint
) -> None:
    endpoint.statuses = [500, 0, 503]  # two errors and a connection failure, then success
    dispatcher.subscribe("http://127.0.0.1:9/hook", "s3cret")
    first = store.companies.create({"name": "First"})
    second = store.companies.create({"name": "Second"})
    await until(lambda: len(endpoint.requests) == 5)
    ids = [body["object"]["id"] for body in endpoint.bodies()]  # type: ignore[index]
    # The first event is attempted four times before the second is posted at all.
    assert ids == [first["id"]] * 4 + [second["id"]]


async def test_an_event_is_given_up_after_five_retries(
    store: SandboxStore, dispatcher: WebhookDispatcher, endpoint: Endpoint
) -> None:
    endpoint.statuses = [500] * (RETRIES + 1)
    subscription = dispatcher.subscribe("http://127.0.0.1:9/hook", "s3cret")
    store.companies.create({"name": "Doomed"})
    store.companies.create({"name": "Next"})
    await until(lambda: subscription.delivered == 1)
    assert subscription.failed == 1
    assert len(endpoint.requests) == RETRIES + 2


async def test_every_subscription_gets_every_event(
    store: SandboxStore, dispatcher: WebhookDispatcher, endpoint: Endpoint
) -> None:
    dispatcher.subscribe("http://127.0.0.1:9/a", "one")
    dispatcher.subscribe("http://127.0.0.1:9/b", "two")
    store.companies.create({"name": "Acme"})
    await until(lambda: len(endpoint.requests) == 2)
    assert {request.url.path for request in endpoint.requests} == {"/a", "/b"}
    assert len({body["id"] for body in endpoint.bodies()}) == 1  # one event, two deliveries


async def test_unsubscribe_stops_deliveries(
    store: SandboxStore, dispatcher: WebhookDispatcher, endpoint: Endpoint
) -> None:
    subscription = dispatcher.subscribe("http://127.0.0.1:9/hook", "s3cret")
    await dispatcher.unsubscribe(subscription.id)
    store.companies.create({"name": "Acme"})
    await asyncio.sleep(0.01)
    assert endpoint.requests == []
    assert dispatcher.subscriptions() == []
    with pytest.raises(NotFoundError):
        await dispatcher.unsubscribe(subscription.id)


@pytest.mark.parametrize(
    ("url", "secret", "field"),
    [("ftp://x/y", "s", "url"), ("/relative", "s", "url"), ("http://x/y", "", "secret")],
)
async def test_bad_subscriptions_are_refused(
    dispatcher: WebhookDispatcher, url: str, secret: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        dispatcher.subscribe(url, secret)
    assert caught.value.field == field
