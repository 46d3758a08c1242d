"""Vendor budgets: requests per interval and concurrent calls, shared per credentials."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from interlink.elements.definition import ElementDefinition, RateLimit

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """A token bucket of `requests` per `per_seconds` plus a cap on concurrent calls.

    The bucket starts full, so a burst of `requests` goes at once and the rest follow at
    the steady rate. `pause_until` stops every holder of this limiter, which is how one
    caller's 429 with `Retry-After` protects all the others sharing the credentials.
    """

    def __init__(
        self, settings: RateLimit, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
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

    @property
    def paused_until(self) -> float:
        """The monotonic time before which nobody may call, 0 when not paused."""
        return self._paused_until

    def pause_until(self, moment: float) -> None:
        """No new call starts before `moment` (on this limiter's clock); never shortens."""
        self._paused_until = max(self._paused_until, moment)

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + seconds)

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
            self._refill(now)
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await self._sleep((1 - self._tokens) / self._rate)

    def _refill(self, now: float) -> None:
        elapsed = max(now - self._filled_at, 0.0)
        self._tokens = min(float(self.settings.requests), self._tokens + elapsed * self._rate)
        self._filled_at = now


class RateLimiterRegistry:
    """Hands out one limiter per budget: same element, base URL and credentials.

    Every instance configured with the same vendor credentials draws on one budget, as the
    vendor counts them together. Budgets live in this process only; a distributed
    deployment divides a vendor's limit between its workers (see the report).
    """

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, RateLimiter] = {}
        # Keys are keyed hashes: even a leaked key says nothing about a short password.
        self._salt = secrets.token_bytes(32)

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
        limiter = RateLimiter(element.rate_limit, clock=self._clock, sleep=self._sleep)
        if current is not None:
            limiter.pause_until(current.paused_until)
        self._limiters[key] = limiter
        return limiter
