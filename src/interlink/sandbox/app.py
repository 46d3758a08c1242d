"""The Sandbox CRM as a Starlette application: routes, lifespan, guard and error bodies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.sandbox.api_exports import export_routes
from interlink.sandbox.api_records import record_routes
from interlink.sandbox.api_webhooks import webhook_routes
from interlink.sandbox.config import SandboxConfig
from interlink.sandbox.errors import NotFoundError, SandboxError
from interlink.sandbox.exports import ExportService
from interlink.sandbox.guard import GuardMiddleware
from interlink.sandbox.seed import seed_store
from interlink.sandbox.store import SandboxStore
from interlink.sandbox.webhooks import WebhookDispatcher
from interlink.sandbox.wire import error_response, json_response

MAX_BODY_BYTES = 16 * 1024 * 1024


def build_store(config: SandboxConfig, now: Callable[[], float] = time.time) -> SandboxStore:
    """A store seeded as `config.seed` says (N contacts, max(1, N // 10) companies)."""
    store = SandboxStore(now)
    if config.seed:
        seed_store(store, config.seed)
    return store


def create_app(config: SandboxConfig, store: SandboxStore | None = None) -> Starlette:
    """The ASGI app; seeds a new store from `config` unless one is given.

    Webhook delivery and exports run only between the app's lifespan startup and shutdown,
    so serve it with a server that runs the lifespan (uvicorn does).
    """
    data = build_store(config) if store is None else store
    webhooks = WebhookDispatcher(data.clock, retry_base_seconds=config.webhook_retry_base_seconds)
    exports = ExportService(data)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await webhooks.start()
        await exports.start()
        data.add_listener(webhooks.publish)
        try:
            yield
        finally:
            data.remove_listener(webhooks.publish)
            await exports.aclose()
            await webhooks.aclose()

    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "counts": data.counts()})

    app = Starlette(
        # Fixed paths first: `/api/exports` must not be taken for an object named "exports".
        routes=[
            Route("/healthz", health, methods=["GET"]),
            *export_routes(exports),
            *webhook_routes(webhooks),
            *record_routes(data),
        ],
        middleware=[Middleware(GuardMiddleware, config=config)],
        exception_handlers={
            SandboxError: _sandbox_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.store = data
    return app


async def _sandbox_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, SandboxError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    # Starlette's own 404 (no route) and 405 (wrong method), in the sandbox's error shape.
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        return error_response(NotFoundError(f"no such path: {request.url.path}"))
    problem = SandboxError(error.detail)
    problem.status = error.status_code
    problem.code = error.detail.lower().replace(" ", "_") or "error"
    return error_response(problem, error.headers)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    # A bug, not a simulated failure; still answered in the JSON shape clients parse.
    return error_response(SandboxError("unexpected error in the sandbox"))
