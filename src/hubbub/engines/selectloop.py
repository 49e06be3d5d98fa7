"""The select engine: one thread, one `selectors` loop (epoll on Linux), non-blocking sockets.

`SelectLoop` is one readiness loop over the listening sockets (when it owns them), its share of
the client sockets, and a wake-up socketpair. One loop iteration:

1. `selector.select(timeout)`, the timeout being the nearest deadline: a throttled
   connection's next flood token, or the periodic housekeeping (timeouts, tick, retention).
2. For each ready socket: accept (up to a batch), read once (`recv`, then `feed` and
   `run_input` into the core) or drain the send queue (write interest is asked for only while a
   connection has bytes the kernel refused).
3. The wake-up pair's byte means the mailbox has something: worker answers (each a core call)
   and, in the hybrid engine, requests from other loops (adopt a connection, want write, close).
4. Due flood timers, then housekeeping when due.

A throttled connection is simply not watched for reading until its token exists (a heap of
deadlines): the kernel's buffer, then the client's TCP window, holds what it sends meanwhile.
A connection *held* by the history writer's back-pressure (it sent a message to be stored while
the writer was past its high-water mark; `hubbub.engines.connection`) is not watched either,
until the writer's `room` callback posts the release to the loop (`SelectLoop.hold`).
Output is the shared rule (`hubbub.engines.connection`): the core call's writes are sent at once
without blocking by whoever made the call, and only what the kernel refuses waits for this loop.

`SelectServer` is the engine: one loop on one thread, which also does housekeeping and takes the
worker answers, so the core needs no lock at all (`shared_core = False`). The hybrid engine
(`hubbub.engines.hybrid`) runs several of these loops over one core.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from hubbub.engines.connection import READ_SIZE, EngineConnection, describe_error
from hubbub.engines.mailbox import Mailbox, run_call
from hubbub.engines.server import EngineServer
from hubbub.transport.connection import normal_host
from hubbub.transport.linger import reset_on_close

__all__ = ["SelectConnection", "SelectLoop", "SelectServer"]

log = logging.getLogger("hubbub.engines")

#: Connections accepted per readiness event at most (others wait for the next iteration).
ACCEPT_BATCH = 64

T = TypeVar("T")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_WAKE = object()
#: The end reason of a socket dropped with whatever was queued (reset, not flushed).
ABORTED = "aborted"
_LISTEN = object()


class SelectConnection(EngineConnection):
    """A client socket owned by one `SelectLoop`."""

    __slots__ = ("events", "loop")

    def __init__(
        self, server: EngineServer, sock: socket.socket, host: str, port: int, loop: SelectLoop
    ) -> None:
        super().__init__(server, sock, host, port)
        self.loop = loop
        # The events this socket is registered for in the loop's selector (0: not registered).
        self.events = 0

    # -- what the owner loop does ---------------------------------------------------------------

    def readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.close_socket(describe_error(exc))
            return
        if not data:
            self.close_socket("Client closed connection")
            return
        if self.closing:
            return
        self.feed(data, time.monotonic())
        self.run_and_watch()

    def run_and_watch(self) -> None:
        """Run waiting input; throttled: stop reading until the next token (a loop timer);
        held (history back-pressure): stop reading until the writer has room (`SelectLoop.hold`)."""
        if self.held:  # a flood timer while held: the release runs the input
            return
        if not self.pending:
            if self.paused:
                self.paused = False
                self.update_events()
            return
        wait = self.run_input()
        if self.ended:
            return
        if self.held:
            self.loop.hold(self)
        elif wait > 0:
            self.loop.add_timer(time.monotonic() + wait, self)
        self.update_events()

    def writable(self) -> None:
        with self.lock:
            if not self.socket_closed:
                self._send_some()
        if self.drained():
            self.update_events()

    def update_events(self) -> None:
        """Register for what this connection needs now (owner thread only)."""
        if self.socket_closed:
            return
        wanted = 0 if self.paused or self.held or self.closing else _READ
        if self.draining:
            wanted |= _WRITE
        if wanted == self.events:
            return
        selector = self.loop.selector
        try:
            if self.events == 0:
                selector.register(self.sock, wanted, self)
            elif wanted == 0:
                selector.unregister(self.sock)
            else:
                selector.modify(self.sock, wanted, self)
        except (KeyError, ValueError, OSError):
            log.debug("selector update failed for %s", self.label, exc_info=True)
        self.events = wanted

    def close_socket(self, reason: str) -> None:
        """Close the socket and report the end (owner thread only)."""
        with self.lock:
            if self.socket_closed:
                closed_now = False
            else:
                self.socket_closed = closed_now = True
        if closed_now:
            self.loop.assigned -= 1
            if self.events:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self.loop.selector.unregister(self.sock)
                self.events = 0
            if reason == ABORTED:
                reset_on_close(self.sock)
            self.sock.close()
        self.gone(reason)

    # -- EngineConnection ----------------------------------------------------------------------

    def _send_nowait(self, data: bytes) -> int:
        return self.sock.send(data)

    def _want_write(self) -> None:
        self.loop.run_here(self.update_events)

    def _shutdown_socket(self) -> None:
        self.loop.run_here(self.close_socket, "closed")

    def _abort_socket(self) -> None:
        self.loop.run_here(self.close_socket, ABORTED)


class SelectLoop:
    """One readiness loop: a selector, a wake-up pair, its connections' timers, a mailbox."""

    def __init__(self, server: SelectServer, index: int) -> None:
        self.server = server
        self.index = index
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, _READ, _WAKE)
        # Requests from other threads for this loop (hybrid: other loops; all: the workers).
        self.inbox = Mailbox(self.wake)
        # Throttled connections' next token: (deadline, sequence, connection).
        self._timers: list[tuple[float, int, SelectConnection]] = []
        self._sequence = itertools.count()
        # Connections given to this loop and not yet closed (balances the hybrid's loops).
        self.assigned = 0
        # Connections held until the history writer has room again (`hold`).
        self._held: list[SelectConnection] = []
        self.thread: threading.Thread | None = None
        self.thread_id = 0
        self.running = False
        #: Whether this loop runs the server's housekeeping and its mailbox (loop 0).
        self.housekeeper = index == 0

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def run_here(self, fn: Callable[..., object], *args: Any) -> None:
        """Run `fn(*args)` now if this is the loop's thread, else post it to the loop."""
        if threading.get_ident() == self.thread_id or not self.running:
            fn(*args)
        else:
            self.inbox.call_soon_threadsafe(fn, *args)

    def add_timer(self, deadline: float, conn: SelectConnection) -> None:
        heapq.heappush(self._timers, (deadline, next(self._sequence), conn))

    def hold(self, conn: SelectConnection) -> None:
        """`conn` sent a message while the history writer was past its high-water mark: it is
        not read (see `update_events`) until the writer is down to its low-water mark. The
        loop itself never waits: the worker's callback posts `_release_held` to it."""
        self.server.holds += 1
        self._held.append(conn)
        worker = self.server.worker
        if len(self._held) == 1 and worker is not None:
            worker.when_room(self._room_again)

    def _room_again(self) -> None:
        # On the history thread (or this loop's, if the writer already had room): always
        # posted, never run here, so a release never runs inside the hold that asked for it,
        # nor on the history thread once the loop has stopped (a closed inbox drops it).
        self.inbox.call_soon_threadsafe(self._release_held)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        now = time.monotonic()
        for conn in held:
            conn.held = False
            if conn.ended or conn.closing:
                continue
            conn.last_rx = now  # it was busy, not idle
            conn.run_and_watch()  # what it sent meanwhile; it may be held again
            conn.update_events()

    def listen_on(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.selector.register(sock, _READ, _LISTEN)

    def adopt(self, conn: SelectConnection) -> None:
        """A connection accepted by another loop is now this loop's (its thread only)."""
        if not conn.ended:
            conn.update_events()
            if conn.close_requested or conn.draining:
                conn.flush()

    def start(self) -> None:
        self.running = True
        self.thread = threading.Thread(
            target=self.run, name=f"hubbub-{self.server.engine}-{self.index}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.running = False
        self.wake()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(10)
        for key in list(self.selector.get_map().values()):
            if isinstance(key.data, SelectConnection):
                key.data.close_socket("Server shutting down")
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self.inbox.close()

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> None:
        self.thread_id = threading.get_ident()
        server = self.server
        selector = self.selector
        next_housekeeping = time.monotonic()
        while self.running:
            now = time.monotonic()
            deadline = next_housekeeping if self.housekeeper else now + 1.0
            if self._timers:
                deadline = min(deadline, self._timers[0][0])
            try:
                events = selector.select(max(0.0, deadline - now))
            except OSError:  # the selector was closed under us at shutdown
                if not self.running:
                    return
                raise
            for key, mask in events:
                data = key.data
                try:
                    if data is _WAKE:
                        self._take_mail()
                    elif data is _LISTEN:
                        self._accept(key.fileobj)  # type: ignore[arg-type]
                    else:
                        if mask & _WRITE:
                            data.writable()
                        if mask & _READ and not data.ended:
                            data.readable()
                except Exception:
                    log.exception("the %s engine failed on a socket event", server.engine)
            now = time.monotonic()
            timers = self._timers
            while timers and timers[0][0] <= now:
                _, _, conn = heapq.heappop(timers)
                if not conn.ended:
                    conn.run_and_watch()
            if self.housekeeper and now >= next_housekeeping:
                try:
                    next_housekeeping = server.housekeeping(now)
                except Exception:
                    log.exception("housekeeping failed")
                    next_housekeeping = now + server.sweep_interval

    def _take_mail(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass
        for callback, args in self.inbox.take_all():
            run_call(callback, args)
        if self.housekeeper:
            self.server.run_mail()

    def _accept(self, listener: socket.socket) -> None:
        server = self.server
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if server.stopping.is_set():
                    return
                log.error("accept failed: %s", exc)
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            owner = server.pick_loop()
            conn = SelectConnection(server, sock, normal_host(str(peer[0])), int(peer[1]), owner)
            if not server.connect(conn):
                with conn.lock:
                    closed_now = not conn.socket_closed
                    conn.socket_closed = True
                if closed_now:
                    owner.assigned -= 1
                sock.close()
                conn.ended = True
                continue
            owner.run_here(owner.adopt, conn)


class SelectServer(EngineServer):
    """The select engine: one loop, one thread, no lock."""

    engine = "select"
    shared_core = False
    holds_senders = True

    def __init__(self, config: Any, **options: Any) -> None:
        super().__init__(config, **options)
        self.loops: list[SelectLoop] = []

    def _loop_count(self) -> int:
        return 1

    def _wake(self) -> None:
        if self.loops:
            self.loops[0].wake()

    def pick_loop(self) -> SelectLoop:
        """The loop a new connection goes to: the one with the fewest connections (the first
        of those, so that connections arriving together go round the loops)."""
        loops = self.loops
        loop = loops[0] if len(loops) == 1 else min(loops, key=lambda each: each.assigned)
        loop.assigned += 1
        return loop

    def _start_io(self) -> None:
        self.loops = [SelectLoop(self, index) for index in range(self._loop_count())]
        for sock in self.listening:
            self.loops[0].listen_on(sock)
        for loop in self.loops:
            loop.start()

    def _io_running(self) -> bool:
        return any(loop.running for loop in self.loops)

    def on_core_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on loop 0's thread (the select engine's core has no lock) and wait."""
        return self.on_loop(self.loops[0], fn, *args)

    def on_loop(self, loop: SelectLoop, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on `loop`'s thread, wait for it and return its result."""
        done = threading.Event()
        result: list[T] = []
        failure: list[BaseException] = []

        def call() -> None:
            try:
                result.append(fn(*args))
            except BaseException as exc:
                failure.append(exc)
            finally:
                done.set()

        loop.run_here(call)
        if not done.wait(30):
            raise TimeoutError(f"the {self.engine} engine's loop {loop.index} did not answer")
        if failure:
            raise failure[0]
        return result[0]

    def _shut_down(self, reason: str, quiet: bool) -> None:
        # The listening sockets are loop 0's: it must stop watching them before they close.
        if self.loops and self.loops[0].running:
            self.on_loop(self.loops[0], self._unwatch_listeners)
        super()._shut_down(reason, quiet)

    def _unwatch_listeners(self) -> None:
        for sock in self.listening:
            with contextlib.suppress(KeyError, ValueError):
                self.loops[0].selector.unregister(sock)

    def _stop_io(self) -> None:
        for loop in self.loops:
            loop.stop()
