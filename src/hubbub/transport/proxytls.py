"""A TLS listener behind a proxy that speaks the PROXY protocol (`[tls] proxy_protocol`).

The PROXY header comes before the TLS handshake, and asyncio's TLS servers start the handshake
as soon as a connection is accepted. So this listener accepts sockets itself: from a trusted
proxy it reads the header first — exactly the header's bytes and not one more
(`hubbub.protocol.proxy.next_read`), so the TLS handshake is left in the socket — and only then
hands the socket to the loop with TLS (`connect_accepted_socket`), telling the connection who
the client is. Peers that are not trusted proxies go straight to TLS, as on any TLS listener.
A missing (within `header_timeout`), malformed or cut-off header closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from hubbub.protocol.proxy import ProxyError, next_read
from hubbub.protocol.proxy import parse as parse_proxy_header
from hubbub.transport.connection import normal_host

__all__ = ["ProxiedTlsListener", "read_proxy_header"]

log = logging.getLogger("hubbub.net")

Source = tuple[str, int] | None
Factory = Callable[[Source], asyncio.Protocol]


async def read_proxy_header(
    loop: asyncio.AbstractEventLoop, sock: socket.socket
) -> tuple[Source, int]:
    """Read one PROXY header from `sock`, never past it: (the client, or None, and its size)."""
    data = b""
    while True:
        header = parse_proxy_header(data) if data else None
        if header is not None:
            return header.source, header.length
        chunk = await loop.sock_recv(sock, next_read(data))
        if not chunk:
            raise ProxyError("the connection closed inside the PROXY header")
        data += chunk


class ProxiedTlsListener:
    """Listening sockets on `host`:`port`; accepted connections go through `_accepted`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        factory: Factory,
        ssl_context: ssl.SSLContext,
        trusted: Callable[[str], bool],
        header_timeout: float,
    ) -> None:
        self.loop = loop
        self.factory = factory
        self.ssl_context = ssl_context
        self.trusted = trusted
        self.header_timeout = header_timeout
        self.sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, host: str, port: int) -> None:
        """Listen on every address `host` resolves to (as asyncio's create_server does)."""
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        try:
            for family, kind, proto, _name, address in infos:
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(1024)
                sock.setblocking(False)
                if port == 0:  # the other addresses of this host share the port picked
                    port = sock.getsockname()[1]
        except BaseException:
            self.close()
            raise
        for sock in self.sockets:
            self._spawn(self._accept_forever(sock))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_forever(self, listening: socket.socket) -> None:
        while True:
            try:
                sock, peer = await self.loop.sock_accept(listening)
            except OSError as exc:  # EMFILE and the like: say so, keep accepting
                log.warning("TLS listener: accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            sock.setblocking(False)
            self._spawn(self._accepted(sock, normal_host(str(peer[0]))))

    async def _accepted(self, sock: socket.socket, host: str) -> None:
        source: Source = None
        try:
            if self.trusted(host):
                source, _length = await asyncio.wait_for(
                    read_proxy_header(self.loop, sock), self.header_timeout
                )
            await self.loop.connect_accepted_socket(
                lambda: self.factory(source),
                sock,
                ssl=self.ssl_context,
                ssl_handshake_timeout=self.header_timeout,
            )
        except (ProxyError, TimeoutError, OSError, ssl.SSLError) as exc:
            log.info("refused a TLS connection from %s: %s", host, exc or type(exc).__name__)
            sock.close()

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
