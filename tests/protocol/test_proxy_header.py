"""The PROXY protocol parser against HAProxy's proxy-protocol.txt (versions 1 and 2)."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from hubbub.protocol.proxy import V2_SIGNATURE, ProxyError, ProxyHeader, parse


def v2(command: int, family: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


def ipv4_block(source: str, destination: str, sport: int, dport: int) -> bytes:
    return (
        ipaddress.IPv4Address(source).packed
        + ipaddress.IPv4Address(destination).packed
        + struct.pack("!HH", sport, dport)
    )


def test_v1_tcp4() -> None:
    """Spec 2.1: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\\r\\n"."""
    data = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 6667\r\nNICK alice\r\n"
    header = parse(data)
    assert header == ProxyHeader(46, ("192.0.2.7", 56324), ("198.51.100.1", 6667), 1)
    assert data[header.length :] == b"NICK alice\r\n"


def test_v1_tcp6() -> None:
    data = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 6697\r\n"
    header = parse(data)
    assert header is not None
    assert header.source == ("2001:db8::7", 4000)
    assert header.length == len(data)


def test_v1_unknown_uses_the_real_endpoints() -> None:
    """Spec 2.1: with "UNKNOWN", "the receiver must ignore anything presented before the CRLF"
    and use the real connection's endpoints."""
    header = parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")
    assert header is not None and header.source is None
    assert parse(b"PROXY UNKNOWN\r\n") == ProxyHeader(15, None)


@pytest.mark.parametrize(
    "partial", [b"P", b"PROX", b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 66", b"\r\n\r\n\x00"]
)
def test_an_incomplete_header_asks_for_more(partial: bytes) -> None:
    assert parse(partial) is None


@pytest.mark.parametrize(
    "bad",
    [
        b"NICK alice\r\n",  # no header at all: "must not try to guess"
        b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",  # a field missing
        b"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",  # family and address disagree
        b"PROXY TCP4 192.0.2.7 198.51.100.1 065535 2\r\n",  # leading zero
        b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",  # out of range
        b"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 1 " + b"2" * 120,  # no CRLF within 107 bytes
        b"\r\nNICK alice\r\n",
    ],
)
def test_invalid_headers_are_refused(bad: bytes) -> None:
    with pytest.raises(ProxyError):
        parse(bad)


def test_v2_tcp4_with_tlvs_skipped() -> None:
    """Spec 2.2: signature, \\x21 (v2 PROXY), \\x11 (TCP over IPv4), length, addresses, TLVs."""
    tlv = bytes([0x04]) + struct.pack("!H", 3) + b"abc"  # PP2_TYPE_NOOP
    data = v2(1, 0x11, ipv4_block("203.0.113.9", "198.51.100.1", 40000, 6667) + tlv) + b"NICK x"
    header = parse(data)
    assert header == ProxyHeader(16 + 12 + 6, ("203.0.113.9", 40000), ("198.51.100.1", 6667), 2)
    assert data[header.length :] == b"NICK x"


def test_v2_tcp6() -> None:
    block = (
        ipaddress.IPv6Address("2001:db8::9").packed
        + ipaddress.IPv6Address("2001:db8::1").packed
        + struct.pack("!HH", 1234, 6667)
    )
    header = parse(v2(1, 0x21, block))
    assert header is not None and header.source == ("2001:db8::9", 1234)


def test_v2_local_uses_the_real_endpoints() -> None:
    """Spec 2.2: LOCAL "the receiver must accept this connection as valid and must use the
    real connection endpoints and discard the protocol block including the family"."""
    header = parse(v2(0, 0x11, ipv4_block("203.0.113.9", "198.51.100.1", 1, 2)))
    assert header is not None and header.source is None
    assert parse(v2(1, 0x00, b"")) == ProxyHeader(16, None, None, 2)


def test_v2_incomplete_until_the_announced_length() -> None:
    data = v2(1, 0x11, ipv4_block("203.0.113.9", "198.51.100.1", 1, 2))
    for cut in range(1, len(data)):
        assert parse(data[:cut]) is None
    assert parse(data) is not None


@pytest.mark.parametrize(
    "bad",
    [
        V2_SIGNATURE + bytes([0x11, 0x11, 0, 12]) + bytes(12),  # version 1 in a v2 header
        V2_SIGNATURE + bytes([0x22, 0x11, 0, 12]) + bytes(12),  # unknown command
        V2_SIGNATURE + bytes([0x21, 0x11, 0, 4]) + bytes(4),  # IPv4 block too short
        V2_SIGNATURE + bytes([0x21, 0x12, 0, 12]) + bytes(12),  # UDP
        V2_SIGNATURE + bytes([0x21, 0x31, 0, 216]) + bytes(216),  # UNIX socket
        V2_SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF]),  # absurd length
    ],
)
def test_invalid_v2_headers_are_refused(bad: bytes) -> None:
    with pytest.raises(ProxyError):
        parse(bad)


def test_forwarded_and_x_forwarded_for_believed_only_as_far_as_trusted() -> None:
    """RFC 7239 section 5.2: the "for" parameter; proxies append, so the nearest is last."""
    from hubbub.protocol.forwarded import client_address

    def trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return address in ipaddress.ip_network("10.0.0.0/8")

    assert client_address([], ["198.51.100.9, 203.0.113.5, 10.0.0.2"], trusted) == "203.0.113.5"
    assert client_address(
        ['for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"'], [], trusted
    ) == ("2001:db8:cafe::17")
    assert client_address(["for=unknown"], [], trusted) is None
    assert client_address(["for=_hidden"], ["203.0.113.5"], trusted) is None  # Forwarded wins
    assert client_address([], ["10.0.0.3"], trusted) is None  # only proxies: nobody to name
    assert client_address([], ["192.0.2.1:8080"], trusted) == "192.0.2.1"


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 6667\r\n",
        b"PROXY UNKNOWN\r\n",
        v2(1, 0x11, ipv4_block("203.0.113.9", "198.51.100.1", 1, 2) + b"\x04\x00\x01x"),
        v2(0, 0x00, b""),
    ],
)
def test_next_read_never_reads_past_the_header(header: bytes) -> None:
    """Before a TLS handshake, not one byte after the header may be consumed."""
    from hubbub.protocol.proxy import next_read

    stream = header + b"\x16\x03\x01 the TLS ClientHello"
    taken = b""
    while (found := parse(taken) if taken else None) is None:
        want = next_read(taken)
        assert want >= 1
        taken += stream[len(taken) : len(taken) + want]
    assert found.length == len(taken) == len(header)
