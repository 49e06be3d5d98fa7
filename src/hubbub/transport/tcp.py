"""The asyncio TCP transport: sockets in, lines to the core, bytes out.

One `TcpServer` owns the listening sockets (one per configured host), every client
`Connection`, the per-address connection counts and one periodic sweep that enforces the
registration and PING timeouts. It never interprets IRC beyond what it must: framing, UTF-8
decoding, flood control, timeouts, connection limits and the send queue.

Theory of operation
-------------------
* A `Connection` is an `asyncio.Protocol` *and* the core's `Link` for that client. `write` only
  appends the bytes object to the connection's out list (no await, no task, no copy) and, the
  first time in a loop turn, puts the connection on the server's dirty list. One callback per
  loop turn (`TcpServer.flush`) then hands each dirty connection's bytes to `transport.write` in
  one piece. So a member of a busy room costs one system call per loop turn, not one per
  message: with ten senders, a turn carries dozens of messages to every member.
* The send queue is the transport's buffer, checked after each flush. When it grows past
  `limits.sendq_bytes` the connection stops writing at once and, on the next loop turn (a
  `Link.write` must never call back into the core, which may be in the middle of a fan-out),
  tells the core "SendQ exceeded" and aborts the socket. A client that stops reading therefore
  costs at most its own send queue, and the rest of a room never waits for it.
* Input: bytes → `LineReader` (bounded) → one token from the connection's `TokenBucket` per line →
  `decode_line` → core. A line that finds no token waits, with every line after it, in a small
  per-connection deque; reading from the socket pauses (so the kernel's buffers push back on the
  flooder) and resumes when the deque has drained. More than `max_pending` waiting lines is
  "Excess Flood".
* Ends: the core ends a session by calling `Link.close` (the connection then never reports back);
  the transport ends one by calling `core.disconnect` exactly once (peer closed, socket error,
  timeout, send queue, flood, or an exception raised by the core). `closing` means no more input
  is processed and no more output is written.
* Timeouts: one sweep per server, not a timer per connection. It reads monotonic timestamps each
  connection keeps up to date cheaply (`last_rx` on every read).

Concurrency: everything here runs on the event loop thread; nothing is shared with other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast

from hubbub.config import Config
from hubbub.core.ports import Link
from hubbub.protocol.framing import LineReader, LineTooLong, decode_line
from hubbub.tls import peer_fingerprint
from hubbub.transport.flood import TokenBucket
from hubbub.transport.listener import Listener, report_end

__all__ = ["Connection", "Core", "TcpServer", "format_address", "redact"]

log = logging.getLogger("hubbub.net")

_DEBUG = logging.DEBUG

#: Seconds a connection the core has closed may take to flush before it is aborted.
CLOSE_GRACE = 5.0
#: Lines a throttled client may have waiting before it is disconnected for flooding.
MAX_PENDING_LINES = 100


class Core(Protocol):
    """The part of the chat core (`hubbub.core.server.ChatServer`) a transport drives.

    Sessions are opaque to the transport except for two attributes it reads: `registered`
    (for the registration timeout) and `closed`.
    """

    def connect(
        self,
        link: Link,
        host: str,
        port: int,
        now: float,
        *,
        secure: bool = False,
        certfp: str | None = None,
    ) -> Any: ...

    def receive(self, session: Any, line: str, now: float) -> None: ...

    def line_too_long(self, session: Any) -> None: ...

    def invalid_utf8(self, session: Any) -> None: ...

    def disconnect(self, session: Any, reason: str, now: float) -> None: ...


def format_address(host: str, port: int) -> str:
    """`host:port`, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# Commands whose parameters must not reach a log file: how many leading parameters stay
# readable (OPER <name> <password>, REGISTER <account> <email> <password>). NICKSERV / NS are
# the aliases some clients send for "PRIVMSG NickServ".
_SECRET_COMMANDS = {
    "PASS": 0,
    "OPER": 1,
    "AUTHENTICATE": 0,
    "REGISTER": 2,
    "VERIFY": 1,
    "NICKSERV": 1,
    "NS": 1,
}
# Messages to these pseudo-users carry passwords (IDENTIFY, REGISTER, SET PASSWORD, DROP):
# only the first word of the text is logged.
_SERVICES = frozenset({"nickserv"})


def redact(line: str) -> str:
    """The line as it may be logged: passwords (PASS, OPER, AUTHENTICATE, REGISTER, and
    messages to NickServ) masked."""
    rest = line
    head = ""
    if rest.startswith("@"):
        tags, _, rest = rest.partition(" ")
        head = tags + " "
    stripped = rest.lstrip(" ")
    head += rest[: len(rest) - len(stripped)]
    rest = stripped
    if rest.startswith(":"):
        source, _, rest = rest.partition(" ")
        head += source + " "
    command, _, params = rest.partition(" ")
    upper = command.upper()
    if upper in ("PRIVMSG", "NOTICE"):
        target, _, text = params.lstrip(" ").partition(" ")
        if target.partition("@")[0].lower() not in _SERVICES:
            return line
        word = text.lstrip(" ").removeprefix(":").split(" ", 1)[0]
        return f"{head}{command} {target} :{word} ***"
    keep = _SECRET_COMMANDS.get(upper)
    if keep is None or not params:
        return line
    parts = params.split(" ", keep)
    # Fewer parameters than expected: the last one may still be the password.
    shown = parts[:keep] if len(parts) > keep else parts[:-1]
    return " ".join([head + command, *shown, "***"])


def _describe(exc: Exception | None) -> str:
    """A QUIT reason for a connection the peer or the network ended."""
    if exc is None:
        return "Client closed connection"
    if isinstance(exc, ConnectionResetError):
        return "Connection reset by peer"
    if isinstance(exc, BrokenPipeError):
        return "Broken pipe"
    if isinstance(exc, TimeoutError):
        return "Connection timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class Connection(asyncio.Protocol):
    """One client socket: its input pipeline, and the core's `Link` to it."""

    __slots__ = (
        "bucket",
        "close_timer",
        "closing",
        "connected_at",
        "core_done",
        "counted",
        "flood_timer",
        "host",
        "label",
        "last_rx",
        "out",
        "paused",
        "pending",
        "ping_sent",
        "port",
        "reader",
        "reason",
        "sendq",
        "sendq_exceeded",
        "server",
        "session",
        "transport",
        "transport_closed",
    )

    def __init__(self, server: TcpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Any = None
        self.host = ""
        self.port = 0
        self.label = "?"
        self.reader = LineReader()
        self.bucket: TokenBucket | None = None
        self.pending: deque[bytes | LineTooLong] = deque()
        self.paused = False
        self.flood_timer: asyncio.TimerHandle | None = None
        self.close_timer: asyncio.TimerHandle | None = None
        # No more input processed, no more output written.
        self.closing = False
        # transport.close() or transport.abort() was called.
        self.transport_closed = False
        # The core no longer knows this session: it called close(), or we called disconnect().
        self.core_done = False
        self.sendq = server.sendq_bytes
        self.sendq_exceeded = False
        # Bytes the core wrote this loop turn, written out by TcpServer.flush.
        self.out: list[bytes] = []
        self.counted = False
        self.reason = ""
        now = time.monotonic()
        self.connected_at = now
        self.last_rx = now
        self.ping_sent: float | None = None

    # -- Link ----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        # Called once per member for every room message: nothing here but the append. The
        # send queue is checked at flush; between two flushes the out list holds at most one
        # loop turn's output, which the input side bounds.
        if self.closing:
            return
        out = self.out
        if not out:
            self.server.mark_dirty(self)
        out.append(data)

    def flush(self) -> None:
        """Hand everything written since the last flush to the transport, in one piece."""
        out = self.out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        self.out = []
        transport = self.transport
        if transport is None or self.sendq_exceeded or transport.is_closing():
            return
        if log.isEnabledFor(_DEBUG):  # once per flush, not per message
            self._log_out(data)
        transport.write(data)
        if transport.get_write_buffer_size() > self.sendq:
            self._sendq_exceeded()

    def _sendq_exceeded(self) -> None:
        # Stop now; tell the core on the next loop turn (never from inside write).
        self.closing = True
        self.sendq_exceeded = True
        self.out = []
        self.server.loop.call_soon(self._end, "SendQ exceeded")

    def close(self) -> None:
        self.core_done = True
        if not self.reason:
            self.reason = "closed by the server"
        if self.sendq_exceeded:
            self._abort()
        else:
            self._close_transport()

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)
        self.transport = tr
        server = self.server
        peer = tr.get_extra_info("peername")
        if not peer:
            # The peer vanished before we could even ask who it was.
            self.core_done = True
            self.closing = True
            self.transport_closed = True
            tr.abort()
            return
        host = str(peer[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]  # an IPv4 client on a dual-stack socket counts as its IPv4 address
        self.host = host
        self.port = int(peer[1])
        self.label = format_address(host, self.port)
        sock = tr.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        refusal = server._admit(self)
        if refusal is not None:
            self.core_done = True
            self.reason = refusal
            log.info("refused %s: %s", self.label, refusal)
            tr.write(b"ERROR :" + refusal.encode() + b"\r\n")
            self._close_transport()
            return
        sendq = server.sendq_bytes
        # The loop calls pause_writing only past `high`; we never wait for it (see module doc),
        # but a high mark at the send queue lets uvloop coalesce a loop turn's writes up to it.
        tr.set_write_buffer_limits(high=sendq, low=sendq // 2)
        flood = server.config.flood
        if flood.enabled:
            self.bucket = TokenBucket(flood.burst, flood.lines_per_second)
        log.info("connect %s (%d clients)", self.label, len(server.connections))
        try:
            if server.ssl_context is not None:  # TLS: the client certificate, for EXTERNAL
                certfp = peer_fingerprint(tr.get_extra_info("ssl_object"))
                self.session = server.core.connect(
                    self, host, self.port, time.time(), secure=True, certfp=certfp
                )
            else:
                self.session = server.core.connect(
                    self, host, self.port, time.time(), secure=server.secure
                )
        except Exception:
            log.exception("the core failed to accept %s", self.label)
            self.core_done = True
            self.reason = "Internal error"
            if not self.closing:
                tr.write(b"ERROR :Internal error\r\n")
            self._close_transport()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        now = time.monotonic()
        self.last_rx = now
        self.ping_sent = None
        lines = self.reader.feed(data)
        if not lines:
            return
        if self.pending:
            self.pending.extend(lines)
            if len(self.pending) > self.server.max_pending:
                self._end("Excess Flood")
            return
        self._run(lines, now)

    def eof_received(self) -> bool | None:
        # Returning None lets the transport close itself; connection_lost reports the end.
        return None

    def pause_writing(self) -> None:
        # Deliberately nothing: the send queue limit is checked on every write instead.
        pass

    def resume_writing(self) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.transport_closed = True
        if self.flood_timer is not None:
            self.flood_timer.cancel()
            self.flood_timer = None
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        self.pending.clear()
        self.out = []
        self.transport = None
        self.server._forget(self)
        if not self.core_done:
            self._end(_describe(exc))
        if self.counted:
            log.info("disconnect %s (%s)", self.label, self.reason or _describe(exc))

    # -- input ---------------------------------------------------------------------------------

    def _run(self, lines: list[bytes | LineTooLong], now: float) -> None:
        """Hand lines to the core, as far as the flood bucket allows."""
        wall = time.time()
        bucket = self.bucket
        if bucket is None:
            for item in lines:
                self._dispatch(item, wall)
                if self.closing:
                    return
            return
        take = bucket.take
        for index, item in enumerate(lines):
            wait = take(now)
            if wait:
                pending = self.pending
                pending.extend(lines[index:])
                if len(pending) > self.server.max_pending:
                    self._end("Excess Flood")
                    return
                self._throttle(wait)
                return
            self._dispatch(item, wall)
            if self.closing:
                return

    def _throttle(self, wait: float) -> None:
        if not self.paused:
            self.paused = True
            assert self.transport is not None
            self.transport.pause_reading()
        if self.flood_timer is None:
            self.flood_timer = self.server.loop.call_later(wait, self._drain)

    def _drain(self) -> None:
        """The flood timer fired: process waiting lines while tokens last."""
        self.flood_timer = None
        if self.closing:
            return
        bucket = self.bucket
        assert bucket is not None
        pending = self.pending
        now = time.monotonic()
        wall = time.time()
        self.last_rx = now  # a throttled client is busy, not idle
        while pending:
            wait = bucket.take(now)
            if wait:
                self.flood_timer = self.server.loop.call_later(wait, self._drain)
                return
            self._dispatch(pending.popleft(), wall)
            if self.closing:
                return
        self.paused = False
        assert self.transport is not None
        self.transport.resume_reading()

    def _dispatch(self, item: bytes | LineTooLong, wall: float) -> None:
        core = self.server.core
        try:
            if type(item) is bytes:
                line = decode_line(item, self.server.invalid_utf8)
                if line is None:
                    if log.isEnabledFor(_DEBUG):
                        log.debug("%s >> (invalid UTF-8) %r", self.label, item)
                    core.invalid_utf8(self.session)
                else:
                    if log.isEnabledFor(_DEBUG):
                        log.debug("%s >> %s", self.label, redact(line))
                    core.receive(self.session, line, wall)
            else:
                if log.isEnabledFor(_DEBUG):
                    log.debug("%s >> (line too long)", self.label)
                core.line_too_long(self.session)
        except Exception:
            log.exception("the core failed on input from %s", self.label)
            self._end("Internal error")

    # -- ends ----------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        """The transport ends this connection: tell the core (once), then close the socket."""
        report_end(self, self.server.core, reason)
        if self.sendq_exceeded:
            self._abort()
        else:
            self._close_transport()

    def _close_transport(self) -> None:
        """Flush what is queued, then close; abort if the peer does not take it in time."""
        self.closing = True
        if self.transport_closed:
            return
        self.flush()  # the core's last words (an ERROR line) go out before the FIN
        self.transport_closed = True
        transport = self.transport
        assert transport is not None
        transport.close()
        self.close_timer = self.server.loop.call_later(self.server.close_grace, self._abort)

    def _abort(self) -> None:
        self.closing = True
        self.transport_closed = True
        self.close_timer = None
        transport = self.transport
        if transport is not None:
            transport.abort()

    def _log_out(self, data: bytes) -> None:
        label = self.label
        for raw in data.split(b"\n"):
            if raw:
                log.debug("%s << %s", label, raw.rstrip(b"\r").decode("utf-8", "replace"))


class TcpServer(Listener[Connection]):
    """Listening sockets, client connections, connection limits and the timeout sweep.

    `start()` binds one listener per host in `config.listen.hosts` and returns the bound
    (host, port) addresses; with port 0, the first host gets a free port and the others try to
    share it. `stop_accepting()`, then `close(timeout)` ends it: it waits (bounded) for the
    connections the core has closed to flush, aborts the rest and stops the sweep.
    """

    def __init__(
        self,
        config: Config,
        core: Core,
        *,
        secure: bool = False,
        close_grace: float = CLOSE_GRACE,
        max_pending: int = MAX_PENDING_LINES,
        sweep_interval: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        port: int | None = None,
        hosts: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(config, close_grace=close_grace, sweep_interval=sweep_interval)
        self.core = core
        # A TLS listener (hubbub.tls): its own port and hosts, every connection secure.
        self.ssl_context = ssl_context
        self.port = config.listen.port if port is None else port
        self.hosts = hosts or config.listen.hosts
        self.secure = secure or ssl_context is not None
        # The core's clock-driven work (nick grace periods), if it has any.
        self.tick: Callable[[float], None] | None = getattr(core, "tick", None)
        self.max_pending = max_pending
        # Connections written to during this loop turn, and whether the flush is scheduled.
        self.dirty: list[Connection] = []
        self.flush_scheduled = False
        self._servers: list[asyncio.Server] = []

    def mark_dirty(self, conn: Connection) -> None:
        self.dirty.append(conn)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write out what every connection got this loop turn (one write per connection)."""
        self.flush_scheduled = False
        dirty = self.dirty
        self.dirty = []
        for conn in dirty:
            conn.flush()

    async def start(self) -> list[tuple[str, int]]:
        self._loop = loop = asyncio.get_running_loop()
        port = self.port
        try:
            for host in self.hosts:
                server = await self._listen(loop, host, port)
                self._servers.append(server)
                for sock in server.sockets:
                    name = sock.getsockname()
                    self.addresses.append((str(name[0]), int(name[1])))
        except BaseException:
            for server in self._servers:
                server.close()
            self._servers.clear()
            self.addresses.clear()
            raise
        self._start_sweep("hubbub-sweep")
        return list(self.addresses)

    async def _listen(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int
    ) -> asyncio.Server:
        if port == 0 and self.addresses:
            # Port 0 with several hosts: try to give them all the port the first one got.
            try:
                return await self._listen(loop, host, self.addresses[0][1])
            except OSError:
                pass
        return await loop.create_server(
            lambda: Connection(self),
            host or None,
            port,
            reuse_address=True,
            backlog=1024,
            ssl=self.ssl_context,
            ssl_handshake_timeout=self.config.timeouts.registration if self.ssl_context else None,
        )

    # -- timeouts ------------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """The timeouts (see Listener.sweep), then the core's clock-driven work."""
        super().sweep(now)
        if self.tick is not None:
            try:
                self.tick(time.time())
            except Exception:
                log.exception("the core's periodic tick failed")

    # -- shutdown ------------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        """Close the listening sockets; existing connections carry on."""
        for server in self._servers:
            server.close()
        self._servers.clear()
