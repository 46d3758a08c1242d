"""The guarded transport checks every address when it connects, and connects to that address."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Iterable
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from interlink.errors import UnsafeURL
from interlink.network_backend import AsyncioBackend
from interlink.security.outbound import check_url, guarded_transport
from interlink.security.transport import BackendTransport, GuardedNetworkBackend

from .fakes import FakeDNS, LoopbackServer, loopback_server

TIMEOUT = httpx.Timeout(5.0)
PUBLIC_IP = "93.184.216.34"


class RoutingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the internet: records where it is asked to connect, reaches loopback."""

    def __init__(self, port: int, *, unreachable: Iterable[str] = ()) -> None:
        self._port = port
        self._unreachable = set(unreachable)
        self._real = AsyncioBackend()
        self.asked: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        if host in self._unreachable:
            raise httpcore.ConnectError(f"{host} is unreachable")
        return await self._real.connect_tcp("127.0.0.1", self._port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def client(
    transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout = TIMEOUT
) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)


def routed_client(
    backend: RoutingBackend, timeout: httpx.Timeout = TIMEOUT, **options: object
) -> httpx.AsyncClient:
    guard = GuardedNetworkBackend(inner=backend)
    transport = BackendTransport(network_backend=guard, **options)  # type: ignore[arg-type]
    return client(transport, timeout)


async def test_loopback_server_is_refused_unless_private_networks_are_allowed(
    http_server: LoopbackServer,
) -> None:
    url = f"http://127.0.0.1:{http_server.port}/hook"
    async with client(guarded_transport(allow_private=False)) as guarded:
        with pytest.raises(UnsafeURL, match="loopback"):
            await guarded.get(url)
    assert http_server.connections == 0

    async with client(guarded_transport(allow_private=True)) as open_client:
        response = await open_client.get(url)
    assert response.status_code == 200
    assert response.text == "ok"
    assert http_server.connections == 1


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "foo.localhost",
        "LOCALHOST.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0x7f000001",
        "127.1",
    ],
)
async def test_every_spelling_of_loopback_is_refused_at_connect_time(
    host: str, http_server: LoopbackServer
) -> None:
    async with client(guarded_transport(allow_private=False)) as guarded:
        with pytest.raises(UnsafeURL):
            await guarded.get(f"http://{host}:{http_server.port}/")
    assert http_server.connections == 0


async def test_dns_rebinding_between_check_and_connect_is_refused(
    http_server: LoopbackServer, fake_dns: FakeDNS
) -> None:
    host = "rebind.example.test"
    fake_dns.answer(host, [PUBLIC_IP], ["127.0.0.1"])
    url = f"http://{host}:{http_server.port}/hook"

    await check_url(url, allow_private=False, field="callback_url")  # public when given
    async with client(guarded_transport(allow_private=False)) as guarded:
        with pytest.raises(UnsafeURL, match=r"resolves to 127\.0\.0\.1, a loopback address"):
            await guarded.get(url)

    assert fake_dns.lookups == [host, host]  # resolved again when connecting
    assert http_server.connections == 0


async def test_one_inward_address_among_public_ones_is_refused(
    http_server: LoopbackServer, fake_dns: FakeDNS
) -> None:
    fake_dns.answer("mixed.example.test", [PUBLIC_IP, "10.0.0.7"])
    backend = RoutingBackend(http_server.port)
    async with routed_client(backend) as guarded:
        with pytest.raises(UnsafeURL, match=r"10\.0\.0\.7"):
            await guarded.get(f"http://mixed.example.test:{http_server.port}/")
    assert backend.asked == []


async def test_connects_to_the_vetted_address_with_the_original_host_header(
    http_server: LoopbackServer, fake_dns: FakeDNS
) -> None:
    fake_dns.answer("api.example.test", [PUBLIC_IP])
    backend = RoutingBackend(http_server.port)
    async with routed_client(backend) as guarded:
        response = await guarded.get(f"http://api.example.test:{http_server.port}/v1")
    assert response.text == "ok"
    assert backend.asked == [(PUBLIC_IP, http_server.port)]
    assert http_server.host_headers == [f"api.example.test:{http_server.port}"]


async def test_tries_the_next_vetted_address_when_one_is_unreachable(
    http_server: LoopbackServer, fake_dns: FakeDNS
) -> None:
    fake_dns.answer("api.example.test", [PUBLIC_IP, "2606:2800:220:1::1"])
    backend = RoutingBackend(http_server.port, unreachable={PUBLIC_IP})
    async with routed_client(backend) as guarded:
        response = await guarded.get(f"http://api.example.test:{http_server.port}/")
    assert response.status_code == 200
    assert [host for host, _ in backend.asked] == [PUBLIC_IP, "2606:2800:220:1::1"]


async def test_unresolvable_host_is_a_connect_error() -> None:
    async with client(guarded_transport(allow_private=False)) as guarded:
        with pytest.raises(httpx.ConnectError, match=r"cannot resolve 'nowhere\.example\.test'"):
            await guarded.get("http://nowhere.example.test/")


async def test_tls_uses_the_hostname_for_sni_and_certificate(
    tmp_path: Path, fake_dns: FakeDNS
) -> None:
    hostname = "api.example.test"
    server_tls, client_tls = _tls_contexts(hostname, tmp_path)
    fake_dns.answer(hostname, [PUBLIC_IP])
    async with loopback_server(tls=server_tls) as server:
        backend = RoutingBackend(server.port)
        async with routed_client(backend, verify=client_tls) as guarded:
            response = await guarded.get(f"https://{hostname}:{server.port}/")
    assert response.text == "ok"
    assert backend.asked == [(PUBLIC_IP, server.port)]
    # The certificate names only the hostname, so verification passing shows it was
    # checked against the hostname and not against the address connected to.
    assert server.server_names == [hostname]
    assert server.host_headers == [f"{hostname}:{server.port}"]


async def test_a_certificate_the_client_does_not_trust_is_a_connect_error(
    tmp_path: Path, fake_dns: FakeDNS
) -> None:
    hostname = "api.example.test"
    server_tls, _trusting = _tls_contexts(hostname, tmp_path)
    fake_dns.answer(hostname, [PUBLIC_IP])
    async with loopback_server(tls=server_tls) as server:
        backend = RoutingBackend(server.port)
        async with routed_client(backend, verify=ssl.create_default_context()) as guarded:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await guarded.get(f"https://{hostname}:{server.port}/")
    assert server.host_headers == []  # no request was sent over it


async def test_a_server_that_never_completes_the_tls_handshake_is_a_connect_timeout(
    tmp_path: Path, fake_dns: FakeDNS
) -> None:
    hostname = "api.example.test"
    _server_tls, client_tls = _tls_contexts(hostname, tmp_path)
    fake_dns.answer(hostname, [PUBLIC_IP])

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # takes the ClientHello, answers nothing
        finally:
            writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        backend = RoutingBackend(port)
        async with routed_client(backend, httpx.Timeout(0.3), verify=client_tls) as guarded:
            with pytest.raises(httpx.ConnectTimeout):
                await guarded.get(f"https://{hostname}:{port}/")


def test_proxies_and_unix_sockets_are_not_options() -> None:
    with pytest.raises(TypeError):
        guarded_transport(allow_private=False, proxy="http://127.0.0.1:3128")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        guarded_transport(allow_private=False, uds="/tmp/socket")  # type: ignore[call-arg]


def _tls_contexts(hostname: str, folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for `hostname`, a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(certificate_pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=certificate_pem.decode())
    return server, client
