"""IRC over WebSocket, with the plain `websockets` client library against the whole server.

Subprotocols (text, binary, none), one line per message, the length limit (417), invalid UTF-8
in binary frames (both policies), the Origin check (403 / allowed), a client that never reads
(cut off while the others are served), limits shared with TCP, timeouts, and a WebSocket user
and a raw TCP user talking in one room.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web_helpers import make_config, masked_frame, split_prefix, ws_handshake
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hubbub.app import App
from hubbub.config import Config
from hubbub.transport.websocket import fits, origin_allowed

WAIT = 5.0


async def start_app(config: Config) -> App:
    app = App(config, shutdown_grace=0.5)
    await app.start()
    assert app.web is not None
    return app


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    started = await start_app(make_config(tmp_path))
    try:
        yield started
    finally:
        await started.stop()


def ws_url(app: App, path: str = "/irc") -> str:
    host, port = app.web_addresses[0]
    return f"ws://{host}:{port}{path}"


async def recv_until(
    ws: ClientConnection, match: Callable[[str, list[str]], bool], timeout: float = WAIT
) -> tuple[str | bytes, list[str | bytes]]:
    """Receive messages until one whose (command, params) match; return it and all seen."""
    seen: list[str | bytes] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            seen.append(message)
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            _, command, params = split_prefix(text)
            if match(command, params):
                return message, seen


async def register(ws: ClientConnection, nick: str) -> list[str | bytes]:
    await ws.send(f"NICK {nick}")
    await ws.send(f"USER {nick} 0 * :{nick}")
    _, seen = await recv_until(ws, lambda cmd, params: cmd in ("376", "422"))
    return seen


class Tcp:
    """A raw TCP IRC client on asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, app: App, nick: str) -> Tcp:
        host, port = app.addresses[0]
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        await client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        await client.expect(lambda cmd, params: cmd in ("376", "422"))
        return client

    async def send(self, *lines: str) -> None:
        self.writer.write(b"".join(line.encode() + b"\r\n" for line in lines))
        await self.writer.drain()

    async def expect(
        self, match: Callable[[str, list[str]], bool], timeout: float = WAIT
    ) -> tuple[str, list[str]]:
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise EOFError("closed")
                nick, command, params = split_prefix(raw.decode().rstrip("\r\n"))
                if match(command, params):
                    return nick, params

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


# --- subprotocols and framing ----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("offered", "chosen", "frame_type"),
    [
        (["text.ircv3.net"], "text.ircv3.net", str),
        (["binary.ircv3.net"], "binary.ircv3.net", bytes),
        (["binary.ircv3.net", "text.ircv3.net"], "binary.ircv3.net", bytes),  # client's order
        (["text.ircv3.net", "binary.ircv3.net"], "text.ircv3.net", str),
        (None, None, str),  # nothing offered: text frames
        (["chat.example"], None, str),  # nothing we know: text frames
    ],
)
async def test_subprotocol_negotiation(
    app: App, offered: list[str] | None, chosen: str | None, frame_type: type
) -> None:
    async with connect(ws_url(app), subprotocols=offered) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == chosen
        seen = await register(ws, "sub")
        assert all(isinstance(message, frame_type) for message in seen)
        # One IRC line per message, no CR or LF anywhere, even when the server wrote several
        # lines at once (the registration burst is one write per command).
        for message in seen:
            text = message if isinstance(message, str) else message.decode()
            assert "\r" not in text and "\n" not in text
        commands = [split_prefix(m if isinstance(m, str) else m.decode())[1] for m in seen]
        assert commands[:5] == ["001", "002", "003", "004", "005"]


@pytest.mark.asyncio
async def test_input_in_either_frame_type_and_a_trailing_crlf_is_tolerated(app: App) -> None:
    async with connect(ws_url(app), subprotocols=["text.ircv3.net"]) as ws:  # type: ignore[list-item]
        await ws.send(b"NICK framer")  # a binary frame on a text connection: accepted
        await ws.send("USER framer 0 * :framer\r\n")  # a trailing CRLF: stripped
        await recv_until(ws, lambda cmd, params: cmd == "001")
        # A line break inside a message is refused: neither half is run.
        await ws.send("PING :one\r\nPING :two")
        await ws.send("PING :three")
        message, _ = await recv_until(ws, lambda cmd, params: cmd == "PONG")
        assert isinstance(message, str) and message.endswith(":three")


@pytest.mark.asyncio
async def test_an_over_long_message_gets_417_and_the_connection_lives(app: App) -> None:
    async with connect(ws_url(app), subprotocols=["text.ircv3.net"]) as ws:  # type: ignore[list-item]
        await register(ws, "longer")
        await ws.send("PRIVMSG #x :" + "a" * 600)
        _, _ = await recv_until(ws, lambda cmd, params: cmd == "417")
        # Exactly at the limit is fine: 510 bytes without the CRLF the spec removes.
        ok = "PING :" + "b" * (510 - len("PING :"))
        assert fits(ok.encode()) and not fits((ok + "b").encode())
        await ws.send(ok)
        await recv_until(ws, lambda cmd, params: cmd == "PONG")
        # Tags have their own 8191 bytes.
        assert fits(b"@" + b"t" * 8000 + b" " + ok.encode())
        # A message far beyond any IRC line ends the connection (close code 1009).
        await ws.send("x" * 40_000)
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(WAIT):
                while True:
                    await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


@pytest.mark.asyncio
@pytest.mark.parametrize("policy", ["replace", "reject"])
async def test_invalid_utf8_in_a_binary_frame(tmp_path: Path, policy: str) -> None:
    app = await start_app(make_config(tmp_path, limits={"invalid_utf8": policy}))
    try:
        async with (
            connect(ws_url(app), subprotocols=["binary.ircv3.net"]) as ws,  # type: ignore[list-item]
            connect(ws_url(app), subprotocols=["binary.ircv3.net"]) as listener,  # type: ignore[list-item]
        ):
            await register(ws, "sender")
            await register(listener, "listener")
            for client in (ws, listener):
                await client.send(b"JOIN #utf")
                await recv_until(client, lambda cmd, params: cmd == "366")
            await ws.send(b"PRIVMSG #utf :caf\xe9 \xff ok")
            await ws.send(b"PRIVMSG #utf :after")
            if policy == "replace":
                message, _ = await recv_until(listener, lambda cmd, params: cmd == "PRIVMSG")
                assert isinstance(message, bytes)
                assert message.endswith("caf\ufffd \ufffd ok".encode())
            else:
                message, _ = await recv_until(ws, lambda cmd, params: cmd == "FAIL")
                assert b"INVALID_UTF8" in message  # type: ignore[operator]
                message, _ = await recv_until(listener, lambda cmd, params: cmd == "PRIVMSG")
                assert message.endswith(b":after")  # the bad line was never relayed
    finally:
        await app.stop()


# --- origin ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_origin_check(tmp_path: Path) -> None:
    app = await start_app(
        make_config(tmp_path, web={"allowed_origins": ("https://chat.example.org",)})
    )
    try:
        host, port = app.web_addresses[0]
        same = f"http://{host}:{port}"
        for origin in (same, "https://chat.example.org", "HTTPS://Chat.Example.org", None):
            async with connect(ws_url(app), origin=origin) as ws:  # type: ignore[arg-type]
                await register(ws, "origin")
        for origin in ("https://evil.example", f"http://{host}:{port + 1}", "null"):
            with pytest.raises(InvalidStatus) as info:
                async with connect(ws_url(app), origin=origin):  # type: ignore[arg-type]
                    pass
            assert info.value.response.status_code == 403
            assert info.value.response.headers["Content-Security-Policy"]
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_any_origin_with_a_star(tmp_path: Path) -> None:
    app = await start_app(make_config(tmp_path, web={"allowed_origins": ("*",)}))
    try:
        async with connect(ws_url(app), origin="https://anywhere.example") as ws:  # type: ignore[arg-type]
            await register(ws, "star")
    finally:
        await app.stop()


def test_origin_rules() -> None:
    assert origin_allowed(None, "h:1", ())
    assert origin_allowed("http://h:1", "h:1", ())
    assert origin_allowed("https://h:1", "h:1", ())  # TLS ends at a proxy in front
    assert origin_allowed("http://example.org", "example.org:80", ())
    assert origin_allowed("https://example.org", "example.org", ())
    assert not origin_allowed("http://h:2", "h:1", ())
    assert not origin_allowed("http://h.evil:1", "h:1", ())
    assert not origin_allowed("null", "h:1", ())
    assert not origin_allowed("http://h:1", None, ())
    assert origin_allowed("http://other:9", "h:1", ("http://other:9",))
    assert origin_allowed("http://x", "h:1", ("*",))


# --- limits shared with TCP, the send queue, timeouts ------------------------------------------


@pytest.mark.asyncio
async def test_a_websocket_user_and_a_tcp_user_see_each_other(app: App) -> None:
    tcp = await Tcp.connect(app, "tcpuser")
    try:
        await tcp.send("JOIN #both")
        await tcp.expect(lambda cmd, params: cmd == "366")
        async with connect(ws_url(app), subprotocols=["text.ircv3.net"]) as ws:  # type: ignore[list-item]
            await register(ws, "wsuser")
            await ws.send("JOIN #both")
            _, seen = await recv_until(ws, lambda cmd, params: cmd == "366")
            names = [m for m in seen if isinstance(m, str) and " 353 " in m]
            assert names and "@tcpuser" in names[0] and "wsuser" in names[0]
            await tcp.expect(lambda cmd, params: cmd == "JOIN" and params == ["#both"])
            await ws.send("PRIVMSG #both :hello from websocket")
            nick, params = await tcp.expect(lambda cmd, params: cmd == "PRIVMSG")
            assert (nick, params) == ("wsuser", ["#both", "hello from websocket"])
            await tcp.send("PRIVMSG #both :hello from tcp")
            message, _ = await recv_until(ws, lambda cmd, params: cmd == "PRIVMSG")
            assert isinstance(message, str) and message.endswith(":hello from tcp")
            assert message.startswith(":tcpuser!")
        await tcp.expect(lambda cmd, params: cmd == "QUIT")
    finally:
        await tcp.close()


@pytest.mark.asyncio
async def test_a_websocket_client_that_never_reads_is_cut_off_and_others_are_served(
    tmp_path: Path,
) -> None:
    sendq = 256 * 1024
    app = await start_app(make_config(tmp_path, limits={"sendq_bytes": sendq}))
    loop = asyncio.get_running_loop()
    stalled: socket.socket | None = None
    tcp: Tcp | None = None
    try:
        assert app.web is not None and app.tcp is not None and app.core is not None
        web = app.web
        # The stalled client: a tiny receive window; it registers, joins and never reads.
        stalled = await loop.run_in_executor(
            None, lambda: ws_handshake(web.addresses[0][1], rcvbuf=4096)
        )
        for line in ("NICK stalled", "USER s 0 * :s", "JOIN #flood"):
            stalled.sendall(masked_frame(line))
        # The reader drains its socket whatever its task's pace (max_queue=None), so that only
        # the stalled client's send queue can fill.
        async with connect(ws_url(app), max_queue=None) as reader:
            await register(reader, "reader")
            await reader.send("JOIN #flood")
            _, seen = await recv_until(reader, lambda cmd, params: cmd == "366")
            if not any(" 353 " in str(m) and "stalled" in str(m) for m in seen):
                # The stalled client is in the room before the traffic starts.
                await recv_until(reader, lambda cmd, params: cmd == "JOIN")
            tcp = await Tcp.connect(app, "pump")
            await tcp.send("JOIN #flood")
            await tcp.expect(lambda cmd, params: cmd == "366")
            (pump,) = [c for c in app.tcp.connections if c.session is not None]
            (stalled_conn,) = [c for c in web.connections if c.port == stalled.getsockname()[1]]
            received = 0

            async def read_all() -> None:
                nonlocal received
                async with asyncio.timeout(30):
                    while True:
                        message = await reader.recv()
                        assert isinstance(message, str)
                        if " PRIVMSG " in message:
                            received += 1
                            if message.endswith("MARK end"):
                                return

            reading = asyncio.create_task(read_all())
            payload = "x" * 400
            sent = 0
            # Room traffic through the core's fan-out, until the stalled client is cut off. The
            # pump lets the reader keep up (on a loaded machine the reader's task could lag a
            # send queue behind otherwise, and be cut off too, rightly).
            while not stalled_conn.closing and sent < 100_000:
                for _ in range(20):
                    app.core.receive(pump.session, f"PRIVMSG #flood :{sent} {payload}", time.time())
                    sent += 1
                await asyncio.sleep(0)
                if sent - received > 200:
                    target = sent - 40
                    await asyncio.wait_for(_until(lambda target=target: received >= target), 10)
            assert stalled_conn.closing and stalled_conn.sendq_exceeded
            await asyncio.wait_for(_until(lambda: stalled_conn.reason), 5)  # told on the next turn
            assert stalled_conn.reason == "SendQ exceeded"
            assert sent * 400 < 64 * 1024 * 1024  # cut off after the send queue, not at the end
            app.core.receive(pump.session, "PRIVMSG #flood :MARK end", time.time())
            await asyncio.wait_for(reading, 30)
            assert received == sent + 1  # everything, in order, to the client that reads
            _, params = await tcp.expect(lambda cmd, params: cmd == "QUIT", timeout=10)
            assert params == ["SendQ exceeded"]
            await asyncio.wait_for(_until(lambda: stalled_conn not in web.connections), 5)
    finally:
        if stalled is not None:
            stalled.close()
        if tcp is not None:
            await tcp.close()
        await app.stop()


async def _until(predicate: Callable[[], Any]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_clients_per_address_count_tcp_and_websocket_together(tmp_path: Path) -> None:
    app = await start_app(make_config(tmp_path, limits={"clients_per_ip": 2}))
    tcp: Tcp | None = None
    try:
        tcp = await Tcp.connect(app, "first")
        async with connect(ws_url(app)) as second:
            await register(second, "second")
            async with connect(ws_url(app)) as third:
                message = await asyncio.wait_for(third.recv(), WAIT)
                assert message == "ERROR :Too many connections from your IP address"
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(third.recv(), WAIT)
    finally:
        if tcp is not None:
            await tcp.close()
        await app.stop()


@pytest.mark.asyncio
async def test_tcp_admission_counts_websocket_clients_too(tmp_path: Path) -> None:
    app = await start_app(make_config(tmp_path, limits={"clients_per_ip": 1}))
    try:
        async with connect(ws_url(app)) as first:
            await register(first, "first")
            host, port = app.addresses[0]
            reader, writer = await asyncio.open_connection(host, port)
            try:
                line = await asyncio.wait_for(reader.readline(), WAIT)
                assert line == b"ERROR :Too many connections from your IP address\r\n"
                assert await asyncio.wait_for(reader.read(), WAIT) == b""
            finally:
                writer.close()
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_registration_and_ping_timeouts(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, timeouts={"registration": 0.3, "ping_interval": 0.3, "ping_timeout": 0.3}
    )
    app = await start_app(config)
    try:
        async with connect(ws_url(app)) as silent:
            message, _ = await recv_until(silent, lambda cmd, params: cmd == "ERROR")
            assert "Registration timed out" in str(message)
        async with connect(ws_url(app)) as idle:
            await register(idle, "idle")
            await recv_until(idle, lambda cmd, params: cmd == "PING")
            message, _ = await recv_until(idle, lambda cmd, params: cmd == "ERROR")
            assert "Ping timeout" in str(message)
        async with connect(ws_url(app)) as awake:
            await register(awake, "awake")
            for _ in range(3):
                _, _ = await recv_until(awake, lambda cmd, params: cmd == "PING")
                await awake.send("PONG :test.hubbub")
            await awake.send("PING :still")
            await recv_until(awake, lambda cmd, params: cmd == "PONG")
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_flood_control_throttles_websocket_input(tmp_path: Path) -> None:
    app = await start_app(
        make_config(tmp_path, flood={"enabled": True, "burst": 5, "lines_per_second": 20.0})
    )
    try:
        async with connect(ws_url(app)) as ws:
            await register(ws, "flooder")
            started = time.monotonic()
            for n in range(25):
                await ws.send(f"PING :{n}")
            await recv_until(ws, lambda cmd, params: cmd == "PONG" and params[-1] == "24")
            # 5 at once, then 20 at 20 per second: about a second, not instantly.
            assert time.monotonic() - started >= 0.8
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_shutdown_says_error_and_closes_websockets(tmp_path: Path) -> None:
    app = await start_app(make_config(tmp_path))
    async with connect(ws_url(app)) as ws:
        await register(ws, "leaving")
        stopping = asyncio.create_task(app.stop())
        message, _ = await recv_until(ws, lambda cmd, params: cmd == "ERROR")
        assert "shutting down" in str(message).lower()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
        await asyncio.wait_for(stopping, WAIT)


@pytest.mark.asyncio
async def test_the_web_listener_can_be_switched_off(tmp_path: Path) -> None:
    app = App(make_config(tmp_path, web={"enabled": False}), shutdown_grace=0.5)
    await app.start()
    try:
        assert app.web is None and app.web_addresses == []
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_a_taken_web_port_leaves_irc_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        app = App(make_config(tmp_path, web={"port": port}), shutdown_grace=0.5)
        await app.start()
        try:
            assert app.web is None
            assert "web client not started" in caplog.text
            tcp = await Tcp.connect(app, "stillhere")
            await tcp.close()
        finally:
            await app.stop()
    finally:
        blocker.close()
