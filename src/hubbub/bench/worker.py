"""A generator worker process: its share of the clients, on its own (uv)loop.

The coordinator (`hubbub.bench.runner`) starts one process per worker with a `Plan` and one end
of a pipe, and drives every worker through the same phases with small pickled messages:

fanout / rooms::

    worker → ("ready", info)        every client registered and joined (or ("error", text))
    coord  → ("go", t0_us)          start sending at t0 (CLOCK_MONOTONIC µs, shared by all)
    worker → ("sent", {sid: n})     after t0 + duration: what each local sender sent
    coord  → ("expect", {sid: n})   what every sender sent, so receivers know when they are done
    worker → ("result", {...})      once everything expected arrived, or the drain time ran out
    coord  → ("close",)

join (the joiners themselves run in the coordinator, `hubbub.bench.join`)::

    worker → ("ready", info)        every member registered, joined and watching for joiners
    coord  → ("expect", {nick: t})  the joiners that joined, each with its JOIN's send time (µs)
    worker → ("result", {...})      once every member saw every joiner, or the drain time ran out
    coord  → ("close",)

connect::

    worker → ("ready", {})
    coord  → ("go", t0_us)
    worker → ("result", {...})      every client registered (latencies) and idle
    coord  → ("close",)             after the coordinator has read the server's memory

CPU time is the worker's own getrusage between "go" and its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from hubbub.bench.client import COUNT, FULL, Client, ClientError, Sender, Tally, open_client
from hubbub.bench.options import Options
from hubbub.bench.procstat import own_cpu_seconds, raise_fd_limit
from hubbub.bench.stats import Histogram
from hubbub.bench.wsclient import WsClient

__all__ = ["Member", "Plan", "gather_limited", "run_loop", "worker_main"]

T = TypeVar("T")


@dataclass(frozen=True)
class Member:
    """One client of a worker: its global index, nick and room (index into Plan.rooms)."""

    index: int
    nick: str
    room: int
    full: bool  # checks sequences and latency (FULL), or only counts (COUNT)
    acks: tuple[int, ...] = ()  # the senders (client indices) this client acknowledges
    server: int = 0  # index into Options.endpoints(): the server this client connects to


@dataclass(frozen=True)
class Plan:
    worker: int
    options: Options
    rooms: tuple[str, ...]
    members: tuple[Member, ...]
    senders: tuple[int, ...] = ()  # client indices of this worker that send
    room_of: dict[int, int] = field(default_factory=dict)  # every sender (global) -> room
    marker: str = ""  # join: the prefix of every joiner's nick
    server_of: dict[int, int] = field(default_factory=dict)  # every sender (global) -> server


def worker_main(plan: Plan, conn: Connection) -> None:
    """Process entry point."""
    raise_fd_limit(len(plan.members) + 256)
    try:
        scenario = plan.options.scenario
        main = {"connect": _connect, "join": _join_members}.get(scenario, _traffic)
        run_loop(main(plan, conn))
    except Exception as exc:  # report instead of dying silently
        with contextlib.suppress(OSError):
            conn.send(("error", f"worker {plan.worker}: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on a fresh uvloop (asyncio's own loop where uvloop is missing)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)


class Pipe:
    """The worker's end of the control pipe, awaited on the event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.loop = asyncio.get_running_loop()

    def send(self, *message: object) -> None:
        self.conn.send(message)

    async def recv(self, expect: str) -> tuple[Any, ...]:
        if not self.conn.poll():
            ready: asyncio.Future[None] = self.loop.create_future()
            fd = self.conn.fileno()

            def readable() -> None:
                if not ready.done():
                    ready.set_result(None)

            self.loop.add_reader(fd, readable)
            try:
                await ready
            finally:
                self.loop.remove_reader(fd)
        message = self.conn.recv()
        assert isinstance(message, tuple)
        if message[0] != expect:
            raise RuntimeError(f"expected {expect!r} from the coordinator, got {message[0]!r}")
        return message


async def _sleep_until(t_us: int) -> None:
    delay = (t_us - time.monotonic_ns() // 1000) / 1e6
    if delay > 0:
        await asyncio.sleep(delay)


async def gather_limited(
    jobs: list[Callable[[], Awaitable[None]]], limit: int, deadline: float
) -> None:
    """Run the jobs with at most `limit` at once; the first failure cancels the rest."""
    queue = list(reversed(jobs))

    async def lane() -> None:
        while queue:
            await queue.pop()()

    lanes = [asyncio.ensure_future(lane()) for _ in range(min(limit, len(jobs)))]
    try:
        await asyncio.wait_for(asyncio.gather(*lanes), max(0.1, deadline - time.monotonic()))
    finally:
        for task in lanes:
            task.cancel()


# ---------------------------------------------------------------------- fanout and rooms


async def set_up(
    jobs: list[Callable[[], Awaitable[None]]],
    window: int,
    deadline: float,
    clients: dict[int, Client],
    plan: Plan,
    pipe: Pipe,
    done: str,
) -> bool:
    """Run a scenario's setup jobs, `window` at a time; on a failure or the deadline, drop every
    client and tell the coordinator why (`done`: what the count of clients means, for the
    timeout message). True when every job finished."""
    try:
        await gather_limited(jobs, window, deadline)
    except (ClientError, OSError, TimeoutError) as exc:
        for client in clients.values():
            client.abort()
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"setup timed out ({len(clients)} of {len(plan.members)} {done})"
        pipe.send("error", f"worker {plan.worker}: {reason}")
        return False
    return True


async def _traffic(plan: Plan, conn: Connection) -> None:
    opt = plan.options
    pipe = Pipe(conn)
    tally = Tally()
    clients: dict[int, Client] = {}
    deadline = time.monotonic() + opt.setup_timeout
    sender_set = set(plan.senders)
    endpoints = opt.endpoints()

    def setup(member: Member) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            left = deadline - time.monotonic()
            host, port = endpoints[member.server]
            client = await open_client(
                host,
                port,
                member.nick,
                timeout=left,
                password=opt.password,
                tally=tally,
                kind=WsClient if opt.websocket else None,
            )
            clients[member.index] = client
            if member.index in sender_set:
                for line in opt.sender_cmds:
                    client.write(line.replace("{nick}", client.nick).encode() + b"\r\n")
            await client.join(plan.rooms[member.room], deadline - time.monotonic())
            if len(endpoints) > 1 and member.full:
                client.remote = frozenset(
                    str(sender).encode()
                    for sender, server in plan.server_of.items()
                    if server != member.server
                )
            client.start_bulk(FULL if member.full else COUNT)

        return job

    jobs = [setup(m) for m in plan.members]
    if not await set_up(jobs, opt.setup_window, deadline, clients, plan, pipe, "clients connected"):
        return

    senders: dict[int, Sender] = {}
    greedy = opt.rate <= 0
    for index in plan.senders:
        room = plan.rooms[plan.room_of[index]]
        senders[index] = Sender(clients[index], index, room, opt.window, opt.size, greedy=greedy)
    for member in plan.members:
        clients[member.index].acks = [senders[s] for s in member.acks]
    errors = [e for c in clients.values() for e in c.errors][:5]
    pipe.send("ready", {"clients": len(clients), "errors": errors})

    (_, t0) = await pipe.recv("go")
    t_end = t0 + int(opt.duration * 1e6)
    await _sleep_until(t0)
    cpu0 = own_cpu_seconds()
    for sender in senders.values():
        sender.running = True
    if greedy:
        for sender in senders.values():
            sender.pump()
        await _sleep_until(t_end)
    else:
        await _pace(
            list(senders.values()), opt.senders, opt.rate / opt.senders, opt.window, t0, t_end
        )
    for sender in senders.values():
        sender.running = False
    pipe.send("sent", {index: s.seq for index, s in senders.items()})

    (_, sent) = await pipe.recv("expect")
    expected = 0
    peers: dict[int, dict[bytes, int]] = {}
    for member in plan.members:
        mine = {
            str(s).encode(): n
            for s, n in sent.items()
            if plan.room_of[s] == member.room and s != member.index
        }
        peers[member.index] = mine
        expected += sum(mine.values())
    drain_end = time.monotonic() + opt.duration + opt.drain
    while tally.received < expected and time.monotonic() < drain_end:
        await asyncio.sleep(0.005)
    cpu1 = own_cpu_seconds()

    latency = Histogram()
    # Against several servers: deliveries from senders on the client's own server, and on others.
    same_node = Histogram()
    cross_node = Histogram()
    lost = duplicates = out_of_order = 0
    disconnected = 0
    for member in plan.members:
        client = clients[member.index]
        disconnected += client.lost
        mine = peers[member.index]
        if member.full:
            flow = client.flow
            lost += flow.lost(mine)
            duplicates += flow.duplicates
            out_of_order += flow.out_of_order
            latency.merge(client.latency)
            if client.remote is not None:
                latency.merge(client.remote_latency)
                same_node.merge(client.latency)
                cross_node.merge(client.remote_latency)
        else:
            want = sum(mine.values())
            lost += max(0, want - client.count)
            duplicates += max(0, client.count - want)
    pipe.send(
        "result",
        {
            "received": tally.received,
            "expected": expected,
            "last_rx": tally.last_rx,
            "lost": lost,
            "duplicates": duplicates,
            "out_of_order": out_of_order,
            "latency": latency.to_dict(),
            "same_node_latency": same_node.to_dict(),
            "cross_node_latency": cross_node.to_dict(),
            "cpu": cpu1 - cpu0,
            "disconnected": disconnected,
            "refused": sum(clients[index].refused for index in senders),
            "full_receivers": sum(1 for m in plan.members if m.full),
        },
    )
    with contextlib.suppress(Exception):
        await pipe.recv("close")
    for client in clients.values():
        client.abort()


async def _pace(
    senders: list[Sender],
    total: int,
    per_sender: float,
    window: int,
    t0: int,
    t_end: int,
    clock: Callable[[], int] = lambda: time.monotonic_ns() // 1000,
    tick: Callable[[], Awaitable[None]] = lambda: asyncio.sleep(0.001),
) -> None:
    """Fixed rate: every millisecond (`tick`), send what is due (within the window, if there
    is one); `clock` gives the time in µs.

    Sender `sid` of `total` is due a fraction sid/total of a period after sender 0, so the
    messages of the whole run are evenly spaced at the total rate. In step, all S senders
    were due in the same millisecond: bursts of S messages at once, which measured the
    server's (and this generator's) handling of those bursts rather than of the rate."""
    phases = [sender.sid / total for sender in senders]
    while True:
        now = clock()
        if now >= t_end:
            return
        elapsed = (now - t0) / 1e6 * per_sender
        for sender, phase in zip(senders, phases, strict=True):
            due = math.floor(elapsed - phase) + 1
            target = min(due, sender.acked + window) if window else due
            sender.send(target - sender.seq)
        await tick()


# ---------------------------------------------------------------------- join


async def _join_members(plan: Plan, conn: Connection) -> None:
    """The members of the `join` room: join it (setup), then count the joiners' JOIN lines."""
    opt = plan.options
    pipe = Pipe(conn)
    tally = Tally()
    clients: dict[int, Client] = {}
    deadline = time.monotonic() + opt.setup_timeout
    marker = plan.marker.encode()

    def setup(member: Member) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            client = await open_client(
                opt.host,
                opt.port,
                member.nick,
                timeout=deadline - time.monotonic(),
                password=opt.password,
                tally=tally,
            )
            clients[member.index] = client
            await client.join(plan.rooms[0], deadline - time.monotonic())
            # Other members' JOINs still arriving cannot match: only joiners' nicks carry it.
            client.watch_joins(marker, full=member.full)

        return job

    jobs = [setup(m) for m in plan.members]
    if not await set_up(jobs, opt.setup_window, deadline, clients, plan, pipe, "members joined"):
        return
    errors = [e for c in clients.values() for e in c.errors][:5]
    pipe.send("ready", {"clients": len(clients), "errors": errors})
    cpu0 = own_cpu_seconds()

    (_, sent) = await pipe.recv("expect")
    expected = len(sent) * len(clients)
    drain_end = time.monotonic() + opt.drain
    while tally.received < expected and time.monotonic() < drain_end:
        await asyncio.sleep(0.005)

    latency = Histogram()
    lost = duplicates = disconnected = 0
    wanted = {nick.encode(): t for nick, t in sent.items()}
    for member in plan.members:
        client = clients[member.index]
        disconnected += client.lost
        if member.full:
            seen: dict[bytes, int] = {}
            for nick, arrival in client.joins_seen:
                if nick in seen or nick not in wanted:
                    duplicates += 1
                    continue
                seen[nick] = arrival
                latency.add(arrival - wanted[nick])
            lost += len(wanted) - len(seen)
        else:
            lost += max(0, len(wanted) - client.count)
            duplicates += max(0, client.count - len(wanted))
    pipe.send(
        "result",
        {
            "cpu": own_cpu_seconds() - cpu0,
            "received": tally.received,
            "expected": expected,
            "last_rx": tally.last_rx,
            "lost": lost,
            "duplicates": duplicates,
            "latency": latency.to_dict(),
            "disconnected": disconnected,
            "full_receivers": sum(1 for m in plan.members if m.full),
        },
    )
    with contextlib.suppress(Exception):
        await pipe.recv("close")
    for client in clients.values():
        client.abort()


# ---------------------------------------------------------------------- connect


async def _connect(plan: Plan, conn: Connection) -> None:
    opt = plan.options
    pipe = Pipe(conn)
    pipe.send("ready", {})
    (_, t0) = await pipe.recv("go")
    await _sleep_until(t0)
    cpu0 = own_cpu_seconds()
    clients: list[Client] = []
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + opt.setup_timeout
    per_worker_rate = opt.rate / opt.workers if opt.rate > 0 else 0.0

    def job(number: int, member: Member) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if per_worker_rate:
                await _sleep_until(t0 + int(number / per_worker_rate * 1e6))
            start = time.monotonic()
            try:
                client = await open_client(
                    opt.host,
                    opt.port,
                    member.nick,
                    timeout=max(0.1, deadline - start),
                    password=opt.password,
                    kind=WsClient if opt.websocket else None,
                )
            except (ClientError, OSError, TimeoutError) as exc:
                if len(failures) < 5:
                    failures.append(f"{member.nick}: {exc or type(exc).__name__}")
                else:
                    failures.append("")
                return
            latencies.append(client.registered_at - start if client.registered_at else 0.0)
            clients.append(client)

        return run

    jobs = [job(n, m) for n, m in enumerate(plan.members)]
    limit = len(jobs) if per_worker_rate else opt.window
    with contextlib.suppress(TimeoutError):
        await gather_limited(jobs, max(1, limit), deadline)
    t_done = time.monotonic_ns() // 1000
    cpu1 = own_cpu_seconds()
    # Let the welcome bursts finish, so the server holds idle connections when it is measured.
    settle_end = time.monotonic() + min(10.0, opt.setup_timeout)
    while not all(c.motd_done or c.lost for c in clients) and time.monotonic() < settle_end:
        await asyncio.sleep(0.01)
    pipe.send(
        "result",
        {
            "registered": len(clients),
            "failed": len(failures),
            "failures": [f for f in failures if f][:5],
            "latencies": latencies,
            "t_done": t_done,
            "cpu": cpu1 - cpu0,
        },
    )
    with contextlib.suppress(Exception):
        await pipe.recv("close")
    for client in clients:
        client.abort()
