"""CPU cost of one room message at the default configuration, on a fixed in-process workload.

Wall-clock fan-out benchmarks on a shared machine are noise; this measures work instead. It
starts the real application (`hubbub.app.App`: history worker on SQLite in a temp dir,
accounts and registry workers, INFO logging through the app's log queue and listener thread,
written to /dev/null), then makes C connections of the real TCP connection class over fake
transports (no sockets: `write` only counts bytes), registers them and joins them to one room.
S of them then send K PRIVMSGs in all, handed to `data_received` as the socket would, so
each line takes the transport's whole path (line reader, decode, flood bucket when on, the
core, output cost, fan-out, the per-loop-turn flush), in turns of one read per sender each
(`--lines` lines per read) followed by one loop turn. At the end it waits until the log
listener has written and the history worker has committed everything, so their threads'
work is counted too (on the benchmark machine the server's threads share one core).

Reported: CPU seconds of the whole process (every thread) per message over the measured part,
and deliveries. Under callgrind, run it twice, with `--messages 0` and with K, and divide the
difference in instructions by K (`benchmarks/fanout_cost.py --callgrind` does exactly that):

    .venv/bin/python benchmarks/fanout_cost.py                      # CPU µs per message
    .venv/bin/python benchmarks/fanout_cost.py --callgrind          # instructions per message

With `--websocket` the clients are WebSocket clients of the real web listener instead
(`hubbub.transport.websocket.WsConnection` on the `websockets` library's connection, over the
same fake transports, after a real opening handshake through the library's protocol, on the
`text.ircv3.net` subprotocol as `hubbub bench fanout --websocket` uses, or `--binary`). Every
line arrives as one masked WebSocket frame handed to the library's `data_received` (several per
read with `--lines`), so it takes the library's frame parser and message queue, the reader
task, then the same pipeline and fan-out, and leaves as frames through the web listener's
flush. Comparing the two modes gives the price of WebSocket per room message:

    .venv/bin/python benchmarks/fanout_cost.py --callgrind --websocket

The defaults are those of `benchmarks/compare`'s fanout200 scenario (C=200, S=10, flood
control off, the default log level, history on in SQLite; fanout200ws with `--websocket`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from typing import Any

from websockets.asyncio.connection import Connection as LibraryConnection
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from hubbub import logsetup
from hubbub.app import App, _loop_factory
from hubbub.config import Config
from hubbub.transport.connection import Connection
from hubbub.transport.tcp import TcpConnection
from hubbub.transport.websocket import (
    MAX_MESSAGE,
    SUBPROTOCOLS,
    WRITE_LIMIT,
    CountedConnection,
    WebServer,
)

ROOM = "#bench"


class FakeTransport:
    """What a connection uses of an asyncio transport; nothing is sent. The methods the flush
    calls per connection are C functions, as uvloop's are: `write` keeps only the last
    payload, unless `counting` (then a Python method adds up the bytes: a check that every
    member got every message, at a small cost per write)."""

    def __init__(self, port: int, counting: bool) -> None:
        self.port = port
        self.written = 0
        if not counting:
            self.write = deque(maxlen=1).append  # type: ignore[method-assign,assignment]

    def write(self, data: bytes) -> None:
        self.written += len(data)

    # Called without arguments: False and 0, from C.
    is_closing = bool
    get_write_buffer_size = int

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", self.port) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def config_for(data_dir: str, flood: bool, history: str, websocket: bool = False) -> Config:
    base = Config()
    return dataclasses.replace(
        base,
        history=dataclasses.replace(base.history, backend=history),
        server=dataclasses.replace(base.server, data_dir=data_dir),
        listen=dataclasses.replace(base.listen, hosts=("127.0.0.1",), port=0),
        # The web listener binds loopback only when it is measured (its socket stays unused).
        web=dataclasses.replace(base.web, enabled=websocket, hosts=("127.0.0.1",), port=0),
        flood=dataclasses.replace(
            base.flood,
            enabled=flood,
            burst=1_000_000 if flood else base.flood.burst,
            lines_per_second=1e9 if flood else base.flood.lines_per_second,
        ),
        limits=dataclasses.replace(base.limits, clients_per_ip=100_000, max_clients=100_000),
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        app = App(config_for(data_dir, args.flood, args.history, args.websocket))
        await app.start()
        try:
            return await measure(app, args)
        finally:
            await app.stop(quiet=True)


async def turn() -> None:
    """Let the loop run what was scheduled (the listener's flush of coalesced output)."""
    await asyncio.sleep(0)


class WsClients:
    """WebSocket clients of the real web listener over fake transports: each is the library's
    connection after a real opening handshake, served by the listener's own handler task (the
    one a real client gets), fed masked frames as a socket would deliver them."""

    def __init__(self, web: WebServer, binary: bool) -> None:
        self.web = web
        self.subprotocol = SUBPROTOCOLS[1] if binary else SUBPROTOCOLS[0]
        self.opcode = 0x82 if binary else 0x81
        self.libraries: list[CountedConnection] = []
        self.tasks: list[asyncio.Task[None]] = []

    def open(self, transport: FakeTransport) -> CountedConnection:
        protocol = ServerProtocol(subprotocols=list(SUBPROTOCOLS), max_size=MAX_MESSAGE)
        protocol.receive_data(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
            % self.subprotocol.encode()
        )
        [request] = protocol.events_received()
        assert isinstance(request, Request)
        protocol.send_response(protocol.accept(request))
        protocol.data_to_send()
        assert protocol.state is State.OPEN, protocol.handshake_exc
        # The listener's own connection class (it routes data frames to the WsConnection).
        counted: type[CountedConnection] = type(
            "CountedConnection", (CountedConnection,), {"web": self.web}
        )
        library = counted(
            protocol,
            None,  # type: ignore[arg-type]  # no websockets Server: we start the handler
            ping_interval=None,
            ping_timeout=None,
            close_timeout=self.web.close_grace,
            max_queue=16,
            write_limit=WRITE_LIMIT,
        )
        # The library's own connection_made, without its server's handler bookkeeping.
        LibraryConnection.connection_made(library, transport)  # type: ignore[arg-type]
        library.request = request
        self.libraries.append(library)
        self.tasks.append(self.web.loop.create_task(self.web._handle(library)))
        return library

    def frame(self, line: bytes) -> bytes:
        """A line (no CRLF) as a masked client frame, with a zero mask key: the payload reads
        as itself, so making it costs about what adding CRLF to a TCP line does."""
        size = len(line)
        if size < 126:
            return bytes((self.opcode, 0x80 | size)) + b"\0\0\0\0" + line
        return bytes((self.opcode, 0x80 | 126)) + size.to_bytes(2, "big") + b"\0\0\0\0" + line

    def frames(self, data: bytes) -> bytes:
        """CRLF-terminated lines as masked client frames, one per line."""
        return b"".join(self.frame(line) for line in data.split(b"\r\n")[:-1])

    async def close(self) -> None:
        """Every socket gone, as when the peers vanish: the handlers report and finish."""
        for library in self.libraries:
            library.connection_lost(None)
        await asyncio.wait(self.tasks, timeout=5.0)


async def measure(app: App, args: argparse.Namespace) -> dict[str, Any]:
    listener = app.tcp
    assert listener is not None and app.worker is not None
    clients: WsClients | None = None
    if args.websocket:
        assert app.web is not None, "the web listener did not start"
        clients = WsClients(app.web, args.binary)
    connections: list[Connection] = []
    feeds: list[Any] = []  # per client: its data_received
    transports: list[FakeTransport] = []
    for index in range(args.clients):
        transport = FakeTransport(40000 + index, args.count)
        hello = b"NICK u%d\r\nUSER u%d 0 * :bench user\r\nJOIN %s\r\n" % (
            index,
            index,
            ROOM.encode(),
        )
        if clients is not None:
            library = clients.open(transport)
            await turn()  # the handler task starts: its WsConnection is admitted
            library.data_received(clients.frames(hello))
            feeds.append(library.data_received)
        else:
            connection = TcpConnection(listener)
            connection.connection_made(transport)  # type: ignore[arg-type]
            connection.data_received(hello)
            connections.append(connection)
            feeds.append(connection.data_received)
        transports.append(transport)
        if index % 50 == 49:
            await turn()
    await turn()
    await turn()
    app.worker.flush()
    logsetup._console().flush()
    senders = feeds[: args.senders]
    heads = [b"PRIVMSG %s :b: %d " % (ROOM.encode(), sid) for sid in range(args.senders)]
    before_bytes = sum(t.written for t in transports)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    cpu_before = time.process_time()
    sent = 0
    seq = 0
    while sent < args.messages:
        for sid, feed in enumerate(senders):
            count = min(args.lines, args.messages - sent)
            if count <= 0:
                break
            if clients is None:
                data = b"".join(
                    heads[sid] + b"%d 1733100000000000\r\n" % (seq + i) for i in range(count)
                )
            else:  # the same lines as masked frames, made as cheaply
                data = b"".join(
                    clients.frame(heads[sid] + b"%d 1733100000000000" % (seq + i))
                    for i in range(count)
                )
            seq += count
            sent += count
            feed(data)
        await turn()
        if args.idle:
            # The real loop waits in epoll between turns, and the server's other threads (the
            # log listener, the history writer) run then: let them, each turn.
            time.sleep(args.idle / 1e6)
    await turn()
    await turn()  # WebSocket: the readers' last messages, then their flush
    app.worker.flush()
    logsetup._console().flush()
    cpu = time.process_time() - cpu_before
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    delivered = sum(t.written for t in transports) - before_bytes
    if clients is not None:
        await clients.close()
    return {
        "transport": "websocket" if clients is not None else "tcp",
        "clients": args.clients,
        "senders": args.senders,
        "messages": sent,
        "bytes_delivered": delivered if args.count else None,
        "cpu_seconds": cpu,
        "cpu_us_per_message": cpu * 1e6 / sent if sent else 0.0,
        "history_appended": app.worker.appended,
        "history_commits": app.worker.commits,
        "log_dropped": logsetup.dropped(),
    }


def callgrind(args: argparse.Namespace) -> None:
    """Instructions per message: two runs under callgrind, K messages and none."""
    totals = []
    for messages in (0, args.messages):
        out = tempfile.mktemp(prefix="callgrind.", dir=tempfile.gettempdir())
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--clients",
            str(args.clients),
            "--senders",
            str(args.senders),
            "--lines",
            str(args.lines),
            "--messages",
            str(messages),
            "--log-level",
            args.log_level,
            "--history",
            args.history,
            "--idle",
            str(args.idle),
            *(["--flood"] if args.flood else []),
            *(["--websocket"] if args.websocket else []),
            *(["--binary"] if args.binary else []),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found is not None, done.stderr
        totals.append(int(found.group(1)))
        os.unlink(out)
    per_message = (totals[1] - totals[0]) / args.messages
    print(
        f"{'websocket' if args.websocket else 'tcp'}: "
        f"instructions: {totals[0]:,} (0 messages), {totals[1]:,} ({args.messages} messages): "
        f"{per_message:,.0f} per message, {per_message / (args.clients - 1):,.0f} per delivery"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", "-C", type=int, default=200)
    parser.add_argument("--senders", "-S", type=int, default=10)
    parser.add_argument("--messages", "-K", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=1, help="lines per read per sender")
    parser.add_argument(
        "--count", action="store_true", help="count the bytes delivered (a Python write)"
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="US",
        help="sleep this many µs after each loop turn (the loop's epoll wait), so that the "
        "server's other threads run between turns as they do in a server",
    )
    parser.add_argument("--flood", action="store_true", help="flood control on (a huge bucket)")
    parser.add_argument(
        "--websocket", action="store_true", help="WebSocket clients (text.ircv3.net) instead of TCP"
    )
    parser.add_argument(
        "--binary", action="store_true", help="with --websocket: binary.ircv3.net instead"
    )
    parser.add_argument("--log-level", default="INFO", choices=logsetup.LEVELS)
    parser.add_argument("--history", default="sqlite", choices=("sqlite", "memory"))
    parser.add_argument("--profile", metavar="FILE", help="cProfile the loop thread to FILE")
    parser.add_argument("--callgrind", action="store_true", help="instructions per message")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.callgrind:
        callgrind(args)
        return
    logsetup.configure(args.log_level)
    console = open(os.devnull, "w")  # noqa: SIM115 - the run's whole lifetime
    real_stderr, sys.stderr = sys.stderr, console
    try:
        factory = _loop_factory()
        if factory is None:
            result = asyncio.run(run(args))
        else:
            loop = factory()
            try:
                result = loop.run_until_complete(run(args))
            finally:
                loop.close()
    finally:
        sys.stderr = real_stderr
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['transport']} C={result['clients']} S={result['senders']} "
            f"messages={result['messages']}: "
            f"{result['cpu_us_per_message']:.1f} CPU µs per message "
            f"({result['bytes_delivered'] or 'uncounted'} bytes delivered, "
            f"{result['history_appended']} history records, {result['log_dropped']} log drops)"
        )


if __name__ == "__main__":
    main()
