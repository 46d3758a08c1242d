"""The asyncio network backend under httpx, against real loopback servers: keep-alive,
flow control, timeouts, and each way a server can hang up."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from interlink.network_backend import HIGH_WATER
from interlink.security.outbound import guarded_transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


def client(timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=guarded_transport(allow_private=True), timeout=timeout, follow_redirects=False
    )


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer(body: bytes, *, close: bool = False) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: %s\r\n\r\n" % (len(body), connection)
    ) + body


async def test_requests_reuse_one_connection_and_big_bodies_arrive_whole() -> None:
    body = bytes(range(256)) * (3 * 4096)  # 3 MiB: many chunks, read ahead and sliced

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            await read_request(reader)
            writer.write(answer(body))
            await writer.drain()

    async with serving(handler) as server, client() as http:
        for _ in range(3):
            response = await http.get(f"http://127.0.0.1:{server.port}/")
            assert response.content == body
    assert server.connections == 1


async def test_a_reader_that_lags_holds_a_bounded_amount_of_the_body() -> None:
    body = b"x" * (8 << 20)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(body))
        await writer.drain()

    async with serving(handler) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/"
        async with http.stream("GET", url) as response:
            await asyncio.sleep(0.3)  # the server sends all it can meanwhile
            stream = response.extensions["network_stream"]
            queued = stream._connection.queued
            received = b"".join([chunk async for chunk in response.aiter_raw()])
    # Reading stopped at the high-water mark (plus at most one read of the loop's).
    assert queued <= HIGH_WATER + (256 << 10)
    assert received == body


async def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"first"))  # says keep-alive, then hangs up anyway
        await writer.drain()

    async with serving(handler) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/"
        assert (await http.get(url)).text == "first"
        await asyncio.sleep(0.1)  # the close reaches the client while it is idle
        assert (await http.post(url, content=b"not sent twice")).text == "first"
    assert server.connections == 2


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(handler) as server, client(timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{server.port}/")


async def test_a_server_that_never_reads_is_a_write_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with serving(handler) as server, client(timeout=0.3) as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(f"http://127.0.0.1:{server.port}/", content=b"x" * (64 << 20))


async def test_a_body_cut_short_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly this")
        await writer.drain()

    async with serving(handler) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{server.port}/")


async def test_a_reset_connection_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout: closing sends a reset instead of a FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with serving(handler) as server, client() as http:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await http.get(f"http://127.0.0.1:{server.port}/")


async def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client() as http:
        with pytest.raises(httpx.ConnectError, match=f"127.0.0.1:{port}"):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_closing_the_client_closes_its_connections() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"ok"))
        await writer.drain()
        if await reader.read() == b"":
            closed.set()

    async with serving(handler) as server:
        async with client() as http:
            assert (await http.get(f"http://127.0.0.1:{server.port}/")).text == "ok"
            assert not closed.is_set()
        await asyncio.wait_for(closed.wait(), timeout=5)
