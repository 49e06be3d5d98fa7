"""The sequencing cost of the cluster bus: round trips per sequence() and calls per second.

Starts its own redis-server (no persistence) on a free 127.0.0.1 port and one Bus that is
subscribed to the rooms it sequences into, so every call also travels back through pub/sub the
way a real node's do. Measures:

- round trips per sequence(): the commands the bus's connections send while sequencing, as
  Redis's MONITOR reports them (commands a script runs inside Redis are counted apart, as the
  Redis-side work of one call);
- sequence() calls/s at concurrency 1 and 32 (each concurrent caller waits for its own reply),
  with the p50/p99 of a call, this process's CPU per call (its pub/sub delivery included), the
  round trips per call (the bus batches concurrent calls into pipelines:
  hubbub.cluster.sequencer), and a check that every event came back through on_event in
  order, once. On uvloop, the server's default loop, when it is installed;
- with `--seed-members N,...`: the Redis-side time of one SEED call (the script a node runs
  per room when Redis is back; hubbub.cluster.bus_scripts) that finds the room's end lost, in
  a room of N members, whose state hash it reads whole to name their nodes (HGETALL, a
  cjson decode per member field): Redis runs nothing else meanwhile.

Run by benchmarks/bus. The figures depend on the machine; say how loaded it was.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.cluster.bus import Bus, Sequenced
from hubbub.core.cluster_fields import facts_json, member_field, standing_field


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    executable = shutil.which("redis-server")
    if executable is None:
        sys.exit("benchmarks/bus: redis-server is missing (scripts/install-test-deps)")
    port = free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--logfile", str(directory / "log")],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("benchmarks/bus: redis-server did not start")


async def monitor_count(port: int, calls: int, bus: Bus) -> tuple[float, float]:
    """(round trips, Redis-side script commands) per sequence(), from MONITOR's stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"MONITOR\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"+OK")
    marker = "#bench-end"
    for number in range(calls):
        await bus.sequence("#bench-rt", str(number).encode())
    await bus.sequence(marker, b"end")
    top_level = in_script = 0
    while True:
        line = (await reader.readline()).decode(errors="replace")
        if marker in line and '"EVALSHA"' in line.upper():
            break
        # '+<time> [<db> <client address or "lua">] "COMMAND" ...'
        if " lua] " in line:
            in_script += 1
        else:
            top_level += 1
    writer.close()
    return top_level / calls, in_script / calls


async def throughput(
    bus: Bus, delivered: dict[str, list[Sequenced]], concurrency: int, calls: int
) -> dict[str, float]:
    room = f"#bench-c{concurrency}"
    await bus.subscribe(room)
    latencies: list[float] = []
    per_caller = calls // concurrency

    async def caller(index: int) -> None:
        for number in range(per_caller):
            began = time.perf_counter()
            await bus.sequence(room, f"{index}:{number}".encode())
            latencies.append(time.perf_counter() - began)

    batches, calls_before = bus.sequencer.batches, bus.sequencer.calls
    began = time.perf_counter()
    cpu_began = time.process_time()
    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    elapsed = time.perf_counter() - began
    batches = bus.sequencer.batches - batches
    sent = bus.sequencer.calls - calls_before
    total = per_caller * concurrency
    deadline = time.monotonic() + 30
    while len(delivered[room]) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    # This process's CPU per call, its pub/sub delivery included (the polling above is cheap).
    cpu = time.process_time() - cpu_began
    seqs = [event.seq for event in delivered[room]]
    latencies.sort()
    return {
        "calls": total,
        "calls_per_s": total / elapsed,
        "cpu_us_per_call": cpu / total * 1e6,
        # One pipeline (one write, one read) is one round trip for all the calls in it.
        "round_trips_per_call": batches / sent,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "delivered_in_order": float(seqs == list(range(1, total + 1))),
    }


async def run(port: int, calls: int) -> None:
    delivered: dict[str, list[Sequenced]] = defaultdict(list)
    bus = Bus(
        f"redis://127.0.0.1:{port}/0",
        "bench",
        on_event=lambda event: delivered[event.room].append(event),
        on_node_lost=lambda node, claims: None,
        on_available=lambda available: None,
        # No heartbeat inside the measurement.
        lease_ms=600_000,
        heartbeat_ms=300_000,
    )
    await bus.start()
    try:
        await bus.subscribe("#bench-rt")
        await bus.sequence("#bench-rt", b"warm-up")  # loads the script (EVALSHA from then on)
        trips, inside = await monitor_count(port, 200, bus)
        print(f"round trips per sequence(): {trips:.2f}; commands run inside Redis: {inside:.2f}")
        print(
            "concurrency  calls   calls/s   p50 ms   p99 ms  CPU µs/call  round trips/call"
            "  delivered in order, once"
        )
        for concurrency in (1, 32):
            figures = await throughput(bus, delivered, concurrency, calls)
            print(
                f"{concurrency:>11}  {figures['calls']:>5.0f}  {figures['calls_per_s']:>8.0f}"
                f"  {figures['p50_ms']:>7.3f}  {figures['p99_ms']:>7.3f}"
                f"  {figures['cpu_us_per_call']:>11.0f}"
                f"  {figures['round_trips_per_call']:>16.3f}  "
                f"{'yes' if figures['delivered_in_order'] else 'NO'}"
            )
    finally:
        await bus.close()


# Member facts as a node writes them (hubbub.core.cluster_fields `user_facts`), spread over
# this many nodes.
SEED_NODES = 4
SEED_CALLS = 200


def member_facts(number: int) -> dict[str, object]:
    nick = f"member{number}"
    return {
        "n": nick, "u": f"~{nick}", "h": "192.0.2.1", "r": f"Member {number}", "a": "",
        "ai": 0, "aw": "", "um": "i", "op": "", "md": {}, "node": f"node-{number % SEED_NODES}",
        "sv": "irc.example.org", "id": f"node-{number % SEED_NODES}/{number}", "nv": 1,
    }  # fmt: skip


async def seed_cost(port: int, members: int) -> tuple[float, int]:
    """Redis-side µs of one SEED that finds a room's end lost (the seq below this node's),
    in a room of `members` members; and how many nodes it named."""
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        epoch = "bench-epoch"
        await redis.set(scripts.EPOCH_KEY, epoch)
        room = f"#bench-seed-{members}"
        state = scripts.state_key(room)
        await redis.delete(state)
        batch = 1000
        for start in range(0, members, batch):
            fields: dict[str, str] = {}
            for number in range(start, min(start + batch, members)):
                fields[member_field(f"member{number}")] = facts_json(member_facts(number), 0)
                fields[standing_field(f"member{number}")] = ""
            await redis.hset(state, mapping=fields)  # type: ignore[arg-type]
        seed = redis.register_script(scripts.SEED)
        keys = [scripts.EPOCH_KEY, scripts.seq_key(room), scripts.stream_key(room), state]
        args = [epoch, 2, 1, "bench", scripts.LOST_RANGES, scripts.REUSED_SCAN]
        named = 0
        await redis.config_resetstat()
        for _ in range(SEED_CALLS):
            # (Redis back without the room's last write, each time.)
            await redis.hset(scripts.seq_key(room), mapping={"seq": "1", "lost": ""})
            answer = await seed(keys=keys, args=args)
            named = sum(1 for item in answer if isinstance(item, bytes) and item.startswith(b"h:"))
        stats = await redis.info("commandstats")
        return float(stats["cmdstat_evalsha"]["usec_per_call"]), named
    finally:
        await redis.aclose()


async def seed_costs(port: int, sizes: list[int]) -> None:
    print("members  SEED µs in Redis (mean of 200)  nodes named")
    for members in sizes:
        micros, named = await seed_cost(port, members)
        print(f"{members:>7}  {micros:>30.0f}  {named:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="sequence() calls per run")
    parser.add_argument(
        "--seed-members",
        default="",
        help="comma-separated room sizes: measure SEED there instead of sequence()",
    )
    arguments = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="hubbub-bench-bus-"))
    process, port = start_redis(directory)
    try:
        # The server's default loop (hubbub.engines: uvloop where it is installed).
        if arguments.seed_members:
            sizes = [int(size) for size in arguments.seed_members.split(",")]
            asyncio.run(seed_costs(port, sizes))
            return
        try:
            import uvloop
        except ImportError:
            asyncio.run(run(port, arguments.calls))
        else:
            uvloop.run(run(port, arguments.calls))
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
