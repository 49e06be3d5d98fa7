"""IRC over WebSocket (IRCv3 `websocket` spec) and the web client's HTTP, on one listener.

One `WebServer` owns the web listening sockets (one per `web.hosts` entry), built on the
`websockets` library's asyncio server. A request that is not a WebSocket upgrade is answered by
`hubbub.web.site.StaticSite` (the page, its scripts and styles; 404 for anything else). A
WebSocket upgrade, on any path, is checked against the allowed origins (403 when refused) and
becomes one `WsConnection`: a `hubbub.transport.connection.Connection` like a TCP client's,
driving the same core through the same pipeline (flood control, timeouts, send queue, ends).
This module holds only what WebSocket does differently.

Theory of operation
-------------------
* Framing: one IRC line per WebSocket message, without CRLF. Subprotocols `binary.ircv3.net`
  and `text.ircv3.net` are accepted in the client's order of preference; a client that offers
  neither gets text frames. Input may come in either frame type whatever was negotiated (the
  spec's advice for legacy clients): text frames are UTF-8 already (the library enforces it);
  binary frames are decoded by `limits.invalid_utf8` like TCP lines, except that on
  `binary.ircv3.net` with the "replace" policy bytes that are not UTF-8 pass through the core
  unchanged (surrogate escapes), as the spec wants binary messages to carry arbitrary bytes.
  A trailing CRLF (or LF) on a message is tolerated and stripped; a CR or LF left inside it
  makes the message malformed, and it is dropped. Lengths: 510 bytes for the message proper
  (512 minus the CRLF the spec removes) plus 8191 for tags, as on TCP; a longer message goes
  to `core.line_too_long` (417). Messages beyond `MAX_MESSAGE` bytes end the connection (close
  code 1009) without being read.
* Output takes the TCP path: `write` appends to the connection's out list, and the listener's
  one flush per loop turn writes each connection's bytes in one `transport.write`. There is no
  writer task. Frames are built by us, not by the library's `send` (which builds a frame per
  call and recipient, and awaits): a server's frames are unmasked (RFC 6455 section 5.1), so the
  frames for one payload are the same bytes for every WebSocket recipient of a fan-out; they
  are built once per flush (a cache keyed by the payload, emptied after each flush) and
  written to the library's transport directly. Room fan-out is flushed as on TCP
  (`WebServer._flush_group`): members that got the same lines this turn share one joined piece
  of frames per framing (text, binary), with no Python call per member. This is safe because
  nothing else is in flight on that transport: compression is off (no extension state),
  messages are never fragmented (so no frame sequence can be interleaved), and nothing is
  written once the library's state is no longer OPEN (after a close frame, ours or the
  peer's). Pings, pongs and the closing handshake stay with the library.
* The send queue is the socket buffer, checked after each flush, exactly as on TCP.
* Input takes the TCP path too: the library parses the frames (and answers pings and close
  frames itself), but its data frames are not queued for a reader task: `CountedConnection`
  hands each one, as the library's `data_received` produces it, to its `WsConnection`, which
  checks it (UTF-8 for a text message, as the library's reader would: invalid text fails the
  connection with close code 1007; fragments joined, at most `MAX_FRAGMENTS` per message) and
  passes it to the pipeline at once. No task wake-up, no queue and no decode and re-encode per
  message. Frames that arrive before the connection is IRC (pipelined behind the handshake)
  wait in a short list, reading paused beyond `EARLY_FRAMES` of them.
* Flood control: the same token bucket as TCP, one token per message. While a client is
  throttled its socket is not read (`pause_reading`, as on TCP), so the kernel pushes back on
  the flooder.
* Timeouts: the IRC registration and PING timeouts of `[timeouts]`, by the listener's sweep
  (WebSocket-level pings are off: an IRC PING also proves the client's IRC stack is alive).
* Admission: every web socket counts per address from the moment it is accepted, before its
  HTTP request is even read (`CountedConnection`), together with the IRC connections of every
  listener: unfinished requests cannot hold more than `limits.clients_per_ip` sockets per
  address, nor lock IRC clients out. A request must arrive and be answered within
  `web.request_timeout`.
* Origin check: against the configured public origins (scheme, host and port), never against
  the request's `Host` header (which a DNS-rebinding page controls).

Concurrency: everything runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.frames import DATA_OPCODES, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from hubbub.config import Config
from hubbub.protocol.forwarded import client_address
from hubbub.protocol.framing import LINE_TOO_LONG, MAX_LINE_BYTES, MAX_TAGS_BYTES
from hubbub.transport.connection import (
    Connection,
    Core,
    Item,
    Outbox,
    format_address,
    normal_host,
)
from hubbub.transport.listener import CLOSE_GRACE, Counted, Listener
from hubbub.web.site import Reply, StaticSite

__all__ = [
    "BINARY",
    "TEXT",
    "ConnectionCounter",
    "WebServer",
    "WsConnection",
    "fits",
    "frame_lines",
    "normal_origin",
    "origin_allowed",
    "public_origins",
]

log = logging.getLogger("hubbub.web")

TEXT = Subprotocol("text.ircv3.net")
BINARY = Subprotocol("binary.ircv3.net")
SUBPROTOCOLS = (TEXT, BINARY)

#: Largest WebSocket message read at all; larger ones end the connection (close code 1009).
#: Twice the longest legal IRC line, so that every over-long line still gets its 417.
MAX_MESSAGE = 2 * (MAX_TAGS_BYTES + MAX_LINE_BYTES)
#: Socket buffer above which the library's own sends (pongs, close frames) wait.
WRITE_LIMIT = 64 * 1024
#: Frames of one fragmented message at most (its size is bounded by MAX_MESSAGE already; this
#: bounds the list of empty fragments).
MAX_FRAGMENTS = 64
#: Data frames that may wait for the connection to become IRC before reading pauses.
EARLY_FRAMES = 16

_MAX_BODY = MAX_LINE_BYTES - 2  # the spec removes CRLF from the message: 510 bytes
#: Request headers that must appear at most once; a request repeating one gets a 400.
SINGLE_HEADERS = ("Host", "Origin", "Upgrade", "If-None-Match", "Sec-WebSocket-Key")


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


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def normal_origin(origin: str) -> str | None:
    """`scheme://host[:port]` lower-cased, without a trailing slash or the scheme's default
    port; None unless the scheme is http or https (a browser's Origin for a web page)."""
    text = origin.strip().rstrip("/").lower()
    scheme, sep, rest = text.partition("://")
    default = _DEFAULT_PORTS.get(scheme)
    if not sep or default is None or not rest or "/" in rest:
        return None
    return f"{scheme}://{rest.removesuffix(default)}"


def public_origins(config: Config, addresses: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """The origins this server's page is served from: `web.public_origins` when set, otherwise
    `http://<host>:<port>` for each bound address (a wildcard address stands for localhost)."""
    if config.web.public_origins:
        return config.web.public_origins
    origins: list[str] = []
    for host, port in addresses:
        if host in ("0.0.0.0", "::", ""):
            names = ["localhost", "127.0.0.1", "[::1]"]
        else:
            names = [f"[{host}]" if ":" in host else host]
        origins += [f"http://{name}:{port}" for name in names]
    return tuple(dict.fromkeys(origins))


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """The WebSocket Origin check.

    * No Origin header: allowed. Browsers always send one on a WebSocket handshake, so a
      request without it does not come from a web page (it is irssi-over-websocat, a bot, …),
      and the check exists to stop other sites' pages from using a visitor's browser.
    * Otherwise the origin, scheme included, must be one of `allowed` (the public origins and
      `web.allowed_origins`; compared case-insensitively, default ports ignored), or `allowed`
      holds "*". The request's `Host` header plays no part: a page on a DNS-rebound name
      controls it.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    normal = normal_origin(origin)
    if normal is None:
        return False
    return any(normal == normal_origin(item) for item in allowed)


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


class _QuietLibraryLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The `websockets` library's log with its INFO lines (one per HTTP response and per
    closed connection: anyone on the network can cause them) lowered to DEBUG; its warnings
    and errors stay."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


_LIBRARY_LOG = _QuietLibraryLog(logging.getLogger("websockets.server"), {})


class CountedConnection(ServerConnection):
    """The library's connection, counted per address from the moment the socket is accepted
    (before the HTTP request is read) and refused at once beyond the limits."""

    web: WebServer | None = None  # set on a subclass per WebServer (see WebServer._listen)
    # The address it counts against while it is an HTTP request (None: it does not count).
    hubbub_host: str | None = None
    # The IRC connection its data frames go to, once there is one (`hubbub_attach`); until
    # then they wait in `hubbub_early` (None: none waited).
    hubbub_receiver: WsConnection | None = None
    hubbub_early: list[Frame] | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        web = self.web
        assert web is not None
        peer = transport.get_extra_info("peername")
        host = normal_host(str(peer[0])) if peer else "?"
        refusal = web.open_request(host)
        if refusal is not None:
            log.debug("refused a web connection from %s: %s", host, refusal)
            transport.abort()
            return
        self.hubbub_host = host

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.hubbub_done()

    def process_event(self, event: Any) -> None:
        # Data frames straight to the IRC connection (see the module's docstring); the
        # handshake request and control frames (pong acknowledgements) stay the library's.
        if type(event) is Frame and event.opcode in DATA_OPCODES:
            receiver = self.hubbub_receiver
            if receiver is not None:
                receiver.frame_received(event)
                return
            early = self.hubbub_early
            if early is None:
                early = self.hubbub_early = []
            early.append(event)
            if len(early) == EARLY_FRAMES:
                self.transport.pause_reading()
            return
        super().process_event(event)

    def hubbub_attach(self, receiver: WsConnection) -> None:
        """From now on `receiver` takes the data frames; those that came early go first."""
        self.hubbub_receiver = receiver
        early = self.hubbub_early
        if early is not None:
            self.hubbub_early = None
            if len(early) >= EARLY_FRAMES:
                self.transport.resume_reading()
            for frame in early:
                receiver.frame_received(frame)

    def hubbub_done(self) -> None:
        """This socket stops counting as an HTTP request (it ended, or became IRC)."""
        host = self.hubbub_host
        if host is not None and self.web is not None:
            self.hubbub_host = None
            self.web.close_request(host)


class WsConnection(Connection):
    """One WebSocket client: WebSocket messages into the shared connection pipeline, and the
    core's output framed once per payload for every WebSocket recipient."""

    __slots__ = ("binary", "closer", "fragments", "ws")

    kind = "ws "

    server: WebServer

    def __init__(self, server: WebServer, ws: CountedConnection) -> None:
        super().__init__(server)
        self.ws = ws
        # The library's transport: frames we build go straight to it (see _frame).
        self.transport = ws.transport
        self.binary = ws.subprotocol == BINARY
        peer = ws.remote_address
        self.host = normal_host(str(peer[0])) if peer else "?"
        self.port = int(peer[1]) if peer else 0
        request = ws.request
        if request is not None and server.trusted_proxies.trusts(self.host):
            # A trusted proxy says who the client is (Forwarded, X-Forwarded-For); limits,
            # bans and WHOIS then use that address. Nobody else's headers are believed.
            real = client_address(
                request.headers.get_all("Forwarded"),
                request.headers.get_all("X-Forwarded-For"),
                server.trusted_proxies.trusts_address,
            )
            if real is not None:
                self.host = normal_host(real)
        # The frames of a fragmented message so far (None: not in one).
        self.fragments: list[Frame] | None = None
        # The closing handshake, once started.
        self.closer: asyncio.Task[None] | None = None

    # -- output --------------------------------------------------------------------------------

    framed = True  # one WebSocket message per line (_frame)

    def flush_out(self, debug: bool) -> None:
        # After a close frame (ours or the peer's) no data frame may follow.
        if self.ws.protocol.state is not State.OPEN:
            self._drop_output()
            return
        super().flush_out(debug)

    def _frame(self, out: list[bytes]) -> bytes:
        """WebSocket frames for what the core wrote: one message per line. A payload's frames
        are built once per flush for all WebSocket recipients (the server's frames are not
        masked, so every recipient gets the same bytes), in a cache keyed by the payload itself
        (its hash is computed once and kept by the bytes object), so that the lookups run
        inside `map` and `join`, without a Python step per payload."""
        cache = self.server.binary_frames if self.binary else self.server.text_frames
        try:
            return b"".join(map(cache.__getitem__, out))  # a lone one: itself
        except KeyError:
            pass
        opcode = _BINARY_FIN if self.binary else _TEXT_FIN
        for data in out:
            if data not in cache:
                cache[data] = frame_lines(data, opcode)
        return b"".join(map(cache.__getitem__, out))

    # -- input ---------------------------------------------------------------------------------

    async def run_reader(self) -> str:
        """Take the client's messages (`frame_received`) until the connection ends; say why."""
        ws = self.ws
        ws.hubbub_attach(self)
        await asyncio.shield(ws.connection_lost_waiter)
        exc = ws.close_exc
        if isinstance(exc, ConnectionClosedOK):
            return "Client closed connection"
        return _describe(exc)

    def frame_received(self, frame: Frame) -> None:
        """A data frame from the library's parser: a message for the pipeline, once whole."""
        if self.closing:
            return
        fragments = self.fragments
        if fragments is None and frame.fin:  # the usual case: a message in one frame
            data = frame.data
            text = frame.opcode is Opcode.TEXT
        elif fragments is None:
            self.fragments = [frame]
            return
        else:
            fragments.append(frame)
            if len(fragments) > MAX_FRAGMENTS:
                self._fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
                return
            if not frame.fin:
                return
            self.fragments = None
            data = b"".join(fragment.data for fragment in fragments)
            text = fragments[0].opcode is Opcode.TEXT
        raw = data if type(data) is bytes else bytes(data)
        if text and not raw.isascii():
            try:
                raw.decode()
            except UnicodeDecodeError as exc:
                # RFC 6455 section 8.1: a text message that is not UTF-8 fails the connection.
                self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                return
        now = time.monotonic()
        item = self._item(raw)
        if item is None:
            self.last_rx = now
            self.ping_sent = None
            return
        self._received([item], now)

    def _fail(self, code: CloseCode, reason: str) -> None:
        """Fail the WebSocket connection as the library's reader does (a close frame with
        `code`, then the socket closes); the core hears of it when the socket is gone."""
        self.closing = True  # nothing more is read from it, nor written to it
        self.fragments = None
        self.closer = self.server.loop.create_task(self._send_failure(code, reason))

    async def _send_failure(self, code: CloseCode, reason: str) -> None:
        ws = self.ws
        with contextlib.suppress(ConnectionClosed):
            async with ws.send_context():
                ws.protocol.fail(code, reason)

    def _item(self, raw: bytes) -> Item | None:
        """One message as a line for the pipeline; None for a message that is dropped."""
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if not raw:
            return None
        if b"\r" in raw or b"\n" in raw:
            # One line per message: the rest of such a message could be another command
            # smuggled past whatever checked the first line; drop it like a malformed line.
            log.debug("%s >> (line break inside a message; dropped)", self.label)
            return None
        if not fits(raw):
            return LINE_TOO_LONG
        return raw

    def _decode(self, raw: bytes) -> str | None:
        if self.binary and self.server.invalid_utf8 == "replace":
            # binary.ircv3.net carries arbitrary bytes: bytes that are not UTF-8 travel through
            # the core as surrogate escapes and leave as the same bytes (text frames, which
            # must be UTF-8, get U+FFFD instead: see frame_lines).
            return raw.decode("utf-8", "surrogateescape")
        return super()._decode(raw)

    def _pause_reading(self) -> None:
        transport = self.transport
        if transport is not None:
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self.transport
        if transport is not None:
            transport.resume_reading()

    # -- ends ----------------------------------------------------------------------------------

    def _close_transport(self) -> None:
        """Flush what is queued, then the closing handshake; abort if it takes too long."""
        self.closing = True
        self._resume_reading()  # the peer's close frame must be read
        if self.transport_closed:
            return
        self.flush()  # the core's last words (an ERROR line) go out before the close frame
        self.transport_closed = True
        self.closer = self.server.loop.create_task(self._say_goodbye())
        self._arm_close_timer()

    async def _say_goodbye(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close()


_TEXT_FIN = 0x81
_BINARY_FIN = 0x82


def frame_lines(data: bytes, opcode: int) -> bytes:
    """Unmasked WebSocket frames (RFC 6455 section 5.2), one message per CRLF-terminated line
    in `data`, without the line end. Text frames must be UTF-8: bytes that are not (a binary
    client's, passed through the core) become U+FFFD there."""
    if opcode == _TEXT_FIN and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("utf-8", "replace").encode("utf-8")
    frames = []
    for line in _split(data):
        size = len(line)
        if size < 126:
            header = bytes((opcode, size))
        elif size < 65536:
            header = bytes((opcode, 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((opcode, 127)) + size.to_bytes(8, "big")
        frames.append(header + line)
    return frames[0] if len(frames) == 1 else b"".join(frames)


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
        super().__init__(config, core, close_grace=close_grace, sweep_interval=sweep_interval)
        self.site = site if site is not None else StaticSite(servers=config.web.servers)
        self.peers = list(peers)
        # Frames built this flush, per payload object (see WsConnection._frame).
        self.text_frames: dict[bytes, bytes] = {}
        self.binary_frames: dict[bytes, bytes] = {}
        # Sockets accepted whose HTTP request is not finished (or not upgraded) yet.
        self.requests = 0
        self._servers: list[Server] = []

    def apply_config(self, config: Config) -> None:
        super().apply_config(config)
        self.allowed_origins = public_origins(config, getattr(self, "addresses", ()))
        self.allowed_origins += config.web.allowed_origins

    def urls(self) -> list[str]:
        """The page's address on each bound socket."""
        return [f"http://{format_address(host, port)}/" for host, port in self.addresses]

    def flush(self) -> None:
        super().flush()
        # The payloads of this turn are written: their frames are not needed any more.
        self.text_frames.clear()
        self.binary_frames.clear()

    def _flush_group(self, conns: list[WsConnection], debug: bool) -> None:
        """The TCP listener's shared flush, with frames: members of a room mostly got the very
        same lines this turn, so the frames for them are joined once and that one bytes object
        is written to every member (of the same framing, text or binary) whose outbox holds the
        same objects as the last one's. No Python call per member, none per payload."""
        if debug:
            for conn in conns:
                conn.flush_out(debug)
            return
        if self.commit_waiting:  # outboxes waiting for a commit are kept (flush_out)
            conns = self.set_aside_waiting(conns, debug)
        sendq = self.sendq_bytes
        # Per framing (index 0: text, 1: binary): the outbox last framed, and its frames.
        lasts: list[list[bytes]] = [[], []]
        payloads = [b"", b""]
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
                # A close frame went out (ours or the answer to the peer's): no data frame
                # may follow. A plain attribute, where `state` is a property (a Python call).
                or conn.ws.protocol.close_sent is not None
            ):
                # The general path: drops the output (closing, or the library's state is no
                # longer OPEN), or writes one connection alone.
                conn.flush_out(debug)
                continue
            binary = conn.binary
            if out != lasts[binary]:  # item by item, `is` first: cheap when they are the same
                payloads[binary] = conn._frame(out)
                lasts[binary] = out.copy()
            out.clear()
            transport.write(payloads[binary])
            if transport.get_write_buffer_size() > sendq:
                conn._sendq_exceeded()

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
        self.apply_config(self.config)  # the public origins follow from the bound addresses
        self._start_sweep("hubbub-web-sweep")
        return list(self.addresses)

    async def _listen(self, host: str, port: int) -> Server:
        if port == 0 and self.addresses:
            with contextlib.suppress(OSError):
                return await self._listen(host, self.addresses[0][1])
        counted = type("CountedConnection", (CountedConnection,), {"web": self})
        return await serve(
            self._handle,
            host or None,
            port,
            create_connection=counted,
            subprotocols=list(SUBPROTOCOLS),
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            server_header=None,
            compression=None,  # per-connection zlib state and CPU on every fan-out: not worth it
            logger=_LIBRARY_LOG,
            open_timeout=self.config.web.request_timeout,
            ping_interval=None,  # IRC PINGs instead (the sweep)
            ping_timeout=None,
            close_timeout=self.close_grace,
            max_size=MAX_MESSAGE,
            max_queue=16,
            write_limit=WRITE_LIMIT,
            reuse_address=True,
            # --workers: every worker process listens on the same port (docs/cluster.md).
            reuse_port=self.config.cluster.workers > 1 or None,
            backlog=1024,
        )

    # -- admission of sockets, before HTTP -----------------------------------------------------

    def open_request(self, host: str) -> str | None:
        """Count a newly accepted web socket against the limits, or say why it is refused."""
        limits = self.config.limits
        peers = self.peers
        total = len(self.connections) + self.requests
        total += sum(len(peer.connections) for peer in peers)
        if total >= limits.max_clients:
            return "Server is full"
        count = self.per_address.get(host, 0)
        together = count + sum(peer.per_address.get(host, 0) for peer in peers)
        # A trusted proxy carries many clients' requests: each is limited by its own address
        # once the request says it (WsConnection), not by the proxy's.
        if together >= limits.clients_per_ip and not self.trusted_proxies.trusts(host):
            return "Too many connections from your IP address"
        self.per_address[host] = count + 1
        self.requests += 1
        return None

    def close_request(self, host: str) -> None:
        self.requests -= 1
        left = self.per_address.get(host, 1) - 1
        if left > 0:
            self.per_address[host] = left
        else:
            self.per_address.pop(host, None)

    # -- HTTP ----------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        for name in SINGLE_HEADERS:
            if len(headers.get_all(name)) > 1:
                log.debug("bad request from %s: %s header repeated", _peer(connection), name)
                return _response(StaticSite.error(http.HTTPStatus.BAD_REQUEST))
        if "websocket" in headers.get("Upgrade", "").lower():
            origin = headers.get("Origin")
            if origin_allowed(origin, self.allowed_origins):
                return None  # carry on with the WebSocket handshake
            log.info(
                "refused a WebSocket from %s: origin %s not allowed", _peer(connection), origin
            )
            return _response(StaticSite.error(http.HTTPStatus.FORBIDDEN, "Origin not allowed"))
        reply = self.site.respond(request.path, headers.get("If-None-Match"))
        return _response(reply)

    # -- WebSocket connections -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, CountedConnection)  # serve(create_connection=...) makes them
        ws.hubbub_done()  # from here on it counts as an IRC connection
        conn = WsConnection(self, ws)
        refusal = self._admit(conn)
        if refusal is not None:
            conn.core_done = True
            log.info("refused %s: %s", conn.label, refusal)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(("ERROR :" + refusal).encode(), text=not conn.binary)
                await ws.close(1008, refusal[:120])
            return
        reason = "Connection closed"
        try:
            reason = await self._serve(conn)
        finally:
            conn._gone(reason)
            closer = conn.closer
            if closer is not None and not closer.done():
                closer.cancel()

    async def _serve(self, conn: WsConnection) -> str:
        log.info(
            "connect %s (%s; %d web clients)",
            conn.label,
            conn.ws.subprotocol or "no subprotocol: text",
            len(self.connections),
        )
        try:
            conn.session = self.core.connect(conn, conn.host, conn.port, time.time(), secure=False)
        except Exception:
            log.exception("the core failed to accept %s", conn.label)
            conn.core_done = True
            conn.reason = "Internal error"
            conn.write(b"ERROR :Internal error\r\n")
            conn._close_transport()
        reason = await conn.run_reader()
        if not conn.core_done:
            conn._end(reason)
        conn.closing = True
        closer = conn.closer
        if closer is not None and not closer.done():
            # Our closing handshake: bounded by close_grace (the close timer aborts after it).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(closer), self.close_grace)
        return reason

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
