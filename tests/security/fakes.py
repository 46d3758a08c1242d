"""Fakes for the security tests: a DNS that answers only what a test says, a loopback server."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address

from interlink.security.addresses import IPAddress


class FakeDNS:
    """Answers only the names a test registers; every other name does not exist."""

    def __init__(self) -> None:
        self._answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def answer(self, host: str, *answers: list[str]) -> None:
        """Successive lookups of `host` get successive answers; the last one then repeats."""
        self._answers[host] = list(answers)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        answers = self._answers.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown to the test DNS")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ip_address(text) for text in answer]


@dataclass
class LoopbackServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 that answers `ok` and records what it saw."""

    port: int = 0
    connections: int = 0
    host_headers: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "host":
                    self.host_headers.append(value.strip())
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()


@asynccontextmanager
async def loopback_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[LoopbackServer]:
    """A LoopbackServer listening on a free port of 127.0.0.1, with TLS if `tls` is given."""
    state = LoopbackServer()
    if tls is not None:

        def record_sni(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
            # Which name the client asked for: the hostname, never the vetted address.
            state.server_names.append(name)

        tls.sni_callback = record_sni
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()
