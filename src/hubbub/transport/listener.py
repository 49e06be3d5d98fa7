"""What every listener shares, whatever carries its bytes (TCP, TLS, WebSocket).

A `Listener` counts its connections (per address and in total, together with its `peers`, so
`limits.clients_per_ip` and `limits.max_clients` hold across TCP, TLS and WebSocket), writes
out its connections' output once per loop turn (`flush`), runs ONE periodic sweep for the
registration and PING timeouts of all its connections (only those: the core's clock-driven
work is the app's `tick` task), takes a new configuration on REHASH (`apply_config`), and shuts
down in bounded time. The transports subclass it and add their sockets and framing; the
per-connection code they share is `hubbub.transport.connection`.

Everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from hubbub.config import Config
from hubbub.transport.connection import Connection, Core, Outbox
from hubbub.transport.proxied import TrustedProxies

log = logging.getLogger("hubbub.net")


class Counted(Protocol):
    """A peer listener as admission sees it."""

    @property
    def connections(self) -> Any: ...  # a sized collection

    @property
    def per_address(self) -> dict[str, int]: ...


class HistoryRoom(Protocol):
    """The history writer's back-pressure signal as a listener sees it
    (`hubbub.history.worker.HistoryWorker`): `room` is clear while the writer is past its
    high-water mark, `accepted` counts the records handed to it, `when_room` calls back once
    `room` is set again."""

    @property
    def room(self) -> threading.Event: ...

    @property
    def accepted(self) -> int: ...

    def when_room(self, callback: Callable[[], object]) -> None: ...


class HistoryCommits(Protocol):
    """The history writer's commit progress as a listener sees it
    (`hubbub.history.worker.HistoryWorker`): `committed` is the mark of the last record on
    disk; `on_commit` callbacks run on the writer's thread after each commit."""

    @property
    def committed(self) -> int: ...

    def on_commit(self, callback: Callable[[], object]) -> None: ...


C = TypeVar("C", bound=Connection)

#: Seconds a connection the core has closed may take to flush before it is aborted.
CLOSE_GRACE = 5.0
#: Lines a throttled client may have waiting before it is disconnected for flooding.
MAX_PENDING_LINES = 100


def sweep_interval_for(config: Config) -> float:
    """How often timeouts are checked (and the core's clock ticks): a quarter of the shortest
    timeout, between 10 ms and 1 s."""
    t = config.timeouts
    shortest = min(t.registration, t.ping_interval, t.ping_timeout)
    return max(0.01, min(1.0, shortest / 4))


class Listener(ABC, Generic[C]):
    """Connections of one kind: admission, output flush, timeouts, settings and shutdown.

    Settings every connection reads live here, once per server, not in each connection:
    `sendq_bytes`, `invalid_utf8`, `flood` ((burst, lines per second), or None when flood
    control is off) and `max_pending`.
    """

    #: Said in log lines about this listener's connections ("web " for WebSocket).
    kind = ""

    def __init__(
        self,
        config: Config,
        core: Core,
        *,
        close_grace: float = CLOSE_GRACE,
        sweep_interval: float | None = None,
        max_pending: int = MAX_PENDING_LINES,
    ) -> None:
        self.core = core
        self.close_grace = close_grace
        self.max_pending = max_pending
        self.fixed_sweep = sweep_interval
        self.apply_config(config)
        self.connections: set[C] = set()
        self.per_address: dict[str, int] = {}
        # Other listeners whose connections count towards the same limits (set by the app).
        self.peers: list[Counted] = []
        self.addresses: list[tuple[str, int]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emptied: asyncio.Event | None = None
        # Connections written to during this loop turn, and whether the flush is scheduled.
        self.dirty: list[C] = []
        # Groups of connections room fan-out appended to this turn (Connection.batch).
        self.touched_groups: list[list[C]] = []
        self.flush_scheduled = False
        # For hubbub.metrics: connections dropped for their send queue, and flood throttles
        # (a client's input paused because its token bucket ran dry).
        self.sendq_drops = 0
        self.throttles = 0
        # The history writer whose back-pressure this listener's connections follow (set by
        # the app; None: nobody is held), the connections held now, and how many holds so far.
        self.history_room: HistoryRoom | None = None
        self.held: list[C] = []
        self.holds = 0
        # Acknowledgement after commit: the history writer (set by the app, `watch_commits`),
        # the connections whose output waits for a commit, and whether a wake-up from the
        # writer's thread is already on its way to the loop (one at most).
        self.history_commits: HistoryCommits | None = None
        self.commit_waiting: list[C] = []
        self.commit_wake_posted = False

    def apply_config(self, config: Config) -> None:
        """Use `config` from now on (start, REHASH): limits, flood control and timeouts apply
        to what happens next, on connections old and new."""
        self.config = config
        self.sendq_bytes = config.limits.sendq_bytes
        self.invalid_utf8 = config.limits.invalid_utf8
        flood = config.flood
        self.flood: tuple[int, float] | None = (
            (flood.burst, flood.lines_per_second) if flood.enabled else None
        )
        interval = self.fixed_sweep
        self.sweep_interval = sweep_interval_for(config) if interval is None else interval
        self.ping_bytes = f"PING :{config.server.name}\r\n".encode()
        # Peers that may say who the client is ([proxy] trusted; hubbub.transport.proxied).
        self.trusted_proxies = TrustedProxies(config.proxy.trusted)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, f"{type(self).__name__}.start() was not called"
        return self._loop

    def _start_sweep(self, name: str) -> None:
        self._sweeper = self.loop.create_task(self._sweep_forever(), name=name)

    # -- output --------------------------------------------------------------------------------

    def mark_dirty(self, conn: C) -> None:
        self.dirty.append(conn)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def touched(self, conns: list[C]) -> None:
        """Room fan-out appended to these connections' outboxes (`Connection.batch`, no
        `mark_dirty` per recipient): flush them this loop turn. Called once per fan-out; a room
        that speaks many times in a turn is listed once per run of its messages."""
        groups = self.touched_groups
        if not groups or groups[-1] is not conns:
            groups.append(conns)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write out what every connection got this loop turn (one write per connection)."""
        self.flush_scheduled = False
        debug = log.isEnabledFor(logging.DEBUG)  # once per turn, not per connection
        dirty = self.dirty
        self.dirty = []
        for conn in dirty:
            conn.flush_out(debug)
        groups = self.touched_groups
        if groups:
            self.touched_groups = []
            for conns in groups if len(groups) == 1 else {id(g): g for g in groups}.values():
                self._flush_group(conns, debug)

    def _flush_group(self, conns: list[C], debug: bool) -> None:
        """`flush_out` for each connection of a fan-out group that has output (not flushed
        above, nor for an earlier group), inlined for plain TCP: every member of a busy room
        has output every turn. Members of a room mostly got the very same lines, so one joined
        payload serves every member whose outbox holds the same objects as the last one's."""
        if debug or (conns and conns[0].framed):
            # Logged or framed output: each connection its own way. A group is one listener's
            # (its `touched`), so either all of its connections are framed or none is.
            for conn in conns:
                conn.flush_out(debug)
            return
        if self.commit_waiting:  # (a test per group, not per member, while nobody waits)
            conns = self.set_aside_waiting(conns, debug)
        join = b"".join
        sendq = self.sendq_bytes
        last: list[bytes] = []
        payload = b""
        for conn in conns:
            out = conn.out
            if not out:
                continue
            transport = conn.transport
            if (
                type(out) is not Outbox
                or transport is None
                or conn.sendq_exceeded
                or transport.is_closing()
            ):
                conn.flush_out(debug)
                continue
            if out != last:  # item by item, `is` first: cheap when they are the same
                payload = join(out)
                last = out.copy()
            out.clear()
            transport.write(payload)
            if transport.get_write_buffer_size() > sendq:
                conn._sendq_exceeded()

    # -- admission -----------------------------------------------------------------------------

    def _admit(self, conn: C) -> str | None:
        """Count a new connection, or say why it is refused."""
        limits = self.config.limits
        peers = self.peers
        total = len(self.connections) + sum(len(peer.connections) for peer in peers)
        if total >= limits.max_clients:
            return "Server is full"
        count = self.per_address.get(conn.host, 0)
        together = count + sum(peer.per_address.get(conn.host, 0) for peer in peers)
        if together >= limits.clients_per_ip:
            return "Too many connections from your IP address"
        self.per_address[conn.host] = count + 1
        self.connections.add(conn)
        conn.counted = True
        return None

    def _forget(self, conn: C) -> None:
        if not conn.counted or conn not in self.connections:
            return
        self.connections.discard(conn)
        left = self.per_address.get(conn.host, 1) - 1
        if left > 0:
            self.per_address[conn.host] = left
        else:
            self.per_address.pop(conn.host, None)
        if not self.connections and self._emptied is not None:
            self._emptied.set()

    # -- timeouts ------------------------------------------------------------------------------

    # -- back-pressure from the history writer -------------------------------------------------

    def hold(self, conn: C) -> None:
        """`conn` stored a message while the history writer was past its high-water mark; its
        reading is paused. The first connection held asks the writer for a callback when it is
        down to its low-water mark; the loop itself never waits."""
        self.holds += 1
        self.held.append(conn)
        history = self.history_room
        if len(self.held) == 1 and history is not None:
            history.when_room(self._room_again)

    def _room_again(self) -> None:
        # On the history thread (or on the loop's, if the writer already had room again).
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to read
            self.loop.call_soon_threadsafe(self._release_held)

    def _release_held(self) -> None:
        held, self.held = self.held, []
        for conn in held:
            conn.release()

    # -- acknowledgement after commit ------------------------------------------------------------

    def watch_commits(self, history: HistoryCommits) -> None:
        """Follow `history`'s commits: connections that `wait_commit` are flushed by them."""
        self.history_commits = history
        history.on_commit(self._commit_done)

    def wait_commit(self, conn: C) -> None:
        """`conn`'s output waits for a commit (`Connection.wait_for_commit`)."""
        waiting = self.commit_waiting
        waiting.append(conn)
        history = self.history_commits
        # The commit may have come before the list had anyone to wake (its callback saw none):
        # look once more, now that it has; if so nothing of it waits yet, nothing need wait.
        if history is None or history.committed >= conn.commit_wait:
            waiting.pop()
            conn.commit_wait = 0

    def _commit_done(self) -> None:
        # On the history writer's thread after each commit: wake the loop only when somebody
        # waits and no wake-up is on its way already.
        if self.commit_waiting and not self.commit_wake_posted:
            self._post_commit_wake()

    def set_aside_waiting(self, conns: list[C], debug: bool) -> list[C]:
        """The connections of a fan-out group whose output does not wait for a commit; the
        others are only checked against the send queue (`flush_out` keeps their output)."""
        rest: list[C] = []
        for conn in conns:
            if conn.commit_wait:
                conn.flush_out(debug)
            else:
                rest.append(conn)
        return rest

    def _post_commit_wake(self) -> None:
        self.commit_wake_posted = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to tell
            self.loop.call_soon_threadsafe(self._release_committed)

    def _release_committed(self) -> None:
        """On the loop: flush every waiting connection whose mark is committed."""
        self.commit_wake_posted = False
        history = self.history_commits
        if history is None:
            return
        mark = history.committed
        waiting = self.commit_waiting
        self.commit_waiting = still = []
        for conn in waiting:
            if not conn.committed(mark):
                still.append(conn)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        """Enforce the registration and PING timeouts (called periodically)."""
        t = self.config.timeouts
        registration = t.registration
        ping_interval = t.ping_interval
        ping_timeout = t.ping_timeout
        for conn in list(self.connections):
            if conn.closing or conn.session is None:
                continue
            try:
                if not conn.session.registered and now - conn.connected_at >= registration:
                    conn._end("Registration timed out")
                    continue
                if conn.paused or conn.held or conn.commit_wait:
                    # Throttled, held, or its output waiting for the disk: busy, not idle (a
                    # PING would wait behind the acknowledgement, and the wait is the server's).
                    continue
                bucket = conn.bucket
                if bucket is not None and (now - conn.last_rx) * bucket.rate >= bucket.burst:
                    # Full again: a fresh bucket (made at the next line) is the same, and an
                    # idle connection need not hold one.
                    conn.bucket = None
                if conn.ping_sent is None:
                    if now - conn.last_rx >= ping_interval:
                        conn.ping_sent = now
                        conn.write(self.ping_bytes)
                elif now - conn.ping_sent >= ping_timeout:
                    conn._end(f"Ping timeout: {round(now - conn.last_rx)} seconds")
            except Exception:
                log.exception("timeout sweep failed for %s", conn.label)

    # -- shutdown ------------------------------------------------------------------------------

    @abstractmethod
    def stop_accepting(self) -> None:
        """Close the listening sockets; existing connections carry on."""

    async def wait_empty(self, timeout: float) -> bool:
        """Wait until every connection has closed; False if some remain after `timeout`."""
        if not self.connections:
            return True
        self._emptied = asyncio.Event()
        try:
            await asyncio.wait_for(self._emptied.wait(), timeout)
        except TimeoutError:
            return not self.connections
        finally:
            self._emptied = None
        return True

    def abort_all(self) -> None:
        """Drop every remaining connection at once (reported to the core if it still knew it)."""
        for conn in list(self.connections):
            if not conn.core_done:
                conn._end("Server shutting down")
            conn._abort()

    async def close(self, timeout: float = 2.0) -> None:
        """Stop accepting, let closing connections flush for up to `timeout`, drop the rest."""
        self.stop_accepting()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if not await self.wait_empty(timeout):
            log.info(
                "%d %sconnections did not close in time; aborting them",
                len(self.connections),
                self.kind,
            )
            self.abort_all()
            await self.wait_empty(1.0)
