"""One benchmark client: an asyncio Protocol that registers, joins, and then reads in bulk.

A client starts in *line mode*: it splits what it receives into lines, answers PING, follows
registration (001, nick collisions, end of MOTD, ISUPPORT) and resolves waiters (`wait_for`).
Once it has joined its room it switches to one of two *bulk modes*, in which no line is parsed
one by one:

* `FULL`: one compiled regex `findall` over each received chunk yields (sender, sequence,
  send time) triples for the `FlowCheck`, which also feeds the latency `Histogram` (a sender
  stamps a whole batch with one time, so consecutive equal stamps are added at once);
* `COUNT`: `bytes.count` of the message marker, for receivers that only count deliveries.

The `join` scenario's members use a third bulk mode, `JOINS`: they only look for the JOIN lines
of the joiners, whose nicks all start with one marker (``:<marker>`` opens such a line and
nothing else these clients receive). Members checked in full keep (joiner nick, arrival time)
for each; the others count the marker with `bytes.count`.

Either way the chunk is cut at its last line end and the rest kept for the next one, so a line
split across two reads is neither lost nor counted twice.

The bulk path is the generator's own limit (at C=1000 it used a whole core while the server
did not), so each read costs as few interpreter steps and byte scans as it can; its cost is
measured without a server by `benchmarks/receive_cost.py` (instructions per read and per
delivery). A read that ends at a line end, as most do, is scanned as it is; every scan runs
without start/end arguments (parsing them costs more than scanning a short read); in COUNT mode
one `bytes.count` of the marker is the only full scan. Refusals (`` FAIL PRIVMSG ``) and PINGs
are searched for only in a read holding an "F" or an "N": delivery lines hold neither, and
testing for one byte (`int in bytes`) is one `memchr`, a small fraction of a substring search.

Benchmark message text: ``b: <sender> <seq> <send time in µs, CLOCK_MONOTONIC>`` (plus padding
with --size). The marker `` :b: `` cannot occur in anything else a server sends these clients.
"""

from __future__ import annotations

import asyncio
import random
import re
import string
import time
from collections.abc import Callable
from typing import cast

from hubbub.bench.stats import FlowCheck, Histogram

__all__ = [
    "COUNT",
    "FULL",
    "JOINS",
    "LINES",
    "Client",
    "ClientError",
    "Sender",
    "Tally",
    "message_batch",
    "open_client",
    "parse_line",
]

LINES, FULL, COUNT, JOINS = 0, 1, 2, 3

MARK = b" :b: "
_LF, _F, _N = b"\n"[0], b"F"[0], b"N"[0]
MESSAGES = re.compile(rb" :b: (\d+) (\d+) (\d+)")
PING = re.compile(rb"(?m)^(?::\S+ )?PING( [^\r\n]*)?")

_NICK_ERRORS = {b"431", b"432", b"433", b"436", b"437"}
_JOIN_ERRORS = {b"403", b"405", b"471", b"473", b"474", b"475", b"476", b"477", b"489"}


class ClientError(Exception):
    """A client could not do what the benchmark needs (register, join, stay connected)."""


_monotonic_ns = time.monotonic_ns


def now_us() -> int:
    return _monotonic_ns() // 1000


def parse_line(line: bytes) -> tuple[bytes, list[bytes]]:
    """(COMMAND, params) of one IRC line without its line end; tags and source skipped."""
    if line.startswith(b"@"):
        line = line.partition(b" ")[2]
    if line.startswith(b":"):
        line = line.partition(b" ")[2]
    head, sep, trailing = line.partition(b" :")
    params = head.split()
    if sep:
        params.append(trailing)
    if not params:
        return b"", []
    return params[0].upper(), params[1:]


def fallback_nick() -> str:
    """A random 9-character nick for when the planned one is taken."""
    return "z" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


class Tally:
    """Counters shared by the clients of one worker (cheap to update per chunk)."""

    __slots__ = ("last_rx", "received")

    def __init__(self) -> None:
        self.received = 0
        self.last_rx = 0  # µs, monotonic


Waiter = tuple[Callable[[bytes, list[bytes]], bool], "asyncio.Future[None]"]


class Client(asyncio.Protocol):
    """One connection of the load generator."""

    def __init__(self, nick: str, *, password: str = "", tally: Tally | None = None) -> None:
        self.nick = nick
        self.password = password
        self.tally = tally if tally is not None else Tally()
        self.transport: asyncio.Transport | None = None
        self.mode = LINES
        self.tail = b""
        self.waiters: list[Waiter] = []
        self.on_line: Callable[[bytes, bytes, list[bytes]], None] | None = None
        self.isupport: dict[str, str] = {}
        self.errors: list[str] = []
        self.registered_at: float | None = None
        self.motd_done = False
        self.lost = False
        self.lost_reason = ""
        self.nick_tries = 0
        # bulk state
        self.flow = FlowCheck()
        self.latency = Histogram()
        self.count = 0
        # Messages of ours the server refused out loud (FAIL PRIVMSG …, e.g. history writer
        # behind): never delivered, but not lost either; the report counts them apart.
        self.refused = 0
        self.acks: list[Sender] = []
        # Against several servers: the senders on another server than this client's, whose
        # latencies go to `remote_latency` (cross-node) instead of `latency`.
        self.remote: frozenset[bytes] | None = None
        self.remote_latency = Histogram()
        # JOINS mode (see `watch_joins`)
        self.join_marker = b""
        self.join_pattern: re.Pattern[bytes] | None = None
        self.joins_seen: list[tuple[bytes, int]] = []

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.write(self.greeting())

    def greeting(self) -> bytes:
        """What the client sends first: PASS (if any), NICK and USER."""
        hello = b""
        if self.password:
            hello += b"PASS :" + self.password.encode() + b"\r\n"
        return hello + b"NICK " + self.nick.encode() + b"\r\nUSER b 0 * :hubbub bench\r\n"

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.lost_reason:
            self.lost_reason = str(exc) if exc else "closed by the server"
        self.transport = None
        error = ClientError(f"{self.nick}: connection lost ({self.lost_reason})")
        for _, future in self.waiters:
            if not future.done():
                future.set_exception(error)
        self.waiters.clear()

    def data_received(self, data: bytes) -> None:
        # The generator's hottest code (every read of every client): see the module docstring
        # for why each step is as it is. Every scan below runs over complete lines only, and
        # without start/end arguments (parsing them costs more than a short scan).
        tail = self.tail
        if tail:
            data = tail + data
        end = len(data)
        if not end or data[-1] != _LF:  # most reads end at a line end: no search then
            end = data.rfind(b"\n") + 1
            self.tail = data[end:]
            if not end:
                return
            data = data[:end]
        elif tail:
            self.tail = b""
        mode = self.mode
        if mode == COUNT:
            found = data.count(MARK)
            if found:
                self.count += found
                tally = self.tally
                tally.received += found
                tally.last_rx = _monotonic_ns() // 1000
        elif mode == FULL:
            self._check(data)
        elif mode == JOINS:
            self._joins(data, end)
        else:
            self._lines(data)
            return
        # Lines other than deliveries, found without searching for them: a delivery line holds
        # neither an "F" nor an "N" (PRIVMSG, lowercase nicks and hosts, digits), so a chunk
        # without either byte holds no refusal and no PING. (`int in bytes` is one `memchr`,
        # with neither the argument parsing of `find` nor the failed int conversion that
        # `bytes in bytes` goes through first.)
        if _F in data:
            self.refused += data.count(b" FAIL PRIVMSG ")
        if _N in data and b"PING" in data:
            self._pings(data, end)

    def _check(self, data: bytes) -> None:
        """FULL mode: check and time the deliveries in `data` (complete lines)."""
        found = MESSAGES.findall(data)
        if not found:
            return
        tally = self.tally
        now = tally.last_rx = _monotonic_ns() // 1000
        k = self.flow.feed(found, now, self.latency, self.remote, self.remote_latency)
        self.count += k
        tally.received += k
        if self.acks:
            expected = self.flow.expected
            for sender in self.acks:
                upto = expected.get(sender.key)
                if upto is not None and upto > sender.acked:
                    sender.acked = upto
                    sender.pump()

    def _joins(self, data: bytes, end: int) -> None:
        pattern = self.join_pattern
        if pattern is None:
            k = data.count(self.join_marker, 0, end)
        else:
            found = pattern.findall(data, 0, end)
            k = len(found)
            if k:
                now = now_us()
                self.joins_seen.extend((nick, now) for nick in found)
        if k:
            self.count += k
            tally = self.tally
            tally.received += k
            tally.last_rx = now_us()

    # -- line mode -----------------------------------------------------------------------------

    def _lines(self, data: bytes) -> None:
        for raw in data.split(b"\n"):
            line = raw.rstrip(b"\r")
            if not line:
                continue
            command, params = parse_line(line)
            self._handle(line, command, params)
            if self.waiters:
                self._wake(command, params)
            if self.on_line is not None:
                self.on_line(line, command, params)

    def _handle(self, line: bytes, command: bytes, params: list[bytes]) -> None:
        if command == b"PING":
            self.write(b"PONG" + (b" :" + params[-1] if params else b"") + b"\r\n")
        elif command == b"001":
            if params:
                self.nick = params[0].decode("utf-8", "replace")
            self.registered_at = time.monotonic()
        elif command == b"005":
            for token in params[1:-1]:
                name, _, value = token.decode("utf-8", "replace").partition("=")
                self.isupport[name.upper()] = value
        elif command in (b"376", b"422"):
            self.motd_done = True
        elif command in _NICK_ERRORS and self.registered_at is None:
            self.nick_tries += 1
            if self.nick_tries > 5:
                self.fail(f"no nick accepted ({line.decode('utf-8', 'replace')})")
                return
            self.nick = fallback_nick()
            self.write(b"NICK " + self.nick.encode() + b"\r\n")
        elif command == b"ERROR":
            self.lost_reason = line.decode("utf-8", "replace")
        elif command[:1] in (b"4", b"5") and command.isdigit() and len(self.errors) < 5:
            self.errors.append(line.decode("utf-8", "replace"))

    def _wake(self, command: bytes, params: list[bytes]) -> None:
        keep: list[Waiter] = []
        for test, future in self.waiters:
            if future.done():
                continue
            try:
                hit = test(command, params)
            except Exception as exc:
                future.set_exception(exc)
                continue
            if hit:
                future.set_result(None)
            else:
                keep.append((test, future))
        self.waiters = keep

    def _pings(self, data: bytes, end: int) -> None:
        for match in PING.finditer(data, 0, end):
            token = match.group(1) or b""
            self.write(b"PONG" + token + b"\r\n")

    # -- use -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def fail(self, reason: str) -> None:
        self.lost_reason = reason
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def expect(self, test: Callable[[bytes, list[bytes]], bool]) -> asyncio.Future[None]:
        """A future resolved by the first line (in line mode) that passes `test(command,
        params)`; `test` may raise to fail it. Registered at once, so a request written right
        after this call cannot be answered before the waiter exists. It fails with ClientError
        when the connection goes away first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.lost:
            future.set_exception(ClientError(f"{self.nick}: connection lost ({self.lost_reason})"))
        else:
            self.waiters.append((test, future))
        return future

    async def wait_for(self, test: Callable[[bytes, list[bytes]], bool], timeout: float) -> None:
        """Wait until a line passes `test` (see `expect`); TimeoutError after `timeout`."""
        await asyncio.wait_for(self.expect(test), timeout)

    async def join(self, room: str, timeout: float) -> None:
        """JOIN `room` and wait for its end of NAMES (366); a join error fails."""
        folded = room.lower().encode()

        def joined(command: bytes, params: list[bytes]) -> bool:
            if command == b"366" and len(params) > 1 and params[1].lower() == folded:
                return True
            if command in _JOIN_ERRORS and len(params) > 1 and params[1].lower() == folded:
                raise ClientError(f"{self.nick} cannot join {room}: {b' '.join(params).decode()}")
            return False

        waiting = self.expect(joined)
        self.write(b"JOIN " + room.encode() + b"\r\n")
        await asyncio.wait_for(waiting, timeout)

    def watch_joins(self, marker: bytes, *, full: bool) -> None:
        """Switch to JOINS mode: count the JOIN lines of nicks starting with `marker` (only
        joiners' nicks do); with `full`, keep each one's nick and arrival time in `joins_seen`."""
        self.join_marker = b":" + marker
        if full:
            self.join_pattern = re.compile(
                rb"(?m)^:(" + re.escape(marker) + rb"[^!\s]*)![^\s]* JOIN "
            )
        self.mode = JOINS

    def start_bulk(self, mode: int) -> None:
        """Stop parsing lines; from now on only count (COUNT) or check (FULL) bench messages."""
        self.mode = mode


async def open_client(
    host: str,
    port: int,
    nick: str,
    *,
    timeout: float,
    password: str = "",
    tally: Tally | None = None,
    wait_motd: bool = False,
    kind: type[Client] | None = None,
) -> Client:
    """Connect and register a client; return once 001 (and with `wait_motd` 376/422) arrived.
    `kind`: the client class (`hubbub.bench.wsclient.WsClient` for WebSocket)."""
    loop = asyncio.get_running_loop()
    make = kind or Client

    def factory() -> Client:
        return make(nick, password=password, tally=tally)

    _, client = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
    try:
        if client.registered_at is None:
            await client.wait_for(lambda command, _: command == b"001", timeout)
        if wait_motd and not client.motd_done:
            await client.wait_for(lambda command, _: command in (b"376", b"422"), timeout)
    except BaseException:
        client.abort()
        raise
    return client


def message_batch(head: bytes, first: int, count: int, stamp: int, pad: bytes) -> bytes:
    """`count` bench messages numbered from `first`, all stamped `stamp`; `head` is
    ``PRIVMSG <room> :b: <sender> ``."""
    return b"".join(
        [head + b"%d %d%s\r\n" % (seq, stamp, pad) for seq in range(first, first + count)]
    )


class Sender:
    """The sending side of one client: numbers its messages and keeps its window."""

    __slots__ = (
        "acked",
        "client",
        "greedy",
        "head",
        "key",
        "pad",
        "running",
        "seq",
        "sid",
        "window",
    )

    def __init__(
        self, client: Client, sid: int, room: str, window: int, size: int, *, greedy: bool = True
    ) -> None:
        self.client = client
        self.sid = sid
        self.key = str(sid).encode()
        self.head = b"PRIVMSG " + room.encode() + b" :b: " + self.key + b" "
        self.pad = (b" " + b"x" * (size - 1)) if size > 0 else b""
        self.window = window
        # greedy: send whenever the window has room (as fast as possible); otherwise a pacer
        # decides when to send (fixed rate) and acknowledgements only move the window.
        self.greedy = greedy
        self.seq = 0  # next number to send == messages sent so far
        self.acked = 0  # messages the designated receiver has seen (in order)
        self.running = False

    def send(self, count: int) -> None:
        if count <= 0:
            return
        self.client.write(message_batch(self.head, self.seq, count, now_us(), self.pad))
        self.seq += count

    def pump(self) -> None:
        """Window mode: fill the window (called at start and on every acknowledgement)."""
        if self.running and self.greedy and self.window:
            self.send(self.acked + self.window - self.seq)
