"""What stands before every request: added latency, the API key, rate limit and failures."""

from __future__ import annotations

import asyncio
import hmac
import random
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from interlink.sandbox.config import SandboxConfig
from interlink.sandbox.errors import SandboxError, Unauthorized
from interlink.sandbox.ratelimit import TokenBucket
from interlink.sandbox.wire import error_response

# Reachable without a key, so a launcher can wait for the port without knowing it.
PUBLIC_PATHS = frozenset({"/healthz"})


class RateLimited(SandboxError):
    """Past the requests allowed per second (429)."""

    status = 429
    code = "rate_limited"


class SimulatedFailure(SandboxError):
    """A 500 answered on purpose (`--fail-rate`)."""

    status = 500
    code = "internal_error"


class GuardMiddleware:
    """Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware).

    Order: latency first, so every answer is late, even a refusal; then the key, so only
    authenticated requests count against the rate limit; then the simulated failure, which
    acts before the endpoint, so a failed request changes nothing.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: SandboxConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self._latency = config.latency_ms / 1000
        self._sleep = sleep
        self._authorization = b"bearer " + config.api_key.encode()
        self._bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        self._fail_rate = config.fail_rate
        self._random = random.Random(config.random_seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._latency:
            await self._sleep(self._latency)
        if scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, scope: Scope) -> ASGIApp | None:
        if not self._authorized(scope):
            return error_response(
                Unauthorized("a valid 'Authorization: Bearer <api key>' header is required"),
                {"WWW-Authenticate": "Bearer"},
            )
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait is not None:
                limited = RateLimited(f"more than {self._bucket.rate:g} requests a second")
                return error_response(limited, {"Retry-After": str(wait)})
        if self._fail_rate and self._random.random() < self._fail_rate:
            return error_response(SimulatedFailure("simulated failure (--fail-rate)"))
        return None

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                # The scheme is case-insensitive (RFC 6750); the key is compared in constant time.
                scheme, _, key = value.partition(b" ")
                return hmac.compare_digest(scheme.lower() + b" " + key, self._authorization)
        return False
