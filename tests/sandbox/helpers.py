"""Helpers of the sandbox tests: a hand-driven clock, test settings, clients, a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from interlink.sandbox import RunningSandbox, SandboxConfig

API_KEY = "test-key"
WAIT_SECONDS = 10.0  # upper bound for anything a test waits on


class FakeTime:
    """A wall clock that moves only when told to, in seconds since the epoch."""

    def __init__(self, start: float = 1_714_564_800.0) -> None:  # 2024-05-01T12:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(**overrides: object) -> SandboxConfig:
    """Test settings: our key, fast webhook retries; anything else as given."""
    values: dict[str, object] = {"api_key": API_KEY, "webhook_retry_base_seconds": 0.01}
    values.update(overrides)
    return SandboxConfig(**values)  # type: ignore[arg-type]


def client_for(running: RunningSandbox, key: str = API_KEY) -> httpx.AsyncClient:
    """An HTTP client for `running`, sending `key`."""
    return httpx.AsyncClient(
        base_url=running.url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=WAIT_SECONDS,
        trust_env=False,
    )


@dataclass
class Receiver:
    """A webhook endpoint on loopback that records every post it gets."""

    url: str = ""
    fail_first: int = 0  # answer 500 to this many posts before accepting
    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    accepted: list[bytes] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Until `condition()` holds after some post, within WAIT_SECONDS."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not condition():
                self.arrived.clear()
                await self.arrived.wait()


async def until(condition: Callable[[], bool], *, seconds: float = WAIT_SECONDS) -> None:
    """Returns once `condition()` holds, checking every millisecond; fails after `seconds`."""
    for _ in range(int(seconds * 1000)):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition did not come true in time")
