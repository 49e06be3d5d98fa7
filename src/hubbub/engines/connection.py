"""One client connection for the engines without asyncio: the core's `Link`, the send queue,
the input pipeline and the end, written once for the threads, select and hybrid engines.

It keeps the asyncio transport's rules (`hubbub.transport.connection`) with a different shape:
there are no loop callbacks or timers, so input is *pulled*. The engine reads bytes when the
connection is not paused, hands them to `feed`, and calls `run_input`, which passes lines to the
core while the flood bucket has tokens and returns how long to wait before calling it again (0:
everything was handled). While lines wait, the engine reads nothing more from the socket.

Theory of operation
-------------------
* Locks. The core is shared: every call into it holds the engine's core lock
  (`EngineServer.locked`). Each connection also has a small lock of its own (`lock`) for its
  send queue, because the core may write to it from any engine thread while the connection's
  owner is sending.
* Output. `write` (the core lock is held) appends the core's bytes object to `out` and puts the
  connection on the server's dirty list once. After the core call, with the core lock released,
  the thread that made the call `flush`es every dirty connection: one non-blocking send of
  everything queued. What the kernel does not take stays queued and the connection's *owner*
  is asked to drain it (`_want_write`: a writer thread, or write interest in a selector); while
  the owner drains, nobody else sends to that socket (`draining`), so bytes never interleave.
  A sender never blocks on a slow recipient.
* The send queue is what is queued and not yet taken by the kernel, checked at each flush. Past
  `limits.sendq_bytes` the connection stops at once: "SendQ exceeded" is reported to the core
  (never from inside `write`: the flush runs after the core call) and the socket is dropped.
* Input: `feed` cuts bytes into lines (`LineReader`: 512 + 8191 bytes, longer lines become
  "line too long" for the core), `run_input` takes one flood token per line
  (`hubbub.transport.flood.TokenBucket`), decodes it by `limits.invalid_utf8`, calls the core,
  then charges the answer's cost (`Core.output_cost`). Lines beyond the bucket wait in
  `pending`; more than `max_pending` (plus a burst after a charged answer) is "Excess Flood".
* Back-pressure from the history writer (engines with `holds_senders`): when a line the core
  handled appended history (the worker's `accepted` count moved) and the worker's `room` is
  clear (its high-water mark is passed), `run_input` stops there and sets `held`; the engine
  then waits for `room` outside the core lock, reading nothing from this client meanwhile, so
  TCP slows the sender instead of the core refusing its messages. A client whose lines store
  nothing (PING, WHO, registration) is never held, so readers are not delayed by the disk.
* Acknowledgement after commit: when the core stored a message whose sender gets an
  acknowledgement (echo-message, a labelled ACK), the history service calls `wait_for_commit`
  with the record's mark (core lock held). From then on `write` keeps this connection's output
  aside (`held_out`, never seen by the owner draining `out`), in order, until the history
  writer's commit callback reaches the engine (`EngineServer.commits_done`, one posted wake-up
  at most), which moves it to `out` and flushes it. The send queue limit counts it too. A close
  from the core meanwhile waits for it like any queued output.
* Ends: the core ends a session with `close` (its last words are flushed, then the socket is
  closed; after `close_grace` seconds it is aborted by the sweep); the engine ends one with
  `end_locked` (core lock held), which calls `core.disconnect` exactly once. `gone` is the
  socket's end, reported by the owner.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import TYPE_CHECKING, Any

from hubbub.log_redaction import redact
from hubbub.protocol.framing import LineReader, LineTooLong, decode_line
from hubbub.transport.connection import format_address
from hubbub.transport.flood import TokenBucket

if TYPE_CHECKING:
    import socket

    from hubbub.engines.server import EngineServer

__all__ = ["EngineConnection", "describe_error"]

log = logging.getLogger("hubbub.net")

_DEBUG = logging.DEBUG

Item = bytes | LineTooLong

#: Bytes asked of the kernel per read.
READ_SIZE = 65536


def describe_error(exc: BaseException | None) -> str:
    """A QUIT reason for a connection the peer or the network ended (as the asyncio transport
    says it)."""
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


class EngineConnection(ABC):
    """One client socket, whatever engine minds it. Subclasses say how the socket is sent to
    without blocking, drained by its owner, and closed."""

    __slots__ = (
        "bucket",
        "close_deadline",
        "close_requested",
        "closing",
        "commit_wait",
        "connected_at",
        "core_done",
        "counted",
        "dirty",
        "draining",
        "ended",
        "held",
        "held_out",
        "held_queued",
        "host",
        "last_rx",
        "lock",
        "out",
        "paused",
        "pending",
        "ping_sent",
        "port",
        "queued",
        "reader",
        "reason",
        "sendq_exceeded",
        "server",
        "session",
        "sock",
        "socket_closed",
    )

    kind = ""

    def __init__(self, server: EngineServer, sock: socket.socket, host: str, port: int) -> None:
        self.server = server
        self.sock = sock
        self.host = host
        self.port = port
        self.session: Any = None
        self.lock = threading.Lock()
        # Bytes the kernel has not taken yet, and how many.
        self.out: list[bytes] = []
        self.queued = 0
        # On the server's dirty list (guarded by the core lock).
        self.dirty = False
        # The owner is draining `out` (a writer thread, or write interest): others don't send.
        self.draining = False
        self.reader: LineReader | None = None
        # Lines read and not yet handed to the core (None: none; an idle connection has none).
        self.pending: deque[Item] | None = None
        self.bucket: TokenBucket | None = None
        # Lines wait for flood tokens: the engine reads nothing until `run_input` says 0.
        self.paused = False
        # This client sent a message to be stored while the history writer was behind: the
        # engine handles and reads nothing more of it until the writer has room again.
        self.held = False
        # The history mark this client's output waits for (0: none; core lock), and what the
        # core wrote meanwhile (and its size), kept aside until that mark is committed.
        self.commit_wait = 0
        self.held_out: list[bytes] | None = None
        self.held_queued = 0
        # No more input processed, no more output accepted.
        self.closing = False
        # Close the socket once `out` has drained (by `close_deadline` at the latest).
        self.close_requested = False
        self.close_deadline = 0.0
        self.core_done = False
        self.sendq_exceeded = False
        self.counted = False
        # The socket was closed (guarded by `lock`: a closed descriptor number can be reused).
        self.socket_closed = False
        # `gone` ran.
        self.ended = False
        self.reason = ""
        now = time.monotonic()
        self.connected_at = now
        self.last_rx = now
        self.ping_sent: float | None = None

    @property
    def label(self) -> str:
        return self.kind + format_address(self.host, self.port)

    # -- Link (called by the core, with the core lock held) ------------------------------------

    def write(self, data: bytes) -> None:
        if self.closing:
            return
        if self.commit_wait:  # after an acknowledgement still waiting for the disk
            held = self.held_out
            if held is None:
                self.held_out = [data]
            else:
                held.append(data)
            self.held_queued += len(data)
        else:
            with self.lock:
                self.out.append(data)
                self.queued += len(data)
        if not self.dirty:
            self.dirty = True
            self.server.dirty.append(self)

    def close(self) -> None:
        self.core_done = True
        if not self.reason:
            self.reason = "closed by the server"
        self._close_after_flush()

    def wait_for_commit(self, mark: int) -> None:
        """Keep everything written from now on until the history writer has committed `mark`
        (core lock held; see the module docstring)."""
        if mark > self.commit_wait and not self.closing:
            waiting = self.commit_wait
            self.commit_wait = mark
            if not waiting:
                self.server.wait_commit(self)

    def committed(self, mark: int) -> bool:
        """The writer has committed up to `mark` (core lock held): hand what was kept aside to
        the flush after this core call (True), or keep waiting for a later mark (False)."""
        if self.commit_wait > mark:
            return False
        self.commit_wait = 0
        held = self.held_out
        self.held_out = None
        self.held_queued = 0
        if held:  # (the flush drops it if the socket is gone meanwhile)
            with self.lock:
                self.out.extend(held)
                self.queued += sum(map(len, held))
        if not self.dirty:
            self.dirty = True
            self.server.dirty.append(self)
        return True

    # -- output ----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send what the core wrote, without blocking; leave the rest to the owner. Called with
        the core lock released."""
        exceeded = want = finish = False
        with self.lock:
            if self.socket_closed or self.sendq_exceeded:
                self.out.clear()
                self.queued = 0
                return
            if self.out and not self.draining:
                self._send_some()
            # Output kept for a commit counts toward the send queue too.
            if self.queued + self.held_queued > self.server.sendq_bytes:
                self.sendq_exceeded = True
                self.out.clear()
                self.queued = 0
                exceeded = True
            elif self.queued:
                if not self.draining:
                    self.draining = want = True
            elif self.close_requested and not self.draining and not self.commit_wait:
                finish = True  # (a close waits for the output kept for a commit)
        if exceeded:
            self.server.sendq_drops += 1
            self.closing = True
            self.server.end(self, "SendQ exceeded")
        elif want:
            self._want_write()
        elif finish:
            self._shutdown_socket()

    def _send_some(self) -> bool:
        """One non-blocking send of everything queued (`lock` held); True if all went."""
        out = self.out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if log.isEnabledFor(_DEBUG):  # once per send, not per message
            self._log_out(data)
        try:
            sent = self._send_nowait(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            # The peer is gone; the read side will see it and end the connection.
            self.queued = 0
            return True
        self.queued -= sent
        if sent < len(data):
            out.append(data[sent:])
            return False
        return True

    def drained(self) -> bool:
        """The owner's part: after it sent what it could (`lock` released), whether the queue
        is empty; then draining stops and a requested close goes ahead."""
        with self.lock:
            if self.queued and not self.socket_closed:
                return False
            self.draining = False
            # A close waits for output kept for a commit (its flush then finishes it).
            finish = self.close_requested and not self.commit_wait
        if finish:
            self._shutdown_socket()
        return True

    def _log_out(self, data: bytes) -> None:
        label = self.label
        for raw in data.split(b"\n"):
            if raw:
                log.debug("%s << %s", label, raw.rstrip(b"\r").decode("utf-8", "replace"))

    @abstractmethod
    def _send_nowait(self, data: bytes) -> int:
        """Hand `data` to the kernel without waiting; bytes taken (raises BlockingIOError or
        returns less when the socket buffer is full)."""

    @abstractmethod
    def _want_write(self) -> None:
        """Output is left over: the owner must drain it (any thread may call this)."""

    @abstractmethod
    def _shutdown_socket(self) -> None:
        """Everything was flushed after a close: end the socket (any thread may call this)."""

    @abstractmethod
    def _abort_socket(self) -> None:
        """Drop the socket now, whatever is queued (any thread may call this)."""

    # -- input -----------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Bytes arrived: cut them into lines, waiting for `run_input`."""
        self.last_rx = now
        self.ping_sent = None
        reader = self.reader
        if reader is None:
            reader = self.reader = LineReader()
        lines = reader.feed(data)
        if not reader.pending and not reader.discarding:
            self.reader = None  # an idle client holds no reader (none skipping a flood's rest)
        if lines:
            if self.pending is None:
                self.pending = deque(lines)
            else:
                self.pending.extend(lines)

    def run_input(self) -> float:
        """Hand waiting lines to the core while flood tokens last. Returns the seconds to wait
        before calling again (0.0: nothing waits, and no debt)."""
        server = self.server
        now = time.monotonic()
        wall = time.time()
        wait = 0.0
        if self.paused:
            self.last_rx = now  # a throttled client is busy, not idle
        worker = server.worker if server.holds_senders else None
        with server.locked():
            pending = self.pending
            flood = server.flood
            # The history appended so far: a line after which this count moved while the
            # writer has no room was a message stored, and its sender is held there.
            mark = worker.accepted if worker is not None else 0
            if flood is None:
                while pending and not self.closing:
                    self._dispatch(pending.popleft(), wall)
                    if worker is not None and not worker.room.is_set() and worker.accepted != mark:
                        self.held = True
                        break
            elif pending:
                bucket = self.bucket
                if bucket is None:  # made at the first line: a silent connection has none
                    bucket = self.bucket = TokenBucket(flood[0], flood[1])
                take = bucket.take
                while pending and not self.closing:
                    wait = take(now)
                    if wait:
                        break
                    self._dispatch(pending.popleft(), wall)
                    if worker is not None and not worker.room.is_set() and worker.accepted != mark:
                        self.held = True
                        break
                if self.closing:
                    wait = 0.0
                elif wait:
                    if len(pending) > server.max_pending + bucket.excess_allowance():
                        self.end_locked("Excess Flood")
                        wait = 0.0
                elif bucket.tokens < 0:  # a big answer left a debt: read nothing till paid
                    wait = bucket.wait(now)
            if self.closing or not pending:
                self.pending = None
            dirty = server.take_dirty()
        server.flush_all(dirty)
        if wait > 0 and not self.paused:
            server.throttles += 1
        self.paused = wait > 0
        return wait

    def _dispatch(self, item: Item, wall: float) -> None:
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
                    cost = core.output_cost(self.session)
                    if cost and self.bucket is not None:
                        self.bucket.charge(cost)
            else:
                if log.isEnabledFor(_DEBUG):
                    log.debug("%s >> (line too long)", self.label)
                core.line_too_long(self.session)
        except Exception:
            log.exception("the core failed on input from %s", self.label)
            self.end_locked("Internal error")

    # -- ends ------------------------------------------------------------------------------------

    def end_locked(self, reason: str) -> None:
        """The engine ends this connection (core lock held): tell the core once, then close."""
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
            self.abort()
        else:
            self._close_after_flush()

    def _close_after_flush(self) -> None:
        self.closing = True
        if self.sendq_exceeded:
            self.abort()
            return
        if self.close_requested:
            return
        self.close_requested = True
        self.close_deadline = time.monotonic() + self.server.close_grace
        if not self.dirty:  # the flush after this core call closes it (once drained)
            self.dirty = True
            self.server.dirty.append(self)

    def abort(self) -> None:
        """Drop the socket now (from any thread)."""
        self.closing = True
        with self.lock:
            self.out.clear()
            self.queued = 0
        self._abort_socket()

    def gone(self, reason: str) -> None:
        """The socket is closed (the owner says so, once): forget it, report it if needed."""
        if self.ended:
            return
        self.ended = True
        self.closing = True
        with self.lock:
            self.out.clear()
            self.queued = 0
        self.pending = None
        if not self.core_done:
            self.server.end(self, reason)
        self.server.forget(self)
        if self.counted:
            log.info("disconnect %s (%s)", self.label, self.reason or reason)
