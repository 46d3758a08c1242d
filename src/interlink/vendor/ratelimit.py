"""Vendor budgets: requests per interval and concurrent calls, shared per credentials."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from interlink.elements.definition import ElementDefinition, RateLimit
from interlink.vendor.shared_budgets import BudgetStore

# A process leases this much of a shared budget at a time (at least one token).
_LEASE_SECONDS = 0.1

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """A token bucket of `requests` per `per_seconds` plus a cap on concurrent calls.

    The bucket starts full, so a burst of `requests` goes at once and the rest follow at
    the steady rate. `pause_until` stops every holder of this limiter, which is how one
    caller's 429 with `Retry-After` protects all the others sharing the credentials.
    """

    def __init__(
        self,
        settings: RateLimit,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: tuple[BudgetStore, str] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rate = settings.requests / settings.per_seconds
        self._tokens = float(settings.requests)
        self._filled_at = clock()
        self._paused_until = 0.0
        self._concurrency = asyncio.Semaphore(settings.concurrency)
        # Waiters queue here one at a time, so they are served in arrival order.
        self._turn = asyncio.Lock()
        # With a shared store (and this budget's key in it) the bucket lives there: the
        # local one only holds the tokens leased and not yet spent, starting empty.
        self._shared = shared
        if shared is not None:
            self._tokens = 0.0
        self._lease_size = max(1, min(settings.requests, math.ceil(self._rate * _LEASE_SECONDS)))
        self._pushes: set[asyncio.Task[None]] = set()

    @property
    def paused_until(self) -> float:
        """The monotonic time before which nobody may call, 0 when not paused."""
        return self._paused_until

    def pause_until(self, moment: float) -> None:
        """No new call starts before `moment` (on this limiter's clock); never shortens."""
        self._paused_until = max(self._paused_until, moment)

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + seconds)
        if self._shared is not None:
            # Told to every process through the store; kept here until it is done.
            store, key = self._shared
            push = asyncio.get_running_loop().create_task(_pause_shared(store, key, seconds))
            self._pushes.add(push)
            push.add_done_callback(self._pushes.discard)

    async def shared_pauses(self) -> None:
        """Returns once the pauses told to this limiter have reached the shared store."""
        if self._pushes:
            await asyncio.wait(set(self._pushes))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held for the duration of one call: a concurrency place and one request's budget."""
        async with self._concurrency:
            async with self._turn:
                await self._take_token()
            yield

    async def _take_token(self) -> None:
        while True:
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            if self._shared is None:
                self._refill(now)
            if self._tokens >= 1:
                self._tokens -= 1
                return
            if self._shared is None:
                await self._sleep((1 - self._tokens) / self._rate)
                continue
            store, key = self._shared
            lease = await store.lease(
                key,
                want=self._lease_size,
                rate=self._rate,
                capacity=float(self.settings.requests),
            )
            self._tokens += lease.granted
            if lease.paused > 0:
                self.pause_until(self._clock() + lease.paused)  # another process was told
            elif not lease.granted:
                await self._sleep(lease.wait)

    def _refill(self, now: float) -> None:
        elapsed = max(now - self._filled_at, 0.0)
        self._tokens = min(float(self.settings.requests), self._tokens + elapsed * self._rate)
        self._filled_at = now


def bucket_pause(value: str | None, settings: RateLimit) -> float:
    """Seconds to pause so a leaky bucket reported as `used/size` (the element's
    `bucket_header`) leaks back to `bucket_headroom` free calls; 0 when it has room, or when
    the value is missing or malformed (a vendor's odd answer must not stop the calls)."""
    if not value:
        return 0.0
    parts = value.strip().split("/")
    if len(parts) != 2:
        return 0.0
    try:
        used, size = float(parts[0]), float(parts[1])
    except ValueError:
        return 0.0
    if not (math.isfinite(used) and math.isfinite(size)) or used < 0 or size <= 0:
        return 0.0
    leak = settings.leak_per_second or settings.requests / settings.per_seconds
    target = max(size - settings.bucket_headroom, 0.0)
    if used <= target:
        return 0.0
    return (min(used, size) - target) / leak


class RateLimiterRegistry:
    """Hands out one limiter per budget: same element, base URL and credentials.

    Every instance configured with the same vendor credentials draws on one budget, as the
    vendor counts them together. Without a `store`, budgets live in this process (the
    embedded hub); with one, every process draws on the same bucket there, and `salt`
    (the same in every process) makes their keys agree. Concurrency caps stay per process.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        store: BudgetStore | None = None,
        salt: bytes | None = None,
    ) -> None:
        if store is not None and salt is None:
            raise ValueError("a shared budget store needs the deployment's salt for its keys")
        self._clock = clock
        self._sleep = sleep
        self._store = store
        self._limiters: dict[str, RateLimiter] = {}
        # Keys are keyed hashes: even a leaked key says nothing about a short password.
        self._salt = salt or secrets.token_bytes(32)

    def budget_key(
        self, element: ElementDefinition, base_url: str, credentials: Mapping[str, Any]
    ) -> str:
        canonical = json.dumps(dict(credentials), sort_keys=True, default=str).encode()
        digest = hmac.new(self._salt, canonical, hashlib.sha256).hexdigest()
        return f"{element.key}|{base_url.rstrip('/')}|{digest}"

    def limiter(
        self, element: ElementDefinition, base_url: str, credentials: Mapping[str, Any]
    ) -> RateLimiter:
        key = self.budget_key(element, base_url, credentials)
        current = self._limiters.get(key)
        if current is not None and current.settings == element.rate_limit:
            return current
        # New budget, or the element's limits were changed: start afresh, keep any pause.
        shared = None if self._store is None else (self._store, key)
        limiter = RateLimiter(
            element.rate_limit, clock=self._clock, sleep=self._sleep, shared=shared
        )
        if current is not None:
            limiter.pause_until(current.paused_until)
        self._limiters[key] = limiter
        return limiter


async def _pause_shared(store: BudgetStore, key: str, seconds: float) -> None:
    try:
        await store.pause(key, seconds)
    except Exception:
        # The pause holds here anyway; the others learn of it from their own 429s.
        logging.getLogger(__name__).warning("could not share a vendor pause", exc_info=True)
