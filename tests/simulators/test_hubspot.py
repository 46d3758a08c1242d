"""The `hubspot` element on the HubSpot simulator: what the conformance suite does not check.

Flat records and nested writes, the search API's window moving past its 10,000 cap, the
archived listing as deletes, batches with per-input errors, the 429 policy waited out,
OAuth refreshes, and v3-signed webhook posts read by the hub's own code.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import ChangedSince, ElementDefinition
from interlink.elements.hooks import hubspot as hooks
from interlink.eventing.webhooks.normalize import needs_fetch, parse_post
from interlink.eventing.webhooks.signatures import SignatureError, SignedRequest, verify_signature
from interlink.security.outbound import guarded_transport
from interlink.vendor import RateLimiterRegistry, RecordNotFound, VendorAuthError, VendorClient
from interlink.vendor.errors import PaginationError
from tests.conformance.support import receiving
from tests.simulators.hubspot import (
    AUTH_FAILURE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RunningHubSpot,
    running_hubspot,
    verify,
)
from tests.vendor.support import FakeClock

HUBSPOT = builtin_elements()["hubspot"]
CLIENT_ID, CLIENT_SECRET = "app-client-id", secrets.token_hex(16)
REFRESH = f"na1-{secrets.token_hex(12)}"


@pytest.fixture
async def hubspot() -> AsyncIterator[RunningHubSpot]:
    async with running_hubspot(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH,
        seed_count=4,
        interval_ms=200,
        search_cap=30,
    ) as running:
        yield running


def client_on(
    hubspot: RunningHubSpot,
    element: ElementDefinition = HUBSPOT,
    clock: FakeClock | None = None,
    **config: str,
) -> VendorClient:
    limiters = RateLimiterRegistry() if clock is None else RateLimiterRegistry(sleep=clock.sleep)
    return VendorClient(
        element,
        {
            "base_url": hubspot.url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
            **config,
        },
        transport=guarded_transport(allow_private=True),
        limiters=limiters,
        timeout=10.0,
        **({} if clock is None else {"sleep": clock.sleep}),
    )


def with_max_results(element: ElementDefinition, cap: int) -> ElementDefinition:
    """The element with its search cap at `cap` (the simulator's), so a test can reach it."""
    objects = dict(element.objects)
    contacts = objects["contacts"]
    changed = contacts.changed_since
    assert changed is not None
    assert changed.search is not None
    search = changed.search.model_copy(update={"max_results": cap})
    objects["contacts"] = contacts.model_copy(
        update={"changed_since": changed.model_copy(update={"search": search})}
    )
    return element.model_copy(update={"objects": objects})


def sent_json(request: httpx.Request) -> Any:
    return orjson.loads(request.content)


# --- records ---------------------------------------------------------------------------------


async def test_records_read_flat_and_writes_send_properties(hubspot: RunningHubSpot) -> None:
    async with client_on(hubspot) as client:
        created = await client.create("contacts", {"email": "flat@example.com", "firstname": "Flo"})
        updated = await client.update("contacts", created["id"], {"jobtitle": "Pilot"})
        fetched = await client.get("contacts", created["id"])

    assert created["email"] == "flat@example.com"
    assert "properties" not in created
    assert {"createdAt", "updatedAt", "archived", "lastmodifieddate"} <= set(created)
    assert updated["jobtitle"] == "Pilot"
    assert fetched == updated
    posts = [r for r in hubspot.simulator.requests if r.method in ("POST", "PATCH")]
    assert sent_json(posts[0]) == {"properties": {"email": "flat@example.com", "firstname": "Flo"}}
    assert sent_json(posts[1]) == {"properties": {"jobtitle": "Pilot"}}
    assert hubspot.simulator.grants == ["refresh_token"]  # one refresh, then the token


async def test_errors_carry_hubspots_message_and_archived_records_are_gone(
    hubspot: RunningHubSpot,
) -> None:
    async with client_on(hubspot) as client:
        record = await client.create("contacts", {"email": "gone@example.com"})
        await client.delete("contacts", record["id"])
        with pytest.raises(RecordNotFound) as caught:
            await client.get("contacts", record["id"])
    assert caught.value.vendor_message is not None
    assert "resource not found" in caught.value.vendor_message
    assert caught.value.body["category"] == "OBJECT_NOT_FOUND"
    assert "correlationId" in caught.value.body


async def test_a_wrong_refresh_token_is_an_auth_error_with_hubspots_words(
    hubspot: RunningHubSpot,
) -> None:
    async with client_on(hubspot, refresh_token="na1-wrong") as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.check()
    assert AUTH_FAILURE in str(caught.value)


# --- changes through the search API ------------------------------------------------------------


async def test_changed_since_searches_ascending_and_moves_the_window_past_the_cap(
    hubspot: RunningHubSpot,
) -> None:
    store = hubspot.store
    store.clock.advance(5)
    since = datetime.fromtimestamp(store.clock.now() / 1000, UTC)
    store.clock.advance(5)
    made = []
    for number in range(70):  # threes share a time: window edges split such groups
        if number % 3 == 0:
            store.clock.advance(1)
        made.append(store.create("contacts", {"email": f"w{number}@example.com"})["id"])

    element = with_max_results(HUBSPOT, 30)
    async with client_on(hubspot, element) as client:
        ids = [
            record["id"]
            async for page in client.iterate_pages("contacts", changed_since=since, page_size=10)
            for record in page.records
        ]

    assert ids == made, "every change once, in the order of its modified time"
    searches = [sent_json(r) for r in hubspot.simulator.requests if r.url.path.endswith("/search")]
    windows = {s["filterGroups"][0]["filters"][0]["value"] for s in searches}
    assert len(windows) >= 3, "the search restarted from later times past its cap"
    assert all(int(s.get("after", 0)) + s["limit"] <= 30 for s in searches)
    first = searches[0]
    assert first["filterGroups"][0]["filters"][0] == {
        "propertyName": "lastmodifieddate",
        "operator": "GTE",
        "value": str(int(since.timestamp() * 1000)),
    }
    assert first["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]


async def test_a_window_that_cannot_move_is_an_error_not_a_loop(hubspot: RunningHubSpot) -> None:
    store = hubspot.store
    store.clock.advance(5)
    since = datetime.fromtimestamp(store.clock.now() / 1000, UTC)
    store.clock.advance(5)
    store.clock.freeze()
    for number in range(35):  # more records in one millisecond than one search answers
        store.create("contacts", {"email": f"same{number}@example.com"})
    element = with_max_results(HUBSPOT, 30)
    async with client_on(hubspot, element) as client:
        with pytest.raises(PaginationError, match="share the updated time"):
            async for _ in client.iterate_pages("contacts", changed_since=since, page_size=10):
                pass


async def test_the_search_refuses_pages_past_its_cap(hubspot: RunningHubSpot) -> None:
    async with client_on(hubspot) as client:
        await client.check()  # for an access token
    token = next(iter(hubspot.simulator.access_tokens))
    async with httpx.AsyncClient(base_url=hubspot.url, trust_env=False) as http:
        answer = await http.post(
            "/crm/v3/objects/contacts/search",
            json={"limit": 10, "after": "25"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 400
    assert "limited to 30 total results" in answer.json()["message"]
    assert answer.json()["status"] == "error"


# --- deletes from the archived listing --------------------------------------------------------


async def test_deleted_since_reads_the_archived_listing_from_the_mark(
    hubspot: RunningHubSpot,
) -> None:
    store = hubspot.store
    ids = [record["id"] for record in store.snapshot("deals")]
    store.delete("deals", ids[0])
    store.clock.advance(10)
    since = datetime.fromtimestamp(store.clock.now() / 1000, UTC)
    store.clock.advance(10)
    store.delete("deals", ids[1])
    store.delete("deals", ids[2])

    async with client_on(hubspot) as client:
        entries = []
        state = None
        while True:
            page = await client.deleted_since("deals", since, state, page_size=1)
            entries += page.records
            if page.next_state is None:
                break
            state = page.next_state

    assert sorted(entry["id"] for entry in entries) == sorted(ids[1:3])
    assert all(entry["deleted_at"] >= since.isoformat()[:19] for entry in entries)
    listed = [r for r in hubspot.simulator.requests if r.url.params.get("archived") == "true"]
    assert len(listed) == 3  # the listing itself has no time filter


# --- batches ----------------------------------------------------------------------------------


async def test_batches_answer_every_input_on_its_own(hubspot: RunningHubSpot) -> None:
    existing = hubspot.store.snapshot("contacts")[0]
    async with client_on(hubspot) as client:
        created = await client.batch(
            "contacts",
            "create",
            [{"email": "b1@example.com"}, {"email": "not-an-email"}, {"email": "b3@example.com"}],
        )
        updated = await client.batch(
            "contacts",
            "update",
            [{"id": "999999", "jobtitle": "x"}, {"id": existing["id"], "jobtitle": "y"}],
        )
        upserted = await client.batch(
            "contacts",
            "upsert",
            [
                {"email": existing["properties"]["email"], "lastname": "Up"},
                {"email": "new@example.com"},
            ],
            id_property="email",
        )
        archived = await client.batch("contacts", "delete", [{"id": created[0].id}])

    assert [o.ok for o in created] == [True, False, True]
    assert created[1].error is not None
    assert "is invalid" in created[1].error
    assert [o.ok for o in updated] == [False, True]
    assert updated[0].status == 404
    assert updated[1].id == existing["id"]
    assert [o.ok for o in upserted] == [True, True]
    assert upserted[0].id == existing["id"]
    assert upserted[0].status == 200
    assert upserted[1].status == 201
    assert archived[0].ok
    statuses = [
        r.url.path.rsplit("/", 1)[-1] for r in hubspot.simulator.requests if "/batch/" in r.url.path
    ]
    assert statuses == ["create", "update", "upsert", "archive"]
    sent = sent_json(next(r for r in hubspot.simulator.requests if r.url.path.endswith("/upsert")))
    assert sent["inputs"][0]["idProperty"] == "email"
    assert sent["inputs"][0]["id"] == existing["properties"]["email"]


def test_batch_answers_are_matched_by_trace_id_and_by_ids_whatever_their_order() -> None:
    inputs = hooks.batch_inputs("deals", "update", [{"id": "1", "amount": 1}, {"id": "2"}], None)
    answer = {
        "results": [{"id": "2", "objectWriteTraceId": "1"}],
        "errors": [{"message": "nope", "category": "OBJECT_NOT_FOUND", "context": {"ids": ["1"]}}],
    }
    shaped = hooks.batch_answer("deals", "update", answer, inputs)
    assert shaped["results"] == [
        {"index": 0, "status": 404, "id": "1", "error": "nope"},
        {"index": 1, "status": 200, "id": "2"},
    ]
    created = hooks.batch_inputs("deals", "create", [{"dealname": "a", "createdAt": "x"}], None)
    assert created == [{"properties": {"dealname": "a"}, "objectWriteTraceId": "0"}]


# --- rate limits ------------------------------------------------------------------------------


async def test_a_429_waits_out_its_policys_interval(hubspot: RunningHubSpot) -> None:
    clock = FakeClock()
    async with client_on(hubspot, clock=clock) as client:
        await client.check()
        hubspot.simulator.throttle(1)
        page = await client.list_page("companies", page_size=2)
    assert len(page.records) == 2
    assert 0.2 in clock.sleeps  # X-HubSpot-RateLimit-Interval-Milliseconds: 200
    last = hubspot.simulator.requests[-1]
    assert last.url.path == "/crm/v3/objects/companies"


async def test_answers_carry_the_rate_limit_headers(hubspot: RunningHubSpot) -> None:
    async with client_on(hubspot) as client:
        await client.check()
    token = next(iter(hubspot.simulator.access_tokens))
    async with httpx.AsyncClient(base_url=hubspot.url, trust_env=False) as http:
        answer = await http.get(
            "/crm/v3/objects/deals", headers={"Authorization": f"Bearer {token}"}
        )
        hubspot.simulator.throttle(1)
        limited = await http.get(
            "/crm/v3/objects/deals", headers={"Authorization": f"Bearer {token}"}
        )
    for name in ("Max", "Remaining", "Interval-Milliseconds", "Daily", "Daily-Remaining"):
        assert f"X-HubSpot-RateLimit-{name}" in answer.headers
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"


# --- webhooks ---------------------------------------------------------------------------------


async def test_webhook_posts_verify_and_read_as_events_to_fetch(hubspot: RunningHubSpot) -> None:
    assert HUBSPOT.webhooks is not None
    signature = HUBSPOT.webhooks.signature
    store = hubspot.store
    async with receiving() as receiver:
        hubspot.subscribe(receiver.url, CLIENT_SECRET)
        created = store.create("contacts", {"email": "hook@example.com"})
        store.update("contacts", created["id"], {"firstname": "Hooked"})
        store.delete("contacts", created["id"])
        await receiver.wait_for_posts(3)

    events = []
    for post in receiver.posts:
        assert verify(CLIENT_SECRET, "POST", receiver.url, post.body, post.headers, tolerance=300)
        request = SignedRequest.of(post.body, post.headers.items(), url=receiver.url)
        verify_signature(signature, CLIENT_SECRET, request)
        with pytest.raises(SignatureError):
            verify_signature(signature, "another-secret", request)
        events += parse_post(post.body, HUBSPOT, ["contacts"], post.headers.items()).events
    assert [(e.change, e.record_id) for e in events] == [
        ("created", created["id"]),
        ("updated", created["id"]),
        ("deleted", created["id"]),
    ]
    assert [needs_fetch(HUBSPOT, e) for e in events] == [True, True, False]
    stale = str(int((datetime.now(UTC) - timedelta(minutes=6)).timestamp() * 1000))
    old = SignedRequest.of(
        receiver.posts[0].body,
        [
            *[
                (k, v)
                for k, v in receiver.posts[0].headers.items()
                if k.lower() != TIMESTAMP_HEADER.lower()
            ],
            (TIMESTAMP_HEADER, stale),
        ],
        url=receiver.url,
    )
    with pytest.raises(SignatureError):
        verify_signature(signature, CLIENT_SECRET, old)
    assert SIGNATURE_HEADER.lower() in {k.lower() for k in receiver.posts[0].headers}


def test_changed_since_takes_a_param_or_a_search() -> None:
    with pytest.raises(ValueError, match="param, search or request"):
        ChangedSince.model_validate({"format": "unix_ms"})
    search = {"path": "/s", "body": {}, "max_results": 10}
    with pytest.raises(ValueError, match="ascending"):
        ChangedSince.model_validate({"search": search})
    assert ChangedSince.model_validate({"search": search, "ascending": True}).param is None
