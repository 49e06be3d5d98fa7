"""The `join` scenario: what a JOIN to a large room costs the server, the joiner and the members.

1. Setup (not measured): the worker processes connect C members and join them to a fresh room
   (`hubbub.bench.worker`), each then watching only for the joiners' JOIN lines: every joiner's
   nick starts with one marker (``j`` and four hex digits), so a member recognises them with
   one `bytes.count` (or, when checked in full, one regex) per received chunk.
2. In this (the coordinator's) process, J joiners connect and register, negotiating every
   capability the server offers (`CapClient`) except `no-implicit-names`, which only
   `--no-implicit-names` asks for (and then requires), and `sts` (not a capability to request).
   Each sends the `--sender-cmd` lines, then waits for a PING fence so that their answers are
   not taken for the JOIN's.
3. Measured: the joiners JOIN one after another (or W at a time). Each JOIN is written together
   with a PING; the PONG closes its answer, since a server answers one client's commands in
   order. Per JOIN: JOIN → own JOIN echo, → end of NAMES (366), → PONG; the lines (and bytes,
   with their CRLF) between the JOIN and the PONG, except JOINs of later joiners (fan-out, not
   the answer) and the PONG itself. JOINs/s is J over first JOIN sent → last PONG.
4. The coordinator tells the workers each joiner's JOIN send time; every member must see every
   joiner exactly once (lost / duplicated), and members checked in full measure the fan-out
   latency (JOIN sent → a member reads it; one clock, CLOCK_MONOTONIC, for all processes).

Joiners stay in the room, so the room grows from C to C + J members during the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hubbub.bench.client import Client, ClientError, Tally, now_us, open_client
from hubbub.bench.options import Options
from hubbub.bench.procstat import own_cpu_seconds, process_cpu_seconds, process_rss_kb
from hubbub.bench.stats import Histogram, percentile
from hubbub.bench.worker import Member, Plan, gather_limited, run_loop

if TYPE_CHECKING:
    from hubbub.bench.runner import Workers

__all__ = ["CapClient", "JoinSample", "plan_members", "run_join"]

#: Joiner nicks are the marker (5 characters) and a number: 9 characters at most (ngIRCd).
MAX_JOINERS = 10_000
#: CAP REQ lines are kept well under the 512-byte line limit.
REQ_BYTES = 400
_JOIN_ERRORS = {b"403", b"405", b"471", b"473", b"474", b"475", b"476", b"477", b"489"}


class CapClient(Client):
    """A client that opens with CAP LS 302 and requests what the server offers (see the module
    docstring); `offered` and `acked` say what was offered and granted. A server without CAP
    answers CAP with an error (or nothing) and registers the client on NICK/USER anyway."""

    no_implicit_names = False  # request no-implicit-names too (the NinCapClient subclass)

    def __init__(self, nick: str, *, password: str = "", tally: Tally | None = None) -> None:
        super().__init__(nick, password=password, tally=tally)
        self.offered: list[str] = []
        self.acked: set[str] = set()

    def greeting(self) -> bytes:
        return b"CAP LS 302\r\n" + super().greeting()

    def _handle(self, line: bytes, command: bytes, params: list[bytes]) -> None:
        super()._handle(line, command, params)
        if command != b"CAP" or len(params) < 3:
            return
        sub = params[1].upper()
        if sub == b"LS":
            self.offered += params[-1].decode("utf-8", "replace").split()
            if not (len(params) >= 4 and params[2] == b"*"):  # the last line of the list
                self._request()
        elif sub == b"ACK":
            names = params[-1].decode("utf-8", "replace").split()
            self.acked.update(name for name in names if not name.startswith("-"))

    def _request(self) -> None:
        names = []
        for entry in self.offered:
            name = entry.partition("=")[0]
            if name == "sts" or (name == "no-implicit-names" and not self.no_implicit_names):
                continue
            names.append(name)
        lines = b""
        chunk: list[str] = []
        for name in names:
            if chunk and len(" ".join([*chunk, name])) > REQ_BYTES:
                lines += b"CAP REQ :" + " ".join(chunk).encode() + b"\r\n"
                chunk = []
            chunk.append(name)
        if chunk:
            lines += b"CAP REQ :" + " ".join(chunk).encode() + b"\r\n"
        self.write(lines + b"CAP END\r\n")


class NinCapClient(CapClient):
    no_implicit_names = True


@dataclasses.dataclass
class JoinSample:
    """What one joiner measured of its JOIN (times in µs, CLOCK_MONOTONIC)."""

    nick: str
    sent: int = 0
    echo: int | None = None
    names: int | None = None
    done: int | None = None
    lines: int = 0
    bytes: int = 0
    error: str = ""


def plan_members(options: Options, workers: int, room: str, marker: str) -> list[Plan]:
    """Member i runs in worker i mod N and is checked in full when i is a multiple of K."""
    plans = []
    for w in range(workers):
        members = tuple(
            Member(index=i, nick=f"b{w}x{i}", room=0, full=i % options.check_every == 0)
            for i in range(w, options.clients, workers)
        )
        if members:
            plans.append(
                Plan(worker=w, options=options, rooms=(room,), members=members, marker=marker)
            )
    return plans


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value / 1000, 3)


def _spread(values: list[int]) -> dict[str, float | None]:
    """p50 / p99 / max of µs values, in ms."""
    return {
        "p50": _ms(percentile(values, 50)),
        "p99": _ms(percentile(values, 99)),
        "max": _ms(max(values) if values else None),
    }


def run_join(options: Options) -> dict[str, Any]:
    """Run the scenario (options.workers already resolved) and return its record."""
    from hubbub.bench.runner import BenchError, Workers, record_of

    if options.joiners >= MAX_JOINERS:
        raise BenchError(f"--joiners must be below {MAX_JOINERS} (nicks of 9 characters)")
    tag = secrets.token_hex(2)
    room, marker = f"#j{tag}", f"j{tag}"
    plans = plan_members(options, options.workers, room, marker)
    options = dataclasses.replace(options, workers=len(plans))
    record = record_of(options)
    workers = Workers(plans)
    try:
        t_setup = time.monotonic()
        ready = workers.collect("ready", options.setup_timeout + 30)
        setup_s = time.monotonic() - t_setup
        try:
            phase = run_loop(_join_phase(options, room, marker, workers))
        except (ClientError, OSError, TimeoutError) as exc:
            raise BenchError(f"joiners: {exc or type(exc).__name__}") from None
        samples: list[JoinSample] = phase["samples"]
        results: list[Any] = phase["results"]
    finally:
        workers.close()

    joined = [s for s in samples if s.echo is not None]
    t_first, t_end = phase["t_first"], phase["t_end"]
    join_s = max(1e-9, (t_end - t_first) / 1e6)
    last_rx = max((p["last_rx"] for p in results), default=0)
    active_s = max(join_s, (last_rx - t_first) / 1e6)
    fanout = Histogram()
    for part in results:
        fanout.merge(Histogram.from_dict(part["latency"]))
    received = sum(p["received"] for p in results)
    count = max(1, len(joined))
    out: dict[str, Any] = {
        "setup_s": round(setup_s, 3),
        "members": sum(r["clients"] for r in ready),
        "joiners": len(samples),
        "joined": len(joined),
        "joiner_caps": phase["caps"],
        "join_phase_s": round(join_s, 3),
        "joins_per_s": round(len(joined) / join_s, 1),
        "join_to_echo_ms": _spread([s.echo - s.sent for s in joined if s.echo is not None]),
        "join_to_names_ms": _spread([s.names - s.sent for s in joined if s.names is not None]),
        "join_to_done_ms": _spread([s.done - s.sent for s in joined if s.done is not None]),
        "names_replies": sum(1 for s in joined if s.names is not None),
        "lines_per_join": round(sum(s.lines for s in joined) / count, 2),
        "lines_per_join_max": max((s.lines for s in joined), default=0),
        "bytes_per_join": round(sum(s.bytes for s in joined) / count, 1),
        "bytes_per_join_max": max((s.bytes for s in joined), default=0),
        "deliveries_expected": sum(p["expected"] for p in results),
        "deliveries": received,
        "deliveries_per_s": round(received / active_s, 1),
        "lost": sum(p["lost"] for p in results),
        "duplicated": sum(p["duplicates"] for p in results),
        "disconnected": sum(p["disconnected"] for p in results),
        "fanout_latency_ms": {
            "p50": _ms(fanout.percentile(50)),
            "p99": _ms(fanout.percentile(99)),
            "max": _ms(fanout.max if fanout.count else None),
        },
        "checked_receivers": sum(p["full_receivers"] for p in results),
        "active_s": round(active_s, 3),
        "generator_cpu_s": round(phase["cpu"] + sum(p["cpu"] for p in results), 3),
        "setup_errors": [e for r in ready for e in r["errors"]][:5],
        "join_errors": [s.error for s in samples if s.error][:5],
    }
    server_cpu0, rss0 = phase["server_cpu"], phase["server_rss"]
    server_cpu1, rss1 = phase["server_cpu_after"], phase["server_rss_after"]
    if server_cpu0 is not None and server_cpu1 is not None:
        used = server_cpu1 - server_cpu0
        out["server_cpu_s"] = round(used, 3)
        out["server_cpu_pct"] = round(100 * used / active_s, 1)
        out["server_cpu_per_join_ms"] = round(1000 * used / count, 3)
    if rss0 is not None and rss1 is not None:
        out["server_rss_before_kb"] = rss0
        out["server_rss_after_kb"] = rss1
    record["results"] = out
    return record


async def _join_phase(opt: Options, room: str, marker: str, workers: Workers) -> dict[str, Any]:
    """Register the joiners, JOIN them (measured), then have the workers count what their
    members saw. The joiners stay connected until then: their QUITs must not reach members
    that are still counting."""
    deadline = time.monotonic() + opt.setup_timeout
    kind = NinCapClient if opt.no_implicit_names else CapClient
    joiners: list[CapClient | None] = [None] * opt.joiners

    def connect(number: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            client = await open_client(
                opt.host,
                opt.port,
                f"{marker}{number}",
                timeout=max(0.1, deadline - time.monotonic()),
                password=opt.password,
                wait_motd=True,
                kind=kind,
            )
            assert isinstance(client, CapClient)
            joiners[number] = client
            if not client.nick.startswith(marker):
                raise ClientError(f"joiner nick {marker}{number} refused (got {client.nick})")
            if opt.no_implicit_names and "no-implicit-names" not in client.acked:
                raise ClientError("the server did not grant the no-implicit-names capability")
            for line in opt.sender_cmds:
                client.write(line.replace("{nick}", client.nick).encode() + b"\r\n")
            await _fence(client, b"ready", deadline - time.monotonic())

        return job

    try:
        await gather_limited([connect(n) for n in range(opt.joiners)], opt.setup_window, deadline)
        caps = sorted(joiners[0].acked) if joiners[0] is not None else []
        samples = [JoinSample(nick=c.nick) for c in joiners if c is not None]
        pairs = [(c, s) for c, s in zip(joiners, samples, strict=False) if c is not None]
        pid = opt.server_pid
        server_cpu = process_cpu_seconds(pid) if pid else None
        server_rss = process_rss_kb(pid) if pid else None
        cpu0 = own_cpu_seconds()
        t_first = now_us()
        jobs = [_measure(client, sample, room, deadline) for client, sample in pairs]
        await gather_limited(jobs, opt.window, deadline)
        t_end = now_us()
        cpu = own_cpu_seconds() - cpu0
        workers.send("expect", {s.nick: s.sent for s in samples if s.echo is not None})
        results = await asyncio.to_thread(workers.collect, "result", opt.drain + 60)
        # Read before the joiners leave: their QUITs' fan-out is not the JOINs' cost.
        server_cpu1 = process_cpu_seconds(pid) if pid else None
        server_rss1 = process_rss_kb(pid) if pid else None
    finally:
        for client in joiners:
            if client is not None:
                client.abort()
    return {
        "samples": samples,
        "results": results,
        "caps": caps,
        "t_first": t_first,
        "t_end": t_end,
        "cpu": cpu,
        "server_cpu": server_cpu,
        "server_rss": server_rss,
        "server_cpu_after": server_cpu1,
        "server_rss_after": server_rss1,
    }


async def _fence(client: Client, token: bytes, timeout: float) -> None:
    """Wait until the server has answered everything sent before (PING / PONG)."""
    pong = client.expect(lambda command, params: command == b"PONG" and params[-1:] == [token])
    client.write(b"PING :" + token + b"\r\n")
    await asyncio.wait_for(pong, max(0.1, timeout))


def _source_nick(line: bytes) -> bytes:
    if line.startswith(b"@"):
        line = line.partition(b" ")[2]
    if not line.startswith(b":"):
        return b""
    return line[1:].partition(b" ")[0].partition(b"!")[0]


def _measure(
    client: Client, sample: JoinSample, room: str, deadline: float
) -> Callable[[], Awaitable[None]]:
    """One measured JOIN (see the module docstring, step 3)."""

    async def job() -> None:
        folded = room.lower().encode()
        me = client.nick.lower().encode()
        token = b"joined"

        def seen(line: bytes, command: bytes, params: list[bytes]) -> None:
            if sample.done is not None:
                return
            now = now_us()
            if command == b"PONG" and params[-1:] == [token]:
                sample.done = now
                return
            if command == b"PING":
                return
            if command == b"JOIN":
                if _source_nick(line).lower() != me:
                    return  # a later joiner's JOIN: fan-out, not this JOIN's answer
                if sample.echo is None and params[:1] and params[0].lower() == folded:
                    sample.echo = now
            elif command == b"366" and params[1:2] and params[1].lower() == folded:
                sample.names = now
            elif command in _JOIN_ERRORS and not sample.error:
                sample.error = f"{client.nick}: {line.decode('utf-8', 'replace')}"
            sample.lines += 1
            sample.bytes += len(line) + 2

        client.on_line = seen
        pong = client.expect(lambda command, params: command == b"PONG" and params[-1:] == [token])
        sample.sent = now_us()
        client.write(b"JOIN " + room.encode() + b"\r\nPING :" + token + b"\r\n")
        await asyncio.wait_for(pong, max(0.1, deadline - time.monotonic()))
        if sample.echo is None and not sample.error:
            sample.error = f"{client.nick}: no JOIN echo for {room}"

    return job
