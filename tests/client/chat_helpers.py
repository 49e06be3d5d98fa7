"""A real hubbub server in a thread, and a raw asyncio IRC client, for the chat client's tests.

`RawClient` is written here on purpose, with its own few lines of parsing: it is "the other
party" in the tests and must not share code with the client under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from hubbub.app import App
from hubbub.config import (
    Config,
    FloodSection,
    HistorySection,
    ListenSection,
    ServerSection,
    WebSection,
)

TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_config(
    data_dir: Path, port: int = 0, *, memory: bool = False, **history: object
) -> Config:
    return Config(
        server=ServerSection(data_dir=str(data_dir)),
        listen=ListenSection(hosts=("127.0.0.1",), port=port),
        flood=FloodSection(enabled=False),
        web=WebSection(enabled=False),  # not the fixed port 8080 in every test
        history=dataclasses.replace(
            HistorySection(backend="memory" if memory else "sqlite"), **history
        ),
    )


class ServerThread:
    """The real `App` on its own event loop in a background thread (so test loops are free)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="chat-test-server", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = App(self.config, shutdown_grace=0.5)
        addresses = await app.start()
        self.port = addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await app.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the server thread did not stop"


@dataclasses.dataclass
class Raw:
    tags: dict[str, str]
    source: str
    command: str
    params: list[str]

    @property
    def nick(self) -> str:
        return self.source.split("!", 1)[0]

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def parse_raw(line: str) -> Raw:
    tags: dict[str, str] = {}
    if line.startswith("@"):
        tag_text, _, line = line[1:].partition(" ")
        for item in tag_text.split(";"):
            key, _, value = item.partition("=")
            tags[key] = value
    source = ""
    if line.startswith(":"):
        source, _, line = line[1:].partition(" ")
    head, sep, trailing = line.partition(" :")
    words = head.split()
    params = words[1:] + ([trailing] if sep else [])
    return Raw(tags, source, words[0].upper(), params)


class RawClient:
    """A minimal IRC client over asyncio streams; every wait is bounded."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: list[Raw] = []

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        return cls(reader, writer)

    async def send(self, *lines: str) -> None:
        self.writer.write(b"".join(line.encode() + b"\r\n" for line in lines))
        await self.writer.drain()

    async def line(self, timeout: float = TIMEOUT) -> Raw:
        while True:
            data = await asyncio.wait_for(self.reader.readline(), timeout)
            if not data:
                raise EOFError("the server closed the connection")
            raw = parse_raw(data.decode().rstrip("\r\n"))
            if raw.command == "PING":
                await self.send(f"PONG :{raw.text}")
                continue
            self.seen.append(raw)
            return raw

    async def until(self, predicate: Callable[[Raw], bool], timeout: float = TIMEOUT) -> Raw:
        deadline = time.monotonic() + timeout
        while True:
            raw = await self.line(max(0.01, deadline - time.monotonic()))
            if predicate(raw):
                return raw

    async def register(self, nick: str, caps: Iterable[str] = ()) -> None:
        caps = list(caps)
        if caps:
            await self.send("CAP REQ :" + " ".join(caps))
        await self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if caps:
            await self.send("CAP END")
        await self.until(lambda x: x.command in ("376", "422"))

    async def join(self, channel: str) -> None:
        await self.send(f"JOIN {channel}")
        await self.until(lambda x: x.command == "366")

    async def say(self, channel: str, *texts: str) -> None:
        await self.send(*(f"PRIVMSG {channel} :{text}" for text in texts))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1)


async def eventually(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float = TIMEOUT,
    pause: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Wait (bounded) until `check()` holds, pausing with `pause` (e.g. pilot.pause)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if pause is not None:
            await pause()
        else:
            await asyncio.sleep(0.02)
