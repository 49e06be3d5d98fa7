"""Shared pieces of the transport tests: a fake chat core, a line client and a loop runner.

The fake core implements the `ChatServer` surface the transport drives, with a few commands:
REG (mark registered), ECHO <text>, BCAST <text> (to every session), BATCH <text> (to every
session through `Connection.batch`, as room fan-out writes, where the engine's links have it),
BOOM (raise), QUIT.

The tests run once per engine (issue 13): the `arun` fixture says which, and `start_server`
starts the asyncio `TcpServer` or that engine's server (`EngineUnderTest`) around the same
fake core. A test that calls the core itself goes through `call(server, fn, ...)`: another
engine's core is called with its lock held and what it wrote is flushed, as its threads do.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from hubbub import engines
from hubbub.config import Config
from hubbub.core.ports import Link
from hubbub.transport.tcp import TcpServer
from support.config import changed, server_config
from support.waiting import until

__all__ = [
    "EngineUnderTest",
    "FakeCore",
    "LineClient",
    "arun",
    "call",
    "make_config",
    "start_server",
    "until",
]

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

TOO_LONG = "<too long>"
INVALID = "<invalid utf-8>"


class FakeSession:
    def __init__(self, link: Link, host: str, port: int, secure: bool) -> None:
        self.link = link
        self.host = host
        self.port = port
        self.secure = secure
        self.registered = False
        self.nick = ""
        self.closed = False
        self.lines: list[str] = []
        self.times: list[float] = []
        self.cost = 0.0  # flood tokens its last answer cost (COST n)


class FakeCore:
    def __init__(self, config: Config | None = None, history: Any = None) -> None:
        self.sessions: list[FakeSession] = []
        self.disconnects: list[tuple[FakeSession, str]] = []
        self.shutdowns: list[str] = []

    def open_sessions(self) -> list[FakeSession]:
        return [s for s in self.sessions if not s.closed]

    def connect(
        self, link: Link, host: str, port: int, now: float, *, secure: bool = False
    ) -> FakeSession:
        session = FakeSession(link, host, port, secure)
        self.sessions.append(session)
        return session

    def receive(self, session: FakeSession, line: str, now: float) -> None:
        assert not session.closed, "input for a closed session"
        session.lines.append(line)
        session.times.append(now)
        command, _, rest = line.partition(" ")
        if command == "REG":
            session.registered = True
            session.nick = rest or f"u{len(self.sessions)}"
        elif command == "ECHO":
            session.link.write(rest.encode() + b"\r\n")
        elif command == "BCAST":
            data = rest.encode() + b"\r\n"
            for other in self.open_sessions():
                other.link.write(data)
        elif command == "BATCH":  # as room fan-out does: plain appends, one `touched` call
            data = rest.encode() + b"\r\n"
            touched_links: dict[Any, list[Any]] = {}
            for other in self.open_sessions():
                append, touched = other.link.batch()  # type: ignore[attr-defined]
                append(data)
                touched_links.setdefault(touched, []).append(other.link)
            for touched, links in touched_links.items():
                touched(links)
        elif command == "COST":  # the answer costs this many flood tokens
            session.cost = float(rest)
        elif command == "BOOM":
            raise RuntimeError("the fake core exploded")
        elif command == "QUIT":
            session.closed = True
            session.link.write(b"ERROR :bye\r\n")
            session.link.close()

    def output_cost(self, session: FakeSession) -> float:
        cost, session.cost = session.cost, 0.0
        return cost

    def line_too_long(self, session: FakeSession) -> None:
        session.lines.append(TOO_LONG)
        session.link.write(b":test.server 417 * :Input line was too long\r\n")

    def invalid_utf8(self, session: FakeSession) -> None:
        session.lines.append(INVALID)
        session.link.write(b"FAIL * INVALID_UTF8 :Message rejected\r\n")

    def disconnect(self, session: FakeSession, reason: str, now: float) -> None:
        self.disconnects.append((session, reason))
        if session.closed:
            return
        session.closed = True
        for other in self.open_sessions():
            other.link.write(f"QUIT {session.nick} :{reason}\r\n".encode())
        session.link.write(f"ERROR :Closing link: {reason}\r\n".encode())
        session.link.close()

    def shutdown(self, reason: str) -> None:
        self.shutdowns.append(reason)
        for session in self.open_sessions():
            session.closed = True
            session.link.write(f"ERROR :{reason}\r\n".encode())
            session.link.close()

    def reasons(self, session: FakeSession) -> list[str]:
        return [reason for s, reason in self.disconnects if s is session]


def make_config(**sections: dict[str, Any]) -> Config:
    """A test config (support.config.server_config) for a server named test.server."""
    server = {"name": "test.server", **sections.pop("server", {})}
    return server_config(server=server, **sections)


class LineClient:
    """A raw IRC-ish client over asyncio streams, for tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: tuple[str, int], timeout: float = 5.0) -> LineClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address[0], address[1], limit=1 << 20), timeout
        )
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, *lines: str) -> None:
        await self.send_raw(b"".join(line.encode() + b"\r\n" for line in lines))

    async def line(self, timeout: float = 5.0) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise EOFError("connection closed")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def lines(self, count: int, timeout: float = 5.0) -> list[str]:
        return [await self.line(timeout) for _ in range(count)]

    async def until_closed(self, timeout: float = 5.0) -> list[str]:
        """Every line left before the server closes the connection."""
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"still open; got {out!r}")
            try:
                raw = await asyncio.wait_for(self.reader.readline(), remaining)
            except ConnectionResetError:
                return out
            if not raw:
                return out
            out.append(raw.decode("utf-8", "replace").rstrip("\r\n"))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)

    def reset(self) -> None:
        """Close with an RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.writer.transport.abort()


#: The engine the current test runs on (set by the `arun` fixture).
ENGINE = "asyncio"


class EngineUnderTest:
    """An engine without asyncio (hubbub.engines) around a fake core, with the surface of
    `TcpServer` the tests use: `addresses`, `connections`, `stop_accepting`, `close`."""

    def __init__(self, server: Any) -> None:
        self.server = server

    @property
    def addresses(self) -> list[tuple[str, int]]:
        addresses: list[tuple[str, int]] = self.server.addresses
        return addresses

    @property
    def connections(self) -> set[Any]:
        connections: set[Any] = self.server.connections
        return connections

    def stop_accepting(self) -> None:
        """Nothing yet: `close` stops accepting first, as the engines' shutdown does."""

    async def close(self, timeout: float = 2.0) -> None:
        self.server.shutdown_grace = timeout
        await asyncio.to_thread(self.server.stop)


async def start_server(core: FakeCore, config: Config, **kwargs: Any) -> Any:
    if ENGINE in ("asyncio", "twisted"):  # twisted: Twisted's listener on the test's loop
        server = _tcp_server_class(ENGINE)(config, core, **kwargs)
        await server.start()
        return server
    # The engines run the history worker too: in memory, in a directory of their own.
    data = tempfile.mkdtemp(prefix="hubbub-engine-")
    config = changed(config, server={"data_dir": data}, history={"backend": "memory"})
    engine = engines.make_server(config, ENGINE, core_factory=lambda c, h: core, **kwargs)
    await asyncio.to_thread(engine.start)
    return EngineUnderTest(engine)


def _tcp_server_class(engine: str) -> type[TcpServer]:
    """The listener of an engine on asyncio: the Twisted engine's (an optional extra, imported
    only when asked for), or the asyncio transport's."""
    if engine == "twisted":
        from hubbub.engines.twisted_engine import TwistedTcpServer

        return TwistedTcpServer
    return TcpServer


def call(server: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Call the core as the server's own threads would (asyncio: directly, on the loop)."""
    if isinstance(server, EngineUnderTest):
        return server.server.call(fn, *args)
    return fn(*args)


LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])
# (client loop, server engine): the asyncio transport on each loop, the other engines once.
RUNS = [(loop, "asyncio") for loop in LOOPS] + [
    ("asyncio", name) for name in engines.ENGINES if name != "asyncio"
]


@pytest.fixture(params=RUNS, ids=[f"{loop}-{engine}" for loop, engine in RUNS])
def arun(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    """Run an async test body on a fresh loop of each kind, bounded in time, against the
    asyncio transport or another engine (`ENGINE`)."""
    global ENGINE
    loop, ENGINE = request.param
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop

    def run(body: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 30.0) -> Any:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(asyncio.wait_for(body(), timeout))

    run.engine = ENGINE  # type: ignore[attr-defined]
    return run
