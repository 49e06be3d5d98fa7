"""A benchmark client over WebSocket (IRCv3 `websocket`, subprotocol `text.ircv3.net`).

`WsClient` is the line client of `hubbub.bench.client` behind a minimal RFC 6455 client: it
sends the HTTP upgrade, then turns the server's frames (one IRC line per message) back into
CRLF-terminated lines for `Client.data_received`, and its writes into one frame per line. So
every bulk mode, check and counter works the same over WebSocket as over TCP, and a fan-out
run measures the server's WebSocket path against its TCP path with the same generator.

Client frames must be masked (RFC 6455 section 5.3). This generator uses the all-zero masking
key: a valid key (the server unmasks with it like any other), chosen so that masking costs the
generator nothing. The RFC asks for unpredictable keys to protect proxies from cache
poisoning by scripts; a load generator on loopback has neither.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import cast

from hubbub.bench.client import Client, Tally

__all__ = ["WsClient", "client_frames"]

_ZERO_MASK = b"\x00\x00\x00\x00"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def client_frames(data: bytes, opcode: int = _TEXT) -> bytes:
    """Masked (all-zero key) frames: one per CRLF-terminated line of `data` for text, `data`
    whole for a control frame."""
    out = []
    lines = data.split(b"\n") if opcode == _TEXT else [data]
    for line in lines:
        if opcode == _TEXT:
            line = line.removesuffix(b"\r")
            if not line:
                continue
        size = len(line)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
        out.append(header + _ZERO_MASK + line)
    return b"".join(out)


class WsClient(Client):
    """One generator connection over WebSocket; otherwise exactly a `Client`."""

    def __init__(self, nick: str, *, password: str = "", tally: Tally | None = None) -> None:
        super().__init__(nick, password=password, tally=tally)
        self.upgraded = False
        self.inbox = b""  # received bytes not yet parsed (a partial frame, or the HTTP response)
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        host, port = transport.get_extra_info("peername")[:2]
        request = (
            "GET / HTTP/1.1\r\n"
            f"Host: {f'[{host}]' if ':' in host else host}:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: text.ircv3.net\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        inbox = self.inbox + data if self.inbox else data
        if not self.upgraded:
            end = inbox.find(b"\r\n\r\n")
            if end < 0:
                self.inbox = inbox
                return
            status = inbox.split(b"\r\n", 1)[0]
            if b" 101 " not in status:
                self.fail(f"WebSocket handshake refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
            inbox = inbox[end + 4 :]
            self.write(self.greeting())
        lines, self.inbox = self._frames(inbox)
        if lines:
            super().data_received(lines)

    def _frames(self, inbox: bytes) -> tuple[bytes, bytes]:
        """Complete messages in `inbox` as CRLF lines, and the unparsed rest."""
        out: list[bytes] = []
        at = 0
        size = len(inbox)
        while size - at >= 2:
            first, second = inbox[at], inbox[at + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - at < 4:
                    break
                length = int.from_bytes(inbox[at + 2 : at + 4], "big")
                head = 4
            elif length == 127:
                if size - at < 10:
                    break
                length = int.from_bytes(inbox[at + 2 : at + 10], "big")
                head = 10
            if size - at < head + length:
                break
            payload = inbox[at + head : at + head + length]
            at += head + length
            opcode = first & 0x0F
            if opcode == _PING:
                self.write_raw(client_frames(payload, _PONG))
            elif opcode == _CLOSE:
                self.lost_reason = "WebSocket closed by the server"
                self.close()
            elif opcode == _PONG:
                pass
            elif not first & 0x80:  # a fragment: wait for the rest
                self.fragments.append(payload)
            elif self.fragments:
                self.fragments.append(payload)
                out.append(b"".join(self.fragments) + b"\r\n")
                self.fragments = []
            else:
                out.append(payload + b"\r\n")
        return b"".join(out), inbox[at:]

    def write(self, data: bytes) -> None:
        if self.transport is not None and self.upgraded:
            self.transport.write(client_frames(data))

    def write_raw(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
