"""Shared pieces of the web tests: configs, a server on its own thread, raw clients.

`ServerThread` runs the whole application (`hubbub.app.App`, memory history) on an event loop
in a background thread, so that synchronous tests (the Playwright browser tests) can use it.
`RawIrc` is a blocking raw-socket IRC client written from scratch, the "irssi user" of these
tests. `ws_handshake` opens a WebSocket by hand on a plain socket, for a client that never
reads. Every wait here has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hubbub.app import App
from hubbub.config import Config
from hubbub.config.loader import load_config

T = TypeVar("T")

WAIT = 10.0


def make_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    """Free ports on 127.0.0.1 for TCP and web, memory history, flood control off."""
    overrides: dict[str, object] = {
        "server.name": "test.hubbub",
        "server.data_dir": str(data_dir),
        "listen.port": 0,
        "web.port": 0,
        "history.backend": "memory",
        "flood.enabled": False,
    }
    config = load_config(None, overrides)
    changes = {
        name: dataclasses.replace(getattr(config, name), **values)
        for name, values in sections.items()
    }
    return dataclasses.replace(config, **changes)


def wait_for(probe: Callable[[], T | None], timeout: float = WAIT, interval: float = 0.02) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met in {timeout} s: {probe}")
        time.sleep(interval)


class ServerThread:
    """hubbub (TCP + web) on an event loop in a daemon thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.app: App | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tcp_port = 0
        self.web_port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hubbub-test-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(WAIT):
            raise TimeoutError("the test server did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.app = App(self.config, shutdown_grace=0.5)
            try:
                addresses = await self.app.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self.tcp_port = addresses[0][1]
            self.web_port = self.app.web_addresses[0][1]
            self._ready.set()
            await self._stop.wait()
            await self.app.stop()

        asyncio.run(main())

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT)


def split_prefix(line: str) -> tuple[str, str, list[str]]:
    """(source nick, COMMAND, params) of a raw IRC line; message tags are dropped."""
    if line.startswith("@"):
        line = line.partition(" ")[2]
    source = ""
    if line.startswith(":"):
        source, _, line = line[1:].partition(" ")
    head, sep, trailing = line.partition(" :")
    words = head.split()
    params = words[1:] + ([trailing] if sep else [])
    return source.split("!", 1)[0], (words[0].upper() if words else ""), params


class RawIrc:
    """A blocking line-based IRC client on a plain TCP socket; answers PINGs."""

    def __init__(self, port: int, nick: str) -> None:
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""
        self.seen: list[str] = []
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        self.expect(lambda cmd, params: cmd == "001")

    def send(self, *lines: str) -> None:
        self.sock.sendall(b"".join(line.encode() + b"\r\n" for line in lines))

    def read_line(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise EOFError("server closed the connection")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\n")
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        self.seen.append(line)
        _, command, params = split_prefix(line)
        if command == "PING":
            self.send("PONG :" + (params[-1] if params else ""))
        return line

    def expect(
        self, match: Callable[[str, list[str]], bool], timeout: float = WAIT
    ) -> tuple[str, list[str]]:
        """Read until a line whose (command, params) match; return (source nick, params)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            line = self.read_line(max(0.0, remaining)) if remaining > 0 else None
            if line is None:
                tail = "\n".join(map(repr, self.seen[-15:]))
                raise TimeoutError(f"{self.nick}: expected line not seen; last lines:\n{tail}")
            nick, command, params = split_prefix(line)
            if match(command, params):
                return nick, params

    def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        self.expect(lambda cmd, params: cmd == "366" and params[1:2] == [channel])

    def say(self, channel: str, text: str) -> None:
        self.send(f"PRIVMSG {channel} :{text}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT :bye")
        with contextlib.suppress(OSError):
            self.sock.close()


def ws_handshake(
    port: int, *, rcvbuf: int | None = None, origin: str | None = None
) -> socket.socket:
    """A WebSocket opened by hand on a plain socket (which then need never be read)."""
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
        "Sec-WebSocket-Protocol: text.ircv3.net",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)  # byte by byte: leave any frame after the headers unread
        if not chunk:
            raise EOFError("closed during the handshake")
        response += chunk
    status = response.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise AssertionError(f"handshake refused: {status!r}")
    return sock


def masked_frame(text: str) -> bytes:
    """One client→server text frame (clients must mask), for payloads under 126 bytes."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body
