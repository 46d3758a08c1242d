"""Fixtures of the conformance suite: the element's harness, started, and a client on it.

Tests name the element through indirect parametrization of `harness` (see
`support.element_params` and `support.object_params`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from interlink.vendor import VendorClient
from tests.conformance.harness import Harness
from tests.conformance.harnesses import HARNESSES
from tests.conformance.support import vendor_client


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The vendor of the element named by the test's parameter, running."""
    key: str = request.param
    harness_class = HARNESSES.get(key)
    if harness_class is None:
        pytest.fail(f"element {key!r} has no conformance harness in tests/conformance/harnesses")
    async with harness_class() as started:
        yield started


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[VendorClient]:
    """The vendor client on the harness's vendor, with the instance's config."""
    async with vendor_client(harness) as opened:
        yield opened
