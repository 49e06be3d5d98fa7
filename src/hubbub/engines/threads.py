"""The threads engine: one thread per connection, blocking sockets with a timeout, no asyncio.

Threads
-------
* One **reader thread per connection** (`ThreadConnection.serve`): admission and the core's
  `connect`, then a loop of `sock.recv` (blocking, with `RECV_TIMEOUT`; a close or the
  shutdown wakes it at once with `shutdown(SHUT_RDWR)`), `feed`, and `run_input`, which calls
  the core under the core lock.
  While the connection is throttled the thread waits for its next token instead of reading.
  While it is *held* (it sent a message to be stored when the history writer was past its
  high-water mark; see `hubbub.history.worker`) the thread waits on the writer's `room`
  instead of reading: back-pressure through TCP rather than `FAIL … TEMPORARILY_UNAVAILABLE`.
* A **writer thread per connection only while it is behind**: a core call's output is sent by
  the calling thread without blocking (`os.write` on the socket's non-blocking descriptor; a
  socket with a timeout is non-blocking underneath). Only when the kernel refuses bytes does
  the connection get a writer thread, which sends with the socket's timeout until the queue is
  empty, then ends. A slow reader costs one extra thread, never another client's time.
* One **acceptor thread per listening socket**, blocking in `accept`.
* One **housekeeping thread**: it blocks on the mailbox (worker answers, each run as a core
  call with the lock held) and, when due, runs the timeout sweep, the core's tick and history
  retention.
* Plus the history, account and registry workers of every engine.

So a server with N idle clients runs N + 4 + (listening sockets) threads, and N + W + … while
W clients are behind on output. Thread stacks are `THREAD_STACK_BYTES` (`threading.stack_size`),
set once at start: Python 3.11 frames live on the heap, so the C stack of a connection thread
stays shallow. The GIL's switch interval is raised while the engine runs
(`server.thread_switch_interval`, 50 ms): each thread waiting for the GIL wakes once per
interval, and with thousands of threads woken at once (everyone disconnecting) Python's 5 ms
turned that herd into the whole load of the machine.

The core lock
-------------
Every call into the core holds the write side of a fair readers-writers lock
(`hubbub.engines.rwlock.FairRWLock`). No IRC command runs as a reader, because none is a pure
read in this core: `ChatServer.receive` sets `server.now`, counts the command
(`counters.commands_in`, `counters.command`), raises `_dispatching`, and a query may record the
session's activity, its output cost (`Session` flood accounting) or wait on a worker
(CHATHISTORY: `Session.waiting`, `backlog`). Two "readers" running WHO at once would race on
those. The lock's read side is there for code that only reads (nothing in the engines today);
the fairness (FIFO) is what the writers need: a connection thread waiting for the core is
served in arrival order, so no thread starves under load.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from hubbub.engines.connection import READ_SIZE, EngineConnection, describe_error
from hubbub.engines.mailbox import run_call
from hubbub.engines.server import EngineServer
from hubbub.transport.connection import normal_host
from hubbub.transport.linger import reset_on_close

__all__ = ["THREAD_STACK_BYTES", "ThreadConnection", "ThreadsServer"]

log = logging.getLogger("hubbub.engines")

#: Stack size of every thread the engine starts (the smallest Linux allows is 32 KiB; 256 KiB
#: leaves room for C recursion in the regular expression, SQLite and hashing libraries).
THREAD_STACK_BYTES = 256 * 1024
#: Seconds a reader blocks in recv (or a writer in send) before it looks at its state again.
#: Long, because every wake-up of 10,000 idle threads costs the GIL: a close or the shutdown
#: wakes a blocked reader at once anyway (`shutdown(SHUT_RDWR)` on its socket).
RECV_TIMEOUT = 30.0
#: Seconds an acceptor blocks in accept before it looks whether the server is stopping (the
#: shutdown of the listening socket wakes it at once on Linux).
ACCEPT_TIMEOUT = 1.0
#: Seconds the shutdown waits for all engine threads to end, together.
JOIN_TIMEOUT = 10.0
#: Seconds a held sender waits on the history writer's `room` before it looks whether its
#: connection is closing or the server stopping (neither sets `room`).
HOLD_POLL = 0.5


class ThreadConnection(EngineConnection):
    """A client socket minded by its own thread (and a writer thread while it is behind)."""

    __slots__ = ("fd", "writer")

    server: ThreadsServer

    def __init__(self, server: ThreadsServer, sock: socket.socket, host: str, port: int) -> None:
        super().__init__(server, sock, host, port)
        self.fd = sock.fileno()
        self.writer: threading.Thread | None = None

    # -- the reader thread ----------------------------------------------------------------------

    def serve(self) -> None:
        """The connection's thread, from admission to the socket's end."""
        server = self.server
        sock = self.sock
        reason = "Client closed connection"
        try:
            if not server.connect(self):
                # Closed in order, its reason (one short line) sent: a reset on top of the
                # FIN could fail the client's connect after the fact, the reason unread.
                self._shutdown_socket()
                self.ended = True
                return
            while True:
                if self.held:
                    self._wait_for_history()
                    continue
                if self.pending and not self.closing:
                    wait = self.run_input()
                    # Not reading is the throttle. The shutdown cuts the wait short; lines
                    # still waiting then will never be answered (the core is going).
                    if wait > 0 and server.stopping.wait(wait):
                        self.pending = None
                    continue
                try:
                    data = sock.recv(READ_SIZE)
                except TimeoutError:
                    continue
                except OSError as exc:
                    reason = describe_error(exc)
                    break
                if not data:
                    break
                if not self.closing:  # after a close, input is read only to see the end
                    self.feed(data, time.monotonic())
        except Exception:
            log.exception("the threads engine failed on %s", self.label)
            reason = "Internal error"
        finally:
            with self.lock:
                self.socket_closed = True
                sock.close()
            if not self.ended:
                self.gone(reason)

    def _wait_for_history(self) -> None:
        """Back-pressure: this client sent a message while the history writer was past its
        high-water mark. Read and handle nothing more of it until the writer is down to its
        low-water mark: the kernel's buffer, then TCP's window, slow the sender meanwhile.
        Only this thread waits, holding no lock; the shutdown or a close ends the wait."""
        server = self.server
        worker = server.worker
        server.holds += 1
        stopping = server.stopping
        while (
            worker is not None
            and not worker.wait_for_room(HOLD_POLL)
            and not stopping.is_set()
            and not self.closing
        ):
            pass
        self.held = False
        self.last_rx = time.monotonic()  # it was busy, not idle

    # -- EngineConnection ----------------------------------------------------------------------

    def _send_nowait(self, data: bytes) -> int:
        # The socket has a timeout, so its descriptor is non-blocking; sock.send would wait for
        # room (up to the timeout) and a sender must never wait for a recipient.
        return os.write(self.fd, data)

    def _want_write(self) -> None:
        with self.lock:
            if self.writer is not None or self.socket_closed:
                return
            self.writer = threading.Thread(
                target=self._drain, name=f"hubbub-send-{self.port}", daemon=True
            )
            self.server.writers_started += 1
        self.writer.start()

    def _drain(self) -> None:
        """The writer thread: send with the socket's timeout until the queue is empty."""
        sock = self.sock
        finish = False
        try:
            while True:
                with self.lock:
                    out = self.out
                    if not out or self.socket_closed:
                        # Stop draining in the same breath as finding the queue empty: a flush
                        # after this sends by itself (it sees `draining` off), so no byte is
                        # left with nobody to send it.
                        self.writer = None
                        self.draining = False
                        finish = self.close_requested and not self.socket_closed
                        break
                    data = out[0] if len(out) == 1 else b"".join(out)
                    out.clear()
                try:
                    sent = sock.send(data)
                except TimeoutError:
                    sent = 0
                except OSError:
                    with self.lock:
                        self.writer = None
                        self.draining = False
                    self.abort()
                    return
                with self.lock:
                    self.queued -= sent
                    if sent < len(data) and not self.socket_closed:
                        self.out.insert(0, data[sent:])
        except Exception:
            log.exception("the writer of %s failed", self.label)
            with self.lock:
                self.writer = None
                self.draining = False
            self.abort()
            return
        if finish:
            self._shutdown_socket()

    def _shutdown_socket(self) -> None:
        # Wakes the reader thread (its recv returns b""), which closes the socket.
        with self.lock:
            if not self.socket_closed:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)

    def _abort_socket(self) -> None:
        with self.lock:
            if not self.socket_closed:
                reset_on_close(self.sock)  # the reader thread's close then resets it
        self._shutdown_socket()


class ThreadsServer(EngineServer):
    """The threads engine."""

    engine = "threads"
    shared_core = True
    holds_senders = True

    def __init__(self, config: Any, **options: Any) -> None:
        super().__init__(config, **options)
        self._acceptors: list[threading.Thread] = []
        self._housekeeper: threading.Thread | None = None
        self._readers: set[threading.Thread] = set()
        self._readers_lock = threading.Lock()
        self._old_stack: int | None = None
        self._old_switch: float | None = None
        #: Writer threads started so far (a slow reader's), for tests and measurements.
        self.writers_started = 0

    def _start_io(self) -> None:
        self._old_stack = threading.stack_size(THREAD_STACK_BYTES)
        switch = self.config.server.thread_switch_interval
        if switch > 0:
            # A thread waiting for the GIL wakes every interval to ask for it: thousands of
            # connection threads woken together (a mass disconnect) would otherwise spend the
            # machine on those wake-ups (measured: 5,000 closes in 42 s at 5 ms, 1.6 s at 50 ms).
            self._old_switch = sys.getswitchinterval()
            sys.setswitchinterval(switch)
        for sock in self.listening:
            sock.settimeout(ACCEPT_TIMEOUT)
            thread = threading.Thread(
                target=self._accept_forever, args=(sock,), name="hubbub-accept", daemon=True
            )
            self._acceptors.append(thread)
            thread.start()
        self._housekeeper = threading.Thread(
            target=self._housekeep_forever, name="hubbub-housekeeping", daemon=True
        )
        self._housekeeper.start()

    def _io_running(self) -> bool:
        return self._housekeeper is not None

    def _wake(self) -> None:
        """Nothing to do: the housekeeping thread blocks on the mailbox itself."""

    def _accept_forever(self, listener: socket.socket) -> None:
        while not self.stopping.is_set():
            try:
                sock, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self.stopping.is_set():
                    return
                log.error("accept failed: %s", exc)
                self.stopping.wait(0.1)  # e.g. out of descriptors: let some close first
                continue
            sock.settimeout(RECV_TIMEOUT)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = ThreadConnection(self, sock, normal_host(str(peer[0])), int(peer[1]))
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._readers_lock:
                self._readers.add(thread)
            try:
                thread.start()
            except RuntimeError:  # can't start new thread: the machine is out of them
                with self._readers_lock:
                    self._readers.discard(thread)
                log.error("refused %s: no thread for it", conn.label)
                sock.close()

    def _serve(self, conn: ThreadConnection) -> None:
        try:
            conn.serve()
        finally:
            with self._readers_lock:
                self._readers.discard(threading.current_thread())

    def _housekeep_forever(self) -> None:
        next_due = time.monotonic()
        while not self.stopping.is_set():
            call = self.mailbox.get(max(0.0, next_due - time.monotonic()))
            if call is not None:
                run_call(*call)
            now = time.monotonic()
            if now >= next_due:
                try:
                    next_due = self.housekeeping(now)
                except Exception:
                    log.exception("housekeeping failed")
                    next_due = now + self.sweep_interval
        # After the stop: the shutdown may still be waiting on answers (none matter now).

    def reader_threads(self) -> int:
        """Connection threads alive (for tests and measurements)."""
        with self._readers_lock:
            return len(self._readers)

    def _stop_io(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + JOIN_TIMEOUT
        with self._readers_lock:
            threads = [*self._acceptors, *self._readers]
        if self._housekeeper is not None:
            threads.append(self._housekeeper)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._old_stack is not None:
            threading.stack_size(self._old_stack)
            self._old_stack = None
        if self._old_switch is not None:
            sys.setswitchinterval(self._old_switch)
            self._old_switch = None
