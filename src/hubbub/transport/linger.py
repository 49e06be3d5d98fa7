"""Dropping a connection together with what the kernel still holds for it.

A socket closed with unsent bytes is kept by the kernel until it has delivered them: for a
client cut off because it never reads (`SendQ exceeded`) that is up to the kernel's send buffer
(`net.ipv4.tcp_wmem`, 4 MiB by default on Linux) held for minutes, on a connection nobody
will read again. With `SO_LINGER` on and a zero timeout, closing resets the connection instead
and the memory is freed at once; the client sees the connection reset. Used only when a
connection is aborted, never for an orderly close, whose last lines must arrive. (Twisted's
`abortConnection` does the same itself.)
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Protocol

__all__ = ["reset_on_close"]

_RESET = struct.pack("ii", 1, 0)  # struct linger {l_onoff = 1, l_linger = 0}


class _Settable(Protocol):
    def setsockopt(self, level: int, option: int, value: bytes, /) -> None: ...


def reset_on_close(sock: _Settable | None) -> None:
    """Make the next close of `sock` reset the connection, discarding unsent bytes (a socket
    already closed, or not a TCP socket, is left as it is)."""
    if sock is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
