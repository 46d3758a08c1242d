"""httpcore's network layer on asyncio's own transports, for every outbound connection.

httpcore reaches the network through a pluggable backend (`httpcore.AsyncNetworkBackend`);
its default on asyncio is anyio's streams, which cost on every socket operation: a cancel
scope with a timer around each read and write, a checkpoint on each send, a pause and
resume of reading around each receive, and a dictionary of lambdas built on every
`get_extra_info` (which httpcore's pool calls twice a request, to see whether an idle
connection was dropped). Paging an export, that was about a sixth of the hub's CPU per
page (docs/benchmarks.md). httpcore's maintainers know the cost (encode/httpcore#930,
encode/httpx#3215) and a native asyncio backend is upstream work in progress; this is
one, on the same public interface, until one ships.

A stream here is an `asyncio.Protocol` that keeps reading: what arrives waits in a queue
of chunks (reading pauses above HIGH_WATER bytes), a read returns what is queued at once
and waits on a plain future otherwise, and a write hands its bytes to the transport and
waits only when the transport asks it to (`pause_writing`). A timer exists only while a
read or write actually waits.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

# Bytes read ahead of the caller before the socket is left alone; httpcore asks for 64 KiB
# at a time, and asyncio reads up to 256 KiB at once.
HIGH_WATER = 512 * 1024
LOW_WATER = 128 * 1024
READ, WRITE = "read", "write"


class _Timeout(Exception):
    """Set on a waiting future by its timer."""


class _Connection(asyncio.Protocol):
    """The receiving side of one connection: its queued bytes, end and flow control."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.ended = False  # the peer closed, or the connection was lost
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        # A read waiting for bytes (READ), a write waiting for the transport to drain (WRITE).
        self.waiting: dict[str, asyncio.Future[None]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        if self.queued > HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake(READ)

    def eof_received(self) -> bool:
        self.ended = True
        self._wake(READ)
        return False  # close the transport: HTTP/1.1 has no use for a half-closed socket

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake(READ)
        self._wake(WRITE)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake(WRITE)

    async def wait(
        self, direction: str, seconds: float | None, expired: type[httpcore.TimeoutException]
    ) -> None:
        """Until the connection is woken for `direction`; `expired` after `seconds`."""
        future = self.waiting[direction] = self.loop.create_future()
        timer = None if seconds is None else self.loop.call_later(seconds, _expire, future)
        try:
            await future
        except _Timeout:
            waited = "for the server" if direction == READ else "for the server to read"
            raise expired(f"timed out waiting {waited}") from None
        finally:
            del self.waiting[direction]
            if timer is not None:
                timer.cancel()

    def _wake(self, direction: str) -> None:
        future = self.waiting.get(direction)
        if future is not None and not future.done():
            future.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore's interface)
        connection = self._connection
        if not connection.chunks and not connection.ended:
            await connection.wait(READ, timeout, httpcore.ReadTimeout)
        if connection.chunks:
            chunk = connection.chunks.popleft()
            if len(chunk) > max_bytes:
                connection.chunks.appendleft(chunk[max_bytes:])
                chunk = chunk[:max_bytes]
            connection.queued -= len(chunk)
            if connection.reading_paused and connection.queued <= LOW_WATER:
                connection.reading_paused = False
                self._transport.resume_reading()
            return chunk
        if connection.error is not None:
            raise httpcore.ReadError(f"connection lost: {connection.error}")
        return b""  # the peer closed the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore's interface)
        if not buffer:
            return
        connection = self._connection
        if self._transport.is_closing():
            raise httpcore.WriteError(f"connection closed: {connection.error or 'by the peer'}")
        self._transport.write(buffer)
        if not connection.writing_paused:
            return
        await connection.wait(WRITE, timeout, httpcore.WriteTimeout)
        if connection.error is not None:
            raise httpcore.WriteError(f"connection lost: {connection.error}")

    async def aclose(self) -> None:
        # As anyio does: close, give the loop one turn to flush and close the socket, then
        # drop whatever is left. A TLS transport would otherwise wait up to 30 s for the
        # peer's close_notify, holding the socket open all that time.
        self._transport.close()
        try:
            await asyncio.sleep(0)
        finally:
            self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        loop = self._connection.loop
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except (OSError, ssl.SSLError, EOFError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(f"TLS handshake failed: {exc}") from exc
        except BaseException:
            self._transport.close()
            raise
        assert isinstance(transport, asyncio.Transport)
        self._connection.transport = transport
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._is_readable()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None

    def _is_readable(self) -> bool:
        """Whether the peer sent something or hung up: asked of an idle connection, it
        means the connection cannot be used again. What the event loop has not taken off
        the socket yet counts too, so the socket itself is asked as well."""
        connection = self._connection
        if connection.chunks or connection.ended or self._transport.is_closing():
            return True
        sock = self._transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return True
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens connections with the running loop's `create_connection`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: connection, host, port, local_addr=local
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        sock: socket.socket = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for outbound calls")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(_Timeout())
