"""The asyncio TCP transport (plain and TLS): a byte stream cut into lines.

One `TcpServer` owns the listening sockets (one per configured host) and is the `Listener` of
its connections (admission, the once-per-loop-turn flush, the timeout sweep, shutdown). A
`TcpConnection` is an `asyncio.Protocol` and a `hubbub.transport.connection.Connection`: what
it adds is what TCP does differently from WebSocket. Input bytes go through a bounded
`LineReader`; output needs no framing (the core's CRLF-terminated lines are the wire format);
reading pauses with `transport.pause_reading` while the client is throttled; a close is the
flush of what is queued and a FIN (aborted after `close_grace` if the peer does not take it).
TLS is the same class with an SSL context on the server: the client certificate's fingerprint
goes to the core for SASL EXTERNAL.

Concurrency: everything here runs on the event loop thread; nothing is shared with other threads.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import cast

from hubbub.config import Config
from hubbub.log_redaction import redact
from hubbub.protocol.framing import LineReader, whole_lines
from hubbub.protocol.proxy import ProxyError
from hubbub.protocol.proxy import parse as parse_proxy_header
from hubbub.tls import peer_fingerprint
from hubbub.transport.connection import Connection, Core, format_address, normal_host
from hubbub.transport.listener import CLOSE_GRACE, MAX_PENDING_LINES, Listener
from hubbub.transport.proxytls import ProxiedTlsListener

# `redact` and `format_address` stay importable from here for existing callers.
__all__ = ["Connection", "Core", "TcpConnection", "TcpServer", "format_address", "redact"]

log = logging.getLogger("hubbub.net")


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


class TcpConnection(Connection, asyncio.Protocol):
    """One client socket: a line stream into the shared connection pipeline."""

    __slots__ = ("proxy_source", "proxy_timer", "proxy_wait", "reader")

    server: TcpServer

    def __init__(self, server: TcpServer, source: tuple[str, int] | None = None) -> None:
        super().__init__(server)
        # The client behind a trusted proxy, from a PROXY header read before TLS
        # (hubbub.transport.proxytls); None: the peer is the client.
        self.proxy_source = source
        # Created at the first bytes: a connection that never sends anything has none.
        self.reader: LineReader | None = None
        # From a trusted proxy: the PROXY header's bytes so far (None: not waiting for one).
        self.proxy_wait: bytes | None = None
        self.proxy_timer: asyncio.TimerHandle | None = None

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
        host = normal_host(str(peer[0]))
        self.host = host
        self.port = int(peer[1])
        if self.proxy_source is not None:
            self.host = normal_host(self.proxy_source[0])
            self.port = self.proxy_source[1]
        elif server.proxy_protocol and server.trusted_proxies.trusts(host):
            # A trusted proxy: its PROXY header names the client; admission waits for it.
            self.proxy_wait = b""
            self.proxy_timer = server.loop.call_later(
                server.config.timeouts.registration, self._proxy_timeout
            )
            return
        self._start()

    def _start(self) -> None:
        """Admit the client (by its real address) and introduce it to the core."""
        tr = self.transport
        assert tr is not None
        server = self.server
        host = self.host
        # No TCP_NODELAY here: asyncio and uvloop set it on every TCP connection already, and
        # asking uvloop for the socket object would keep one more object per connection.
        refusal = server._admit(self)
        if refusal is not None:
            self.core_done = True
            self.reason = refusal
            log.info("refused %s: %s", self.label, refusal)
            tr.write(b"ERROR :" + refusal.encode() + b"\r\n")
            self._close_transport()
            return
        sendq = server.sendq_bytes
        # The loop calls pause_writing only past `high`; we never wait for it (see
        # hubbub.transport.connection), but a high mark at the send queue lets uvloop coalesce
        # a loop turn's writes up to it.
        tr.set_write_buffer_limits(high=sendq, low=sendq // 2)
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
        if self.proxy_wait is not None:
            rest = self._proxy_header(data)
            if not rest:
                return
            data = rest
        reader = self.reader
        if reader is None and data.endswith(b"\n"):
            # Whole lines and nothing before them unfinished (the usual read): no reader.
            lines = whole_lines(data)
        else:
            if reader is None:
                reader = self.reader = LineReader()
            lines = reader.feed(data)
            if not reader.pending and not reader.discarding:
                # Nothing half-received (and no over-long line being skipped): an idle client
                # holds no reader. (A reader dropped while it skipped the rest of a flood
                # reported that flood again, once per read, when the rest came in pieces.)
                self.reader = None
        if lines:
            self._received(lines, time.monotonic())
        else:
            self.last_rx = time.monotonic()
            self.ping_sent = None

    def eof_received(self) -> bool | None:
        # Returning None lets the transport close itself; connection_lost reports the end.
        return None

    def pause_writing(self) -> None:
        # Deliberately nothing: the send queue limit is checked on every flush instead.
        pass

    def resume_writing(self) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.proxy_timer is not None:
            self.proxy_timer.cancel()
            self.proxy_timer = None
        self.transport = None
        self.reader = None
        self._gone(_describe(exc))

    # -- the PROXY protocol ---------------------------------------------------------------------

    def _proxy_header(self, data: bytes) -> bytes | None:
        """Take the PROXY header from a trusted proxy's first bytes; the client's own bytes
        after it are returned (None: none yet, or the connection was refused)."""
        assert self.proxy_wait is not None
        received = self.proxy_wait + data
        try:
            header = parse_proxy_header(received)
        except ProxyError as exc:
            log.info("refused %s: %s", self.label, exc)
            self._drop_unadmitted()
            return None
        if header is None:
            self.proxy_wait = received
            return None
        self.proxy_wait = None
        if self.proxy_timer is not None:
            self.proxy_timer.cancel()
            self.proxy_timer = None
        if header.source is not None:  # else LOCAL / UNKNOWN: the proxy itself is the peer
            self.host = normal_host(header.source[0])
            self.port = header.source[1]
        self._start()
        if self.closing:
            return None
        return received[header.length :]

    def _proxy_timeout(self) -> None:
        self.proxy_timer = None
        if self.proxy_wait is not None and not self.closing:
            log.info("refused %s: no PROXY header in time", self.label)
            self._drop_unadmitted()

    def _drop_unadmitted(self) -> None:
        """Close a connection the core never heard of (no PROXY header, or a bad one)."""
        self.proxy_wait = None
        self.core_done = True
        self.closing = True
        self.transport_closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- what TCP does its own way -------------------------------------------------------------

    def _pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

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
        self._arm_close_timer()


class TcpServer(Listener[TcpConnection]):
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
        super().__init__(
            config,
            core,
            close_grace=close_grace,
            sweep_interval=sweep_interval,
            max_pending=max_pending,
        )
        # A TLS listener (hubbub.tls): its own port and hosts, every connection secure.
        self.ssl_context = ssl_context
        self.port = config.listen.port if port is None else port
        self.hosts = hosts or config.listen.hosts
        self.secure = secure or ssl_context is not None
        # PROXY headers from trusted proxies: on the plain listener they are read by the
        # connection (listen.proxy_protocol); on the TLS listener they come before the TLS
        # handshake, so hubbub.transport.proxytls accepts and reads them (tls.proxy_protocol).
        self.proxy_protocol = ssl_context is None and config.listen.proxy_protocol
        self.proxy_tls = ssl_context is not None and config.tls.proxy_protocol
        self._servers: list[asyncio.Server | ProxiedTlsListener] = []

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
    ) -> asyncio.Server | ProxiedTlsListener:
        if port == 0 and self.addresses:
            # Port 0 with several hosts: try to give them all the port the first one got.
            try:
                return await self._listen(loop, host, self.addresses[0][1])
            except OSError:
                pass
        if self.proxy_tls:
            assert self.ssl_context is not None
            listener = ProxiedTlsListener(
                loop,
                lambda source: TcpConnection(self, source),
                self.ssl_context,
                self.trusted_proxies.trusts,
                self.config.timeouts.registration,
            )
            listener.bind(host, port)
            return listener
        return await loop.create_server(
            lambda: TcpConnection(self),
            host or None,
            port,
            reuse_address=True,
            # --workers: every worker process listens on the same port (docs/cluster.md).
            reuse_port=self.config.cluster.workers > 1 or None,
            backlog=1024,
            ssl=self.ssl_context,
            ssl_handshake_timeout=self.config.timeouts.registration if self.ssl_context else None,
        )

    # -- shutdown ------------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        """Close the listening sockets; existing connections carry on."""
        for server in self._servers:
            server.close()
        self._servers.clear()
