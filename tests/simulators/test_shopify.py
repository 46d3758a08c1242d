"""The `shopify` element on the Shopify simulator: what the conformance suite does not check.

The 429 with `Retry-After` waited out, page_info paging that sends the filters only once,
Shopify's refusals and headers, and webhook posts read and verified by the hub's own code.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from interlink.elements.catalog import builtin_elements
from interlink.eventing.webhooks.normalize import MalformedPayload, parse_post, to_new_event
from interlink.eventing.webhooks.signatures import (
    SignatureError,
    SignedRequest,
    signs_time,
    verify_signature,
)
from interlink.security.outbound import guarded_transport
from interlink.vendor import RateLimiterRegistry, RecordRejected, VendorAuthError, VendorClient
from tests.conformance.support import receiving
from tests.simulators import shopify as shopify_simulator
from tests.simulators.shopify import (
    API_VERSION,
    AUTH_FAILURE,
    CALL_LIMIT_HEADER,
    RunningShopify,
    running_shopify,
)
from tests.vendor.support import FakeClock

SHOPIFY = builtin_elements()["shopify"]
TOKEN = f"shpat_{secrets.token_hex(16)}"
API = f"/admin/api/{API_VERSION}"


@pytest.fixture
async def shop() -> AsyncIterator[RunningShopify]:
    async with running_shopify(TOKEN, seed_count=12) as running:
        yield running


def client_on(
    shop: RunningShopify, clock: FakeClock | None = None, token: str = TOKEN
) -> VendorClient:
    clock = clock or FakeClock()
    return VendorClient(
        SHOPIFY,
        {"shop_url": shop.url, "access_token": token},
        transport=guarded_transport(allow_private=True),
        limiters=RateLimiterRegistry(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        timeout=10.0,
    )


def raw_http(shop: RunningShopify, token: str = TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=shop.url,
        headers={"X-Shopify-Access-Token": token},
        trust_env=False,
        timeout=10.0,
    )


# --- rate limits ----------------------------------------------------------------------------


async def test_a_429_is_waited_out_for_its_retry_after_then_the_call_succeeds(
    shop: RunningShopify,
) -> None:
    clock = FakeClock()
    shop.simulator.throttle(times=2, retry_after=1.5)

    async with client_on(shop, clock) as client:
        page = await client.list_page("customers", page_size=5)

    assert len(page.records) == 5
    assert len(shop.simulator.requests) == 3  # two refusals, then the answer
    assert clock.sleeps.count(1.5) >= 2, clock.sleeps  # exactly Shopify's Retry-After


async def test_every_answer_says_how_full_the_bucket_is_and_a_full_bucket_answers_429(
    shop: RunningShopify,
) -> None:
    async with raw_http(shop) as http:
        ok = await http.get(f"{API}/customers.json", params={"limit": 1})
        missing = await http.get(f"{API}/customers/1.json")
        used = [ok.headers[CALL_LIMIT_HEADER], missing.headers[CALL_LIMIT_HEADER]]
        answers = [await http.get(f"{API}/products.json", params={"limit": 1}) for _ in range(45)]

    assert all(value.endswith("/40") for value in used)
    assert int(used[1].split("/")[0]) >= int(used[0].split("/")[0]) >= 1
    assert missing.status_code == 404
    assert missing.json() == {"errors": "Not Found"}
    throttled = [answer for answer in answers if answer.status_code == 429]
    assert throttled, "40 calls fill the bucket faster than it leaks"
    assert throttled[0].headers["Retry-After"] == "2.0"
    assert "errors" in throttled[0].json()


async def _burst_after_another_app(
    shop: RunningShopify, monkeypatch: pytest.MonkeyPatch, *, read_the_bucket: bool
) -> list[float]:
    """Another app of the shop has filled most of the bucket; the client then lists 30 pages
    at once. Returns every wait the client slept (really: the simulator leaks in real time,
    sped up tenfold to 20 calls a second, and the element's leak with it)."""
    monkeypatch.setattr(shopify_simulator, "LEAK_PER_SECOND", 20.0)
    limits = SHOPIFY.rate_limit.model_copy(
        update={
            "per_seconds": 2.0,  # 40 calls per 2 s: the static budget sped up alike
            "leak_per_second": 20.0,
            "bucket_header": CALL_LIMIT_HEADER if read_the_bucket else None,
        }
    )
    element = SHOPIFY.model_copy(update={"rate_limit": limits})
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(seconds)

    async with raw_http(shop) as http:
        for _ in range(34):
            assert (await http.get(f"{API}/products.json", params={"limit": 1})).is_success
    shop.simulator.requests.clear()
    client = VendorClient(
        element,
        {"shop_url": shop.url, "access_token": TOKEN},
        transport=guarded_transport(allow_private=True),
        limiters=RateLimiterRegistry(sleep=sleep),
        sleep=sleep,
        timeout=10.0,
    )
    async with client:
        pages = await asyncio.gather(
            *(client.list_page("customers", page_size=1) for _ in range(30))
        )
    assert all(len(page.records) == 1 for page in pages)
    return sleeps


async def test_reading_the_call_limit_header_slows_a_burst_down_before_any_429(
    shop: RunningShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = await _burst_after_another_app(shop, monkeypatch, read_the_bucket=True)

    assert len(shop.simulator.requests) == 30, "no call was refused and sent again"
    assert sleeps, "the client paused on the nearly full bucket"
    assert max(sleeps) < 2.0  # never a Retry-After's wait


async def test_without_the_call_limit_header_the_same_burst_is_refused_and_waits(
    shop: RunningShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = await _burst_after_another_app(shop, monkeypatch, read_the_bucket=False)

    assert len(shop.simulator.requests) > 30, "Shopify answered 429 and calls went again"
    assert 2.0 in sleeps  # its Retry-After, waited out


# --- paging ---------------------------------------------------------------------------------


async def test_page_info_pages_carry_the_filters_the_first_page_sent(shop: RunningShopify) -> None:
    since = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    products = shop.store.snapshot("products")
    vendor = products[0]["vendor"]
    expected = sorted(str(p["id"]) for p in products if p["vendor"] == vendor)
    assert len(expected) >= 3

    async with client_on(shop) as client:
        pages = [
            page
            async for page in client.iterate_pages(
                "products", filters={"vendor": vendor}, changed_since=since, page_size=2
            )
        ]

    assert sorted(r["id"] for page in pages for r in page.records) == expected
    first, *later = shop.simulator.requests
    assert later, "several pages"
    assert first.params["vendor"] == vendor
    assert "updated_at_min" in first.params
    assert first.params["limit"] == "2"
    for url in later:  # Shopify refuses anything but limit and fields next to page_info
        assert set(url.params.keys()) == {"limit", "page_info"}, url


async def test_filters_next_to_page_info_are_refused_and_links_go_both_ways(
    shop: RunningShopify,
) -> None:
    async with raw_http(shop) as http:
        first = await http.get(f"{API}/customers.json", params={"limit": 3})
        following = first.links["next"]["url"]
        second = await http.get(following)
        refused = await http.get(
            httpx.URL(following).copy_add_param("updated_at_min", "2000-01-01T00:00:00Z")
        )
        tampered = await http.get(f"{API}/customers.json", params={"page_info": "not-a-cursor"})

    assert "previous" not in first.links
    assert second.status_code == 200
    assert set(second.links) == {"next", "previous"}
    back = httpx.URL(second.links["previous"]["url"])
    assert set(back.params.keys()) == {"limit", "page_info"}
    assert [c["id"] for c in second.json()["customers"]] > [
        c["id"] for c in first.json()["customers"]
    ]
    assert refused.status_code == 400
    assert "page_info" in refused.json()["errors"]
    assert tampered.status_code == 400


async def test_orders_list_only_open_ones_unless_status_any(shop: RunningShopify) -> None:
    every = shop.store.snapshot("orders")
    open_orders = [o for o in every if not o["closed_at"] and not o["cancelled_at"]]
    assert len(open_orders) < len(every)

    async with raw_http(shop) as http:
        default = await http.get(f"{API}/orders.json", params={"limit": 250})
    async with client_on(shop) as client:
        listed = [r async for page in client.iterate_pages("orders") for r in page.records]

    assert len(default.json()["orders"]) == len(open_orders)
    assert len(listed) == len(every)  # the element asks for status=any


# --- refusals -------------------------------------------------------------------------------


async def test_a_wrong_token_is_refused_with_shopifys_words(shop: RunningShopify) -> None:
    async with client_on(shop, token="shpat_wrong") as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.check()
    assert caught.value.status == 401
    assert caught.value.vendor_message == AUTH_FAILURE


async def test_a_duplicate_email_is_refused_per_field(shop: RunningShopify) -> None:
    taken = shop.store.snapshot("customers")[0]["email"]
    async with client_on(shop) as client:
        with pytest.raises(RecordRejected) as caught:
            await client.create("customers", {"email": taken, "first_name": "Twin"})
    assert caught.value.status == 422
    assert caught.value.vendor_message == "email has already been taken"


async def test_a_body_without_its_wrapper_is_a_400(shop: RunningShopify) -> None:
    async with raw_http(shop) as http:
        answer = await http.post(f"{API}/customers.json", json={"email": "bare@example.com"})
    assert answer.status_code == 400
    assert answer.json() == {"errors": {"customer": "Required parameter missing or invalid"}}


# --- webhooks, read by the hub ---------------------------------------------------------------


async def test_webhook_posts_verify_and_read_as_events_by_the_hub(shop: RunningShopify) -> None:
    secret = "shopify-app-client-secret"
    assert SHOPIFY.webhooks is not None
    signature = SHOPIFY.webhooks.signature
    assert not signs_time(signature)  # Shopify signs no time: the webhook id catches replays
    async with receiving() as receiver:
        shop.subscribe(receiver.url, secret)
        created = shop.store.create("customers", {"email": "hook@example.com"})
        shop.store.update("customers", created["id"], {"note": "changed"})
        shop.store.update("orders", shop.store.snapshot("orders")[0]["id"], {"note": "x"})
        shop.store.delete("customers", created["id"])
        await receiver.wait_for_posts(4)

    topics = [post.headers["X-Shopify-Topic"] for post in receiver.posts]
    assert topics == ["customers/create", "customers/update", "orders/updated", "customers/delete"]
    events = []
    for post in receiver.posts:
        request = SignedRequest.of(post.body, post.headers.items())
        verify_signature(signature, secret, request)
        with pytest.raises(SignatureError):
            verify_signature(signature, "another-secret", request)
        parsed = parse_post(post.body, SHOPIFY, ["customers"], post.headers.items())
        events += parsed.events
        if post.headers["X-Shopify-Topic"].startswith("orders/"):
            assert parsed.ignored == 1  # an object nobody watches

    record_id = str(created["id"])
    assert [(e.object_name, e.change, e.record_id) for e in events] == [
        ("customers", "created", record_id),
        ("customers", "updated", record_id),
        ("customers", "deleted", record_id),
    ]
    ids = [post.headers["X-Shopify-Webhook-Id"] for post in receiver.posts]
    assert [e.vendor_event_id for e in events] == [ids[0], ids[1], ids[3]]
    assert events[0].record is not None
    assert events[0].record["email"] == "hook@example.com"
    assert events[0].record["id"] == record_id
    assert events[1].record is not None
    assert events[1].record["note"] == "changed"
    assert events[2].record is None
    assert to_new_event(events[1], SHOPIFY).vendor_time == events[1].record["updated_at"]


def test_a_post_without_its_shopify_headers_is_malformed() -> None:
    body = b'{"id": 1}'
    with pytest.raises(MalformedPayload, match="X-Shopify-Topic"):
        parse_post(body, SHOPIFY, ["customers"], {"X-Shopify-Webhook-Id": "w1"})
    with pytest.raises(MalformedPayload, match="X-Shopify-Webhook-Id"):
        parse_post(body, SHOPIFY, ["customers"], {"X-Shopify-Topic": "customers/update"})
