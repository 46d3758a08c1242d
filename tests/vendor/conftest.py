"""Fixtures of the vendor client tests: a live fake vendor, a clock that never really waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fake_vendor import FakeVendor
from .support import FakeClock, free_port, serving


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def vendor() -> AsyncIterator[FakeVendor]:
    """The fake vendor, serving on loopback; `vendor.base_url` is where."""
    fake = FakeVendor(other_origin=f"http://127.0.0.1:{free_port()}")
    async with serving(fake.app()) as url:
        fake.base_url = url
        yield fake
