"""The outbound-URL guard: URLs a tenant controls may only lead to the public internet."""

# Checked twice, as the SPEC asks: when a URL is given (check_url, with DNS) and when a
# connection opens (guarded_transport), because DNS may answer differently in between.
# Clients built on the guarded transport never follow redirects:
# httpx.AsyncClient(transport=guarded_transport(...), follow_redirects=False).

from __future__ import annotations

import asyncio

import httpx

from interlink.errors import UnsafeURL
from interlink.security import addresses
from interlink.security.addresses import (
    IPAddress,
    MalformedHost,
    RefusedHost,
    is_public_address,
)
from interlink.security.transport import guarded_transport

__all__ = [
    "DEFAULT_RESOLVE_TIMEOUT",
    "check_url",
    "check_url_syntax",
    "guarded_transport",
    "is_public_address",
]

DEFAULT_RESOLVE_TIMEOUT = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_url_syntax(url: str, *, allow_private: bool, field: str | None = None) -> None:
    """Refuse `url` unless it is http(s) with a host that is public on its face (no DNS)."""
    _parse(url, allow_private=allow_private, field=field)


async def check_url(
    url: str,
    *,
    allow_private: bool,
    field: str | None = None,
    resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT,
) -> None:
    """Refuse `url` unless its host is public and every address it resolves to is public."""
    host, port, literal = _parse(url, allow_private=allow_private, field=field)
    if allow_private or literal is not None:
        return
    label = field or "URL"
    try:
        async with asyncio.timeout(resolve_timeout):
            await addresses.public_addresses(host, port)
    except RefusedHost as exc:
        raise _outside(label, exc, field) from None
    # TimeoutError is an OSError: it must come first.
    except TimeoutError:
        raise UnsafeURL(
            f"{label} could not be checked: resolving host {host!r} timed out", field=field
        ) from None
    except OSError:
        raise UnsafeURL(f"{label} host {host!r} does not resolve", field=field) from None


def _parse(
    url: str, *, allow_private: bool, field: str | None
) -> tuple[str, int, IPAddress | None]:
    """(host, port, the host's address if it is a literal), or UnsafeURL."""
    label = field or "URL"
    # Parsers disagree on what a backslash means (WHATWG reads it as '/'): refuse it
    # rather than bet on which reading the connecting side will take.
    if not allow_private and "\\" in url:
        raise UnsafeURL(f"{label} must not contain backslashes", field=field)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        # `from None` and no detail: httpx's messages may quote parts of the URL, and
        # a URL can carry credentials.
        raise UnsafeURL(f"{label} is not a valid URL", field=field) from None
    # httpx is what connects, so its reading of the URL (userinfo, host, port) is the one
    # checked; raw_host is the IDNA-encoded host httpcore will connect to.
    scheme = parsed.scheme
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeURL(f"{label} must use http or https", field=field)
    host = parsed.raw_host.decode("ascii", errors="replace")
    if not host:
        raise UnsafeURL(f"{label} has no host", field=field)
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise UnsafeURL(f"{label} has an invalid port", field=field)
    if allow_private:
        return host, port, None
    try:
        literal = addresses.classify_host(host)
    except RefusedHost as exc:
        raise _outside(label, exc, field) from None
    return host, port, literal


def _outside(label: str, reason: RefusedHost, field: str | None) -> UnsafeURL:
    if isinstance(reason, MalformedHost):
        return UnsafeURL(f"{label} is not a valid URL: {reason}", field=field)
    return UnsafeURL(f"{label} must point to the public internet: {reason}", field=field)
