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

The defaults are those of `benchmarks/compare`'s fanout200 scenario (C=200, S=10, flood
control off, the default log level, history on in SQLite).
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

from hubbub import logsetup
from hubbub.app import App, _loop_factory
from hubbub.config import Config
from hubbub.transport.tcp import TcpConnection

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
            self.write = deque(maxlen=1).append  # type: ignore[method-assign]

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


def config_for(data_dir: str, flood: bool, history: str) -> Config:
    base = Config()
    return dataclasses.replace(
        base,
        history=dataclasses.replace(base.history, backend=history),
        server=dataclasses.replace(base.server, data_dir=data_dir),
        listen=dataclasses.replace(base.listen, hosts=("127.0.0.1",), port=0),
        web=dataclasses.replace(base.web, enabled=False),
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
        app = App(config_for(data_dir, args.flood, args.history))
        await app.start()
        try:
            return await measure(app, args)
        finally:
            await app.stop(quiet=True)


async def turn() -> None:
    """Let the loop run what was scheduled (the listener's flush of coalesced output)."""
    await asyncio.sleep(0)


async def measure(app: App, args: argparse.Namespace) -> dict[str, Any]:
    listener = app.tcp
    assert listener is not None and app.worker is not None
    connections: list[TcpConnection] = []
    transports: list[FakeTransport] = []
    for index in range(args.clients):
        transport = FakeTransport(40000 + index, args.count)
        connection = TcpConnection(listener)
        connection.connection_made(transport)  # type: ignore[arg-type]
        connection.data_received(
            b"NICK u%d\r\nUSER u%d 0 * :bench user\r\nJOIN %s\r\n" % (index, index, ROOM.encode())
        )
        connections.append(connection)
        transports.append(transport)
        if index % 50 == 49:
            await turn()
    await turn()
    app.worker.flush()
    logsetup._console().flush()
    senders = connections[: args.senders]
    heads = [b"PRIVMSG %s :b: %d " % (ROOM.encode(), sid) for sid in range(args.senders)]
    before_bytes = sum(t.written for t in transports)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    cpu_before = time.process_time()
    sent = 0
    seq = 0
    while sent < args.messages:
        for sid, connection in enumerate(senders):
            count = min(args.lines, args.messages - sent)
            if count <= 0:
                break
            data = b"".join(
                heads[sid] + b"%d 1733100000000000\r\n" % (seq + i) for i in range(count)
            )
            seq += count
            sent += count
            connection.data_received(data)
        await turn()
        if args.idle:
            # The real loop waits in epoll between turns, and the server's other threads (the
            # log listener, the history writer) run then: let them, each turn.
            time.sleep(args.idle / 1e6)
    await turn()
    app.worker.flush()
    logsetup._console().flush()
    cpu = time.process_time() - cpu_before
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    delivered = sum(t.written for t in transports) - before_bytes
    return {
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
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found is not None, done.stderr
        totals.append(int(found.group(1)))
        os.unlink(out)
    per_message = (totals[1] - totals[0]) / args.messages
    print(
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
            f"C={result['clients']} S={result['senders']} messages={result['messages']}: "
            f"{result['cpu_us_per_message']:.1f} CPU µs per message "
            f"({result['bytes_delivered'] or 'uncounted'} bytes delivered, "
            f"{result['history_appended']} history records, {result['log_dropped']} log drops)"
        )


if __name__ == "__main__":
    main()
