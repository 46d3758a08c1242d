"""Vendor budgets shared through PostgreSQL: several processes draw on one bucket.

Each "process" is a `RateLimiterRegistry` with its own engine. Time never passes for real:
the bucket refills by the database's clock, so a tiny rate makes refills negligible, and a
sleep that records and raises tells a caller that had to wait from one that did not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from interlink.elements.definition import ElementDefinition
from interlink.storage.database import Database
from interlink.storage.rate_budgets import PostgresBudgets
from interlink.vendor import RateLimiterRegistry

from .support import make_element

pytestmark = pytest.mark.postgres

SALT = b"the deployment's salt"
CREDENTIALS = {"api_key": "key-1"}


class Waited(Exception):
    """Raised by the test's sleep: the caller would have had to wait."""


async def refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)


@pytest.fixture
async def processes(postgres_url: str) -> AsyncIterator[list[RateLimiterRegistry]]:
    databases = [Database(postgres_url) for _ in range(3)]
    yield [
        RateLimiterRegistry(store=PostgresBudgets(db), salt=SALT, sleep=refuse_to_wait)
        for db in databases
    ]
    for db in databases:
        await db.dispose()


def _element(requests: int, per_seconds: float) -> ElementDefinition:
    return make_element(
        rate_limit={"requests": requests, "per_seconds": per_seconds, "concurrency": 8}
    )


async def _take_until_told_to_wait(
    registry: RateLimiterRegistry, element: ElementDefinition
) -> int:
    limiter = registry.limiter(element, "https://vendor.example", CREDENTIALS)
    taken = 0
    for _ in range(1000):
        try:
            async with limiter.slot():
                taken += 1
        except Waited:
            return taken
    raise AssertionError("the budget never ran out")


async def test_the_budget_holds_for_all_processes_together(
    processes: list[RateLimiterRegistry],
) -> None:
    # 30 calls a day: the bucket holds 30 and refills by less than one during the test.
    element = _element(requests=30, per_seconds=86_400)
    taken = [await _take_until_told_to_wait(registry, element) for registry in processes]
    assert sum(taken) == 30  # not 30 per process
    assert taken[0] == 30
    assert taken[1:] == [0, 0]


async def test_processes_lease_in_small_batches_so_none_hoards_the_budget(
    processes: list[RateLimiterRegistry],
) -> None:
    # 1,000 a second: a lease is a tenth of a second's worth (100), the bucket 1,000.
    element = _element(requests=1000, per_seconds=1)
    first, second, _ = processes
    limiter = first.limiter(element, "https://vendor.example", CREDENTIALS)
    async with limiter.slot():
        pass
    other = second.limiter(element, "https://vendor.example", CREDENTIALS)
    async with other.slot():  # 900 are left for everyone else
        pass


async def test_a_pause_told_to_one_process_holds_the_others(
    processes: list[RateLimiterRegistry],
) -> None:
    element = _element(requests=30, per_seconds=1)
    first, second, _ = processes
    told = first.limiter(element, "https://vendor.example", CREDENTIALS)
    async with told.slot():
        pass
    told.pause_for(60)  # a 429 with Retry-After: 60 reached the first process
    await told.shared_pauses()
    other = second.limiter(element, "https://vendor.example", CREDENTIALS)
    with pytest.raises(Waited) as waited:
        async with other.slot():
            pass
    assert 55 < waited.value.args[0] <= 60


async def test_different_credentials_have_different_budgets(
    processes: list[RateLimiterRegistry],
) -> None:
    element = _element(requests=2, per_seconds=86_400)
    first, second, _ = processes
    mine = first.limiter(element, "https://vendor.example", {"api_key": "a"})
    theirs = second.limiter(element, "https://vendor.example", {"api_key": "b"})
    for limiter in (mine, mine, theirs, theirs):
        async with limiter.slot():
            pass


def test_a_shared_store_needs_the_deployments_salt(postgres_url: str) -> None:
    with pytest.raises(ValueError, match="salt"):
        RateLimiterRegistry(store=PostgresBudgets(Database(postgres_url)))
