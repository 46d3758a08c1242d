"""Retries of vendor calls: exponential backoff with jitter, Retry-After, safe resends."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from interlink.elements.definition import RetryPolicy
from interlink.vendor.errors import RetryableVendorError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[RetryableVendorError, int, float], None]

# 2**64 is far past any max_delay; a capped exponent keeps the float finite.
_MAX_EXPONENT = 64


class Retrier:
    """Runs a call again while it fails with a `RetryableVendorError`, within the policy.

    The wait after failed attempt n is `base_delay * 2**(n-1)`, spread by ±`jitter` so
    that callers failing together do not return together, capped at `max_delay` — or
    exactly the vendor's `Retry-After`. A `Retry-After` beyond `max_retry_after_seconds`
    ends the retries at once: waiting less would only earn another 429, and the caller
    (a job) can reschedule itself for that long instead of holding a worker.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        jitter: float = 0.25,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._uniform = uniform

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
        exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
        nominal = min(self.policy.base_delay_seconds * 2.0**exponent, self.policy.max_delay_seconds)
        spread = nominal * self._jitter
        return max(nominal + self._uniform(-spread, spread), 0.0)

    def delay_before_retry(
        self, error: RetryableVendorError, *, attempt: int, idempotent: bool
    ) -> float | None:
        """How long to wait before attempt `attempt + 1`, or `None`: do not retry."""
        if attempt >= self.policy.max_attempts:
            return None
        if not idempotent and not error.safe_to_resend:
            # The vendor may have acted (a read timeout, a 502): resending could duplicate.
            return None
        if error.retry_after is not None:
            if error.retry_after > self.policy.max_retry_after_seconds:
                return None
            return error.retry_after
        return self.backoff(attempt)

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        on_retry: OnRetry | None = None,
    ) -> T:
        attempt = 1
        while True:
            try:
                return await call()
            except RetryableVendorError as error:
                delay = self.delay_before_retry(error, attempt=attempt, idempotent=idempotent)
                if delay is None:
                    raise
                if on_retry is not None:
                    on_retry(error, attempt, delay)
            await self._sleep(delay)
            attempt += 1
