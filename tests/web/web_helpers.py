"""WebSocket framing by hand, for the web tests; the rest comes from the shared toolkit.

`ws_handshake` opens a WebSocket by hand on a plain socket, for a client that never reads
(`ws_open` also returns the response's headers); `masked_frame` builds one client frame and
`read_frame` reads one server frame. The server runner, the config and the line parser are
`support.servers`, `support.config` and `support.irc_client`; the names below keep the web
tests' spelling of them.
"""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import Any

from hubbub.config import Config
from support.config import web_server_config
from support.irc_client import parse
from support.servers import ThreadedServer as ServerThread

__all__ = [
    "ServerThread",
    "make_config",
    "masked_frame",
    "read_frame",
    "split_prefix",
    "ws_handshake",
    "ws_open",
]

WAIT = 10.0


def make_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    """Free ports on 127.0.0.1 for TCP and web, memory history, flood control off."""
    server = {"name": "test.hubbub", **sections.pop("server", {})}
    return web_server_config(data_dir, server=server, **sections)


def split_prefix(line: str) -> tuple[str, str, list[str]]:
    """(source nick, COMMAND, params) of a raw IRC line; message tags are dropped."""
    parsed = parse(line)
    return parsed.nick, parsed.command, parsed.params


def ws_handshake(
    port: int,
    *,
    rcvbuf: int | None = None,
    origin: str | None = None,
    protocols: str = "text.ircv3.net",
) -> socket.socket:
    """A WebSocket opened by hand on a plain socket (which then need never be read);
    `protocols` is the Sec-WebSocket-Protocol header offered."""
    return ws_open(port, rcvbuf=rcvbuf, origin=origin, protocols=protocols)[0]


def ws_open(
    port: int,
    *,
    rcvbuf: int | None = None,
    origin: str | None = None,
    protocols: str | None = "text.ircv3.net",
) -> tuple[socket.socket, dict[str, str]]:
    """`ws_handshake`, also returning the 101 response's headers (lower-case names);
    `protocols` None offers no subprotocol."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /irc HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if protocols is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    if origin is not None:
        lines.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)  # byte by byte: leave any frame after the headers unread
        if not chunk:
            raise EOFError("closed during the handshake")
        response += chunk
    status, *header_lines = response.decode("latin-1").split("\r\n")
    if " 101 " not in status:
        raise AssertionError(f"handshake refused: {status!r}")
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return sock, headers


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One server→client frame (unmasked, as servers send): (opcode, payload)."""

    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise EOFError("the server closed the connection")
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(exactly(8), "big")
    return first & 0x0F, exactly(length)


def masked_frame(text: str | bytes, *, binary: bool = False) -> bytes:
    """One client→server frame (clients must mask), text or binary, for payloads under 126
    bytes."""
    payload = text.encode() if isinstance(text, str) else text
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x82 if binary else 0x81, 0x80 | len(payload)]) + mask + body
