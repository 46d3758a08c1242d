"""The `stripe` element on the Stripe simulator: what the conformance suite does not check.

Form-encoded writes, starting_after paging, Stripe's error bodies, the 429 without
Retry-After backed off exponentially, deletes read from the Events API, a deleted
customer's retrieve, and webhook posts read and verified by the hub's own code.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest

from interlink.elements.catalog import builtin_elements
from interlink.eventing.webhooks.normalize import parse_post, to_new_event
from interlink.eventing.webhooks.signatures import (
    SignatureError,
    SignedRequest,
    signs_time,
    verify_signature,
)
from interlink.security.outbound import guarded_transport
from interlink.vendor import (
    RateLimiterRegistry,
    RecordNotFound,
    RecordRejected,
    VendorAuthError,
    VendorClient,
)
from tests.conformance.support import receiving
from tests.simulators.stripe import (
    API_VERSION,
    AUTH_FAILURE,
    RATE_LIMITED,
    SIGNATURE_HEADER,
    RunningStripe,
    parse_form,
    running_stripe,
    sign,
    verify,
)
from tests.vendor.support import FakeClock

STRIPE = builtin_elements()["stripe"]
KEY = f"sk_test_{secrets.token_hex(16)}"


@pytest.fixture
async def stripe() -> AsyncIterator[RunningStripe]:
    async with running_stripe(KEY, seed_count=12) as running:
        yield running


def client_on(
    stripe: RunningStripe, clock: FakeClock | None = None, key: str = KEY
) -> VendorClient:
    clock = clock or FakeClock()
    return VendorClient(
        STRIPE,
        {"base_url": stripe.url, "secret_key": key},
        transport=guarded_transport(allow_private=True),
        limiters=RateLimiterRegistry(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        timeout=10.0,
    )


def raw_http(stripe: RunningStripe, key: str = KEY) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stripe.url,
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
        timeout=10.0,
    )


# --- writes are form-encoded -----------------------------------------------------------------


async def test_creates_and_updates_are_form_encoded_posts(stripe: RunningStripe) -> None:
    fields = {
        "email": "zoë+form@example.com",
        "name": "O'Brien & Söhne",
        "preferred_locales": ["fr-CH", "en"],
        "metadata": {"plan": "pro + more", "seats": 3},
    }
    async with client_on(stripe) as client:
        created = await client.create("customers", fields)
        updated = await client.update(
            "customers", created["id"], {"metadata": {"seats": "4"}, "phone": None}
        )

    create, update = stripe.simulator.requests
    for request in (create, update):
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert request.headers["stripe-version"] == API_VERSION
    assert create.url.path == "/v1/customers"
    assert update.url.path == f"/v1/customers/{created['id']}"
    sent = dict(parse_qsl(create.content.decode(), keep_blank_values=True))
    assert sent == {
        "email": "zoë+form@example.com",
        "name": "O'Brien & Söhne",
        "preferred_locales[0]": "fr-CH",
        "preferred_locales[1]": "en",
        "metadata[plan]": "pro + more",
        "metadata[seats]": "3",
    }
    assert parse_qsl(update.content.decode(), keep_blank_values=True) == [
        ("metadata[seats]", "4"),
        ("phone", ""),  # null unsets, as Stripe reads an empty value
    ]
    assert created["preferred_locales"] == ["fr-CH", "en"]
    assert updated["metadata"] == {"plan": "pro + more", "seats": "4"}  # Stripe merges keys


async def test_a_json_body_is_refused_by_the_simulator(stripe: RunningStripe) -> None:
    async with raw_http(stripe) as http:
        answer = await http.post("/v1/customers", json={"email": "json@example.com"})
    assert answer.status_code == 400
    assert "form-encoded" in answer.json()["error"]["message"]


def test_the_simulator_reads_nested_form_fields_as_stripe_does() -> None:
    body = b"metadata[a]=1&items[0][price]=p1&items[1][price]=p2&expand[]=x&active=false"
    assert parse_form(body) == {
        "metadata": {"a": "1"},
        "items": [{"price": "p1"}, {"price": "p2"}],
        "expand": ["x"],
        "active": False,
    }


# --- paging ----------------------------------------------------------------------------------


async def test_pages_start_after_the_last_id_of_the_page_before(stripe: RunningStripe) -> None:
    since = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
    every = stripe.store.snapshot("customers")
    email = every[0]["email"]
    expected = [c["id"] for c in reversed(every) if c["email"] == email]  # newest first
    assert len(expected) >= 2

    async with client_on(stripe) as client:
        pages = [
            page
            async for page in client.iterate_pages(
                "customers", filters={"email": email}, page_size=1
            )
        ]
        everything = [r async for page in client.iterate_pages("customers") for r in page.records]

    assert [r["id"] for page in pages for r in page.records] == expected
    requests = stripe.simulator.requests[: len(pages)]
    assert "starting_after" not in requests[0].url.params
    for before, request, page in zip(requests, requests[1:], pages, strict=False):
        assert request.url.params["starting_after"] == page.records[-1]["id"]
        assert request.url.params["email"] == email  # filters go along with every page
        assert request.url.params["limit"] == "1"
        assert before.url.params["email"] == email
    assert len(everything) == len(every)
    assert stripe.simulator.requests[-1].url.params["limit"] == "100"  # Stripe's maximum
    assert since  # the created filter is Stripe's only time filter on lists


async def test_lists_answer_stripes_list_object_and_refuse_unknown_parameters(
    stripe: RunningStripe,
) -> None:
    async with raw_http(stripe) as http:
        page = await http.get("/v1/products", params={"limit": 2})
        too_many = await http.get("/v1/products", params={"limit": 101})
        unknown = await http.get("/v1/products", params={"updated[gte]": 1})
        after_missing = await http.get("/v1/products", params={"starting_after": "prod_nope"})

    body = page.json()
    assert body["object"] == "list"
    assert body["url"] == "/v1/products"
    assert body["has_more"] is True
    assert len(body["data"]) == 2
    assert body["data"][0]["created"] >= body["data"][1]["created"]
    assert too_many.status_code == 400
    assert too_many.json()["error"]["param"] == "limit"
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Received unknown parameter: updated[gte]"
    assert after_missing.status_code == 404
    assert after_missing.json()["error"]["code"] == "resource_missing"


# --- errors -----------------------------------------------------------------------------------


async def test_a_wrong_key_is_refused_with_stripes_words_and_the_key_masked(
    stripe: RunningStripe,
) -> None:
    wrong = f"sk_test_{secrets.token_hex(16)}"
    async with client_on(stripe, key=wrong) as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.check()
    assert caught.value.status == 401
    assert caught.value.vendor_message is not None
    assert caught.value.vendor_message.startswith(AUTH_FAILURE)
    assert wrong not in str(caught.value)
    assert caught.value.body["error"]["type"] == "invalid_request_error"


async def test_basic_auth_with_the_key_as_user_is_accepted(stripe: RunningStripe) -> None:
    basic = base64.b64encode(f"{KEY}:".encode()).decode()
    async with httpx.AsyncClient(base_url=stripe.url, trust_env=False) as http:
        answer = await http.get("/v1/customers", headers={"Authorization": f"Basic {basic}"})
        none = await http.get("/v1/customers")
    assert answer.status_code == 200
    assert none.status_code == 401
    assert "did not provide an API key" in none.json()["error"]["message"]


async def test_refusals_carry_stripes_error_object(stripe: RunningStripe) -> None:
    invoice_id = stripe.store.snapshot("invoices")[0]["id"]
    stripe.store.finalize(invoice_id)
    async with client_on(stripe) as client:
        with pytest.raises(RecordNotFound) as missing:
            await client.get("customers", "cus_missing")
        with pytest.raises(RecordRejected) as invalid:
            await client.create("products", {"description": "no name"})
        with pytest.raises(RecordRejected) as finalized:
            await client.delete("invoices", invoice_id)
        with pytest.raises(RecordRejected) as unknown:
            await client.create("customers", {"nickname": "x"})

    assert missing.value.status == 404
    assert missing.value.vendor_message == "No such customer: 'cus_missing'"
    assert missing.value.body["error"]["code"] == "resource_missing"
    assert invalid.value.status == 400
    assert invalid.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "Missing required param: name.",
        "code": "parameter_missing",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
        "param": "name",
    }
    assert finalized.value.status == 400
    assert "only delete draft invoices" in (finalized.value.vendor_message or "")
    assert invoice_id in {i["id"] for i in stripe.store.snapshot("invoices")}
    assert unknown.value.vendor_message == "Received unknown parameter: nickname"


async def test_a_deleted_customer_answers_its_retrieve_but_is_not_found(
    stripe: RunningStripe,
) -> None:
    customer_id = stripe.store.snapshot("customers")[0]["id"]
    async with client_on(stripe) as client:
        await client.delete("customers", customer_id)
        with pytest.raises(RecordNotFound) as caught:
            await client.get("customers", customer_id)
        with pytest.raises(RecordNotFound):
            await client.update("customers", customer_id, {"description": "too late"})
    async with raw_http(stripe) as http:
        answer = await http.get(f"/v1/customers/{customer_id}")

    assert answer.status_code == 200
    assert answer.json() == {"id": customer_id, "object": "customer", "deleted": True}
    assert "is deleted" in (caught.value.vendor_message or "")


# --- rate limits -------------------------------------------------------------------------------


async def test_a_429_without_retry_after_is_backed_off_exponentially(
    stripe: RunningStripe,
) -> None:
    clock = FakeClock()
    stripe.simulator.throttle(times=3)

    async with client_on(stripe, clock) as client:
        page = await client.list_page("products", page_size=5)

    assert len(page.records) == 5
    assert len(stripe.simulator.requests) == 4  # three refusals, then the answer
    waits = [s for s in clock.sleeps if s > 0]
    assert len(waits) >= 3
    assert waits[1] > waits[0], waits  # exponential (±jitter)
    assert waits[2] > waits[1], waits


async def test_a_429_with_retry_after_is_waited_exactly(stripe: RunningStripe) -> None:
    clock = FakeClock()
    stripe.simulator.throttle(times=1, retry_after=2)

    async with client_on(stripe, clock) as client:
        await client.list_page("customers", page_size=1)

    assert 2.0 in clock.sleeps


async def test_the_simulators_own_limit_answers_stripes_429() -> None:
    async with (
        running_stripe(KEY, seed_count=1, limit_per_second=3) as stripe,
        raw_http(stripe) as http,
    ):
        answers = [await http.get("/v1/customers") for _ in range(5)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert limited[0].json()["error"] == {
        "type": "invalid_request_error",
        "message": RATE_LIMITED,
        "code": "rate_limit",
        "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
    }
    assert "Retry-After" not in limited[0].headers


# --- deletes from the Events API ----------------------------------------------------------------


async def test_deletes_are_read_from_deleted_events_since_a_time(stripe: RunningStripe) -> None:
    store = stripe.store
    products = [p["id"] for p in store.snapshot("products")]
    store.delete("products", products[0])
    store.clock.advance(5)
    since = datetime.fromtimestamp(store.clock.now(), UTC)
    store.update("products", products[1], {"description": "an update is no delete"})
    store.delete("products", products[2])
    store.delete("customers", store.snapshot("customers")[0]["id"])
    store.delete("products", products[3])

    async with client_on(stripe) as client:
        page = await client.deleted_since("products", since, page_size=1)
        rest = await client.deleted_since("products", since, page.next_state, page_size=1)

    # Newest first, as Stripe lists events; the second page starts after the first's event.
    assert [entry["id"] for entry in [*page.records, *rest.records]] == [products[3], products[2]]
    assert all(entry["deleted_at"] is not None for entry in [*page.records, *rest.records])
    assert rest.next_state is None
    second = stripe.simulator.requests[1]
    assert second.url.params["starting_after"].startswith("evt_")
    first = stripe.simulator.requests[0]
    assert first.url.path == "/v1/events"
    assert first.url.params["type"] == "product.deleted"
    assert first.url.params["created[gte]"] == str(int(since.timestamp()))


async def test_the_events_api_filters_by_type_with_wildcards(stripe: RunningStripe) -> None:
    customer = stripe.store.create("customers", {"email": "events@example.com"})
    stripe.store.update("customers", customer["id"], {"name": "Named"})
    stripe.store.create("products", {"name": "Evented"})
    async with raw_http(stripe) as http:
        wildcard = await http.get("/v1/events", params={"type": "customer.*"})
        several = await http.get(
            "/v1/events", params=[("types[]", "customer.updated"), ("types[]", "product.created")]
        )

    assert [e["type"] for e in wildcard.json()["data"]] == ["customer.updated", "customer.created"]
    assert [e["type"] for e in several.json()["data"]] == ["product.created", "customer.updated"]
    assert wildcard.json()["data"][0]["data"]["object"]["name"] == "Named"


# --- webhooks, read by the hub -------------------------------------------------------------------


async def test_webhook_posts_verify_and_read_as_events_by_the_hub(stripe: RunningStripe) -> None:
    secret = f"whsec_{secrets.token_hex(16)}"
    assert STRIPE.webhooks is not None
    signature = STRIPE.webhooks.signature
    assert signs_time(signature)
    store = stripe.store
    async with receiving() as receiver:
        stripe.subscribe(receiver.url, secret)
        created = store.create("customers", {"email": "hook@example.com"})
        store.update("customers", created["id"], {"name": "Hooked"})
        store.finalize(store.snapshot("invoices")[0]["id"])  # invoice.finalized + .updated
        store.delete("customers", created["id"])
        await receiver.wait_for_posts(5)

    events = []
    for post in receiver.posts:
        assert verify(secret, post.body, post.headers[SIGNATURE_HEADER], tolerance=300)
        request = SignedRequest.of(post.body, post.headers.items())
        verify_signature(signature, secret, request)
        with pytest.raises(SignatureError):
            verify_signature(signature, "whsec_another", request)
        events += parse_post(
            post.body, STRIPE, ["customers", "invoices"], post.headers.items()
        ).events

    record_id = created["id"]
    assert [(e.object_name, e.change, e.record_id) for e in events] == [
        ("customers", "created", record_id),
        ("customers", "updated", record_id),
        ("invoices", "updated", store.snapshot("invoices")[0]["id"]),  # finalized: ignored
        ("customers", "deleted", record_id),
    ]
    assert events[1].record is not None
    assert events[1].record["name"] == "Hooked"
    assert all(e.vendor_event_id and e.vendor_event_id.startswith("evt_") for e in events)
    assert to_new_event(events[0], STRIPE).vendor_time is not None


def test_a_stale_or_forged_signature_is_refused() -> None:
    secret, body = "whsec_test", b'{"id": "evt_1", "type": "customer.created"}'
    now = 1_700_000_000
    assert verify(secret, body, sign(secret, body, now), tolerance=300, now=now + 299)
    assert not verify(secret, body, sign(secret, body, now), tolerance=300, now=now + 301)
    assert not verify(secret, body, sign("whsec_other", body, now), tolerance=300, now=now)
    header = f"{sign('whsec_old', body, now)},v1={sign(secret, body, now).split('v1=')[1]}"
    assert verify(secret, body, header, tolerance=300, now=now)  # a secret being rolled
