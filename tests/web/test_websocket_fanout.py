"""WebSocket room fan-out on the shared write path, against the whole server on loopback.

The web listener writes a room's output the way the TCP listener does: the frames for what the
members got this loop turn are joined once and the same bytes go to every member (of the same
framing) that got the same lines. These tests check what that must keep: each member's own
framing (text or binary frames, one message per line), and no data frame after a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from web_helpers import make_config, masked_frame, read_frame, split_prefix, ws_handshake
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State
from websockets.typing import Subprotocol

from hubbub.app import App
from hubbub.transport.websocket import WsConnection
from support.waiting import until

WAIT = 5.0
TEXT = Subprotocol("text.ircv3.net")
BINARY = Subprotocol("binary.ircv3.net")


async def start_app(tmp_path: Path) -> App:
    # No join replay: a newcomer's output is held while its replay loads and then written as a
    # piece of its own; these tests are about live fan-out.
    app = App(make_config(tmp_path, history={"replay_on_join": 0}), shutdown_grace=0.5)
    await app.start()
    assert app.web is not None
    return app


def ws_url(app: App) -> str:
    host, port = app.web_addresses[0]
    return f"ws://{host}:{port}/irc"


async def recv_until(ws: ClientConnection, match: Callable[[str, list[str]], bool]) -> str | bytes:
    """Receive messages until one whose (command, params) match; return it."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await ws.recv()
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            _, command, params = split_prefix(text)
            if match(command, params):
                return message


async def join(ws: ClientConnection, nick: str, room: str) -> None:
    await ws.send(f"NICK {nick}")
    await ws.send(f"USER {nick} 0 * :{nick}")
    await ws.send(f"JOIN {room}")
    await recv_until(ws, lambda command, params: command == "366")


@pytest.mark.asyncio
async def test_a_room_message_is_framed_once_per_framing_for_all_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members got the same line: its frames are joined once for the text members and once for
    the binary ones (not once per member), and each member gets its own framing."""
    app = await start_app(tmp_path)
    framed: list[bool] = []  # per `_frame` call for the room message: binary or not
    original = WsConnection._frame

    def counting(self: WsConnection, out: list[bytes]) -> bytes:
        if any(b"PRIVMSG #shared" in data for data in out):
            framed.append(self.binary)
        return original(self, out)

    monkeypatch.setattr(WsConnection, "_frame", counting)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(app.stop)
        kinds = [TEXT, BINARY, TEXT, BINARY, TEXT, BINARY]  # interleaved in the room
        members = [
            await stack.enter_async_context(connect(ws_url(app), subprotocols=[kind]))
            for kind in kinds
        ]
        sender = await stack.enter_async_context(connect(ws_url(app)))
        for number, member in enumerate(members):
            await join(member, f"member{number}", "#shared")
        await join(sender, "sender", "#shared")
        for member in members:  # everyone has seen the sender join: nothing else is pending
            await recv_until(member, lambda command, params: command == "JOIN")
        await sender.send("PRIVMSG #shared :hello all")
        for kind, member in zip(kinds, members, strict=True):
            message = await recv_until(member, lambda command, params: command == "PRIVMSG")
            if kind == BINARY:
                assert isinstance(message, bytes)
                assert message.endswith(b" PRIVMSG #shared :hello all")
            else:
                assert isinstance(message, str)
                assert message.endswith(" PRIVMSG #shared :hello all")
        assert sorted(framed) == [False, True]  # once for text, once for binary


@pytest.mark.asyncio
async def test_no_data_frame_follows_a_close_frame_in_room_fan_out(tmp_path: Path) -> None:
    """RFC 6455 section 5.5.1: "After sending a Close frame, the endpoint MUST NOT send any
    further data frames." A member has sent its close frame (the server answered it) but its
    socket is still there, so it is still in the room: a room message then reaches the members
    after it, and nothing but the close frame reaches it."""
    app = await start_app(tmp_path)
    assert app.web is not None
    web = app.web
    loop = asyncio.get_running_loop()
    raw: socket.socket | None = None
    try:
        async with connect(ws_url(app)) as sender:
            await join(sender, "sender", "#room")
            port = app.web_addresses[0][1]
            raw = await loop.run_in_executor(None, lambda: ws_handshake(port))
            client = raw
            for line in ("NICK closer", "USER c 0 * :c", "JOIN #room"):
                client.sendall(masked_frame(line))

            def read_until_names_end() -> None:
                while True:
                    opcode, payload = read_frame(client)
                    assert opcode == 1, (opcode, payload)
                    if split_prefix(payload.decode())[1] == "366":
                        return

            await loop.run_in_executor(None, read_until_names_end)
            async with connect(ws_url(app)) as bystander:  # a member after the closer
                await join(bystander, "bystander", "#room")
                await recv_until(sender, lambda command, params: params == ["#room"])
                (closer,) = [c for c in web.connections if c.port == client.getsockname()[1]]
                client.sendall(bytes([0x88, 0x82, 0, 0, 0, 0]) + (1000).to_bytes(2, "big"))
                await until(lambda: closer.ws.protocol.state is not State.OPEN, WAIT, "close")
                assert not closer.closing  # still a member: its socket is open
                await sender.send("PRIVMSG #room :after the close")
                message = await recv_until(bystander, lambda command, params: command == "PRIVMSG")
                assert str(message).endswith("PRIVMSG #room :after the close")

            def frames_until_eof() -> list[tuple[int, bytes]]:
                frames = []
                with contextlib.suppress(EOFError, ConnectionError):
                    while True:
                        frames.append(read_frame(client))
                return frames

            frames = await loop.run_in_executor(None, frames_until_eof)
            opcodes = [opcode for opcode, _ in frames]
            assert 8 in opcodes, frames  # the server's close frame
            assert opcodes[opcodes.index(8) + 1 :] == [], frames  # and nothing after it
    finally:
        if raw is not None:
            raw.close()
        await app.stop()
