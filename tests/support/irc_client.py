"""The raw IRC test client: a line parser and one client, blocking or asyncio.

The client is deliberately independent of hubbub's own protocol code: it parses just enough
(tags, source, command, params) to check what the server sent. Every line it receives is
checked against the wire rules (`support.wire`), PINGs are answered, and the last lines seen
are kept for failure messages. `IrcClient` is blocking (for tests whose server runs in a
thread or a process); `AsyncIrcClient` has the same methods as coroutines, for tests whose own
event loop must keep running (the chat client's).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import socket
import time
from collections.abc import Callable, Iterable, Iterator

from support.wire import check_line

TIMEOUT = 5.0
KEPT = 200  # lines kept in `seen`, for failure messages


@dataclasses.dataclass
class Line:
    raw: str
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


def _unescape(value: str) -> str:
    out = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse(raw: str) -> Line:
    """One IRC line (without CRLF) split into tags (unescaped), source, command and params."""
    rest = raw
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        for item in tag_text.split(";"):
            key, _, value = item.partition("=")
            tags[key] = _unescape(value)
    source = ""
    rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
    params: list[str] = []
    command, _, rest = rest.lstrip(" ").partition(" ")
    while rest:
        rest = rest.lstrip(" ")
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        if param:
            params.append(param)
    return Line(raw, tags, source, command.upper(), params)


def batches(lines: Iterable[Line]) -> dict[str, tuple[Line, list[Line]]]:
    """ref -> (the BATCH + line, the lines inside it), for every batch seen."""
    found: dict[str, tuple[Line, list[Line]]] = {}
    for line in lines:
        if line.command == "BATCH" and line.params and line.params[0].startswith("+"):
            found[line.params[0][1:]] = (line, [])
        elif "batch" in line.tags and line.tags["batch"] in found:
            found[line.tags["batch"]][1].append(line)
    return found


_fences = itertools.count(1)


class _Reader:
    """What both clients share: bytes in, checked and parsed lines out, a memory of them."""

    def __init__(self, check: bool) -> None:
        self.buffer = b""
        self.check = check
        self.seen: collections.deque[Line] = collections.deque(maxlen=KEPT)
        self.closed = False
        self.nick = ""

    def _take(self) -> Line | None:
        """The next complete line in the buffer, or None."""
        newline = self.buffer.find(b"\n")
        if newline < 0:
            return None
        raw, self.buffer = self.buffer[:newline], self.buffer[newline + 1 :]
        if self.check:
            if not raw.endswith(b"\r"):
                raise AssertionError(f"line not ended by CRLF: {raw[:600]!r}")
            check_line(raw[:-1])
        line = parse(raw.rstrip(b"\r").decode("utf-8", "replace"))
        self.seen.append(line)
        return line

    def history(self) -> str:
        return "\n".join(line.raw for line in list(self.seen)[-20:])

    def _missed(self, what: str) -> TimeoutError:
        return TimeoutError(
            f"{self.nick or 'client'}: {what} never came; last lines:\n{self.history()}"
        )

    def _register_lines(self, nick: str) -> list[str]:
        self.nick = nick
        return ["CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :{nick} the tester"]


def _is_cap(subcommand: str) -> Callable[[Line], bool]:
    return lambda x: x.command == "CAP" and x.params[1:2] == [subcommand]


def _is_cap_answer(x: Line) -> bool:
    return x.command == "CAP" and x.params[1:2] in (["ACK"], ["NAK"])


def _is_end_of_motd(x: Line) -> bool:
    return x.command in ("376", "422")


class IrcClient(_Reader):
    """One blocking connection; answers PING by itself while reading."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        timeout: float = TIMEOUT,
        rcvbuf: int | None = None,
        check: bool = True,
        sock: socket.socket | None = None,
    ) -> None:
        """Connect to `address`, or talk over `sock` if given (already connected, e.g. TLS)."""
        super().__init__(check)
        if sock is None:
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect(address)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout

    # -- sending ---------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *lines: str) -> None:
        self.send_raw(b"".join(line.encode() + b"\r\n" for line in lines))

    def say(self, target: str, *texts: str) -> None:
        self.send(*(f"PRIVMSG {target} :{text}" for text in texts))

    # -- receiving -------------------------------------------------------------------------

    def line(self, timeout: float | None = None) -> Line:
        """The next line (not counting PINGs, which are answered). EOFError once closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            line = self._take()
            if line is not None:
                if line.command == "PING":
                    self.send("PONG :" + line.text)
                    continue
                return line
            if self.closed:
                raise EOFError("the server closed the connection")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete line from the server in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no complete line from the server in time") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.buffer += chunk

    def until(
        self, predicate: Callable[[Line], bool], timeout: float | None = None, what: str = ""
    ) -> list[Line]:
        """Lines up to and including the first one that matches."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen: list[Line] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.line(max(remaining, 0.001))
            except TimeoutError:
                raise self._missed(what or "the expected line") from None
            seen.append(line)
            if predicate(line):
                return seen

    def first(
        self, predicate: Callable[[Line], bool], timeout: float | None = None, what: str = ""
    ) -> Line:
        """The first line that matches (the lines before it are read and dropped)."""
        return self.until(predicate, timeout, what)[-1]

    def expect(self, command: str, timeout: float | None = None) -> list[Line]:
        return self.until(lambda line: line.command == command, timeout, command)

    def fence(self, timeout: float | None = None) -> list[Line]:
        """PING the server and read until its PONG: every line the server sent before it
        answered is then read (and returned), so "nothing else came" can be asserted."""
        token = f"fence-{next(_fences)}"
        self.send(f"PING :{token}")
        lines = self.until(lambda x: x.command == "PONG" and x.text == token, timeout, "PONG")
        return lines[:-1]

    def until_closed(self, timeout: float | None = None) -> list[Line]:
        out: list[Line] = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                out.append(self.line(max(deadline - time.monotonic(), 0.001)))
            except EOFError:
                return out
            except TimeoutError:
                raise self._missed("the end of the connection") from None

    # -- conversations ---------------------------------------------------------------------

    def register(self, nick: str, caps: Iterable[str] = ()) -> list[Line]:
        """CAP LS 302 / CAP REQ / CAP END, NICK, USER; returns the lines up to the MOTD's end."""
        caps = list(caps)
        self.send(*self._register_lines(nick))
        lines = self.until(_is_cap("LS"), what="CAP LS")
        if caps:
            self.send("CAP REQ :" + " ".join(caps))
            lines += self.until(_is_cap_answer, what="CAP ACK")
            if lines[-1].params[1] != "ACK":
                raise AssertionError(f"caps refused: {lines[-1].raw}")
        self.send("CAP END")
        lines += self.until(_is_end_of_motd, what="the end of the MOTD")
        return lines

    def join(self, channel: str) -> list[Line]:
        """JOIN and wait for the end of NAMES; replay may follow (read it separately)."""
        self.send(f"JOIN {channel}")
        return self.until(lambda x: x.command == "366", what=f"end of NAMES of {channel}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class AsyncIrcClient(_Reader):
    """The same client over asyncio streams: every method a coroutine, every wait bounded."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, check: bool = True
    ) -> None:
        super().__init__(check)
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: tuple[str, int], *, check: bool = True) -> AsyncIrcClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), TIMEOUT)
        return cls(reader, writer, check=check)

    async def send(self, *lines: str) -> None:
        self.writer.write(b"".join(line.encode() + b"\r\n" for line in lines))
        await self.writer.drain()

    async def say(self, target: str, *texts: str) -> None:
        await self.send(*(f"PRIVMSG {target} :{text}" for text in texts))

    async def line(self, timeout: float = TIMEOUT) -> Line:
        """The next line (not counting PINGs, which are answered). EOFError once closed."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._take()
            if line is not None:
                if line.command == "PING":
                    await self.send("PONG :" + line.text)
                    continue
                return line
            if self.closed:
                raise EOFError("the server closed the connection")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete line from the server in time")
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), remaining)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.buffer += chunk

    async def until(
        self, predicate: Callable[[Line], bool], timeout: float = TIMEOUT, what: str = ""
    ) -> list[Line]:
        """Lines up to and including the first one that matches."""
        deadline = time.monotonic() + timeout
        seen: list[Line] = []
        while True:
            try:
                line = await self.line(max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise self._missed(what or "the expected line") from None
            seen.append(line)
            if predicate(line):
                return seen

    async def first(
        self, predicate: Callable[[Line], bool], timeout: float = TIMEOUT, what: str = ""
    ) -> Line:
        """The first line that matches (the lines before it are read and dropped)."""
        return (await self.until(predicate, timeout, what))[-1]

    async def fence(self, timeout: float = TIMEOUT) -> list[Line]:
        """PING, then read until the PONG: see `IrcClient.fence`."""
        token = f"fence-{next(_fences)}"
        await self.send(f"PING :{token}")
        lines = await self.until(lambda x: x.command == "PONG" and x.text == token, timeout, "PONG")
        return lines[:-1]

    async def register(self, nick: str, caps: Iterable[str] = ()) -> list[Line]:
        """As `IrcClient.register`."""
        caps = list(caps)
        await self.send(*self._register_lines(nick))
        lines = await self.until(_is_cap("LS"), what="CAP LS")
        if caps:
            await self.send("CAP REQ :" + " ".join(caps))
            lines += await self.until(_is_cap_answer, what="CAP ACK")
            if lines[-1].params[1] != "ACK":
                raise AssertionError(f"caps refused: {lines[-1].raw}")
        await self.send("CAP END")
        lines += await self.until(_is_end_of_motd, what="the end of the MOTD")
        return lines

    async def join(self, channel: str) -> list[Line]:
        await self.send(f"JOIN {channel}")
        return await self.until(lambda x: x.command == "366", what=f"end of NAMES of {channel}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1)


def read_batch(client: IrcClient, kind: str = "chathistory") -> tuple[Line, list[Line]]:
    """Read until a batch of `kind` opens and closes; return its opening line and contents."""
    lines = client.until(lambda x: x.command == "BATCH" and x.params[1:2] == [kind])
    ref = lines[-1].params[0][1:]
    lines += client.until(lambda x: x.command == "BATCH" and x.params[:1] == ["-" + ref])
    return batches(lines)[ref]


@contextlib.contextmanager
def clients(*items: IrcClient) -> Iterator[None]:
    """Close every client at the end of the block, whatever happens in it."""
    try:
        yield
    finally:
        for client in items:
            client.close()
