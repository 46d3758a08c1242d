"""Running the sandbox under uvicorn: blocking for the CLI, in-process for tests and the demo."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from interlink.asgi_server import bind_socket, serving, uvicorn_config
from interlink.sandbox.app import build_store, create_app
from interlink.sandbox.config import SandboxConfig
from interlink.sandbox.store import SandboxStore

logger = logging.getLogger("interlink.sandbox")

STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving in this process: its base URL, its data and its settings."""

    url: str
    store: SandboxStore
    config: SandboxConfig


def serve_sandbox(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8100) -> None:
    """Seeds, then serves until interrupted (Ctrl+C or SIGTERM); the port opens seeded."""
    store = build_store(config)
    # The seeded records live as long as the process: moving them out of the collector's
    # sight keeps later full collections (and so request latency) short.
    gc.freeze()
    sock = bind_socket(host, port)
    server = _ReadyLoggingServer(uvicorn_config(create_app(config, store)), store)
    # uvicorn shuts down gracefully on Ctrl+C, then raises the signal again so the caller
    # sees it; for a command-line server that is a normal end, not a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


@contextlib.asynccontextmanager
async def running_sandbox(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    store: SandboxStore | None = None,
) -> AsyncIterator[RunningSandbox]:
    """Serves a sandbox on a free port (or `port`) in this event loop, for the block's length.

    Seeding runs in a thread, so a large seed does not freeze the caller's loop. `store`
    serves an existing store instead of seeding one.
    """
    if store is None:
        store = await asyncio.to_thread(build_store, config)
    async with serving(create_app(config, store), host, port) as url:
        yield RunningSandbox(url=url, store=store, config=config)


class _ReadyLoggingServer(uvicorn.Server):
    """uvicorn that logs one line once the port is open."""

    def __init__(self, config: uvicorn.Config, store: SandboxStore) -> None:
        super().__init__(config)
        self._store = store

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            counts = ", ".join(f"{count} {name}" for name, count in self._store.counts().items())
            logger.info("Sandbox CRM listening on %s (%s)", _url(host, port), counts)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
