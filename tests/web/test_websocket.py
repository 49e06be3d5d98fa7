"""IRC over WebSocket, with the plain `websockets` client library against the whole server.

Subprotocols (text, binary, none), one line per message, the length limit (417), invalid UTF-8
in binary frames (both policies), the Origin check (403 / allowed), a client that never reads
(cut off while the others are served), limits shared with TCP, timeouts, and a WebSocket user
and a raw TCP user talking in one room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web_helpers import make_config, masked_frame, split_prefix, ws_handshake
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from hubbub.app import App
from hubbub.config import Config
from hubbub.transport import websocket as websocket_module
from hubbub.transport.websocket import WsConnection, fits, frame_lines, origin_allowed

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
    """IRCv3 websocket: "Binary messages can transport arbitrary bytes and therefore any valid
    IRC line, while text messages must consist entirely of UTF-8 data."
    (https://ircv3.net/specs/extensions/websocket). So on binary.ircv3.net bytes that are not
    UTF-8 reach binary recipients unchanged; a text.ircv3.net recipient gets U+FFFD instead (a
    text frame must be UTF-8). With the "reject" policy the line is refused, as on TCP."""
    app = await start_app(make_config(tmp_path, limits={"invalid_utf8": policy}))
    try:
        async with (
            connect(ws_url(app), subprotocols=["binary.ircv3.net"]) as ws,  # type: ignore[list-item]
            connect(ws_url(app), subprotocols=["binary.ircv3.net"]) as listener,  # type: ignore[list-item]
            connect(ws_url(app), subprotocols=["text.ircv3.net"]) as texter,  # type: ignore[list-item]
        ):
            await register(ws, "sender")
            await register(listener, "listener")
            await register(texter, "texter")
            for client in (ws, listener, texter):
                await client.send(b"JOIN #utf")
                await recv_until(client, lambda cmd, params: cmd == "366")
            await ws.send(b"PRIVMSG #utf :caf\xe9 \xff ok")
            await ws.send(b"PRIVMSG #utf :after")
            if policy == "replace":
                message, _ = await recv_until(listener, lambda cmd, params: cmd == "PRIVMSG")
                assert isinstance(message, bytes)
                assert message.endswith(b" PRIVMSG #utf :caf\xe9 \xff ok")
                text, _ = await recv_until(texter, lambda cmd, params: cmd == "PRIVMSG")
                assert isinstance(text, str)
                assert text.endswith(" PRIVMSG #utf :caf\ufffd \ufffd ok")
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
    public = ("http://h:1",)
    assert origin_allowed(None, public)
    assert origin_allowed("http://h:1", public)
    assert origin_allowed("HTTP://H:1/", public)
    assert origin_allowed("http://example.org", ("http://example.org:80",))
    assert origin_allowed("https://example.org:443", ("https://example.org",))
    assert not origin_allowed("https://h:1", public)  # another scheme is another origin
    assert not origin_allowed("xhttp://h:1", public)
    assert not origin_allowed("http://h:2", public)
    assert not origin_allowed("http://h.evil:1", public)
    assert not origin_allowed("null", public)
    assert origin_allowed("http://other:9", ("http://other:9",))
    assert origin_allowed("http://x", ("*",))


def raw_request(port: int, *lines: str) -> bytes:
    """One HTTP request written by hand (repeated headers and all); the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
        return response


def upgrade_lines(port: int, *extra: str, host: str | None = None) -> list[str]:
    return [
        "GET /irc HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port}'}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]


@pytest.mark.asyncio
async def test_the_origin_check_ignores_host_and_compares_the_scheme(tmp_path: Path) -> None:
    """A DNS-rebinding page sends `Origin: http://evil.example:P` with `Host: evil.example:P`;
    a page of another scheme (`xhttp://`, `https://`) is another origin (RFC 6454: an origin
    is scheme, host and port). Only the public origins (and allowed_origins) pass."""
    app = await start_app(make_config(tmp_path))
    loop = asyncio.get_running_loop()
    try:
        assert app.web is not None
        port = app.web.addresses[0][1]

        async def status(*lines: str) -> bytes:
            response = await loop.run_in_executor(None, lambda: raw_request(port, *lines))
            return response.split(b"\r\n", 1)[0]

        rebound = f"evil.example:{port}"
        refused = (
            upgrade_lines(port, f"Origin: http://{rebound}", host=rebound),
            upgrade_lines(port, f"Origin: xhttp://127.0.0.1:{port}"),
            upgrade_lines(port, f"Origin: https://127.0.0.1:{port}"),
        )
        for lines in refused:
            assert b" 403 " in await status(*lines), lines
        assert b" 101 " in await status(*upgrade_lines(port, f"Origin: http://127.0.0.1:{port}"))
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_configured_public_origins_replace_the_derived_one(tmp_path: Path) -> None:
    app = await start_app(
        make_config(tmp_path, web={"public_origins": ("https://chat.example.org",)})
    )
    try:
        host, port = app.web_addresses[0]
        async with connect(ws_url(app), origin="https://chat.example.org") as ws:  # type: ignore[arg-type]
            await register(ws, "public")
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(app), origin=f"http://{host}:{port}"):  # type: ignore[arg-type]
                pass
        assert info.value.response.status_code == 403
    finally:
        await app.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("header", ["Origin", "Host", "Upgrade", "If-None-Match"])
async def test_a_repeated_header_is_a_400_and_logs_nothing_above_debug(
    tmp_path: Path, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = await start_app(make_config(tmp_path))
    loop = asyncio.get_running_loop()
    try:
        assert app.web is not None
        port = app.web.addresses[0][1]
        values = {
            "Origin": f"http://127.0.0.1:{port}",
            "Host": f"127.0.0.1:{port}",
            "Upgrade": "websocket",
            "If-None-Match": '"x"',
        }
        if header == "If-None-Match":
            lines = ["GET / HTTP/1.1", f"Host: 127.0.0.1:{port}", 'If-None-Match: "x"']
        else:
            lines = upgrade_lines(port, f"Origin: http://127.0.0.1:{port}")
        lines.append(f"{header}: {values[header]}")
        caplog.clear()
        with caplog.at_level("DEBUG"):
            response = await loop.run_in_executor(None, lambda: raw_request(port, *lines))
        assert response.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request"
        loud = [r for r in caplog.records if r.levelno > logging.DEBUG]
        assert loud == [], [r.getMessage() for r in loud]
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_unfinished_http_requests_count_per_address_and_time_out(tmp_path: Path) -> None:
    """Sockets whose HTTP request never completes count against `limits.clients_per_ip`
    together with IRC connections (so they cannot lock IRC clients out), and are dropped after
    `web.request_timeout`."""
    config = make_config(tmp_path, limits={"clients_per_ip": 3}, web={"request_timeout": 0.5})
    app = await start_app(config)
    loop = asyncio.get_running_loop()
    held: list[socket.socket] = []
    try:
        assert app.web is not None
        web = app.web
        port = web.addresses[0][1]
        for _ in range(3):  # three requests that never finish their headers
            sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
            sock.sendall(b"GET / HTTP/1.1\r\n")
            held.append(sock)
        await asyncio.wait_for(_until(lambda: web.requests == 3), WAIT)
        # An IRC client from the same address is refused while they are open.
        host, irc_port = app.addresses[0]
        reader, writer = await asyncio.open_connection(host, irc_port)
        try:
            line = await asyncio.wait_for(reader.readline(), WAIT)
            assert line == b"ERROR :Too many connections from your IP address\r\n"
        finally:
            writer.close()
        # A fourth web socket is not even given a chance to send its request.
        extra = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        with extra, contextlib.suppress(ConnectionResetError):
            assert await loop.run_in_executor(None, extra.recv, 1) == b""
        # The slow requests are dropped after request_timeout, and the address is free again.
        for sock in held:
            with contextlib.suppress(ConnectionResetError):
                assert await loop.run_in_executor(None, sock.recv, 4096) == b""
        await asyncio.wait_for(_until(lambda: web.requests == 0 and not web.per_address), WAIT)
        async with connect(ws_url(app)) as ws:
            await register(ws, "afterwards")
    finally:
        for sock in held:
            sock.close()
        await app.stop()


@pytest.mark.asyncio
async def test_rehash_applies_to_the_web_listener(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    changed = make_config(
        tmp_path,
        limits={"sendq_bytes": 123_456},
        flood={"enabled": True, "burst": 7, "lines_per_second": 3.0},
        web={"allowed_origins": ("https://friend.example",)},
    )
    app = App(config, shutdown_grace=0.5, reload=lambda: changed)
    await app.start()
    try:
        assert app.web is not None
        assert await app.rehash() is None
        assert app.web.sendq_bytes == 123_456
        assert app.web.flood == (7, 3.0)
        assert "https://friend.example" in app.web.allowed_origins
        async with connect(ws_url(app), origin="https://friend.example") as ws:  # type: ignore[arg-type]
            await register(ws, "friend")
    finally:
        await app.stop()


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
            # Counted from the moment its socket is accepted (before any HTTP, so that
            # unfinished requests cannot pile up): refused at once, without a handshake.
            with pytest.raises((InvalidMessage, OSError)):
                async with connect(ws_url(app), open_timeout=WAIT):
                    pass
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
async def test_flood_control_throttles_websocket_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await start_app(
        make_config(tmp_path, flood={"enabled": True, "burst": 5, "lines_per_second": 20.0})
    )
    try:
        assert app.web is not None
        async with connect(ws_url(app)) as ws:
            await register(ws, "flooder")
            assert len(app.web.connections) == 1
            throttled: list[bool] = []
            original = WsConnection._pause_reading

            def recording_pause(self: WsConnection) -> None:
                throttled.append(True)
                original(self)

            monkeypatch.setattr(WsConnection, "_pause_reading", recording_pause)
            for n in range(25):
                await ws.send(f"PING :{n}")
            _, seen = await recv_until(ws, lambda cmd, params: cmd == "PONG" and params[-1] == "24")
            pongs = [str(m).rsplit(":", 1)[-1] for m in seen if " PONG " in str(m)]
            assert pongs == [str(n) for n in range(25)]  # every one, in order
            assert throttled  # past the burst, the reader waited for tokens
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


# --- the write path: shared frames, no task per recipient --------------------------------------


def test_frame_lines_builds_unmasked_frames_one_per_line() -> None:
    """RFC 6455 section 5.2: FIN + opcode (0x1 text, 0x2 binary), then the payload length in 7
    bits, or 126 + 16 bits, or 127 + 64 bits; a server's frames are not masked."""
    assert frame_lines(b"PING :a\r\n", 0x81) == b"\x81\x07PING :a"
    assert frame_lines(b"A\r\nBB\r\n", 0x82) == b"\x82\x01A\x82\x02BB"
    long = b"x" * 300
    assert frame_lines(long + b"\r\n", 0x81) == b"\x81\x7e" + (300).to_bytes(2, "big") + long
    # A text frame must be UTF-8: bytes that are not become U+FFFD.
    assert frame_lines(b"caf\xe9\r\n", 0x81) == b"\x81\x06caf\xef\xbf\xbd"


@pytest.mark.asyncio
async def test_a_fanout_builds_each_frame_once_and_wakes_no_task_per_recipient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No join replay: a newcomer's output is held while its replay loads, and then written as
    # one piece of its own (see the core's fan-out); this test is about live fan-out.
    app = await start_app(make_config(tmp_path, history={"replay_on_join": 0}))
    built: list[bytes] = []
    original = websocket_module.frame_lines

    def counting(data: bytes, opcode: int) -> bytes:
        if b"PRIVMSG #shared" in data:
            built.append(data)
        return original(data, opcode)

    monkeypatch.setattr(websocket_module, "frame_lines", counting)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(app.stop)
        members = [await stack.enter_async_context(connect(ws_url(app))) for _ in range(5)]
        for number, member in enumerate(members):
            await register(member, f"member{number}")
            await member.send("JOIN #shared")
            await recv_until(member, lambda cmd, params: cmd == "366")
        tasks_before = len(asyncio.all_tasks())
        await members[0].send("PRIVMSG #shared :hello all")
        for member in members[1:]:
            message, _ = await recv_until(member, lambda cmd, params: cmd == "PRIVMSG")
            assert str(message).endswith("PRIVMSG #shared :hello all")
        assert len(built) == 1  # one payload, framed once for the four recipients
        assert len(asyncio.all_tasks()) <= tasks_before
        assert not [t for t in asyncio.all_tasks() if "writer" in t.get_name()]
