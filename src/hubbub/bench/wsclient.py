"""A benchmark client over WebSocket (IRCv3 `websocket`, subprotocol `text.ircv3.net`).

`WsClient` is the line client of `hubbub.bench.client` behind a minimal RFC 6455 client: it
sends the HTTP upgrade, then turns the server's frames (one IRC line per message) back into
CRLF-terminated lines for `Client.data_received`, and its writes into one frame per line. So
every bulk mode, check and counter works the same over WebSocket as over TCP, and a fan-out
run measures the server's WebSocket path against its TCP path with the same generator.

The receive path is the generator's hottest code, as over TCP (see `hubbub.bench.client`), so
it does per frame only what it must. The server's frames are unmasked text frames with FIN, one
per line, almost all with a 2-byte header (lines under 126 bytes): one tight loop walks those
headers (`_walk`, or in the bulk modes a walk reading only the length bytes when a read cannot
hold a control frame or a fragment: the frame boundaries, which a frame cut across reads and
the control frames need), and anything else (a longer header, a control frame, a fragment, a
partial frame) is taken apart one frame at a time (`_other`).

* COUNT mode counts the message marker in the raw bytes of the complete data frames, one
  `bytes.count` per run of them, as the TCP path counts it in complete lines; FULL mode hands
  the same run to the TCP client's check (`Client._check`: one regex `findall` of the marker
  and its three numbers). That is exact: a frame header never holds a marker or a digit next to
  a payload's (its first byte, 0x00-0x0A or 0x80-0x8A, is none of the marker's and ends a run
  of digits as a line end does; a marker starting in a header's length bytes would need a
  server line starting with ":b: " or "b: ", which is neither a source, a tag nor a command),
  and the bytes of a partial frame wait for the next read whole, so no marker is cut or counted
  twice. Refusals are counted the same way; a run holding an "N" and "PING" is turned into
  lines for the TCP path's PING answer.
* The other modes (JOINS, line mode) turn the frames into the CRLF line stream the TCP client
  parses (the payloads joined with CRLF) and hand it to `Client.data_received`: one copy of
  their logic.

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

from hubbub.bench.client import _F, _N, COUNT, FULL, MARK, Client, Tally, _monotonic_ns

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
        self.fragments: list[bytes] = []  # the payloads of a fragmented message so far

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
        inbox = self.inbox
        if inbox:
            data = inbox + data
            self.inbox = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.inbox = data
                return
            status = data.split(b"\r\n", 1)[0]
            if b" 101 " not in status:
                self.fail(f"WebSocket handshake refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
            data = data[end + 4 :]
            self.write(self.greeting())
        mode = self.mode
        if mode in (COUNT, FULL):
            self._bulk(data)
        else:
            lines = self._unframe(data)
            if lines:
                Client.data_received(self, lines)

    def _bulk(self, data: bytes) -> None:
        """COUNT and FULL modes: count or check the deliveries (and refusals, PINGs) in the raw
        frames, a run of complete data frames at a time."""
        size = len(data)
        at = 0
        if (
            0x89 not in data
            and 0x88 not in data
            and 0x8A not in data
            and 0x01 not in data
            and 0x02 not in data
            and not self.fragments
        ):
            # A frame's first byte is FIN, three reserved bits (0: no extension is negotiated)
            # and the opcode, so a frame that is not a whole data message starts with 0x01 or
            # 0x02 (the first fragment of a message), 0x00 or 0x80 (a later fragment: only
            # inside a fragmented message, so only after a first fragment) or 0x88-0x8A (close,
            # ping, pong). A read holding none of 0x01, 0x02 and 0x88-0x8A, anywhere, while no
            # fragmented message is open, holds no such frame, so the first byte of each frame
            # need not be read: this walk (`_walk` without it, inlined: COUNT mode's hot loop)
            # reads one length byte and one table entry per frame. (0x00 and 0x80 are not
            # searched for: they are the high bytes of a longer header's length, 128-255 bytes,
            # which --size makes common.)
            stride = _STRIDE
            at = 1  # the first frame's length byte
            start = at
            while at < size:
                start = at
                at += stride[data[at]]
            # The next frame starts at `at - 1`; past the end, the last frame is partial (or has
            # a longer header, sent past the end by _STRIDE): it starts at `start - 1`.
            at = at - 1 if at <= size + 1 else start - 1
            if at:
                self._run(data if at == size else data[:at])
            rest = size - at
            if rest and (rest < 2 or rest < stride[data[at + 1]] < _BEYOND):
                self.inbox = data[at:]  # a partial short frame, as most reads cut mid-frame
                return
        while at < size:
            end = _walk(data, at, size)
            if end > at:
                self._run(data if end - at == size else data[at:end])
                at = end
            if at < size:
                at = self._other(data, at, size, None)
                if at < 0:
                    return

    def _run(self, run: bytes) -> None:
        """Complete unfragmented data frames, headers included (see the module docstring)."""
        if self.mode == COUNT:
            found = run.count(MARK)
            if found:
                self.count += found
                tally = self.tally
                tally.received += found
                tally.last_rx = _monotonic_ns() // 1000
        else:
            self._check(run)
        if _F in run:
            self.refused += run.count(b" FAIL PRIVMSG ")
        if _N in run and b"PING" in run:
            lines = self._unframe(run)
            self._pings(lines, len(lines))

    def _unframe(self, data: bytes) -> bytes:
        """The messages of the complete frames in `data` as CRLF lines; control frames answered;
        a partial frame kept in `inbox`."""
        out: list[bytes] = []
        append = out.append
        stride = _STRIDE
        size = len(data)
        last = size - 2  # a header needs two bytes
        at = 0
        while at < size:
            # `_walk`'s loop, keeping the payloads (JOINS and line mode; inlined)
            while at <= last and data[at] == 0x81:
                stop = at + stride[data[at + 1]]
                if stop > size:
                    break
                append(data[at + 2 : stop])
                at = stop
            if at < size:
                at = self._other(data, at, size, out)
                if at < 0:
                    break
        if not out:
            return b""
        append(b"")
        return b"\r\n".join(out)

    def _other(self, data: bytes, at: int, size: int, out: list[bytes] | None) -> int:
        """The frame at `at` that `_walk` stopped at: a longer header, a control frame, a
        fragment, or a partial frame (kept in `inbox`, and -1 returned). A message goes to `out`
        as a line, or, in COUNT mode (`out` None), is counted. Returns where the next frame
        starts."""
        if size - at < 2:
            self.inbox = data[at:]
            return -1
        first = data[at]
        length = data[at + 1] & 0x7F
        head = 2
        if length == 126:
            head = 4
            length = int.from_bytes(data[at + 2 : at + 4], "big")
        elif length == 127:
            head = 10
            length = int.from_bytes(data[at + 2 : at + 10], "big")
        stop = at + head + length
        if stop > size or at + head > size:  # (the length itself may be cut)
            self.inbox = data[at:]
            return -1
        payload = data[at + head : stop]
        opcode = first & 0x0F
        if opcode == _PING:
            self.write_raw(client_frames(payload, _PONG))
        elif opcode == _CLOSE:
            self.lost_reason = "WebSocket closed by the server"
            self.close()
        elif opcode == _PONG:
            pass
        else:
            if not first & 0x80:  # a fragment: wait for the rest
                self.fragments.append(payload)
                return stop
            if self.fragments:
                self.fragments.append(payload)
                payload = b"".join(self.fragments)
                self.fragments = []
            if out is not None:
                out.append(payload)
            else:  # counted or checked as a run of its own, framed as a short line would be
                self._run(b"\x81\x00" + payload)
        return stop

    def write(self, data: bytes) -> None:
        if self.transport is not None and self.upgraded:
            self.transport.write(client_frames(data))

    def write_raw(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)


# Where the next frame starts, by the second byte of a short text frame's header (lengths
# 0-125); 126 and 127 (a longer header) and any byte with the mask bit send the walk past any
# read's end, so that it stops there and leaves that frame to `_other`.
_BEYOND = 1 << 62
_STRIDE = tuple(2 + length for length in range(126)) + (_BEYOND,) * 130


def _walk(data: bytes, at: int, size: int) -> int:
    """Where the run of complete short text frames (FIN, unmasked, under 126 bytes) starting at
    `at` ends: the hot loop, a few steps per frame."""
    last = size - 2  # a header needs two bytes
    stride = _STRIDE
    start = at
    while at <= last and data[at] == 0x81:
        start = at
        at += stride[data[at + 1]]
    return start if at > size else at
