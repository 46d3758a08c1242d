"""Rate limiters: the token bucket, the concurrency cap, pauses, one budget per credentials."""

from __future__ import annotations

import asyncio

import pytest

from interlink.elements.definition import RateLimit
from interlink.vendor import RateLimiter, RateLimiterRegistry

from .fake_vendor import FakeVendor, vendor_element
from .support import API_KEY, FakeClock, make_client, make_element


def limiter(clock: FakeClock, **settings: float) -> RateLimiter:
    return RateLimiter(RateLimit.model_validate(settings), clock=clock, sleep=clock.sleep)


async def test_a_burst_goes_at_once_then_the_steady_rate(clock: FakeClock) -> None:
    bucket = limiter(clock, requests=2, per_seconds=1)
    for _ in range(5):
        async with bucket.slot():
            pass
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5])


async def test_unused_time_refills_the_bucket_up_to_its_size(clock: FakeClock) -> None:
    bucket = limiter(clock, requests=3, per_seconds=3)
    for _ in range(3):
        async with bucket.slot():
            pass
    clock.now += 60
    for _ in range(3):
        async with bucket.slot():
            pass
    assert clock.sleeps == []


async def test_concurrency_is_capped(clock: FakeClock) -> None:
    bucket = limiter(clock, requests=100, concurrency=2)
    release = asyncio.Event()
    inside, most = 0, 0

    async def call() -> None:
        nonlocal inside, most
        async with bucket.slot():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(call()) for _ in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert inside == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


async def test_a_pause_holds_every_caller_and_never_shortens(clock: FakeClock) -> None:
    bucket = limiter(clock, requests=10)
    bucket.pause_until(clock.now + 5)
    bucket.pause_until(clock.now + 1)
    async with bucket.slot():
        pass
    assert clock.sleeps == [5]


def test_one_budget_per_element_base_url_and_credentials(clock: FakeClock) -> None:
    registry = RateLimiterRegistry(clock=clock, sleep=clock.sleep)
    element, other_element = make_element(), make_element(key="other")
    base = "https://api.example.com"
    mine = registry.limiter(element, base, {"api_key": "a"})
    assert registry.limiter(element, base + "/", {"api_key": "a"}) is mine
    assert registry.limiter(element, base, {"api_key": "b"}) is not mine
    assert registry.limiter(element, "https://eu.example.com", {"api_key": "a"}) is not mine
    assert registry.limiter(other_element, base, {"api_key": "a"}) is not mine


def test_budget_keys_do_not_carry_the_credentials(clock: FakeClock) -> None:
    registry = RateLimiterRegistry()
    key = registry.budget_key(make_element(), "https://api.example.com", {"api_key": API_KEY})
    assert API_KEY not in key


def test_changed_limits_replace_the_limiter_but_keep_its_pause(clock: FakeClock) -> None:
    registry = RateLimiterRegistry(clock=clock, sleep=clock.sleep)
    base = "https://api.example.com"
    before = registry.limiter(make_element(), base, {})
    before.pause_until(clock.now + 30)
    after = registry.limiter(make_element(rate_limit={"requests": 1}), base, {})
    assert after is not before
    assert after.settings.requests == 1
    assert after.paused_until == before.paused_until


async def test_clients_with_the_same_credentials_share_a_budget(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    element = vendor_element(rate_limit={"requests": 2, "per_seconds": 1})
    limiters = RateLimiterRegistry(clock=clock, sleep=clock.sleep)
    async with (
        make_client(element, vendor.base_url, clock, limiters=limiters) as first,
        make_client(element, vendor.base_url, clock, limiters=limiters) as second,
        make_client(
            element, vendor.base_url, clock, limiters=limiters, config={"api_key": "another-key"}
        ) as stranger,
    ):
        assert first.limiter is second.limiter
        assert stranger.limiter is not first.limiter
        await first.list_page("contacts")
        await second.list_page("contacts")
        await stranger.list_page("contacts")  # its own budget: no wait
        assert clock.sleeps == []
        await second.list_page("contacts")  # the shared budget of two is spent
    assert clock.sleeps == pytest.approx([0.5])
