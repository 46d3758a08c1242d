"""Retries against a live vendor: backoff, Retry-After, gives up, and never resends a POST
the vendor may have acted on."""

from __future__ import annotations

import pytest

from interlink.elements.definition import RetryPolicy
from interlink.vendor import RateLimiterRegistry, Retrier, RetryableVendorError

from .fake_vendor import FakeVendor, vendor_element
from .support import FakeClock, free_port, make_client

NEW_CONTACT = {"email": "new@example.com"}


async def test_a_503_twice_then_success_is_retried_with_backoff(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        page = await client.list_page("flaky")
    assert [record["id"] for record in page.records] == ["1", "2", "3"]
    assert vendor.calls["flaky"] == 3
    first, second = clock.sleeps
    assert 0.5 * 0.75 <= first <= 0.5 * 1.25
    assert 1.0 * 0.75 <= second <= 1.0 * 1.25


async def test_a_429_waits_its_retry_after_and_pauses_everyone_sharing_the_budget(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    element = vendor_element()
    limiters = RateLimiterRegistry(clock=clock, sleep=clock.sleep)
    started = clock.now
    async with (
        make_client(element, vendor.base_url, clock, limiters=limiters) as throttled,
        make_client(element, vendor.base_url, clock, limiters=limiters) as neighbour,
    ):
        page = await throttled.list_page("throttled")
        assert len(page.records) == 3
        assert clock.sleeps == [2.0]
        assert throttled.limiter is neighbour.limiter
        assert throttled.limiter.paused_until == started + 2.0
        clock.now = started + 0.5  # the neighbour calls while the pause lasts
        await neighbour.list_page("contacts")
    assert clock.sleeps == [2.0, 1.5]


async def test_always_500_gives_up_after_max_attempts(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(RetryableVendorError) as caught:
            await client.list_page("broken")
    assert vendor.calls["broken"] == 3
    assert caught.value.status == 500
    assert caught.value.vendor_message == "internal boom"
    assert len(clock.sleeps) == 2


async def test_a_read_timeout_is_retryable_and_retried_for_a_get(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock, timeout=0.1) as client:
        with pytest.raises(RetryableVendorError, match="timed out") as caught:
            await client.list_page("slow")
    assert vendor.calls["slow GET"] == 3
    assert not caught.value.safe_to_resend


async def test_a_post_is_not_resent_after_a_read_timeout(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock, timeout=0.1) as client:
        with pytest.raises(RetryableVendorError, match="timed out"):
            await client.create("slow", NEW_CONTACT)
    assert vendor.calls["slow POST"] == 1
    assert clock.sleeps == []


async def test_a_post_is_not_resent_after_a_502(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(RetryableVendorError):
            await client.create("badgateway", NEW_CONTACT)
    assert vendor.calls["badgateway"] == 1


async def test_a_post_is_resent_after_a_503_with_retry_after(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        created = await client.create("busy", NEW_CONTACT)
    assert created["id"] == "99"
    assert vendor.calls["busy"] == 2
    assert clock.sleeps == [1.0]


async def test_connection_refused_is_retried_even_for_a_post(clock: FakeClock) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with make_client(vendor_element(), closed, clock) as client:
        with pytest.raises(RetryableVendorError, match="could not reach") as caught:
            await client.create("contacts", NEW_CONTACT)
    assert caught.value.safe_to_resend
    assert len(clock.sleeps) == 2  # three attempts


def policy(**values: float) -> RetryPolicy:
    return RetryPolicy.model_validate(
        {"max_attempts": 5, "base_delay_seconds": 1, "max_delay_seconds": 10, **values}
    )


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    low = Retrier(policy(), uniform=lambda a, b: a)
    high = Retrier(policy(), uniform=lambda a, b: b)
    assert [low.backoff(n) for n in (1, 2, 3)] == [0.75, 1.5, 3.0]
    assert [high.backoff(n) for n in (1, 2, 3)] == [1.25, 2.5, 5.0]
    assert high.backoff(10) == 12.5  # 10 capped, then spread
    assert Retrier(policy(), uniform=lambda a, b: 0.0).backoff(1000) == 10.0


def test_a_retry_after_beyond_the_cap_ends_the_retries() -> None:
    retrier = Retrier(policy(max_retry_after_seconds=60))
    patient = RetryableVendorError("x", status=429, retry_after=30, safe_to_resend=True)
    impatient = RetryableVendorError("x", status=429, retry_after=3600, safe_to_resend=True)
    assert retrier.delay_before_retry(patient, attempt=1, idempotent=True) == 30
    assert retrier.delay_before_retry(impatient, attempt=1, idempotent=True) is None


def test_unsafe_errors_stop_non_idempotent_calls_only() -> None:
    retrier = Retrier(policy())
    unsafe = RetryableVendorError("read timeout")
    assert retrier.delay_before_retry(unsafe, attempt=1, idempotent=False) is None
    assert retrier.delay_before_retry(unsafe, attempt=1, idempotent=True) is not None
    assert retrier.delay_before_retry(unsafe, attempt=5, idempotent=True) is None
