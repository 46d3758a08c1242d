"""Delivery tests run a hub without workers (jobs are driven by hand), a short retry
schedule, and a receiver on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlink.asgi_server import serving
from interlink.settings import Settings
from tests.eventing.delivery.receiver import Receiver


@pytest.fixture
def hub_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "hub",
        allow_private_networks=True,
        secret_key="test-secret-key-0123456789-abcdefghijklmnop",
        retry_schedule="0.01,0.02",
        delivery_timeout_seconds=0.5,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.app) as url:
        receiver.url = f"{url}/hook"
        yield receiver
