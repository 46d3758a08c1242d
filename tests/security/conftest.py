"""Fixtures for the security tests: a fake DNS (no real lookups) and loopback HTTP servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from interlink.security import addresses

from .fakes import FakeDNS, LoopbackServer, loopback_server


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    """Autouse, so no security test can ever send a real DNS query."""
    dns = FakeDNS()
    monkeypatch.setattr(addresses, "resolve_host", dns.resolve)
    return dns


@pytest.fixture
async def http_server() -> AsyncIterator[LoopbackServer]:
    async with loopback_server() as server:
        yield server
