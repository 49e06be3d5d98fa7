"""What every listener shares, whatever carries its bytes (TCP, TLS, WebSocket).

A `Listener` counts its connections (per address and in total, together with its `peers`, so
`limits.clients_per_ip` and `limits.max_clients` hold across TCP, TLS and WebSocket), runs ONE
periodic sweep for the registration and PING timeouts of all its connections, and shuts down in
bounded time. The transports subclass it and add their sockets and framing.

Everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar

from hubbub.config import Config

log = logging.getLogger("hubbub.net")


class ListenedConnection(Protocol):
    """What the shared code reads and calls on a transport's connection."""

    host: str
    label: str
    reason: str
    counted: bool
    closing: bool
    core_done: bool
    paused: bool
    session: Any
    connected_at: float
    last_rx: float
    ping_sent: float | None

    def write(self, data: bytes) -> None: ...

    def _end(self, reason: str) -> None: ...

    def _abort(self) -> None: ...


class Disconnects(Protocol):
    def disconnect(self, session: Any, reason: str, now: float) -> None: ...


def report_end(conn: ListenedConnection, core: Disconnects, reason: str) -> None:
    """The transport ends a connection: keep the first reason, and tell the core exactly once
    (unless it already knows: it closed the connection itself)."""
    if not conn.reason:
        conn.reason = reason
    if conn.core_done:
        return
    conn.core_done = True
    session = conn.session
    if session is not None:
        try:
            core.disconnect(session, reason, time.time())
        except Exception:
            log.exception("the core failed to disconnect %s", conn.label)


class Counted(Protocol):
    """A peer listener as admission sees it."""

    @property
    def connections(self) -> Any: ...  # a sized collection

    @property
    def per_address(self) -> dict[str, int]: ...


C = TypeVar("C", bound=ListenedConnection)


class Listener(ABC, Generic[C]):
    #: Said in log lines about this listener's connections ("web " for WebSocket).
    kind = ""

    def __init__(self, config: Config, *, close_grace: float, sweep_interval: float | None) -> None:
        self.config = config
        self.close_grace = close_grace
        self.sendq_bytes = config.limits.sendq_bytes
        self.invalid_utf8 = config.limits.invalid_utf8
        t = config.timeouts
        if sweep_interval is None:
            shortest = min(t.registration, t.ping_interval, t.ping_timeout)
            sweep_interval = max(0.01, min(1.0, shortest / 4))
        self.sweep_interval = sweep_interval
        self.ping_bytes = f"PING :{config.server.name}\r\n".encode()
        self.connections: set[C] = set()
        self.per_address: dict[str, int] = {}
        # Other listeners whose connections count towards the same limits (set by the app).
        self.peers: list[Counted] = []
        self.addresses: list[tuple[str, int]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emptied: asyncio.Event | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, f"{type(self).__name__}.start() was not called"
        return self._loop

    def _start_sweep(self, name: str) -> None:
        self._sweeper = self.loop.create_task(self._sweep_forever(), name=name)

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
                if conn.paused:  # a throttled client is busy, not idle
                    continue
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
