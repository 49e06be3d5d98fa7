"""Clients that join a room and then stop reading: `hubbub bench fanout --stalled N`.

The question they ask of a server is whether a recipient that takes nothing holds up anybody
else. Each one registers, joins the room (the first room in `rooms`), and from then on never
reads its socket, whose receive buffer is made small so that the server's own send queue for it
fills quickly. The measured clients are the scenario's usual ones, unchanged; the result says how
many stalled clients the server cut off (it should: `limits.sendq_bytes` in hubbub, SendQ in
other servers) and the others' latency is compared with a run without them.

They run in the coordinator process, with plain blocking sockets: they do nothing while the
traffic flows, so they cost the generator nothing.
"""

from __future__ import annotations

import contextlib
import socket
import time

__all__ = ["RECEIVE_BUFFER", "StalledClients"]

#: The stalled sockets' receive buffer, in bytes (the kernel may round it up).
RECEIVE_BUFFER = 4096
#: At most this much is read from a stalled socket at the end, looking for the server's close.
_DRAIN_LIMIT = 64 << 20


class StalledClients:
    """`count` clients in `room` that stopped reading once they had joined it."""

    def __init__(
        self, host: str, port: int, room: str, count: int, *, password: str = "", tag: str = ""
    ) -> None:
        self.host = host
        self.port = port
        self.room = room
        self.count = count
        self.password = password
        self.tag = tag
        self.sockets: list[socket.socket] = []

    def open(self, timeout: float) -> None:
        """Register and join every one of them (raises OSError or TimeoutError on failure)."""
        for number in range(self.count):
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            self.sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.settimeout(timeout)
            sock.connect((self.host, self.port))
            # Short: some servers allow 9 characters (ngIRCd's NICKLEN).
            nick = f"s{self.tag[-4:]}{number}"
            hello = f"PASS :{self.password}\r\n" if self.password else ""
            hello += f"NICK {nick}\r\nUSER {nick} 0 * :stalled reader\r\n"
            sock.sendall(hello.encode())
            _read_until(sock, b" 001 ", timeout)
            sock.sendall(f"JOIN {self.room}\r\n".encode())
            _read_until(sock, b" 366 ", timeout)
            # From here on nothing is read: the server's output for it piles up.

    def cut_off(self, patience: float = 2.0) -> int:
        """How many of them the server has closed. What they were sent is read now (up to a
        limit) to reach the end of the stream, if there is one."""
        closed = 0
        for sock in self.sockets:
            if _closed_by_peer(sock, patience):
                closed += 1
        return closed

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self.sockets.clear()


def _read_until(sock: socket.socket, marker: bytes, timeout: float) -> None:
    """Read (answering PING) until a line containing `marker` has arrived."""
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        lines = buffer.split(b"\r\n")
        buffer = lines.pop()
        for line in lines:
            if line.startswith(b"PING "):
                sock.sendall(b"PONG " + line[5:] + b"\r\n")
            elif marker in line:
                return
            elif line.startswith(b"ERROR ") or _refused(line):
                raise OSError(
                    f"the server refused a stalled client: {line.decode(errors='replace')}"
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker.decode().strip()} for a stalled client in time")
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the server closed a stalled client during its setup")
        buffer += chunk


def _refused(line: bytes) -> bool:
    """A numeric that ends the setup: bad or taken nick, or a channel that cannot be joined."""
    parts = line.split(b" ", 2)
    return len(parts) > 1 and parts[1] in (b"432", b"433", b"471", b"473", b"474", b"475")


def _closed_by_peer(sock: socket.socket, patience: float) -> bool:
    deadline = time.monotonic() + patience
    taken = 0
    sock.settimeout(0.05)
    while taken < _DRAIN_LIMIT and time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            return False  # nothing more for now, and not closed: still connected
        except OSError:
            return True  # reset by the server
        if not chunk:
            return True
        taken += len(chunk)
    return False
