"""Which IP addresses count as public, and how hosts in odd spellings are read."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from interlink.security.addresses import (
    MalformedHost,
    RefusedHost,
    classify_host,
    is_public_address,
)

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.0.0.1",
    "192.0.0.9",  # a globally reachable exception inside 192.0.0.0/24
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:93.184.216.34",
    "64:ff9b::93.184.216.34",
    "2002:5db8:d822::1",
]

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "0.0.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:0:192.168.0.1",
    "::127.0.0.1",
    "::93.184.216.34",  # IPv4-compatible: deprecated, refused whatever it carries
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::93.184.216.34",
    "2002:a00:1::",
    "2002:7f00:1::",
    "2001::5db8:d822",
    "2001:db8::1",
    "fc00::1",
    "fd00::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "100::1",
    "4000::1",
]


@pytest.mark.parametrize("text", PUBLIC)
def test_public(text: str) -> None:
    assert is_public_address(ip_address(text))


@pytest.mark.parametrize("text", NOT_PUBLIC)
def test_not_public(text: str) -> None:
    assert not is_public_address(ip_address(text))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x5db8d822", IPv4Address("93.184.216.34")),
        ("1572395042", IPv4Address("93.184.216.34")),
        ("0135.0270.0330.042", IPv4Address("93.184.216.34")),
        ("93.12113954", IPv4Address("93.184.216.34")),
        ("93.184.55330", IPv4Address("93.184.216.34")),
        ("93.184.216.34.", IPv4Address("93.184.216.34")),
        ("2606:4700::1111", IPv6Address("2606:4700::1111")),
        ("example.com", None),
        ("example.com.", None),
        ("1.2.3.example", None),
        ("xn--bcher-kva.de", None),
    ],
)
def test_classify_reads_every_spelling(host: str, address: object) -> None:
    assert classify_host(host) == address


@pytest.mark.parametrize(
    "host",
    [
        "",
        ".",
        "a..b",
        "exa%2emple.com",
        "a b",
        "1.2.3.4.5",
        "1.2.3.0x1ff",
        "09",
        "1.2.3.256",
        "[::1]",
    ],
)
def test_classify_refuses_malformed_hosts(host: str) -> None:
    with pytest.raises(MalformedHost):
        classify_host(host)


@pytest.mark.parametrize("host", ["localhost", "x.localhost.", "127.1", "::1", "fe80::1%25lo"])
def test_classify_refuses_inward_hosts(host: str) -> None:
    with pytest.raises(RefusedHost) as caught:
        classify_host(host)
    assert not isinstance(caught.value, MalformedHost)
