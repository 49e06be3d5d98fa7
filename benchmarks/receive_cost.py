"""The load generator's own cost per received chunk and per delivery, without a server.

`hubbub bench` at C=1000 was the limit of its own measurement (99 % of its core against 60 %
for the server), so its receive path is measured here on its own, as work rather than time: a
synthetic stream shaped like a fan-out run's (S senders in one room sending batches of W
numbered, stamped messages; the server relays each batch as consecutive lines, several lines
per read) is cut into chunks and handed to one bench client per bulk mode exactly as the event
loop hands a socket's reads to it:

* a `BufferedProtocol` (what uvloop calls when the protocol has `get_buffer`): `get_buffer`,
  the chunk copied into the returned buffer (the kernel's copy in `recv_into`), then
  `buffer_updated(n)`;
* a plain `Protocol`: the chunk copied into a scratch buffer (the kernel's copy into uvloop's
  read buffer), then `data_received(bytes(...))` (uvloop's `bytes` copy of what was read).

So the same script measures the code before and after a change of protocol kind (run it with
``PYTHONPATH=<a checkout>/src`` for a base). Every chunk's content is then checked: the client
must have counted (COUNT) or checked (FULL: no loss, duplicate or reordering) every delivery,
and answered the stream's PINGs.

    .venv/bin/python benchmarks/receive_cost.py                 # CPU ns per chunk and delivery
    .venv/bin/python benchmarks/receive_cost.py --callgrind     # instructions, noise-free
    .venv/bin/python benchmarks/receive_cost.py --callgrind --websocket

With `--websocket` the client is the WebSocket one (`hubbub.bench.wsclient.WsClient`, already
upgraded) and each line of the same stream arrives as the server frames it (`frame_lines`: an
unmasked text frame per line, a 2-byte header for lines under 126 bytes); the chunks are cut at
the same line (frame) boundaries, moved by `--shift` bytes likewise.

`--callgrind` runs the script under `valgrind --tool=callgrind` once per (mode, lines per chunk),
collecting only inside the one `functools.reduce` call that feeds the chunks (so neither the
interpreter's start nor the stream's making nor the final check counts; hash randomisation
and address layout made whole-process differences vary by millions of instructions), and
divides by the number of chunks and of deliveries. It does so for two chunk sizes and solves
cost = per_chunk + per_delivery x lines for the two unknowns. The defaults are the
fanout1000 scenario's (S=20, W=8, checked one member in 10: the `mixed` row weighs COUNT 9
and FULL 1). What is not counted: the event loop's own work per read (epoll, the `recv` system
call, uvloop's C code), the same whichever protocol kind.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from hubbub.bench.client import COUNT, FULL, Client
from hubbub.bench.wsclient import WsClient
from hubbub.transport.websocket import frame_lines

MODES = {"count": COUNT, "full": FULL}
STAMP0 = 123_456_789_012  # µs, CLOCK_MONOTONIC-sized (about 34 hours of uptime)


class FakeTransport:
    """What a bench client uses of a transport: `write` keeps what was written (PONGs)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.write = self.written.append

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def stream_lines(senders: int, window: int, deliveries: int, ping_every: int) -> list[bytes]:
    """The lines one member receives: each turn, every sender's batch of `window` messages
    (one send time per batch) as consecutive lines, senders in turn; a PING from the server
    every `ping_every` lines (0: none)."""
    lines: list[bytes] = []
    seqs = [0] * senders
    stamp = STAMP0
    while len(lines) < deliveries:
        for sender in range(senders):
            stamp += 37
            prefix = b":b0x%d!b@127.0.0.1 PRIVMSG #bench :b: %d " % (sender + 1, sender + 1)
            for _ in range(window):
                lines.append(prefix + b"%d %d\r\n" % (seqs[sender], stamp))
                seqs[sender] += 1
                if ping_every and len(lines) % ping_every == 0:
                    lines.append(b"PING :hubbub.local\r\n")
    return lines


def chunked(lines: list[bytes], per_chunk: int, shift: int) -> list[bytearray]:
    """`per_chunk` lines per chunk; with `shift`, every cut moved `shift` bytes later (so most
    reads end inside a line, as when the kernel's buffer held a partial write)."""
    data = b"".join(lines)
    cuts = [0]
    at = 0
    for index in range(per_chunk, len(lines), per_chunk):
        at = sum(len(line) for line in lines[index - per_chunk : index]) + at
        cuts.append(min(len(data), at + shift))
    cuts.append(len(data))
    return [bytearray(data[a:b]) for a, b in pairwise(cuts) if b > a]


def feeder(client: Client) -> Callable[[bytearray], None]:
    """One read as the event loop delivers it, for either protocol kind."""
    get_buffer = getattr(client, "get_buffer", None)
    if get_buffer is not None and hasattr(client, "buffer_updated"):
        buffer_updated = client.buffer_updated

        def feed_buffered(chunk: bytearray) -> None:
            size = len(chunk)
            get_buffer(-1)[:size] = chunk
            buffer_updated(size)

        return feed_buffered

    scratch = memoryview(bytearray(256_000))
    data_received = client.data_received

    def feed_plain(chunk: bytearray) -> None:
        size = len(chunk)
        scratch[:size] = chunk
        data_received(scratch[:size].tobytes())

    return feed_plain


class NullPlain:
    """A protocol that does nothing with what it receives: the driver's own cost, plain kind."""

    def data_received(self, data: bytes) -> None:
        pass


class NullBuffered:
    """The same for the buffered kind: one preallocated buffer, nothing done with it."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(256_000))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        pass


def framed(lines: list[bytes]) -> list[bytes]:
    """Each line as the server sends it over WebSocket: one unmasked text frame."""
    return [frame_lines(line, 0x81) for line in lines]


def make_client(mode: int, websocket: bool = False) -> Client:
    client: Client
    if websocket:
        ws = WsClient("b0x0")
        ws.upgraded = True  # the handshake is not part of the receive path
        client = ws
    else:
        client = Client("b0x0")
    client.transport = FakeTransport()  # type: ignore[assignment]
    client.start_bulk(mode)
    return client


def verify(client: Client, mode: int, lines: list[bytes]) -> None:
    deliveries = sum(b" :b: " in line for line in lines)
    pings = len(lines) - deliveries
    assert client.count == deliveries, (client.count, deliveries)
    if mode == FULL:
        flow = client.flow
        assert flow.duplicates == 0 and flow.out_of_order == 0 and not any(flow.missing.values())
        assert client.latency.count == deliveries
    pongs = sum(data.count(b"PONG") for data in client.transport.written)  # type: ignore[union-attr]
    assert pongs == pings, (pongs, pings)


def run(args: argparse.Namespace) -> None:
    lines = stream_lines(args.senders, args.window, args.deliveries, args.ping_every)
    chunks = chunked(framed(lines) if args.websocket else lines, args.lines, args.shift)
    if args.mode.startswith("null"):
        null = NullPlain() if args.mode == "null-plain" else NullBuffered()
        feed = feeder(null)  # type: ignore[arg-type]
        functools.reduce(lambda _, chunk: feed(chunk), chunks, None)
        return
    mode = MODES[args.mode]
    client = make_client(mode, args.websocket)
    feed = feeder(client)
    started = time.process_time_ns()
    # Under callgrind, instructions are collected inside this call only (see `instructions`).
    functools.reduce(lambda _, chunk: feed(chunk), chunks, None)
    spent = time.process_time_ns() - started
    verify(client, mode, lines)
    deliveries = client.count
    print(
        f"{args.mode}: {len(chunks)} chunks, {deliveries} deliveries "
        f"({deliveries / len(chunks):.1f} per chunk): {spent / len(chunks):.0f} ns per chunk, "
        f"{spent / deliveries:.1f} ns per delivery (CPU time, all included)"
    )


def instructions(args: argparse.Namespace, mode: str, per_chunk: int) -> int:
    """Instructions spent feeding the chunks, in a run under callgrind."""
    out = tempfile.mktemp(prefix="callgrind.", dir=tempfile.gettempdir())
    command = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        "--toggle-collect=functools_reduce",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--mode",
        mode,
        "--lines",
        str(per_chunk),
        "--shift",
        str(args.shift),
        "--senders",
        str(args.senders),
        "--window",
        str(args.window),
        "--deliveries",
        str(args.deliveries),
        "--ping-every",
        str(args.ping_every),
        *(["--websocket"] if args.websocket else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr
    os.unlink(out)
    return int(found.group(1))


def callgrind(args: argparse.Namespace) -> None:
    sizes = args.sizes
    lines = stream_lines(args.senders, args.window, args.deliveries, args.ping_every)
    deliveries = sum(b" :b: " in line for line in lines)
    results: dict[str, dict[int, float]] = {}
    # The driver's own cost per chunk (copying the chunk, calling the protocol), for the kind
    # of protocol the client is: subtracted, since the event loop does that work in C.
    client_class = WsClient if args.websocket else Client
    kind = "null-buffered" if hasattr(client_class, "get_buffer") else "null-plain"
    stream = framed(lines) if args.websocket else lines
    chunks = len(chunked(stream, sizes[0], args.shift))
    driver = instructions(args, kind, sizes[0]) / chunks
    print(f"driver ({kind}): {driver:,.0f} instructions per chunk, subtracted below")
    for mode in ("count", "full"):
        results[mode] = {}
        for per_chunk in sizes:
            chunks = len(chunked(stream, per_chunk, args.shift))
            spent = instructions(args, mode, per_chunk) - driver * chunks
            cost = spent / chunks
            results[mode][per_chunk] = cost
            print(
                f"{mode:5} {per_chunk:4} lines/chunk: {cost:10,.0f} instructions per chunk, "
                f"{spent / deliveries:8,.1f} per delivery",
                flush=True,
            )
    checked = 1 / args.check_every
    small, large = sizes[0], sizes[-1]
    fitted: dict[str, tuple[float, float]] = {}
    for mode in ("count", "full"):
        per_delivery = (results[mode][large] - results[mode][small]) / (large - small)
        fitted[mode] = (results[mode][small] - per_delivery * small, per_delivery)
    count_chunk, count_delivery = fitted["count"]
    full_chunk, full_delivery = fitted["full"]
    fitted["mixed"] = (
        (1 - checked) * count_chunk + checked * full_chunk,
        (1 - checked) * count_delivery + checked * full_delivery,
    )
    for mode, (chunk, delivery) in fitted.items():
        print(f"{mode:5}: {chunk:8,.0f} instructions per chunk + {delivery:6,.1f} per delivery")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--mode", choices=[*sorted(MODES), "null-plain", "null-buffered"], default="count"
    )
    parser.add_argument("--lines", type=int, default=16, help="lines per chunk")
    parser.add_argument("--shift", type=int, default=0, help="cut chunks this many bytes late")
    parser.add_argument("--senders", "-S", type=int, default=20)
    parser.add_argument("--window", "-W", type=int, default=8)
    parser.add_argument("--deliveries", type=int, default=64_000)
    parser.add_argument("--ping-every", type=int, default=10_000)
    parser.add_argument("--check-every", type=int, default=10)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument(
        "--websocket", action="store_true", help="the WebSocket client, the stream framed"
    )
    parser.add_argument(
        "--sizes", type=lambda text: [int(n) for n in text.split(",")], default=[4, 64]
    )
    args: Any = parser.parse_args(argv)
    if args.callgrind:
        callgrind(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
