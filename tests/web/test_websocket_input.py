"""WebSocket input on the shared read path, against the whole server on loopback.

The library parses the frames, and each data frame goes straight to the connection's pipeline
(no reader task, no queue). These tests check what the library's reader used to guarantee:
fragmented messages are joined (and bounded), a text message that is not UTF-8 fails the
connection with close code 1007, and frames sent right behind the handshake request (before
the server has answered it) are read, in order.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from web_helpers import make_config, masked_frame, read_frame, split_prefix, ws_handshake
from websockets.asyncio.client import ClientConnection, connect

from hubbub.app import App
from hubbub.transport.websocket import MAX_FRAGMENTS

WAIT = 5.0


async def start_app(tmp_path: Path) -> App:
    app = App(make_config(tmp_path, history={"replay_on_join": 0}), shutdown_grace=0.5)
    await app.start()
    assert app.web is not None
    return app


def ws_url(app: App) -> str:
    host, port = app.web_addresses[0]
    return f"ws://{host}:{port}/irc"


async def recv_until(ws: ClientConnection, match: Callable[[str, list[str]], bool]) -> str:
    """Receive messages until one whose (command, params) match; return it."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await ws.recv()
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            _, command, params = split_prefix(text)
            if match(command, params):
                return text


async def join(ws: ClientConnection, nick: str, room: str) -> None:
    await ws.send(f"NICK {nick}")
    await ws.send(f"USER {nick} 0 * :{nick}")
    await ws.send(f"JOIN {room}")
    await recv_until(ws, lambda command, params: command == "366")


def fragment(payload: bytes, opcode: int, fin: bool) -> bytes:
    """One masked client frame (zero mask key: the payload reads as itself)."""
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload), 0, 0, 0, 0]) + payload


def read_until_close(sock: socket.socket) -> tuple[int, bytes]:
    """Frames from the server until its close frame: (opcode 8, close payload)."""
    while True:
        opcode, payload = read_frame(sock)
        if opcode == 8:
            return opcode, payload


@pytest.mark.asyncio
async def test_a_fragmented_message_is_one_line(tmp_path: Path) -> None:
    """RFC 6455 section 5.4: a fragmented message is "a single frame with the FIN bit clear
    and an opcode other than 0, followed by zero or more frames with the FIN bit clear and the
    opcode set to 0, and terminated by a single frame with the FIN bit set and an opcode of
    0"; its payload is the concatenation of the fragments'."""
    app = await start_app(tmp_path)
    loop = asyncio.get_running_loop()
    raw: socket.socket | None = None
    try:
        async with connect(ws_url(app)) as member:
            await join(member, "member", "#room")
            port = app.web_addresses[0][1]
            raw = await loop.run_in_executor(None, lambda: ws_handshake(port))
            for line in ("NICK sender", "USER s 0 * :s", "JOIN #room"):
                raw.sendall(masked_frame(line))
            await recv_until(member, lambda command, params: command == "JOIN")
            raw.sendall(
                fragment(b"PRIVMSG #room :in ", 0x1, fin=False)
                + fragment(b"", 0x0, fin=False)
                + fragment(b"three pieces", 0x0, fin=True)
            )
            message = await recv_until(member, lambda command, params: command == "PRIVMSG")
            assert message.endswith("PRIVMSG #room :in three pieces")
    finally:
        if raw is not None:
            raw.close()
        await app.stop()


@pytest.mark.asyncio
async def test_too_many_fragments_end_the_connection_with_1009(tmp_path: Path) -> None:
    """RFC 6455 section 7.4.1: 1009 "indicates that an endpoint is terminating the connection
    because it has received a message that is too big for it to process". Empty fragments
    would otherwise pile up without the size limit ever being reached."""
    app = await start_app(tmp_path)
    loop = asyncio.get_running_loop()
    raw: socket.socket | None = None
    try:
        port = app.web_addresses[0][1]
        raw = await loop.run_in_executor(None, lambda: ws_handshake(port))
        client = raw
        client.sendall(
            fragment(b"PRIVMSG x :", 0x1, fin=False)
            + fragment(b"", 0x0, fin=False) * (MAX_FRAGMENTS + 1)
        )
        _, payload = await loop.run_in_executor(None, lambda: read_until_close(client))
        assert int.from_bytes(payload[:2], "big") == 1009
    finally:
        if raw is not None:
            raw.close()
        await app.stop()


@pytest.mark.asyncio
async def test_invalid_utf8_in_a_text_frame_fails_the_connection_with_1007(
    tmp_path: Path,
) -> None:
    """RFC 6455 section 8.1: "When an endpoint is to interpret a byte stream as UTF-8 but
    finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST
    _Fail the WebSocket Connection_." (close code 1007, section 7.4.1). The bad line is never
    relayed, and the room hears the client quit."""
    app = await start_app(tmp_path)
    loop = asyncio.get_running_loop()
    raw: socket.socket | None = None
    try:
        async with connect(ws_url(app)) as member:
            await join(member, "member", "#room")
            port = app.web_addresses[0][1]
            raw = await loop.run_in_executor(None, lambda: ws_handshake(port))
            client = raw
            for line in ("NICK sender", "USER s 0 * :s", "JOIN #room"):
                client.sendall(masked_frame(line))
            await recv_until(member, lambda command, params: command == "JOIN")
            client.sendall(
                fragment(b"PRIVMSG #room :caf\xe9", 0x1, fin=True)
                + masked_frame("PRIVMSG #room :after")
            )
            _, payload = await loop.run_in_executor(None, lambda: read_until_close(client))
            assert int.from_bytes(payload[:2], "big") == 1007
            client.close()
            raw = None
            seen = []
            async with asyncio.timeout(WAIT):
                while True:
                    message = str(await member.recv())
                    seen.append(message)
                    if split_prefix(message)[1] == "QUIT":
                        break
            assert not [line for line in seen if " PRIVMSG " in line]
    finally:
        if raw is not None:
            raw.close()
        await app.stop()


@pytest.mark.asyncio
async def test_frames_sent_behind_the_handshake_request_are_read_in_order(
    tmp_path: Path,
) -> None:
    """RFC 6455 section 4.1: "Once the client's opening handshake has been sent, the client
    MUST wait for a response from the server before sending any further data." A client that
    does not wait still loses nothing and gets nothing out of order: the frames parsed with its
    request wait for the connection to become IRC (reading paused past EARLY_FRAMES of them),
    then registration, JOIN and 30 messages all take effect in order."""
    app = await start_app(tmp_path)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    try:
        async with connect(ws_url(app)) as member:
            await join(member, "member", "#room")
            port = app.web_addresses[0][1]
            await loop.run_in_executor(None, sock.connect, ("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /irc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: text.ircv3.net\r\n\r\n"
            ).encode()
            lines = ["NICK early", "USER e 0 * :e", "JOIN #room"]
            lines += [f"PRIVMSG #room :{number}" for number in range(30)]  # past EARLY_FRAMES
            sock.sendall(request + b"".join(masked_frame(line) for line in lines))
            received = []
            async with asyncio.timeout(WAIT):
                while len(received) < 30:
                    message = await recv_until(member, lambda command, params: command == "PRIVMSG")
                    received.append(message.rsplit(":", 1)[1])
            assert received == [str(number) for number in range(30)]
    finally:
        sock.close()
        await app.stop()
