"""One client connection, whatever carries its bytes (TCP, TLS or WebSocket), written once.

A `Connection` is the core's `Link` for one client and the transport's state for it. This
module holds everything the transports share; `hubbub.transport.tcp` and
`hubbub.transport.websocket` subclass it with only what differs: how bytes arrive (a stream cut
into lines, or WebSocket messages), how output is framed, and how a close is said.

Theory of operation
-------------------
* Output: `write` only appends the core's bytes object to the connection's `out` list (created
  when first needed) and, the first time in a loop turn, puts the connection on its listener's
  dirty list. One callback per loop turn (`Listener.flush`) then frames each dirty
  connection's bytes (`_frame`: nothing for TCP, WebSocket frames built once per payload for
  every WebSocket recipient) and hands them to `transport.write` in one piece. A member of a
  busy room costs one system call per loop turn and no task wake-up.
* The send queue is the transport's buffer, checked after each flush. Past
  `limits.sendq_bytes` the connection stops writing at once and, on the next loop turn (a
  `Link.write` must never call back into the core, which may be in the middle of a fan-out),
  tells the core "SendQ exceeded" and aborts the socket. Nobody else waits for it.
* Input: the subclass turns bytes into items (a line's bytes, or `LINE_TOO_LONG`) and calls
  `_received`. Each item costs one token from the connection's `TokenBucket`; an item that finds
  no token waits, with every item after it, in a small deque (created when first needed), and
  reading pauses (`_pause_reading`) until the deque has drained. More than `max_pending`
  waiting items is "Excess Flood". After each item the core says what its answer cost
  (`Core.output_cost`: big LIST, WHO, NAMES, CHATHISTORY answers cost more than their line) and
  that is charged to the bucket, which may go into debt: reading then pauses until the debt is
  paid, so a client asking for big answers is read at the pace of their size. Debt is waiting
  time, not waiting lines: it never counts toward "Excess Flood".
* Back-pressure from the history writer: when a line the core handled stored a message (the
  writer's `accepted` count moved) while the writer is past its high-water mark (its `room` is
  clear; `Listener.history_room`), input stops after that line: the rest waits in the deque,
  reading pauses, and the connection is `held` until the listener's `room` callback releases it
  (`release`), when the waiting items run as after a throttle. TCP slows the sender meanwhile
  instead of the core refusing its messages; clients that store nothing are never held.
* Acknowledgement after commit: when the core has stored a message whose sender gets an
  acknowledgement (its echo, or a labelled ACK), it says so through the history service, which
  calls `wait_for_commit(mark)` with the record's mark. Until the history writer has committed
  that mark, nothing of this connection's output is written (`commit_wait`): the echo and all
  that follows it stay in the out list, in order, and the listener's commit wake-up
  (`Listener.commit_waiting`) flushes it; room fan-out's shared flush sets such outboxes aside
  (`Listener.set_aside_waiting`: one test per group while nobody waits). Other members got the
  message meanwhile: they are not acknowledged anything. A `close` from the core waits for that
  flush too (`close_pending`). The send queue limit applies to what piles up meanwhile, as to
  the transport's buffer.
* Ends: the core ends a session by calling `Link.close` (the connection then never reports back);
  the transport ends one with `_end`, which calls `core.disconnect` exactly once (peer closed,
  socket error, timeout, send queue, flood, or an exception raised by the core). `closing`
  means no more input is processed and no more output written.
* Timeouts: the listener's one sweep reads `connected_at`, `last_rx` and `ping_sent`.

Memory: every attribute is a slot; the out list, the flood deque, timers and the flood bucket
exist only while needed; the label (`host:port`) is built when logged; settings live on the
listener. An idle registered connection holds a handful of references and two floats.

Concurrency: everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hubbub.core.ports import Link
from hubbub.log_redaction import redact
from hubbub.protocol.framing import LineTooLong, decode_line
from hubbub.transport.flood import TokenBucket
from hubbub.transport.linger import reset_on_close

if TYPE_CHECKING:
    from hubbub.transport.listener import Listener

__all__ = ["Connection", "Core", "Outbox", "format_address", "normal_host"]

log = logging.getLogger("hubbub.net")

_DEBUG = logging.DEBUG

Item = bytes | LineTooLong


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

    def output_cost(self, session: Any) -> float:
        """Flood tokens owed for what `session` was answered since the last call (resets)."""
        ...


def format_address(host: str, port: int) -> str:
    """`host:port`, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normal_host(host: str) -> str:
    """The address a client is counted and known by: an IPv4 client on a dual-stack socket
    counts as its IPv4 address. Interned, so that the connections from one address (and the
    core's sessions for them) share one string."""
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return sys.intern(host)


class Outbox(list[bytes]):
    """A connection's out list once room fan-out writes it by `append` (`Connection.batch`):
    kept (emptied at each flush) rather than made per loop turn, so the bound append stays
    valid. Its `append` is the list's own: no Python frame per recipient of a room message."""

    __slots__ = ()


class Connection(ABC):
    """One client: the core's `Link` to it, its send queue, input pipeline and end.

    Subclasses provide `_pause_reading`, `_resume_reading`, `_close_transport` and, when the
    wire needs framing, `_frame`; they set `transport` once the socket is there.
    """

    __slots__ = (
        "bucket",
        "close_pending",
        "close_timer",
        "closing",
        "commit_wait",
        "connected_at",
        "core_done",
        "counted",
        "flood_timer",
        "held",
        "host",
        "last_rx",
        "out",
        "paused",
        "pending",
        "ping_sent",
        "port",
        "reason",
        "sendq_exceeded",
        "server",
        "session",
        "transport",
        "transport_closed",
    )

    #: Said before the address in log lines ("ws " for WebSocket).
    kind = ""
    #: Whether output needs `_frame` (WebSocket); otherwise the lines go out as they are, with
    #: no call per connection per flush.
    framed = False

    server: Listener[Any]
    transport: asyncio.Transport | None

    def __init__(self, server: Listener[Any]) -> None:
        self.server = server
        self.transport = None
        self.session: Any = None
        self.host = ""
        self.port = 0
        # Bytes the core wrote this loop turn (None: nothing), written out by flush.
        self.out: list[bytes] | None = None
        # Items waiting for a flood token (None: none ever waited).
        self.pending: deque[Item] | None = None
        self.paused = False
        # Held by the history writer's back-pressure (see the module docstring).
        self.held = False
        # The history mark this connection's output waits for (0: none), and whether the core
        # closed it meanwhile (the close then follows the flush).
        self.commit_wait = 0
        self.close_pending = False
        self.bucket: TokenBucket | None = None
        self.flood_timer: asyncio.TimerHandle | None = None
        self.close_timer: asyncio.TimerHandle | None = None
        # No more input processed, no more output written.
        self.closing = False
        # The socket's close (or abort) was started.
        self.transport_closed = False
        # The core no longer knows this session: it called close(), or we called disconnect().
        self.core_done = False
        self.sendq_exceeded = False
        self.counted = False
        self.reason = ""
        now = time.monotonic()
        self.connected_at = now
        self.last_rx = now
        self.ping_sent: float | None = None

    @property
    def label(self) -> str:
        """How log lines name this connection (built only when something is logged)."""
        return self.kind + format_address(self.host, self.port)

    # -- Link ----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        # Nothing here but the append. The send queue is checked at flush; between two
        # flushes the out list holds at most one loop turn's output, which the input side
        # bounds. (A plain out list is never empty; an empty Outbox is not marked yet.)
        if self.closing:
            return
        out = self.out
        if out is None:
            self.out = [data]
            self.server.mark_dirty(self)
        else:
            if not out:
                self.server.mark_dirty(self)
            out.append(data)

    def batch(self) -> tuple[Callable[[bytes], None], Callable[[list[Any]], None]]:
        """For room fan-out (hubbub.core.ports.BatchLink): the C-level `append` of this
        connection's `Outbox`, which then stays for the connection's life, and the listener's
        `touched`, which the core calls once per fan-out with the connections it appended to."""
        out = self.out
        if type(out) is not Outbox:
            box = Outbox()
            if out:  # already marked dirty: flushed this turn, in order
                box.extend(out)
            self.out = out = box
        return out.append, self.server.touched

    def close(self) -> None:
        self.core_done = True
        if not self.reason:
            self.reason = "closed by the server"
        if self.commit_wait and not self.sendq_exceeded:
            # Its last words follow an acknowledgement still waiting for the disk.
            self.close_pending = True
            return
        if self.sendq_exceeded:
            self._abort()
        else:
            self._close_transport()

    def wait_for_commit(self, mark: int) -> None:
        """Write nothing more until the history writer has committed `mark` (see the module
        docstring); the listener lets the output go."""
        if mark > self.commit_wait and not self.closing:
            waiting = self.commit_wait
            self.commit_wait = mark
            if not waiting:
                self.server.wait_commit(self)

    def committed(self, mark: int) -> bool:
        """The history writer has committed up to `mark`: write out what waited for it (True),
        or keep waiting for a later one (False). On the loop, from the listener."""
        if self.commit_wait > mark:
            return False
        self.commit_wait = 0
        self.flush_out(log.isEnabledFor(_DEBUG))
        if self.close_pending:
            self.close_pending = False
            self.close()
        return True

    # -- output --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand everything written since the last flush to the transport, in one piece."""
        self.flush_out(log.isEnabledFor(_DEBUG))

    def flush_out(self, debug: bool) -> None:
        """`flush`, with whether output is logged (DEBUG) asked once by the caller: the
        listener flushes every member of a busy room each loop turn."""
        out = self.out
        if not out:  # None, or an empty Outbox
            return
        transport = self.transport
        if transport is None or self.sendq_exceeded or transport.is_closing():
            self._drop_output()
            return
        if self.commit_wait:  # an acknowledgement waits for the disk: keep it all, in order
            if sum(map(len, out)) + transport.get_write_buffer_size() > self.server.sendq_bytes:
                self._sendq_exceeded()
            return
        if debug:
            self._log_out(out)
        payload = self._frame(out) if self.framed else b"".join(out)  # lone bytes: itself
        if type(out) is Outbox:  # kept: fan-out groups hold its append
            out.clear()
        else:
            self.out = None
        transport.write(payload)
        if transport.get_write_buffer_size() > self.server.sendq_bytes:
            self._sendq_exceeded()

    def _drop_output(self) -> None:
        """Forget what was written and not flushed (an Outbox stays, empty: fan-out groups
        may still append to it until the core has removed this connection from its rooms)."""
        out = self.out
        if type(out) is Outbox:
            out.clear()
        else:
            self.out = None

    def _frame(self, out: list[bytes]) -> bytes:
        """The bytes on the wire for what the core wrote (TCP: the lines as they are; `join`
        returns a lone bytes object itself)."""
        return b"".join(out)

    def _sendq_exceeded(self) -> None:
        # Stop now; tell the core on the next loop turn (never from inside write).
        self.closing = True
        self.sendq_exceeded = True
        self._drop_output()
        self.server.sendq_drops += 1
        self.server.loop.call_soon(self._end, "SendQ exceeded")

    def _log_out(self, out: list[bytes]) -> None:
        label = self.label
        for data in out:
            for raw in data.split(b"\n"):
                if raw:
                    log.debug("%s << %s", label, raw.rstrip(b"\r").decode("utf-8", "replace"))

    # -- input ---------------------------------------------------------------------------------

    def _received(self, items: list[Item], now: float) -> None:
        """New input: hand it to the core as far as the flood bucket allows."""
        self.last_rx = now
        self.ping_sent = None
        pending = self.pending
        if self.held:  # reading was paused: at most what was already on its way
            if pending is None:
                self.pending = deque(items)
            else:
                pending.extend(items)
            return
        if pending:
            pending.extend(items)
            bucket = self.bucket
            allowance = bucket.excess_allowance() if bucket is not None else 0
            if len(pending) > self.server.max_pending + allowance:
                self._end("Excess Flood")
            return
        self._run(items, now)

    def _run(self, items: list[Item], now: float) -> None:
        wall = time.time()
        flood = self.server.flood
        # The records handed to the history writer so far: a line after which this count moved
        # while the writer has no room stored a message (all of this runs on the loop: nobody
        # else stored meanwhile), and its sender is held there.
        history = self.server.history_room
        mark = history.accepted if history is not None else 0
        if flood is None:
            for index, item in enumerate(items):
                self._dispatch(item, wall)
                if self.closing:
                    return
                if history is not None and not history.room.is_set() and history.accepted != mark:
                    self._hold(items[index + 1 :])
                    return
            return
        bucket = self.bucket
        if bucket is None:  # made at the first line: a connection that never speaks has none
            bucket = self.bucket = TokenBucket(flood[0], flood[1])
        take = bucket.take
        for index, item in enumerate(items):
            wait = take(now)
            if wait:
                pending = self.pending
                if pending is None:
                    pending = self.pending = deque()
                pending.extend(items[index:])
                if len(pending) > self.server.max_pending + bucket.excess_allowance():
                    self._end("Excess Flood")
                    return
                self._throttle(wait)
                return
            self._dispatch(item, wall)
            if self.closing:
                return
            if history is not None and not history.room.is_set() and history.accepted != mark:
                self._hold(items[index + 1 :])
                return
        self._pause_for_debt(bucket, now)

    def _hold(self, rest: list[Item]) -> None:
        """Stop after this line: keep the rest, pause reading, wait for the writer's room."""
        self.held = True
        if rest:
            pending = self.pending
            if pending is None:
                self.pending = deque(rest)
            else:
                pending.extendleft(reversed(rest))
        if not self.paused:  # (a throttled client's reading is paused already)
            self._pause_reading()
        self.server.hold(self)

    def release(self) -> None:
        """The history writer has room again (the listener says so, on the loop): handle what
        waited, as after a throttle, and read again."""
        if not self.held:
            return
        self.held = False
        if self.closing or self.flood_timer is not None:
            return
        self._drain()

    def _pause_for_debt(self, bucket: TokenBucket, now: float) -> None:
        """Every item was handled, but a big answer left the bucket without a token: read
        nothing more until one exists (the client is paced by the size of its answers)."""
        if bucket.tokens < 0:
            self._throttle(bucket.wait(now))

    def _throttle(self, wait: float) -> None:
        if not self.paused:
            self.paused = True
            self.server.throttles += 1
            self._pause_reading()
        if self.flood_timer is None:
            self.flood_timer = self.server.loop.call_later(wait, self._drain)

    def _drain(self) -> None:
        """The flood timer fired, or a held client was released: process waiting items while
        tokens last (and the history writer has room)."""
        self.flood_timer = None
        if self.closing or self.held:
            return
        bucket = self.bucket
        pending = self.pending
        now = time.monotonic()
        wall = time.time()
        self.last_rx = now  # a throttled or held client is busy, not idle
        history = self.server.history_room
        mark = history.accepted if history is not None else 0
        if bucket is not None and self.server.flood is not None and pending:
            take = bucket.take
            while pending:
                wait = take(now)
                if wait:
                    self.flood_timer = self.server.loop.call_later(wait, self._drain)
                    return
                self._dispatch(pending.popleft(), wall)
                if self.closing:
                    return
                if history is not None and not history.room.is_set() and history.accepted != mark:
                    self._hold([])
                    return
            if bucket.tokens < 0:  # the last one's answer left a debt: stay paused till paid
                self.pending = None
                self.flood_timer = self.server.loop.call_later(bucket.wait(now), self._drain)
                return
        elif pending:  # flood control off (or switched off by a rehash): the rest goes through
            while pending and not self.closing:
                self._dispatch(pending.popleft(), wall)
                if history is not None and not history.room.is_set() and history.accepted != mark:
                    self._hold([])
                    return
        self.pending = None
        self.paused = False
        self._resume_reading()

    def _decode(self, raw: bytes) -> str | None:
        """A line's text, by `limits.invalid_utf8` (None: rejected)."""
        return decode_line(raw, self.server.invalid_utf8)

    def _dispatch(self, item: Item, wall: float) -> None:
        core = self.server.core
        try:
            if type(item) is bytes:
                try:  # valid UTF-8 decodes the same for every transport and policy
                    line: str | None = item.decode()
                except UnicodeDecodeError:
                    line = self._decode(item)
                if line is None:
                    if log.isEnabledFor(_DEBUG):
                        log.debug("%s >> (invalid UTF-8) %r", self.label, item)
                    core.invalid_utf8(self.session)
                else:
                    if log.isEnabledFor(_DEBUG):
                        log.debug("%s >> %s", self.label, redact(line))
                    core.receive(self.session, line, wall)
                    cost = core.output_cost(self.session)
                    if cost:
                        bucket = self.bucket
                        if bucket is not None:
                            bucket.charge(cost)
            else:
                if log.isEnabledFor(_DEBUG):
                    log.debug("%s >> (line too long)", self.label)
                core.line_too_long(self.session)
        except Exception:
            log.exception("the core failed on input from %s", self.label)
            self._end("Internal error")

    @abstractmethod
    def _pause_reading(self) -> None:
        """Stop taking input from the peer (the client is throttled)."""

    @abstractmethod
    def _resume_reading(self) -> None:
        """Take input again (the throttled lines have had their tokens)."""

    # -- ends ----------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        """The transport ends this connection: tell the core (once), then close the socket."""
        if not self.reason:
            self.reason = reason
        if not self.core_done:
            self.core_done = True
            session = self.session
            if session is not None:
                try:
                    self.server.core.disconnect(session, reason, time.time())
                except Exception:
                    log.exception("the core failed to disconnect %s", self.label)
        if self.sendq_exceeded:
            self._abort()
        else:
            self._close_transport()

    @abstractmethod
    def _close_transport(self) -> None:
        """Flush what is queued, say goodbye the transport's way, abort if it takes too long."""

    def _arm_close_timer(self) -> None:
        self.close_timer = self.server.loop.call_later(self.server.close_grace, self._abort)

    def _abort(self) -> None:
        self.closing = True
        self.transport_closed = True
        timer = self.close_timer
        if timer is not None:
            timer.cancel()
            self.close_timer = None
        self._drop_output()
        transport = self.transport
        if transport is not None:
            reset_on_close(transport.get_extra_info("socket"))
            transport.abort()

    def _gone(self, reason: str) -> None:
        """The socket is gone (both directions): stop timers, forget, report if needed."""
        self.closing = True
        self.transport_closed = True
        if self.flood_timer is not None:
            self.flood_timer.cancel()
            self.flood_timer = None
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        self.pending = None
        self._drop_output()
        self.server._forget(self)
        if not self.core_done:
            self._end(reason)
        if self.counted:
            log.info("disconnect %s (%s)", self.label, self.reason or reason)
