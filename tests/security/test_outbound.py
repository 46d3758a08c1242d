"""The outbound-URL guard refuses every inward spelling and lets public URLs through."""

from __future__ import annotations

import asyncio

import pytest

from interlink.errors import InvalidInput, UnsafeURL
from interlink.security import addresses
from interlink.security.addresses import IPAddress
from interlink.security.outbound import check_url, check_url_syntax

from .fakes import FakeDNS

REFUSED = [
    # localhost names, RFC 6761
    "http://localhost/",
    "http://localhost:8080/hook",
    "http://LOCALHOST./",
    "http://foo.localhost/",
    "https://a.b.localhost./x",
    # IPv4 loopback, private, link-local, CGNAT, multicast, reserved, unspecified
    "http://127.0.0.1/",
    "http://127.0.0.1./",
    "http://127.8.9.10:9000/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://0.0.0.0/",
    "http://0.1.2.3/",
    # IPv4 in the spellings inet_aton accepts
    "http://0/",
    "http://0x0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0X7F000001/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://10.1/",
    "http://167772161/",
    "http://0xa9fea9fe/",
    "http://127。0。0。1/",
    # IPv6, with embedded IPv4 in every form
    "http://[::1]/",
    "http://[::1]:8080/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:0:127.0.0.1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:c0a8:101::1]/",
    "http://[2001::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[ff0e::1]/",
    "http://[2001:db8::1]/",
    "http://[2606:4700::1111%25eth0]/",
    # userinfo tricks: the host is what follows the last @
    "http://example.com@127.0.0.1/",
    "http://user:pass@127.0.0.1/",
    "http://93.184.216.34@localhost/",
    "http://example.com:80@[::1]/",
    "http://example.com\\@127.0.0.1/",
    "http://127.0.0.1\\@example.com/",
    # percent-encoded and otherwise malformed hosts
    "http://%6c%6fcalhost/",
    "http://%31%32%37.0.0.1/",
    "http://exam%2eple.com/",
    "http://exa mple.com/",
    "http://a..b/",
    "http://1.2.3.4.5/",
    "http://256.0.0.1/",
    "http://127.0.0.08/",
    "http://08/",
    "http://0x100000000/",
    "http://1.2.3.0x100/",
    "http://1_0.0.0.1/",
    "http://[::1/",
    # not http(s), or no host
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1/",
    "ws://example.com/",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "//example.com/",
    "example.com",
    "",
    "http:///path",
    "http://",
    "http:x",
    "http://:80/",
    # ports outside 1-65535
    "http://example.com:0/",
    "http://example.com:99999/",
    "http://example.com:port/",
]

ACCEPTED_LITERALS = [
    "http://93.184.216.34/",
    "https://93.184.216.34:8443/hook?x=1#frag",
    "http://8.8.8.8/",
    "http://1.1/",
    "http://0x5db8d822/",
    "http://[2606:4700:4700::1111]/",
    "https://[2001:4860:4860::8888]:443/",
    "http://[::ffff:93.184.216.34]/",
    "http://[64:ff9b::5db8:d822]/",
    "http://[2002:5db8:d822::1]/",
]

ACCEPTED_NAMES = [
    "https://example.com/hook",
    "HTTPS://EXAMPLE.com./x",
    "https://user:secret@hooks.example.com/x",
    "http://127.0.0.1@example.com/",
    "http://localhost@example.com/",
    "https://bücher.de/",
    "https://api.example.com:8443/v1",
    "https://my_service.example.com/",
    "https://127-0-0-1.example.com/",
    "https://localhost.example.com/",
]

ACCEPTED = ACCEPTED_LITERALS + ACCEPTED_NAMES


@pytest.mark.parametrize("url", REFUSED)
def test_syntax_refuses(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url_syntax(url, allow_private=False)


@pytest.mark.parametrize("url", REFUSED)
async def test_check_url_refuses(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await check_url(url, allow_private=False)


@pytest.mark.parametrize("url", ACCEPTED)
def test_syntax_accepts_public(url: str) -> None:
    check_url_syntax(url, allow_private=False)


@pytest.mark.parametrize("url", ACCEPTED_LITERALS)
async def test_check_url_accepts_public_literals_without_dns(url: str, fake_dns: FakeDNS) -> None:
    await check_url(url, allow_private=False)
    assert fake_dns.lookups == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/",
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://10.1/",
        "http://x.internal/",
    ],
)
async def test_private_networks_allowed_lets_everything_through(
    url: str, fake_dns: FakeDNS
) -> None:
    check_url_syntax(url, allow_private=True)
    await check_url(url, allow_private=True)
    assert fake_dns.lookups == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///x", "http://host:99999/", "nonsense"])
def test_private_networks_allowed_still_needs_an_http_url(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url_syntax(url, allow_private=True)


def test_message_names_the_field_and_the_reason() -> None:
    with pytest.raises(UnsafeURL) as caught:
        check_url_syntax(
            "http://[::ffff:127.0.0.1]:8080/", allow_private=False, field="callback_url"
        )
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.field == "callback_url"
    assert caught.value.detail.startswith("callback_url ")
    assert "loopback" in caught.value.detail
    assert "127.0.0.1" in caught.value.detail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http or https"),
        ("http:///x", "no host"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/", "link-local"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0/", "unspecified"),
        ("http://foo.localhost/", "loopback name"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://[2606:4700::1111%25eth0]/", "zone id"),
        ("http://[fec0::1]/", "site-local"),
        ("http://example.com:99999/", "invalid port"),
    ],
)
def test_message_says_why(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL) as caught:
        check_url_syntax(url, allow_private=False)
    assert reason in str(caught.value)
    assert caught.value.field is None
    assert str(caught.value).startswith("URL ")


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:hunter2@127.0.0.1/",
        "http://admin:hunter2@example.com:hunter2/",
        "http://admin:hunter2@[::1/",
        "ftp://admin:hunter2@example.com/",
        "http://admin:hunter2@internal.example.com/",
    ],
)
async def test_messages_never_echo_credentials(url: str, fake_dns: FakeDNS) -> None:
    fake_dns.answer("internal.example.com", ["10.1.2.3"])
    with pytest.raises(UnsafeURL) as caught:
        await check_url(url, allow_private=False, field="callback_url")
    assert "hunter2" not in str(caught.value)
    assert "admin" not in str(caught.value)
    # Nothing chained either: a logged traceback would show the cause's message.
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


async def test_dns_name_resolving_to_public_addresses_passes(fake_dns: FakeDNS) -> None:
    fake_dns.answer("hooks.example.com", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    await check_url("https://hooks.example.com/in", allow_private=False, field="callback_url")
    assert fake_dns.lookups == ["hooks.example.com"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["10.0.0.5"], "resolves to 10.0.0.5, a private address"),
        (["127.0.0.1"], "loopback"),
        (["::1"], "loopback"),
        (["93.184.216.34", "192.168.0.10"], "192.168.0.10"),
        (["2606:4700::1111", "fd00::1"], "fd00::1"),
        (["fe80::1%eth0"], "link-local"),
        (["::ffff:169.254.169.254"], "link-local"),
        (["100.64.1.1"], "carrier-grade NAT"),
        (["0.0.0.0"], "unspecified"),
    ],
)
async def test_dns_name_resolving_inward_is_refused(
    answer: list[str], reason: str, fake_dns: FakeDNS
) -> None:
    fake_dns.answer("inward.example.com", answer)
    with pytest.raises(UnsafeURL) as caught:
        await check_url("https://inward.example.com/", allow_private=False, field="base_url")
    assert reason in str(caught.value)
    assert caught.value.field == "base_url"


async def test_dns_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeURL, match="does not resolve"):
        await check_url("https://nowhere.example.com/", allow_private=False)


async def test_slow_resolution_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    async def stuck(host: str, port: int) -> list[IPAddress]:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    monkeypatch.setattr(addresses, "resolve_host", stuck)
    with pytest.raises(UnsafeURL, match="timed out"):
        await check_url("https://slow.example.com/", allow_private=False, resolve_timeout=0.05)


async def test_resolution_asks_for_the_url_port(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, int]] = []

    async def record(host: str, port: int) -> list[IPAddress]:
        asked.append((host, port))
        return [addresses.IPv4Address("93.184.216.34")]

    monkeypatch.setattr(addresses, "resolve_host", record)
    await check_url("https://a.example.com/", allow_private=False)
    await check_url("http://b.example.com/", allow_private=False)
    await check_url("http://c.example.com:8080/", allow_private=False)
    assert asked == [("a.example.com", 443), ("b.example.com", 80), ("c.example.com", 8080)]
