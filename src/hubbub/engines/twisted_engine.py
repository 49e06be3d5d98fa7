"""The Twisted engine: Twisted owns the plain IRC sockets, hubbub's connection rules drive the core.

`hubbub serve --engine twisted` (the optional extra: `pip install hubbub[twisted]`). Twisted
accepts the connections (`reactor.listenTCP` with a `ServerFactory`), reads and writes them
(one `Protocol` per client, Twisted's own write buffer and descriptors) and the sans-IO core
(`hubbub.core`) is driven by the same per-connection code as the asyncio engine
(`hubbub.transport.tcp.TcpConnection`): line framing and its limits, the UTF-8 policy, the
flood bucket charged with each answer's output cost, admission per address, the registration
and PING timeouts of the listener's sweep, "SendQ exceeded", and the end reported to the core
exactly once. `_TwistedTransport` is the seam: it gives a Twisted transport the face of an
`asyncio.Transport`, so not one of those rules is written twice.

Why Twisted runs on its asyncio reactor (`twisted.internet.asyncioreactor`): hubbub's
application (`hubbub.app.App`) is built on an asyncio loop: the history, account and registry
workers answer the core on it (`call_soon_threadsafe`), the app's tick and retention tasks,
REHASH, signals, the metrics listener, and the TLS and WebSocket listeners all live there. With
`AsyncioSelectorReactor(loop)` the reactor *is* that loop (Twisted's descriptors are the loop's
`add_reader` / `add_writer`, its `callLater` the loop's `call_later`), so the engine reuses the
whole application unchanged, graceful shutdown (history flushed and closed) included, and every
callback still runs on one thread, as the core requires. A second, separate reactor would have
meant a second thread and a lock around the core, which is the threads engine's design, not
Twisted's. The reactor runs on asyncio's own `SelectorEventLoop` (what
`AsyncioSelectorReactor` is written for), not uvloop.

What is Twisted's own here and differs from the asyncio engine:
* The send queue is Twisted's write buffer. Twisted says how full it is through the producer
  API, not in bytes: each connection registers a streaming producer, and `bufferSize` (set from
  `limits.sendq_bytes`) is the level past which Twisted calls `pauseProducing`: that is the
  "SendQ exceeded" cut. Twisted buffers every write until the socket is next writable, where
  asyncio tries the socket at once, so one loop turn's output counts whole: a client sent more
  than `limits.sendq_bytes` within a single turn is cut even if it reads fast (the core's answer
  budgets keep one turn's output far below the 1 MiB default).
* Twisted does not set TCP_NODELAY by itself (asyncio does): the protocol sets it.
* Only the plain listener is Twisted's. TLS (`[tls]`) and the web client with IRC over
  WebSocket (`[web]`) keep their asyncio listeners, on the same loop, so they work as with the
  asyncio engine; all listeners count clients per address and in total together.

Concurrency: everything runs on the loop thread, Twisted's callbacks included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from twisted.internet import error as twisted_error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import STDLibLogObserver, globalLogBeginner
from twisted.python.failure import Failure
from zope.interface import classImplements

from hubbub.app import App, serve
from hubbub.config import Config
from hubbub.transport.tcp import TcpConnection, TcpServer

__all__ = ["TwistedApp", "TwistedTcpServer", "run"]


class _TwistedTransport(asyncio.Transport):
    """A Twisted TCP transport seen as the `asyncio.Transport` `TcpConnection` drives.

    It is also the streaming producer registered on that transport, which is how Twisted tells
    it that its write buffer went past `bufferSize` (the send queue limit).
    """

    __slots__ = ("closing", "peer", "reading", "sendq_full", "twisted")

    def __init__(self, twisted: Any, peer: tuple[str, int] | None) -> None:
        super().__init__()
        # The Twisted transport (a twisted.internet.tcp.Server): untyped in Twisted's hints.
        self.twisted = twisted
        self.peer = peer
        self.closing = False
        self.reading = True
        self.sendq_full = False
        twisted.registerProducer(self, True)

    # -- what TcpConnection asks of a transport -------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peer
        if name == "socket":
            return self.twisted.getHandle()
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        # asyncio's high-water mark is Twisted's bufferSize: past it the producer is paused.
        if high is not None:
            self.twisted.bufferSize = high

    def get_write_buffer_size(self) -> int:
        # Twisted reports fullness, not a size: past bufferSize it has called pauseProducing.
        # The answer is the one fact the connection needs: beyond the limit, or not.
        return int(self.twisted.bufferSize) + 1 if self.sendq_full else 0

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        self.twisted.write(bytes(data) if type(data) is not bytes else data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        """Write what is buffered, then close (Twisted's loseConnection)."""
        if not self.closing:
            self.closing = True
            self.twisted.loseConnection()

    def abort(self) -> None:
        """Drop the connection now, whatever is buffered (Twisted's abortConnection)."""
        self.closing = True
        self.twisted.abortConnection()

    def pause_reading(self) -> None:
        self.reading = False
        self.twisted.pauseProducing()  # stops reading the socket

    def resume_reading(self) -> None:
        if not self.closing:
            self.reading = True
            self.twisted.resumeProducing()

    def is_reading(self) -> bool:
        return self.reading and not self.closing

    # -- IPushProducer: Twisted's word about its write buffer -----------------------------------

    def pauseProducing(self) -> None:
        self.sendq_full = True

    def resumeProducing(self) -> None:
        self.sendq_full = False

    def stopProducing(self) -> None:
        self.closing = True


# Declared, as Twisted expects of a producer (a call: zope's decorator is untyped for mypy).
classImplements(_TwistedTransport, IPushProducer)


def _peer(address: object) -> tuple[str, int] | None:
    if isinstance(address, IPv4Address | IPv6Address):
        return (address.host, address.port)
    return None


def _lost_reason(reason: Failure) -> Exception | None:
    """What `TcpConnection.connection_lost` expects: None for a clean close by the peer."""
    value = reason.value
    if isinstance(value, twisted_error.ConnectionDone):
        return None
    if isinstance(value, twisted_error.ConnectionLost):
        return ConnectionResetError("Connection reset by peer")
    return value if isinstance(value, Exception) else None


class IrcProtocol(Protocol):
    """One client connection as Twisted sees it, handed to hubbub's `TcpConnection`."""

    def __init__(self, connection: TcpConnection) -> None:
        self.connection = connection
        self.adapter: _TwistedTransport | None = None

    def connectionMade(self) -> None:
        # A twisted.internet.tcp.Server; Any: Twisted types it by zope interfaces mypy cannot see.
        twisted: Any = self.transport
        assert twisted is not None
        # Small lines must leave at once; asyncio sets this on every TCP socket by itself.
        with contextlib.suppress(OSError):
            twisted.setTcpNoDelay(True)
        self.adapter = _TwistedTransport(twisted, _peer(twisted.getPeer()))
        self.connection.connection_made(self.adapter)

    def dataReceived(self, data: bytes) -> None:
        self.connection.data_received(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        adapter = self.adapter
        if adapter is not None:
            adapter.closing = True
            with contextlib.suppress(Exception):
                adapter.twisted.unregisterProducer()
        self.connection.connection_lost(_lost_reason(reason))


class IrcFactory(ServerFactory):
    """Builds one `IrcProtocol` (and its `TcpConnection`) per accepted socket."""

    noisy = False  # Twisted would log every start and stop of the factory

    def __init__(self, server: TcpServer) -> None:
        self.server = server

    def buildProtocol(self, addr: IAddress | None) -> IrcProtocol:
        return IrcProtocol(TcpConnection(self.server))


class TwistedTcpServer(TcpServer):
    """The plain IRC listener with Twisted's `listenTCP` in place of asyncio's `create_server`.

    Admission, the once-per-turn flush, the timeout sweep, REHASH and the bounded shutdown are
    `TcpServer`'s (`hubbub.transport.listener`). A TLS listener is never this class.
    """

    def __init__(self, config: Config, core: Any, **options: Any) -> None:
        if options.get("ssl_context") is not None:
            raise ValueError("the Twisted listener serves plain TCP only; TLS stays on asyncio")
        super().__init__(config, core, **options)
        self.reactor: AsyncioSelectorReactor | None = None
        # The listening ports (IListeningPort; Any for the same reason as the transports).
        self._ports: list[Any] = []

    async def start(self) -> list[tuple[str, int]]:
        self._loop = loop = asyncio.get_running_loop()
        self.reactor = AsyncioSelectorReactor(loop)
        factory = IrcFactory(self)
        try:
            for host in self.hosts:
                listening = self._listen_twisted(factory, host, self.port)
                self._ports.append(listening)
                bound = _peer(listening.getHost())
                assert bound is not None
                self.addresses.append(bound)
        except BaseException:
            self.stop_accepting()
            self.addresses.clear()
            self._close_reactor()
            raise
        self._start_sweep("hubbub-sweep")
        return list(self.addresses)

    def _listen_twisted(self, factory: IrcFactory, host: str, port: int) -> Any:
        reactor: Any = self.reactor
        assert reactor is not None
        if port == 0 and self.addresses:
            # Port 0 with several hosts: try to give them all the port the first one got.
            with contextlib.suppress(twisted_error.CannotListenError):
                return self._listen_twisted(factory, host, self.addresses[0][1])
        try:
            return reactor.listenTCP(port, factory, backlog=1024, interface=host)
        except twisted_error.CannotListenError as exc:
            # The app reports an OSError as "cannot start: …", as for the asyncio listener.
            raise OSError(f"cannot listen on {host} port {port}: {exc.socketError}") from exc

    def apply_config(self, config: Config) -> None:
        """REHASH: as for every listener, and a new send queue limit reaches the connections
        already open (their Twisted buffers were sized when they connected)."""
        super().apply_config(config)
        # getattr: the listener's constructor applies the first config before it has any.
        for connection in getattr(self, "connections", ()):
            transport = connection.transport
            if isinstance(transport, _TwistedTransport):
                transport.set_write_buffer_limits(high=self.sendq_bytes)

    def stop_accepting(self) -> None:
        for listening in self._ports:
            listening.stopListening()
        self._ports.clear()

    async def close(self, timeout: float = 2.0) -> None:
        await super().close(timeout)
        self._close_reactor()

    def _close_reactor(self) -> None:
        """Take the reactor's waker off the loop and close its pipe (the loop outlives us in
        tests; in `hubbub serve` the process ends soon after)."""
        reactor: Any = self.reactor
        self.reactor = None
        if reactor is None:
            return
        waker = reactor.waker
        if waker is not None:
            with contextlib.suppress(Exception):
                reactor.removeReader(waker)
                waker.connectionLost(None)


class TwistedApp(App):
    """The application with Twisted's listener for plain IRC; everything else is `App`'s."""

    tcp_server_class = TwistedTcpServer


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    return asyncio.SelectorEventLoop


_logging_to_python: list[bool] = []


def _log_to_python() -> None:
    """Twisted's own log events (an error in a callback, say) go to Python's logging, as
    `hubbub.twisted`, instead of Twisted's buffer; once per process (Twisted warns when its
    log is begun twice, and `run` may be called again in-process by tests)."""
    if _logging_to_python:
        return
    _logging_to_python.append(True)
    # Any: an ILogObserver by zope declaration, which mypy cannot see.
    observer: Any = STDLibLogObserver(name="hubbub.twisted")
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run(
    config: Config,
    reload: Callable[[], Config] | None = None,
    *,
    app_class: type[TwistedApp] = TwistedApp,
) -> int:
    """`hubbub serve --engine twisted`: as `hubbub.app.run`, with Twisted on the loop."""
    _log_to_python()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve(config, reload=reload, app_class=app_class))
