"""A token bucket: R requests a second, with the wait a refused caller should observe."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """Holds up to max(1, rate) tokens, refilled at `rate` a second; a request takes one."""

    def __init__(self, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("the rate must be more than 0")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._now = now
        self._tokens = self.capacity
        self._stamp = now()

    def take(self) -> int | None:
        """None if the request may go on, else the whole seconds to wait (at least 1)."""
        now = self._now()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        # Retry-After is in whole seconds; rounding down could send the caller back too soon.
        return max(1, math.ceil((1 - self._tokens) / self.rate))
