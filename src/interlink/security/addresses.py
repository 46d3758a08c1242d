"""Which hosts and IP addresses count as public, in every spelling a URL can give them."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address


class RefusedHost(ValueError):
    """A host that must not be contacted; the message says why (it names the host only)."""


class MalformedHost(RefusedHost):
    """A host that is neither a valid host name nor a valid IP address."""


_SHARED_CGNAT = IPv4Network("100.64.0.0/10")
# IPv6 forms whose packets really reach the IPv4 address they carry, so that address decides.
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
_IPV4_TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")  # RFC 6052
_SIX_TO_FOUR = IPv6Network("2002::/16")  # RFC 3056
_IPV4_COMPATIBLE = IPv6Network("::/96")  # deprecated by RFC 4291, never legitimate today
# Translation and tunnelling prefixes that lead into someone's own network.
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # RFC 8215, local use
_TEREDO = IPv6Network("2001::/32")  # RFC 4380, the client address is obfuscated inside

# A host whose last label is a number is an IPv4 address (WHATWG URL standard), and
# resolvers read it the way inet_aton does: 1 to 4 parts, each decimal, 0x-hex or 0-octal.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_DIGITS = {10: re.compile(r"[0-9]+"), 8: re.compile(r"[0-7]*"), 16: re.compile(r"[0-9a-f]*")}
# Strict on purpose: httpx hands over IDNA-encoded lowercase ASCII, so anything else
# (percent-encoding, backslashes, spaces) is a trick or a mistake.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` is not a public internet address, or None when it is one."""
    if isinstance(ip, IPv6Address):
        if ip.is_loopback:
            return "a loopback address"
        if ip.is_unspecified:
            return "an unspecified address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded)
            if problem is not None:
                return f"{problem} ({embedded} inside IPv6)"
            if ip in _IPV4_COMPATIBLE:
                return "a deprecated IPv4-compatible IPv6 address"
            return None
        if ip in _NAT64_LOCAL or ip in _TEREDO:
            return "a tunnelling or translation address"
        if ip.is_site_local:
            return "a site-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    # Checked before is_global: Python counts global-scope multicast as global.
    if ip.is_multicast:
        return "a multicast address"
    if ip in _SHARED_CGNAT:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def is_public_address(ip: IPv4Address | IPv6Address) -> bool:
    """True when `ip` is reachable on the public internet and leads into no private network."""
    return address_problem(ip) is None


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    if ip in _IPV4_MAPPED or ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    if ip in _IPV4_COMPATIBLE:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify_host(host: str) -> IPAddress | None:
    """The address a URL host spells, or None for a DNS name; RefusedHost if refused on its face.

    `host` is as httpx/httpcore carry it: no brackets around IPv6, IDNA-encoded names.
    """
    if ":" in host:
        # Only IPv6 literals contain colons; a zone id follows '%' (percent-encoded in URLs).
        literal, has_zone, _zone = host.replace("%25", "%", 1).partition("%")
        try:
            ip: IPAddress = IPv6Address(literal)
        except ValueError:
            raise MalformedHost("host is not a valid IPv6 address") from None
        _refuse_unless_public(ip, host)
        if has_zone:
            raise RefusedHost(f"host {host!r} carries an IPv6 zone id")
        return ip
    name = host.lower().removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise MalformedHost("host is not a valid host name")
    if labels[-1] == "localhost":
        # RFC 6761: every name under .localhost is loopback, whatever DNS says.
        raise RefusedHost(f"host {host!r} is a loopback name")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    ip = _parse_ipv4(labels)
    _refuse_unless_public(ip, host)
    return ip


def _refuse_unless_public(ip: IPAddress, host: str) -> None:
    problem = address_problem(ip)
    if problem is None:
        return
    if isinstance(ip, IPv4Address) and host.removesuffix(".") != str(ip):
        # Spell out what an odd spelling (0x7f000001, 127.1) really is.
        raise RefusedHost(f"host {host!r} is {ip}, {problem}")
    raise RefusedHost(f"host {host!r} is {problem}")


def _parse_ipv4(labels: list[str]) -> IPv4Address:
    invalid = MalformedHost("host is not a valid IPv4 address")
    if len(labels) > 4:
        raise invalid
    numbers: list[int] = []
    for label in labels:
        number = _ipv4_number(label)
        if number is None:
            raise invalid
        numbers.append(number)
    *head, last = numbers
    # The last part fills every byte the others left, as with inet_aton("127.1").
    if any(number > 0xFF for number in head) or last >= 256 ** (4 - len(head)):
        raise invalid
    value = last
    for position, number in enumerate(head):
        value |= number << (8 * (3 - position))
    return IPv4Address(value)


def _ipv4_number(label: str) -> int | None:
    if label.startswith("0x"):
        digits, base = label[2:], 16
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    # Checked by hand because int() also accepts underscores, signs and spaces.
    if not _DIGITS[base].fullmatch(digits):
        return None
    return int(digits, base) if digits else 0


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host`: the one seam tests replace."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = (
        ipaddress.ip_address(info[4][0])
        for info in infos
        if info[0] in (socket.AF_INET, socket.AF_INET6)
    )
    return list(dict.fromkeys(found))


async def public_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses to connect to for `host`, every one public; RefusedHost otherwise.

    Resolution errors (OSError, including socket.gaierror) are left to the caller.
    """
    literal = classify_host(host)
    if literal is not None:
        return [literal]
    addresses = await resolve_host(host, port)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no address found")
    # Every address must be public, not just one: the client may use any of them.
    for ip in addresses:
        problem = address_problem(ip)
        if problem is not None:
            raise RefusedHost(f"host {host!r} resolves to {ip}, {problem}")
    return addresses
