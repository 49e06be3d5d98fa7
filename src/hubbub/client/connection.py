"""The client's one piece of I/O: a TCP connection that feeds `ClientState` and reconnects.

`Connection.run()` owns the socket (asyncio streams). It frames what arrives with
`hubbub.protocol.LineReader`, parses each line, hands it to the state and writes whatever the
state queued; events go to the front end's callback, on the same loop, so nothing is shared
across threads and no state is changed across an `await`. Reading never waits for the user and
the user never waits for the socket: writing is `StreamWriter.write` (buffered, returns at once).

When the server goes away the connection says so (a `Disconnected` event) and connects again;
the state then re-joins the rooms and asks for what was missed (`CHATHISTORY AFTER` the last
msgid seen, duplicates dropped by msgid), with the same nick and password. Given several
servers of one network (`more_servers`), it moves round robin: a lost or refused connection
goes on at once to the next server in the list, and only when every server of the list has
failed in a row does it wait, with exponential backoff — doubling from `backoff_base` up to
`backoff_cap` seconds, each delay jittered to 50 to 100 % so that clients of a restarted server
do not all come back at once. With one server that is a wait before every new attempt, as it
always was. Registered on a server other than the last one, it says where it is now
(`on_status("now on HOST:PORT …")`). A server that stays silent is sent a PING after
`idle_timeout` seconds and dropped if the silence lasts as long again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence

from hubbub.client.model import Event, Fatal
from hubbub.client.options import format_address
from hubbub.client.state import ClientState
from hubbub.protocol import ProtocolError, parse
from hubbub.protocol.framing import LineReader, LineTooLong, decode_line

__all__ = ["Backoff", "ConnectFailed", "Connection", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


class ConnectFailed(Exception):
    """The server could not be reached, or refused us for good; `str()` says why, for a person."""


class Backoff:
    """Delays between reconnection attempts: capped exponential growth with jitter."""

    def __init__(
        self, base: float = 1.0, cap: float = 30.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2.0**self.attempt)
        self.attempt += 1
        jitter: float = self._rng()
        return ceiling * (0.5 + 0.5 * jitter)

    def reset(self) -> None:
        self.attempt = 0


class Connection:
    """One client connection to `host:port` (or, when it fails, to one of `more_servers`),
    kept up until `quit()` (or for good, with `once`)."""

    def __init__(
        self,
        state: ClientState,
        host: str,
        port: int,
        on_events: Callable[[list[Event]], None],
        *,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        idle_timeout: float = 90.0,
        on_status: Callable[[str], None] | None = None,
        more_servers: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.state = state
        self.servers: list[tuple[str, int]] = list(dict.fromkeys([(host, port), *more_servers]))
        self._current = 0
        self._failed_in_a_row = 0
        """Servers tried since the last registration without getting registered: when it
        reaches the length of the list, every server failed and the backoff applies."""
        self._registered_on: str | None = None
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self._on_events = on_events
        self._on_status = on_status or (lambda text: None)
        self._writer: asyncio.StreamWriter | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self.fatal: str | None = None

    @property
    def host(self) -> str:
        return self.servers[self._current][0]

    @property
    def port(self) -> int:
        return self.servers[self._current][1]

    @property
    def where(self) -> str:
        return format_address(self.host, self.port)

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect, until `quit()`. Raises ConnectFailed when giving up."""
        while not self._closing:
            self._on_status(f"connecting to {self.where}…")
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                reason = _describe(exc)
                if not self.reconnect and self._failed_in_a_row + 1 >= len(self.servers):
                    # Not reconnecting (the first connection, in line mode): every server
                    # of the list has been tried once.
                    raise ConnectFailed(f"cannot connect to {self.where}: {reason}") from None
                await self._next_server(f"cannot connect to {self.where}: {reason}")
                continue
            self._writer = writer
            self._handle(self.state.connected(now_ms()))
            reason = await self._read(reader)
            self._writer = None
            writer.close()
            with contextlib.suppress(OSError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            was_registered = self.state.registered
            self._handle(self.state.disconnected(reason, now_ms()))
            if self.fatal is not None:
                raise ConnectFailed(self.fatal)
            if self._closing:
                return
            if not self.reconnect:
                raise ConnectFailed(f"lost the connection to {self.where}: {reason}")
            if was_registered:
                self.backoff.reset()
                self._failed_in_a_row = 0
            await self._next_server(f"disconnected from {self.where}: {reason}")

    async def _next_server(self, why: str) -> None:
        """After a failed or lost connection: on to the next server of the list at once,
        or, when every one has failed in a row, wait first (backoff)."""
        self._failed_in_a_row += 1
        self._current = (self._current + 1) % len(self.servers)
        if self._failed_in_a_row >= len(self.servers):
            self._failed_in_a_row = 0
            await self._pause(why)
        else:
            self._on_status(f"{why}; trying {self.where}")

    async def _pause(self, why: str) -> None:
        delay = self.backoff.next_delay()
        self._on_status(f"{why}; reconnecting in {delay:.1f} s")
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _read(self, reader: asyncio.StreamReader) -> str:
        """Feed the state until the connection ends; returns why it ended."""
        lines = LineReader()
        pinged = False
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
            except TimeoutError:
                if pinged:
                    return f"no answer from the server for {2 * self.idle_timeout:.0f} s"
                pinged = True
                self.send_raw("PING :hubbub")
                continue
            except OSError as exc:
                return _describe(exc)
            if not data:
                return "the server closed the connection"
            pinged = False
            for raw in lines.feed(data):
                if isinstance(raw, LineTooLong):
                    continue
                text = decode_line(raw)
                if text is None:
                    continue
                try:
                    message = parse(text)
                except ProtocolError:
                    continue
                self._handle(self.state.receive(message, now_ms()))
                if self.fatal is not None or self._writer is None:
                    return self.fatal or "closed"
                if self.state.registered and self._registered_on != self.where:
                    self._moved()

    def _moved(self) -> None:
        """Registered on a server other than the last one: say so (the first time is no news)."""
        previous, self._registered_on = self._registered_on, self.where
        if previous is not None:
            self._on_status(f"now on {self.where} (moved from {previous})")

    def _handle(self, events: list[Event]) -> None:
        """Write what the state queued, then let the front end render the events."""
        self.flush()
        for event in events:
            if isinstance(event, Fatal):
                self.fatal = event.reason
                self._closing = True
        if events:
            self._on_events(events)

    # -- the user's side --------------------------------------------------------------------

    def flush(self) -> None:
        """Write every line the state has queued (they are dropped when not connected)."""
        lines = self.state.take_outgoing()
        writer = self._writer
        if lines and writer is not None and not writer.is_closing():
            writer.write("".join(line + "\r\n" for line in lines).encode())

    def send_raw(self, line: str) -> None:
        self.state.send(line)
        self.flush()

    def perform(self, events: list[Event]) -> None:
        """After `state.perform(...)`: send what it queued and render its events."""
        self._handle(events)

    async def quit(self, reason: str = "Leaving", timeout: float = 2.0) -> None:
        """Say QUIT, give the server `timeout` seconds to close, then close anyway."""
        self._closing = True
        self._wake.set()
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        self.state.send(f"QUIT :{reason}")
        self.flush()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.drain(), timeout)
        deadline = time.monotonic() + timeout
        while self._writer is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._writer is not None:
            writer.close()

    def stop(self) -> None:
        """Stop reconnecting and drop the connection at once."""
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            self._writer.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
