"""Assembling a running hub: migrations, the API, and (optionally) the embedded workers."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI

from interlink.api.app import create_app
from interlink.asgi_server import bind_socket, serving, url_of
from interlink.bulk.tasks import register_bulk
from interlink.eventing.delivery.task import register_delivery
from interlink.eventing.polling.scheduler import PollScheduler
from interlink.eventing.polling.tasks import register_polling
from interlink.eventing.task_names import DELIVERY_QUEUE
from interlink.eventing.webhooks.registration import register_webhook_tasks
from interlink.hub import Hub
from interlink.maintenance import register_maintenance, schedule_maintenance
from interlink.runtime import EmbeddedRuntime, JobRuntime, TaskRegistry
from interlink.runtime.postgres import PostgresRuntime
from interlink.settings import Settings
from interlink.storage.migrate import migrate
from interlink.storage.rate_budgets import PostgresBudgets
from interlink.vendor.ratelimit import RateLimiterRegistry


def task_registry(hub: Hub) -> TaskRegistry:
    """Every background task the hub knows, bound to its state."""
    registry = TaskRegistry()
    register_maintenance(registry, hub)
    register_polling(registry, hub)
    register_delivery(registry, hub)
    register_webhook_tasks(registry, hub)
    register_bulk(registry, hub)
    return registry


def build_hub(settings: Settings, *, listen_url: str, concurrency: int | None = None) -> Hub:
    """The shared state with its job runtime (which can defer even when no worker runs)."""
    hub = Hub.from_settings(settings)
    hub.listen_url = listen_url
    hub.files  # noqa: B018 - a file store the settings cannot give fails here, at start
    hub.runtime_ = job_runtime(hub, concurrency or settings.worker_concurrency)
    if not hub.database.is_sqlite:
        hub.limiters = shared_vendor_budgets(hub)
    return hub


def shared_vendor_budgets(hub: Hub) -> RateLimiterRegistry:
    """Vendor budgets in PostgreSQL: a vendor's limit holds for all processes together."""
    # Every process must derive the same budget keys: salted with the deployment's key.
    salt = hmac.new(hub.settings.secret_keys[0].encode(), b"vendor budgets", "sha256").digest()
    return RateLimiterRegistry(store=PostgresBudgets(hub.database), salt=salt)


def job_runtime(hub: Hub, concurrency: int) -> JobRuntime:
    """Embedded jobs on SQLite; procrastinate on PostgreSQL (the distributed deployment)."""
    registry = task_registry(hub)
    # Deliveries have slots of their own: a burst of them never holds up polls, nor polls them.
    own = {DELIVERY_QUEUE: hub.settings.delivery_concurrency}
    if hub.database.is_sqlite:
        return EmbeddedRuntime(
            hub.database, registry, concurrency=concurrency, queue_concurrency=own
        )
    return PostgresRuntime(
        hub.database.url, registry, concurrency=concurrency, queue_concurrency=own
    )


def build_app(settings: Settings, *, workers: bool, listen_url: str) -> FastAPI:
    """The ASGI app whose lifespan migrates, starts the workers and closes everything."""
    hub = build_hub(settings, listen_url=listen_url)
    app = create_app(hub)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await migrate(hub.database)
            if workers:
                async with background_work(hub):
                    yield
            else:
                yield
        finally:
            await hub.runtime.stop(timeout=10)  # an API node's runtime still holds a pool
            await hub.close()

    app.router.lifespan_context = lifespan
    return app


@contextlib.asynccontextmanager
async def background_work(hub: Hub) -> AsyncIterator[None]:
    """The job workers and the poll scheduler of one process, stopped on the way out.

    Any number of processes may run this on one PostgreSQL database: the scheduler's
    row locks and the queueing locks keep each poll queued once.
    """
    runtime = hub.runtime
    scheduler = PollScheduler(hub)
    await runtime.start()
    try:
        await scheduler.start()
        await schedule_maintenance(runtime)
        yield
    finally:
        await scheduler.stop()
        await runtime.stop(timeout=10)


async def run_workers(settings: Settings, *, concurrency: int, stop: asyncio.Event) -> None:
    """`interlink worker`: background jobs only, until `stop` is set."""
    # Without INTERLINK_PUBLIC_URL a worker assumes an API on this machine's default port.
    listen_url = settings.public_url or "http://127.0.0.1:8000"
    hub = build_hub(settings, listen_url=listen_url, concurrency=concurrency)
    try:
        await migrate(hub.database)
        async with background_work(hub):
            await stop.wait()
    finally:
        await hub.close()


@dataclass(frozen=True)
class RunningHub:
    url: str
    app: FastAPI

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub


@contextlib.asynccontextmanager
async def running_hub(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 0, workers: bool = True
) -> AsyncIterator[RunningHub]:
    """A hub serving on loopback inside this event loop (the demo and the tests use it)."""
    # The listen URL must be known before the app exists, so the socket is bound first.
    sock = bind_socket(host, port)
    app = build_app(settings, workers=workers, listen_url=url_of(sock))
    async with serving(app, sock=sock) as served:
        yield RunningHub(served, app)
