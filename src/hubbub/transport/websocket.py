"""IRC over WebSocket (IRCv3 `websocket` spec) and the web client's HTTP, on one listener.

One `WebServer` owns the web listening sockets (one per `web.hosts` entry), built on the
`websockets` library's asyncio server. A request that is not a WebSocket upgrade is answered by
`hubbub.web.site.StaticSite` (the page, its scripts and styles; 404 for anything else). A
WebSocket upgrade, on any path, is checked against the allowed origins (403 when refused) and
becomes one `WsConnection`: the core's `Link` for that client, driving the same `ChatServer` as
the TCP transport.

Theory of operation
-------------------
* Framing: one IRC line per WebSocket message, without CRLF. Subprotocols `binary.ircv3.net`
  and `text.ircv3.net` are accepted in the client's order of preference; a client that offers
  neither gets text frames. Input may come in either frame type whatever was negotiated (the
  spec's advice for legacy clients): text frames are UTF-8 already (the library enforces it),
  binary frames are decoded by `limits.invalid_utf8` like TCP lines. A trailing CRLF (or LF) on
  a message is tolerated and stripped; a CR or LF left inside it makes the message malformed,
  and it is dropped. Lengths: 510 bytes for the message proper (512 minus the CRLF the spec
  removes) plus 8191 for tags, as on TCP; a longer message goes to `core.line_too_long` (417).
  Messages beyond `MAX_MESSAGE` bytes end the connection (close code 1009) without being read.
* Output: the core writes CRLF-terminated bytes, possibly several lines in one `write`.
  `write` splits them into messages and appends them to the connection's own queue, then wakes
  the connection's writer task: no await, no send, nothing per recipient beyond a deque append.
  The split of one `bytes` object is cached, so a fan-out to N WebSocket members splits once.
  The writer task hands the messages to the library, which writes them to the socket at once
  unless the socket's buffer is above `WRITE_LIMIT`; then only that writer waits.
* The send queue is that queue plus the socket buffer. When it grows past `limits.sendq_bytes`
  the connection stops writing at once and, on the next loop turn, tells the core "SendQ
  exceeded" and aborts the socket, exactly as on TCP: a client that stops reading costs at most
  its own send queue and nobody else waits for it.
* Flood control: the same token bucket as TCP, one token per message. A message that finds no
  token waits, and so does the reading of that client (the library stops reading from the
  socket after a few queued messages, so the kernel pushes back on the flooder).
* Timeouts: the IRC registration and PING timeouts of `[timeouts]`, enforced by one periodic
  sweep, as on TCP (WebSocket-level pings are off: an IRC PING also proves the client's IRC
  stack is alive, and browsers answer WebSocket pings without the page's help).
* Clients per address and the client total are counted together with the TCP listener's
  connections (`peers`): a WebSocket connection is refused when TCP and WebSocket connections
  from its address together reach `limits.clients_per_ip`.
* Ends: as on TCP, the core ends a session with `Link.close` (queued messages are flushed, then
  a normal close, bounded by `close_grace`), and the transport ends one with `core.disconnect`
  exactly once (peer closed, network error, timeout, send queue, or the core raised).

Concurrency: everything runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from hubbub.config import Config
from hubbub.protocol.framing import MAX_LINE_BYTES, MAX_TAGS_BYTES, decode_line
from hubbub.transport.flood import TokenBucket
from hubbub.transport.listener import Counted, Listener, report_end
from hubbub.transport.tcp import CLOSE_GRACE, Core, format_address, redact
from hubbub.web.site import Reply, StaticSite

__all__ = [
    "BINARY",
    "TEXT",
    "ConnectionCounter",
    "WebServer",
    "WsConnection",
    "fits",
    "origin_allowed",
]

log = logging.getLogger("hubbub.web")

TEXT = Subprotocol("text.ircv3.net")
BINARY = Subprotocol("binary.ircv3.net")
SUBPROTOCOLS = (TEXT, BINARY)

#: Largest WebSocket message read at all; larger ones end the connection (close code 1009).
#: Twice the longest legal IRC line, so that every over-long line still gets its 417.
MAX_MESSAGE = 2 * (MAX_TAGS_BYTES + MAX_LINE_BYTES)
#: Bytes in the socket's buffer above which the writer task waits for the peer to read.
WRITE_LIMIT = 64 * 1024
#: Seconds a client has to complete the HTTP / WebSocket opening handshake.
OPEN_TIMEOUT = 10.0

_MAX_BODY = MAX_LINE_BYTES - 2  # the spec removes CRLF from the message: 510 bytes
_DEBUG = logging.DEBUG


# A peer listener as admission sees it (kept under its old name for importers).
ConnectionCounter = Counted


def fits(line: bytes) -> bool:
    """Whether a line (no CRLF) is within 510 bytes, plus at most 8191 bytes of tags."""
    if line[:1] == b"@":
        space = line.find(b" ")
        if space < 0:
            return len(line) <= MAX_TAGS_BYTES
        return space + 1 <= MAX_TAGS_BYTES and len(line) - space - 1 <= _MAX_BODY
    return len(line) <= _MAX_BODY


def _host_of(origin: str) -> str:
    """'host[:port]' of an origin such as 'https://Chat.Example.org:8443' (lower-cased)."""
    _, sep, rest = origin.partition("://")
    return rest.rstrip("/").lower() if sep else ""


def _default_port(scheme: str) -> str:
    return ":443" if scheme == "https" else ":80"


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str]) -> bool:
    """The WebSocket Origin check.

    * No Origin header: allowed. Browsers always send one on a WebSocket handshake, so a
      request without it does not come from a web page (it is irssi-over-websocat, a bot, …),
      and the check exists to stop other sites' pages from using a visitor's browser.
    * Same origin: the Origin's host and port are the request's Host (whatever the scheme, so
      that a TLS-terminating reverse proxy in front does not break it).
    * Listed in `allowed` (exact, case-insensitive), or `allowed` holds "*".
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    normal = origin.strip().rstrip("/").lower()
    if normal in (item.lower() for item in allowed):
        return True
    if not host or normal == "null":
        return False
    origin_host = _host_of(normal)
    request_host = host.strip().lower()
    if origin_host == request_host:
        return True
    # "http://example.org" against "Host: example.org:80" (and the reverse) are the same.
    scheme = normal.partition("://")[0]
    default = _default_port(scheme)
    return origin_host.removesuffix(default) == request_host.removesuffix(default)


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, ConnectionClosed):
        if exc.rcvd is not None:
            return "Client closed connection"
        cause = exc.__cause__
        if isinstance(cause, ConnectionResetError):
            return "Connection reset by peer"
        if isinstance(cause, TimeoutError):
            return "Connection timed out"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        return "Connection closed"
    if exc is None:
        return "Client closed connection"
    return str(exc) or type(exc).__name__


class WsConnection:
    """One WebSocket client: the core's `Link` to it, its send queue and its input state."""

    __slots__ = (
        "binary",
        "bucket",
        "close_requested",
        "close_timer",
        "closing",
        "connected_at",
        "core_done",
        "counted",
        "frames",
        "host",
        "label",
        "last_rx",
        "paused",
        "ping_sent",
        "port",
        "queued",
        "reason",
        "sendq",
        "sendq_exceeded",
        "server",
        "session",
        "wakeup",
        "writer",
        "ws",
    )

    def __init__(self, server: WebServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.session: Any = None
        self.binary = ws.subprotocol == BINARY
        peer = ws.remote_address
        host = str(peer[0]) if peer else "?"
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        self.host = host
        self.port = int(peer[1]) if peer else 0
        self.label = "ws " + format_address(host, self.port)
        self.bucket: TokenBucket | None = None
        self.frames: deque[bytes] = deque()
        self.queued = 0
        self.wakeup = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.sendq = server.sendq_bytes
        self.sendq_exceeded = False
        # No more input processed, no more output queued.
        self.closing = False
        # The writer should flush what is queued, then close the WebSocket.
        self.close_requested = False
        self.close_timer: asyncio.TimerHandle | None = None
        # The core no longer knows this session.
        self.core_done = False
        self.counted = False
        self.paused = False
        self.reason = ""
        now = time.monotonic()
        self.connected_at = now
        self.last_rx = now
        self.ping_sent: float | None = None

    # -- Link ----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closing:
            return
        server = self.server
        if server.split_source is data:
            lines = server.split_lines
        else:
            lines = _split(data)
            server.split_source = data
            server.split_lines = lines
        self.frames.extend(lines)
        for line in lines:
            self.queued += len(line)
        if log.isEnabledFor(_DEBUG):
            for line in lines:
                log.debug("%s << %s", self.label, line.decode("utf-8", "replace"))
        if self.queued + self._buffered() > self.sendq:
            # Stop now; tell the core on the next loop turn (never from inside write).
            self.closing = True
            self.sendq_exceeded = True
            self.frames.clear()
            self.queued = 0
            server.loop.call_soon(self._end, "SendQ exceeded")
            return
        self.wakeup.set()

    def close(self) -> None:
        self.core_done = True
        if not self.reason:
            self.reason = "closed by the server"
        if self.sendq_exceeded:
            self._abort()
        else:
            self._close_ws()

    # -- output --------------------------------------------------------------------------------

    def _buffered(self) -> int:
        return self.ws.transport.get_write_buffer_size()

    async def run_writer(self) -> None:
        """Send queued messages in order; after `close_requested`, flush and close."""
        ws = self.ws
        frames = self.frames
        text = not self.binary
        wakeup = self.wakeup
        try:
            while True:
                if not frames:
                    if self.close_requested:
                        break
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                frame = frames.popleft()
                self.queued -= len(frame)
                await ws.send(frame, text=text)
            await ws.close()
        except ConnectionClosed:
            pass

    # -- input ---------------------------------------------------------------------------------

    async def run_reader(self) -> str:
        """Feed the client's messages to the core until the connection ends; return why."""
        ws = self.ws
        try:
            async for message in ws:
                if self.closing:
                    continue
                now = time.monotonic()
                self.last_rx = now
                self.ping_sent = None
                bucket = self.bucket
                if bucket is not None:
                    wait = bucket.take(now)
                    while wait:
                        self.paused = True
                        await asyncio.sleep(wait)
                        self.last_rx = time.monotonic()
                        wait = bucket.take(self.last_rx)
                    self.paused = False
                    if self.closing:
                        continue
                self._dispatch(message)
        except ConnectionClosed as exc:
            return _describe(exc)
        return "Client closed connection"

    def _dispatch(self, message: str | bytes) -> None:
        raw = message.encode("utf-8") if isinstance(message, str) else message
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if not raw:
            return
        core = self.server.core
        try:
            if b"\r" in raw or b"\n" in raw:
                # One line per message: the rest of such a message could be another command
                # smuggled past whatever checked the first line; drop it like a malformed line.
                log.debug("%s >> (line break inside a message; dropped)", self.label)
                return
            if not fits(raw):
                if log.isEnabledFor(_DEBUG):
                    log.debug("%s >> (line too long)", self.label)
                core.line_too_long(self.session)
                return
            if isinstance(message, str):
                line: str | None = message.rstrip("\r\n")
            else:
                line = decode_line(raw, self.server.invalid_utf8)
            if line is None:
                if log.isEnabledFor(_DEBUG):
                    log.debug("%s >> (invalid UTF-8) %r", self.label, raw)
                core.invalid_utf8(self.session)
                return
            if log.isEnabledFor(_DEBUG):
                log.debug("%s >> %s", self.label, redact(line))
            core.receive(self.session, line, time.time())
        except Exception:
            log.exception("the core failed on input from %s", self.label)
            self._end("Internal error")

    # -- ends ----------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        """The transport ends this connection: tell the core (once), then close."""
        report_end(self, self.server.core, reason)
        if self.sendq_exceeded:
            self._abort()
        else:
            self._close_ws()

    def _close_ws(self) -> None:
        """Flush what is queued, then close; abort if the peer does not take it in time."""
        self.closing = True
        if self.close_requested:
            return
        self.close_requested = True
        self.wakeup.set()
        if self.writer is None:
            self._abort()
            return
        self.close_timer = self.server.loop.call_later(self.server.close_grace, self._abort)

    def _abort(self) -> None:
        self.closing = True
        self.close_requested = True
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        self.frames.clear()
        self.queued = 0
        self.ws.transport.abort()

    def finished(self) -> None:
        """The connection is gone (both tasks done): stop timers."""
        self.closing = True
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None


def _split(data: bytes) -> list[bytes]:
    """CRLF-terminated IRC lines → one message each (without the line ends)."""
    if data.endswith(b"\r\n") and data.count(b"\n") == 1:
        return [data[:-2]]
    lines = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line:
            lines.append(line)
    return lines


class WebServer(Listener[WsConnection]):
    """The web listener: static files over HTTP, IRC over WebSocket, limits and timeouts.

    `start()` binds one listener per host in `config.web.hosts` and returns the bound
    addresses (with port 0, the others try to share the first one's port). `close(timeout)`
    stops accepting, lets connections the core has closed flush for up to `timeout`, and drops
    the rest.
    """

    kind = "web "

    def __init__(
        self,
        config: Config,
        core: Core,
        *,
        site: StaticSite | None = None,
        peers: Sequence[ConnectionCounter] = (),
        close_grace: float = CLOSE_GRACE,
        sweep_interval: float | None = None,
    ) -> None:
        super().__init__(config, close_grace=close_grace, sweep_interval=sweep_interval)
        self.core = core
        self.site = site if site is not None else StaticSite()
        self.peers = list(peers)
        self.allowed_origins = config.web.allowed_origins
        # The last bytes object split into messages, and its messages (fan-out cache).
        self.split_source: bytes | None = None
        self.split_lines: list[bytes] = []
        self._servers: list[Server] = []

    def urls(self) -> list[str]:
        """The page's address on each bound socket."""
        return [f"http://{format_address(host, port)}/" for host, port in self.addresses]

    async def start(self) -> list[tuple[str, int]]:
        self._loop = asyncio.get_running_loop()
        port = self.config.web.port
        try:
            for host in self.config.web.hosts:
                server = await self._listen(host, port)
                self._servers.append(server)
                for sock in server.sockets:
                    name = sock.getsockname()
                    self.addresses.append((str(name[0]), int(name[1])))
        except BaseException:
            for server in self._servers:
                server.close(close_connections=False)
            self._servers.clear()
            self.addresses.clear()
            raise
        self._start_sweep("hubbub-web-sweep")
        return list(self.addresses)

    async def _listen(self, host: str, port: int) -> Server:
        if port == 0 and self.addresses:
            with contextlib.suppress(OSError):
                return await self._listen(host, self.addresses[0][1])
        return await serve(
            self._handle,
            host or None,
            port,
            subprotocols=list(SUBPROTOCOLS),
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            server_header=None,
            compression=None,  # per-connection zlib state and CPU on every fan-out: not worth it
            open_timeout=OPEN_TIMEOUT,
            ping_interval=None,  # IRC PINGs instead (the sweep)
            ping_timeout=None,
            close_timeout=self.close_grace,
            max_size=MAX_MESSAGE,
            max_queue=16,
            write_limit=WRITE_LIMIT,
            reuse_address=True,
            backlog=1024,
        )

    # -- HTTP ----------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        if "websocket" in headers.get("Upgrade", "").lower():
            origin = headers.get("Origin")
            if origin_allowed(origin, headers.get("Host"), self.allowed_origins):
                return None  # carry on with the WebSocket handshake
            log.info(
                "refused a WebSocket from %s: origin %s not allowed", _peer(connection), origin
            )
            return _response(StaticSite.error(http.HTTPStatus.FORBIDDEN, "Origin not allowed"))
        reply = self.site.respond(request.path, headers.get("If-None-Match"))
        return _response(reply)

    # -- WebSocket connections -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = WsConnection(self, ws)
        refusal = self._admit(conn)
        if refusal is not None:
            conn.core_done = True
            log.info("refused %s: %s", conn.label, refusal)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(("ERROR :" + refusal).encode(), text=not conn.binary)
                await ws.close(1008, refusal[:120])
            return
        try:
            await self._serve(conn)
        finally:
            conn.finished()
            self._forget(conn)
            log.info("disconnect %s (%s)", conn.label, conn.reason or "closed")

    async def _serve(self, conn: WsConnection) -> None:
        flood = self.config.flood
        if flood.enabled:
            conn.bucket = TokenBucket(flood.burst, flood.lines_per_second)
        log.info(
            "connect %s (%s; %d web clients)",
            conn.label,
            conn.ws.subprotocol or "no subprotocol: text",
            len(self.connections),
        )
        writer = self.loop.create_task(conn.run_writer(), name=f"hubbub-ws-writer {conn.label}")
        conn.writer = writer
        try:
            conn.session = self.core.connect(conn, conn.host, conn.port, time.time(), secure=False)
        except Exception:
            log.exception("the core failed to accept %s", conn.label)
            conn.core_done = True
            conn.reason = "Internal error"
            conn.write(b"ERROR :Internal error\r\n")
            conn._close_ws()
        reason = await conn.run_reader()
        conn.closing = True
        if not conn.core_done:
            conn._end(reason)
        if not writer.done():
            # The peer is gone or the close handshake ended: nothing more can be sent.
            conn.wakeup.set()
            try:
                await asyncio.wait_for(asyncio.shield(writer), self.close_grace)
            except TimeoutError:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer

    # -- shutdown ------------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        """Close the listening sockets; existing connections carry on."""
        for server in self._servers:
            server.server.close()

    async def close(self, timeout: float = 2.0) -> None:
        """As Listener.close, then close the websockets servers themselves."""
        await super().close(timeout)
        servers, self._servers = self._servers, []
        for server in servers:
            server.close(close_connections=False)
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    # The client's order of preference wins (the spec); neither offered: no subprotocol, text.
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


def _peer(connection: ServerConnection) -> str:
    peer = connection.remote_address
    return format_address(str(peer[0]), int(peer[1])) if peer else "?"


def _response(reply: Reply) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(reply.body))),
            *reply.headers,
        ]
    )
    return Response(reply.status.value, reply.status.phrase, headers, reply.body)
