"""Assembling a running hub: migrations, the API, and (optionally) the embedded workers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI

from interlink.api.app import create_app
from interlink.asgi_server import bind_socket, serving, url_of
from interlink.bulk.tasks import register_bulk
from interlink.eventing.delivery.task import register_delivery
from interlink.eventing.polling.scheduler import PollScheduler
from interlink.eventing.polling.tasks import register_polling
from interlink.eventing.webhooks.registration import register_webhook_tasks
from interlink.hub import Hub
from interlink.maintenance import register_maintenance, schedule_maintenance
from interlink.runtime import EmbeddedRuntime, TaskRegistry
from interlink.settings import Settings
from interlink.storage.migrate import migrate


def task_registry(hub: Hub) -> TaskRegistry:
    """Every background task the hub knows, bound to its state."""
    registry = TaskRegistry()
    register_maintenance(registry, hub)
    register_polling(registry, hub)
    register_delivery(registry, hub)
    register_webhook_tasks(registry, hub)
    register_bulk(registry, hub)
    return registry


def build_hub(settings: Settings, *, listen_url: str) -> Hub:
    """The shared state with its job runtime (which can defer even when no worker runs)."""
    hub = Hub.from_settings(settings)
    hub.listen_url = listen_url
    hub.files  # noqa: B018 - a file store the settings cannot give fails here, at start
    hub.runtime_ = EmbeddedRuntime(hub.database, task_registry(hub))
    return hub


def build_app(settings: Settings, *, workers: bool, listen_url: str) -> FastAPI:
    """The ASGI app whose lifespan migrates, starts the workers and closes everything."""
    hub = build_hub(settings, listen_url=listen_url)
    runtime = hub.runtime
    app = create_app(hub)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await migrate(hub.database)
        scheduler = PollScheduler(hub)
        if workers:
            await runtime.start()
            await scheduler.start()
            await schedule_maintenance(runtime)
        try:
            yield
        finally:
            if workers:
                await scheduler.stop()
                await runtime.stop(timeout=10)
            await hub.close()

    app.router.lifespan_context = lifespan
    return app


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
