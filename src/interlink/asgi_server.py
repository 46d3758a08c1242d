"""Serving an ASGI app under uvicorn inside the current event loop, on a socket we bind.

Binding the socket ourselves lets port 0 pick a free port and tells us which before the
server starts: the demo and the tests run hubs, sandboxes and receivers this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket; binding it ourselves tells the real port before serving."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every answer on a kept-alive connection waits 40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def uvicorn_config(app: Any, *, log_level: int = logging.WARNING) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="on",
        ws="none",
        log_config=None,  # logging belongs to the application (the CLI), not to uvicorn
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_SECONDS / 2),
    )


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process (tests, the demo) owns those."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, sock: socket.socket | None = None
) -> AsyncIterator[str]:
    """Serves `app` (on `sock` if given) in this event loop; yields its base URL.

    On exit the lifespan shutdown runs and every connection is closed before this returns.
    """
    sock = sock or bind_socket(host, port)
    url = url_of(sock)
    server = EmbeddedServer(uvicorn_config(app))
    task = asyncio.create_task(_serve(server, sock), name=f"uvicorn {url}")
    try:
        await _wait_started(server, task)
        yield url
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait([task], timeout=SHUTDOWN_TIMEOUT_SECONDS)
        if not done:
            server.force_exit = True  # stop waiting for slow connections
            await asyncio.wait([task])
        sock.close()  # already closed by uvicorn unless startup failed
        if not task.cancelled() and task.exception() is not None:
            logger.error("the server on %s stopped with an error", url, exc_info=task.exception())


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exit_:
        # uvicorn calls sys.exit() when the lifespan startup fails; in a task that would
        # tear down the caller's whole event loop.
        raise RuntimeError("the server failed to start") from exit_


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if task.done():
            error = None if task.cancelled() else task.exception()
            raise RuntimeError("the server failed to start") from error
        if loop.time() > deadline:
            raise TimeoutError("the server did not start in time")
        await asyncio.sleep(0.005)
