"""An httpx transport whose every connection goes to an address vetted as public."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable, Mapping
from typing import TypedDict, Unpack

import httpcore
import httpx

from interlink.errors import UnsafeURL
from interlink.network_backend import AsyncioBackend
from interlink.security import addresses
from interlink.security.addresses import RefusedHost

# httpx's own default, which it does not export.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class TransportOptions(TypedDict, total=False):
    """The httpx.AsyncHTTPTransport options a guarded transport accepts.

    No `proxy` and no `uds`: both would connect somewhere other than the vetted address.
    No `cert` or string `verify` (deprecated by httpx): pass an ssl.SSLContext instead.
    """

    verify: ssl.SSLContext | bool
    trust_env: bool
    http1: bool
    http2: bool
    limits: httpx.Limits
    local_address: str | None
    retries: int
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None


def guarded_transport(
    *, allow_private: bool, **transport_kwargs: Unpack[TransportOptions]
) -> BackendTransport:
    """A transport for tenant-controlled URLs; use it with follow_redirects=False.

    Unless `allow_private`, a request whose host is or resolves to a non-public address
    raises interlink.errors.UnsafeURL, checked when the connection opens. Give the client
    no `proxy` or `mounts`: they would bypass this transport (environment proxies are
    already ignored by httpx once a transport is given). Either way its connections run on
    asyncio's own transports (interlink.network_backend), not anyio's streams.
    """
    backend = AsyncioBackend() if allow_private else GuardedNetworkBackend()
    return BackendTransport(network_backend=backend, **transport_kwargs)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host itself, vets every address, and connects to a vetted one."""

    def __init__(self, *, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                vetted = await addresses.public_addresses(host, port)
        except RefusedHost as exc:
            raise UnsafeURL(
                f"connection refused: {exc}; only public addresses are allowed"
            ) from None
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        # Connect to the vetted address itself and never look the name up again: a second
        # answer could differ (DNS rebinding). TLS still uses the hostname for SNI and the
        # certificate check, and the Host header is untouched: httpcore takes both from the
        # request, not from this socket.
        options = None if socket_options is None else list(socket_options)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in vetted:
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # public_addresses never answers an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeURL("connection refused: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class BackendTransport(httpx.AsyncHTTPTransport):
    """An httpx.AsyncHTTPTransport whose connections open through `network_backend`."""

    @property
    def in_use(self) -> bool:
        """Whether a request is under way: a connection opening or serving one."""
        return any(not connection.is_idle() for connection in self._pool.connections)

    def __init__(
        self,
        *,
        network_backend: httpcore.AsyncNetworkBackend,
        **options: Unpack[TransportOptions],
    ) -> None:
        _refuse_unknown_options(options)
        ssl_context = httpx.create_ssl_context(
            verify=options.get("verify", True), trust_env=options.get("trust_env", True)
        )
        options["verify"] = ssl_context
        super().__init__(**options)
        limits = options.get("limits", DEFAULT_LIMITS)
        # httpx 0.28 takes no network backend, so replace the pool it built (unopened,
        # holding nothing) with the same pool connecting through ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=options.get("http1", True),
            http2=options.get("http2", False),
            local_address=options.get("local_address"),
            retries=options.get("retries", 0),
            socket_options=options.get("socket_options"),
            network_backend=network_backend,
        )


def _refuse_unknown_options(options: Mapping[str, object]) -> None:
    # Typing already refuses them; this is for untyped callers, since httpx would accept
    # `proxy` or `uds` and quietly undo the guard.
    unknown = sorted(set(options) - TransportOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"guarded transports do not take {', '.join(unknown)}")
