"""Retry policies, RetryLater and the task registry."""

from __future__ import annotations

import pytest

from interlink.errors import ConfigurationError
from interlink.runtime import JobContext, RetryLater, RetryPolicy, TaskRegistry


def test_delay_grows_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=2.0, max_delay=20.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 16.0, 20.0]
    assert policy.delay(10_000) == 20.0  # no overflow on absurd attempt numbers


def test_jitter_spreads_delays_within_bounds() -> None:
    policy = RetryPolicy(base_delay=10.0, max_delay=100.0, jitter=0.2)
    delays = {policy.delay(1) for _ in range(200)}
    assert all(8.0 <= delay <= 12.0 for delay in delays)
    assert len(delays) > 1
    capped = {policy.delay(20) for _ in range(200)}
    assert all(80.0 <= delay <= 100.0 for delay in capped)


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"base_delay": -1.0},
        {"base_delay": 10.0, "max_delay": 5.0},
        {"max_delay": float("inf")},
        {"jitter": 1.0},
    ],
)
def test_invalid_policies_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_retry_later_carries_its_delay() -> None:
    assert RetryLater(2.5).delay_seconds == 2.5
    assert str(RetryLater(3, "vendor answered 429")) == "vendor answered 429"
    with pytest.raises(ValueError, match="non-negative"):
        RetryLater(-1)


def test_registry_registers_by_name_and_keeps_the_function() -> None:
    registry = TaskRegistry()
    policy = RetryPolicy(max_attempts=3)

    @registry.task(name="sync.contacts", retry=policy)
    async def sync(context: JobContext, *, instance_id: str) -> None:
        pass

    task = registry.get("sync.contacts")
    assert task is not None
    assert task.handler is sync
    assert task.retry is policy
    assert "sync.contacts" in registry
    assert registry.get("unknown") is None


def test_registry_defaults_to_a_single_attempt_and_refuses_duplicates() -> None:
    registry = TaskRegistry()

    @registry.task(name="once")
    async def once(context: JobContext) -> None:
        pass

    task = registry.get("once")
    assert task is not None
    assert task.retry.max_attempts == 1
    with pytest.raises(ConfigurationError, match="twice"):
        registry.task(name="once")(once)


def test_registries_compose() -> None:
    eventing, bulk, app = TaskRegistry(), TaskRegistry(), TaskRegistry()

    @eventing.task(name="poll")
    async def poll(context: JobContext) -> None:
        pass

    @bulk.task(name="export")
    async def export(context: JobContext) -> None:
        pass

    app.include(eventing)
    app.include(bulk)
    assert sorted(task.name for task in app) == ["export", "poll"]
    assert len(app) == 2
