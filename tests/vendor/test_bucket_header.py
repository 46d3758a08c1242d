"""A vendor's leaky bucket read from its answers (`rate_limit.bucket_header`, `used/size`):
a nearly full bucket pauses everyone sharing the budget until it has leaked back."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import ElementDefinition, RateLimit
from interlink.vendor import RateLimiterRegistry, VendorClient
from interlink.vendor.ratelimit import bucket_pause

from .support import API_KEY, FakeClock, make_element

HEADER = "X-Shopify-Shop-Api-Call-Limit"
LEAKY = RateLimit(bucket_header=HEADER, leak_per_second=2, bucket_headroom=4)


@pytest.mark.parametrize(
    ("value", "pause"),
    [
        ("37/40", 0.5),  # (37 - (40 - 4)) / 2
        ("40/40", 2.0),
        (" 39 / 40 ", 1.5),
        ("45/40", 2.0),  # never more than the whole bucket's worth
        ("390/400", 0.0),  # a Shopify Plus bucket with room
    ],
)
def test_a_nearly_full_bucket_pauses_until_it_leaks_back_to_the_headroom(
    value: str, pause: float
) -> None:
    assert bucket_pause(value, LEAKY) == pytest.approx(pause)


@pytest.mark.parametrize("value", ["1/40", "32/40", "36/40", "0/40"])
def test_no_pause_while_the_bucket_has_room(value: str) -> None:
    assert bucket_pause(value, LEAKY) == 0


@pytest.mark.parametrize(
    "value",
    [None, "", "40", "40/", "/40", "a/40", "40/b", "1/2/3", "40/0", "-1/40", "nan/40", "inf/40"],
)
def test_a_missing_or_malformed_header_is_ignored(value: str | None) -> None:
    assert bucket_pause(value, LEAKY) == 0


def test_the_leak_defaults_to_the_static_budgets_rate() -> None:
    settings = RateLimit(requests=40, per_seconds=20, bucket_header=HEADER, bucket_headroom=8)
    assert bucket_pause("36/40", settings) == pytest.approx(2.0)  # (36 - 32) / 2


def test_the_options_are_off_by_default_and_validated() -> None:
    assert RateLimit().bucket_header is None
    with pytest.raises(ValidationError):
        RateLimit(bucket_header=HEADER, leak_per_second=0)
    with pytest.raises(ValidationError):
        RateLimit(bucket_header=HEADER, bucket_headroom=-1)


def test_shopify_declares_its_call_limit_header() -> None:
    limits = builtin_elements()["shopify"].rate_limit
    assert limits.bucket_header == HEADER
    assert limits.leak_per_second == 2
    assert limits.bucket_headroom >= limits.concurrency


def client_answering(
    element: ElementDefinition, value: str, clock: FakeClock, status: int = 200
) -> VendorClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"id": "1"}, headers={HEADER: value})

    return VendorClient(
        element,
        {"base_url": "https://api.example.com", "api_key": API_KEY},
        transport=httpx.MockTransport(answer),
        limiters=RateLimiterRegistry(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        clock=clock,
    )


def leaky_element(**limits: object) -> ElementDefinition:
    rate_limit = {"requests": 100, "per_seconds": 1, "concurrency": 4, **limits}
    return make_element(rate_limit=rate_limit)


@pytest.mark.parametrize(("value", "sleeps"), [("38/40", [1.0]), ("12/40", []), ("x", [])])
async def test_the_client_pauses_the_next_call_by_the_answers_bucket(
    value: str, sleeps: list[float]
) -> None:
    clock = FakeClock()
    element = leaky_element(bucket_header=HEADER, leak_per_second=2, bucket_headroom=4)
    async with client_answering(element, value, clock) as client:
        await client.get("contacts", "1")
        assert clock.sleeps == []  # the answer that says so is not held back
        await client.get("contacts", "1")
    assert clock.sleeps == pytest.approx(sleeps)


async def test_without_the_option_the_header_is_not_read() -> None:
    clock = FakeClock()
    async with client_answering(leaky_element(), "40/40", clock) as client:
        await client.get("contacts", "1")
        await client.get("contacts", "1")
    assert clock.sleeps == []
