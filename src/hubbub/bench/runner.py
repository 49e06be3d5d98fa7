"""The coordinator: plans who runs where, starts the worker processes, drives their phases and
merges what they measured into one result (a JSON-able dict).

Placement (fanout and rooms): client i is in room i mod K and runs in worker i mod N; senders
are clients 0..S-1. Against several servers (--server, repeated), client i connects to server
i mod M (round-robin), or (senders-apart) every sender to the first server and the others round
robin to the rest, so that a non-sender never shares a server with a sender.

Each sender needs a *designated receiver* for its window: a member of its room in the same
worker (acknowledgements never cross processes). The first such member that does not send
itself is chosen; if the worker has none, a member of that room is moved into the
sender's worker. Designated receivers always run the full check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import secrets
import time
from multiprocessing.connection import Connection
from typing import Any

from hubbub.bench.options import Options
from hubbub.bench.procstat import (
    process_cpu_seconds,
    process_rss_kb,
    process_threads,
    tree_cpu_seconds,
)
from hubbub.bench.stalled import StalledClients
from hubbub.bench.stats import Histogram, percentile
from hubbub.bench.worker import Member, Plan, worker_main

__all__ = ["BenchError", "Workers", "plan_traffic", "record_of", "run", "worker_count"]

#: Seconds between "go" and the moment every worker starts (lets all of them be waiting).
START_DELAY = 0.2


class BenchError(Exception):
    """The benchmark could not run (setup failed, a worker died, bad parameters)."""


def worker_count(options: Options) -> int:
    """Workers to use: as asked, or one per CPU this process may run on; never more than C."""
    wanted = options.workers
    if wanted <= 0:
        try:
            wanted = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            wanted = os.cpu_count() or 1
    return max(1, min(wanted, options.clients))


def run(options: Options) -> dict[str, Any]:
    """Run one benchmark and return its result record."""
    if options.scenario == "history":
        from hubbub.bench.history import run_history

        return run_history(options)
    options = dataclasses.replace(options, workers=worker_count(options))
    if options.scenario in ("fanout", "rooms"):
        if options.scenario == "fanout":
            options = dataclasses.replace(options, rooms=1)
        return _run_traffic(options)
    if options.scenario == "connect":
        return _run_connect(options)
    if options.scenario == "join":
        from hubbub.bench.join import run_join

        return run_join(options)
    raise BenchError(f"unknown scenario {options.scenario!r}")


def record_of(options: Options) -> dict[str, Any]:
    where = ",".join(f"{host}:{port}" for host, port in options.endpoints())
    return {
        "scenario": options.scenario,
        "server": options.label or where,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "params": options.as_params(),
    }


# ---------------------------------------------------------------------- plans


def plan_traffic(options: Options, workers: int, tag: str) -> list[Plan]:
    """The per-worker plans of a fanout / rooms run (see the module docstring)."""
    c, k, s = options.clients, options.rooms, options.senders
    if s > c:
        raise BenchError(f"--senders ({s}) cannot exceed --clients ({c})")
    if k > c:
        raise BenchError(f"--rooms ({k}) cannot exceed --clients ({c})")
    rooms = tuple(f"#{tag}r{r}" if k > 1 else f"#{tag}" for r in range(k))
    worker_of = {i: i % workers for i in range(c)}
    room_of = {i: i % k for i in range(c)}
    senders = set(range(s))
    server_of = _servers_of(options)
    ackers: dict[int, int] = {}
    for sender in range(s):
        room, home = room_of[sender], worker_of[sender]
        mates = [i for i in range(c) if room_of[i] == room and i != sender]
        if not mates:
            raise BenchError(f"room {rooms[room]} has a sender but no one to receive")
        local = [i for i in mates if worker_of[i] == home]
        pick = next((i for i in local if i not in senders), local[0] if local else None)
        if pick is None:
            pick = next((i for i in mates if i not in senders), mates[0])
            worker_of[pick] = home
        ackers[sender] = pick
    acks: dict[int, list[int]] = {}
    for sender, acker in ackers.items():
        acks.setdefault(acker, []).append(sender)
    every = options.check_every
    plans = []
    for w in range(workers):
        mine = [i for i in range(c) if worker_of[i] == w]
        members = tuple(
            Member(
                index=i,
                nick=f"b{w}x{i}",
                room=room_of[i],
                full=(i % every == 0) or i in acks,
                acks=tuple(acks.get(i, ())),
                server=server_of[i],
            )
            for i in mine
        )
        plans.append(
            Plan(
                worker=w,
                options=options,
                rooms=rooms,
                members=members,
                senders=tuple(i for i in mine if i in senders),
                room_of={i: room_of[i] for i in senders},
                server_of={i: server_of[i] for i in senders},
            )
        )
    return [p for p in plans if p.members]


def _servers_of(options: Options) -> dict[int, int]:
    """Client index -> index of the server it connects to (see the module docstring)."""
    count = len(options.endpoints())
    clients = range(options.clients)
    if options.placement == "round-robin" or count == 1:
        return {i: i % count for i in clients}
    if options.placement != "senders-apart":
        raise BenchError(f"unknown placement {options.placement!r}")
    if options.senders >= options.clients:
        raise BenchError("--placement senders-apart needs clients that do not send")
    others = count - 1
    return {i: 0 if i < options.senders else 1 + (i - options.senders) % others for i in clients}


# ---------------------------------------------------------------------- processes


class Workers:
    """The worker processes and their pipes."""

    def __init__(self, plans: list[Plan]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for plan in plans:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main, args=(plan, theirs), name=f"hubbub-bench-{plan.worker}"
            )
            proc.daemon = True
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)

    def send(self, *message: object) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(message)

    def collect(self, expect: str, timeout: float) -> list[Any]:
        """One `expect` message from every worker, in worker order."""
        deadline = time.monotonic() + timeout
        answers: list[Any] = []
        for number, pipe in enumerate(self.pipes):
            while not pipe.poll(0.05):
                if time.monotonic() > deadline:
                    raise BenchError(f"worker {number} did not answer {expect!r} in {timeout:g} s")
                if not self.procs[number].is_alive():
                    raise BenchError(f"worker {number} exited before {expect!r}")
            try:
                message = pipe.recv()
            except EOFError:
                raise BenchError(f"worker {number} exited before {expect!r}") from None
            if message[0] == "error":
                raise BenchError(str(message[1]))
            if message[0] != expect:
                raise BenchError(f"worker {number} said {message[0]!r}, expected {expect!r}")
            answers.append(message[1])
        return answers

    def close(self) -> None:
        self.send("close")
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        for pipe in self.pipes:
            pipe.close()


def _start_time() -> int:
    return time.monotonic_ns() // 1000 + int(START_DELAY * 1e6)


def _sleep_until(t_us: int) -> None:
    delay = (t_us - time.monotonic_ns() // 1000) / 1e6
    if delay > 0:
        time.sleep(delay)


# ---------------------------------------------------------------------- fanout and rooms


def _run_traffic(options: Options) -> dict[str, Any]:
    tag = "b" + secrets.token_hex(3)
    plans = plan_traffic(options, options.workers, tag)
    options = dataclasses.replace(options, workers=len(plans))
    record = record_of(options)
    pid = options.server_pid
    if options.placement == "senders-apart" and len(options.endpoints()) < 2:
        raise BenchError("--placement senders-apart needs at least two --server")
    first_host, first_port = options.endpoints()[0]
    # Readers that stop reading (--stalled): in the first room before anyone else joins it.
    stalled = StalledClients(
        first_host,
        first_port,
        plans[0].rooms[0],
        options.stalled,
        password=options.password,
        tag=tag,
    )
    try:
        stalled.open(options.setup_timeout)
    except OSError as exc:
        stalled.close()
        raise BenchError(f"setting up the stalled clients failed: {exc}") from exc
    try:
        workers = Workers(plans)
    except BaseException:
        stalled.close()
        raise
    try:
        t_setup = time.monotonic()
        ready = workers.collect("ready", options.setup_timeout + 30)
        setup_s = time.monotonic() - t_setup
        t0 = _start_time()
        workers.send("go", t0)
        _sleep_until(t0)
        # The server's processes: a `--workers N` parent's workers are its children.
        server_cpu0 = tree_cpu_seconds(pid) if pid else None
        sent_parts = workers.collect("sent", options.duration + 60)
        sent: dict[int, int] = {}
        for part in sent_parts:
            sent.update(part)
        workers.send("expect", sent)
        results = workers.collect("result", options.duration + options.drain + 60)
        server_cpu1 = tree_cpu_seconds(pid) if pid else None
        stalled_cut_off = stalled.cut_off() if options.stalled else 0
    finally:
        workers.close()
        stalled.close()

    latency = Histogram()
    for part in results:
        latency.merge(Histogram.from_dict(part["latency"]))
    received = sum(p["received"] for p in results)
    expected = sum(p["expected"] for p in results)
    last_rx = max((p["last_rx"] for p in results), default=0)
    active_s = max(1e-9, (last_rx - t0) / 1e6) if last_rx > t0 else options.duration
    messages = sum(sent.values())
    gen_cpu = sum(p["cpu"] for p in results)
    out: dict[str, Any] = {
        "setup_s": round(setup_s, 3),
        "messages_sent": messages,
        "messages_per_s": round(messages / options.duration, 1),
        "deliveries_expected": expected,
        "deliveries": received,
        "deliveries_per_s": round(received / active_s, 1),
        "active_s": round(active_s, 3),
        "lost": sum(p["lost"] for p in results),
        "duplicated": sum(p["duplicates"] for p in results),
        "out_of_order": sum(p["out_of_order"] for p in results),
        "disconnected": sum(p["disconnected"] for p in results),
        # Messages the server refused (FAIL PRIVMSG): counted in `lost` (never delivered), and
        # here, so that a refusal (e.g. history writer behind) is not mistaken for a loss.
        "refused": sum(p["refused"] for p in results),
        "latency_ms": _latency_ms(latency),
        "latency_samples": latency.count,
        "checked_receivers": sum(p["full_receivers"] for p in results),
        "generator_cpu_s": round(gen_cpu, 3),
        "generator_cpu_pct": round(100 * gen_cpu / active_s, 1),
        "setup_errors": [e for r in ready for e in r["errors"]][:5],
    }
    if server_cpu0 is not None and server_cpu1 is not None:
        out["server_cpu_s"] = round(server_cpu1 - server_cpu0, 3)
        out["server_cpu_pct"] = round(100 * (server_cpu1 - server_cpu0) / active_s, 1)
    if options.stalled:
        out["stalled"] = options.stalled
        out["stalled_cut_off"] = stalled_cut_off
    if len(options.endpoints()) > 1:
        for side in ("same_node", "cross_node"):
            merged = Histogram()
            for part in results:
                merged.merge(Histogram.from_dict(part[f"{side}_latency"]))
            out[f"{side}_latency_ms"] = _latency_ms(merged)
            out[f"{side}_samples"] = merged.count
    record["results"] = out
    return record


def _latency_ms(hist: Histogram) -> dict[str, float | None]:
    def ms(value: int | None) -> float | None:
        return None if value is None else round(value / 1000, 3)

    return {
        "p50": ms(hist.percentile(50)),
        "p90": ms(hist.percentile(90)),
        "p99": ms(hist.percentile(99)),
        "max": ms(hist.max if hist.count else None),
    }


# ---------------------------------------------------------------------- connect


def _run_connect(options: Options) -> dict[str, Any]:
    n = options.workers
    members = [[] for _ in range(n)]  # type: list[list[Member]]
    for i in range(options.clients):
        members[i % n].append(Member(index=i, nick=f"c{i % n}x{i}", room=0, full=False))
    plans = [
        Plan(worker=w, options=options, rooms=(), members=tuple(members[w]))
        for w in range(n)
        if members[w]
    ]
    record = record_of(options)
    pid = options.server_pid
    workers = Workers(plans)
    try:
        workers.collect("ready", 60)
        rss0 = process_rss_kb(pid) if pid else None
        t0 = _start_time()
        workers.send("go", t0)
        _sleep_until(t0)
        server_cpu0 = process_cpu_seconds(pid) if pid else None
        results = workers.collect("result", options.setup_timeout + 60)
        server_cpu1 = process_cpu_seconds(pid) if pid else None
        time.sleep(options.settle)
        rss1 = process_rss_kb(pid) if pid else None
        # A thread per connection shows here (the threads engine); an event loop stays flat.
        threads = process_threads(pid) if pid else None
    finally:
        workers.close()
    latencies = [x for p in results for x in p["latencies"]]
    registered = sum(p["registered"] for p in results)
    t_done = max(p["t_done"] for p in results)
    elapsed = max(1e-9, (t_done - t0) / 1e6)
    gen_cpu = sum(p["cpu"] for p in results)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    out: dict[str, Any] = {
        "registered": registered,
        "failed": sum(p["failed"] for p in results),
        "failures": [f for p in results for f in p["failures"]][:5],
        "elapsed_s": round(elapsed, 3),
        "connections_per_s": round(registered / elapsed, 1),
        "registration_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p99": ms(percentile(latencies, 99)),
            "max": ms(max(latencies) if latencies else None),
        },
        "generator_cpu_s": round(gen_cpu, 3),
        "generator_cpu_pct": round(100 * gen_cpu / elapsed, 1),
    }
    if server_cpu0 is not None and server_cpu1 is not None:
        out["server_cpu_s"] = round(server_cpu1 - server_cpu0, 3)
        out["server_cpu_pct"] = round(100 * (server_cpu1 - server_cpu0) / elapsed, 1)
    if rss0 is not None and rss1 is not None:
        out["server_rss_before_kb"] = rss0
        out["server_rss_after_kb"] = rss1
        out["rss_per_connection_kb"] = round((rss1 - rss0) / max(1, registered), 3)
    if threads is not None:
        out["server_threads"] = threads
    record["results"] = out
    return record
