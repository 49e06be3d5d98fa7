"""The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2), parsed without I/O.

A proxy in front of hubbub (nginx's stream module, HAProxy) opens the TCP connection itself
and sends one header first, saying who the real client is. `parse(data)` looks at the bytes
received so far and answers:

* `None`: not enough bytes yet (feed more);
* a `ProxyHeader`: `length` bytes were the header (the rest is the client's own data);
  `source` is the real client's (address, port), or None for a v2 LOCAL command (the proxy's
  own health check) or a v1 `UNKNOWN` / v2 UNSPEC family, where the spec says to use the real
  connection's endpoints;
* `ProxyError` raised: not a valid header. The spec: a receiver "must not try to guess" and
  drops the connection.

Limits from the spec: a v1 header is at most 107 bytes, CRLF included; a v2 header is 16 bytes
plus its announced length (bounded here by `MAX_V2_LENGTH`). TLVs after the addresses are
skipped. Only TCP over IPv4 and IPv6 carry an address (UDP and UNIX sockets make no sense for
an IRC client and are refused).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = [
    "MAX_V1_LENGTH",
    "MAX_V2_LENGTH",
    "V2_SIGNATURE",
    "ProxyError",
    "ProxyHeader",
    "next_read",
    "parse",
]

#: "a 108-byte buffer is always enough to store all the line and a trailing zero": 107 bytes.
MAX_V1_LENGTH = 107
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: The longest v2 address block + TLVs we accept (the spec allows 65535; nobody needs it).
MAX_V2_LENGTH = 2048

_V1_PREFIX = b"PROXY "


class ProxyError(ValueError):
    """Not a valid PROXY protocol header."""


@dataclass(frozen=True)
class ProxyHeader:
    length: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None = None
    version: int = 1


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of `data`, None if incomplete; raises ProxyError if invalid."""
    if data[:1] == b"\r":
        if len(data) < len(V2_SIGNATURE):
            if not V2_SIGNATURE.startswith(data):
                raise ProxyError("not a PROXY protocol header")
            return None
        return _parse_v2(data)
    if len(data) < len(_V1_PREFIX):
        if not _V1_PREFIX.startswith(data):
            raise ProxyError("not a PROXY protocol header")
        return None
    if not data.startswith(_V1_PREFIX):
        raise ProxyError("not a PROXY protocol header")
    return _parse_v1(data)


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, MAX_V1_LENGTH)
    if end < 0:
        if len(data) >= MAX_V1_LENGTH:
            raise ProxyError("PROXY v1 header longer than 107 bytes")
        return None
    try:
        line = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyError("PROXY v1 header is not ASCII") from None
    fields = line.split(" ")
    length = end + 2
    if len(fields) >= 2 and fields[1] == "UNKNOWN":
        # "the receiver must ignore anything presented before the CRLF is found".
        return ProxyHeader(length, None)
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyError(f"bad PROXY v1 header: {line!r}")
    _, family, source, destination, source_port, destination_port = fields
    version = 4 if family == "TCP4" else 6
    return ProxyHeader(
        length,
        (_address(source, version), _port(source_port)),
        (_address(destination, version), _port(destination_port)),
        1,
    )


def _address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyError(f"bad address in PROXY header: {text!r}") from None
    if address.version != version:
        raise ProxyError(f"address {text!r} does not match the family TCP{version}")
    return str(address)


def _port(text: str) -> int:
    # Decimal, no sign, no leading zero ("0" itself is fine), at most 65535.
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0"):
        raise ProxyError(f"bad port in PROXY header: {text!r}")
    port = int(text)
    if port > 65535:
        raise ProxyError(f"bad port in PROXY header: {text!r}")
    return port


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if not data.startswith(V2_SIGNATURE):
        raise ProxyError("not a PROXY protocol header")
    if len(data) < 16:
        return None
    version_command = data[12]
    if version_command >> 4 != 2:
        raise ProxyError(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0x0F
    if command not in (0, 1):
        raise ProxyError(f"PROXY v2 header with unknown command {command}")
    family = data[13]
    size = int.from_bytes(data[14:16], "big")
    if size > MAX_V2_LENGTH:
        raise ProxyError(f"PROXY v2 header of {size} bytes is too long")
    if len(data) < 16 + size:
        return None
    length = 16 + size
    block = data[16:length]
    if command == 0:  # LOCAL: the proxy's own connection (a health check); real endpoints
        return ProxyHeader(length, None, None, 2)
    if family == 0x00:  # UNSPEC: the sender cannot say; real endpoints
        return ProxyHeader(length, None, None, 2)
    if family == 0x11:  # TCP over IPv4
        if size < 12:
            raise ProxyError("PROXY v2 IPv4 address block too short")
        source = str(ipaddress.IPv4Address(block[0:4]))
        destination = str(ipaddress.IPv4Address(block[4:8]))
        ports = block[8:12]
    elif family == 0x21:  # TCP over IPv6
        if size < 36:
            raise ProxyError("PROXY v2 IPv6 address block too short")
        source = str(ipaddress.IPv6Address(block[0:16]))
        destination = str(ipaddress.IPv6Address(block[16:32]))
        ports = block[32:36]
    else:
        raise ProxyError(f"PROXY v2 family/transport 0x{family:02x} is not TCP over IP")
    return ProxyHeader(
        length,
        (source, int.from_bytes(ports[0:2], "big")),
        (destination, int.from_bytes(ports[2:4], "big")),
        2,
    )


def next_read(data: bytes) -> int:
    """How many more bytes to read, at most, without reading past the header (for a TLS
    listener, whose first byte after the header belongs to the TLS handshake). Only call it
    when `parse(data)` said None. v1 ends at a CRLF nobody announces: one byte at a time
    (107 at most); v2 says its length in its first 16 bytes."""
    if data.startswith(V2_SIGNATURE) and len(data) >= 16:
        return 16 + int.from_bytes(data[14:16], "big") - len(data)
    if data[:1] == b"\r":
        return 16 - len(data)
    return 1
