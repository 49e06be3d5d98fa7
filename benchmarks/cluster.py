"""hubbub as a cluster (issue 14): one process, one node on the bus, `--workers 2`, two nodes.

Run through `benchmarks/cluster`. Starts its own redis-server (no persistence) and PostgreSQL
cluster (`initdb` in a temp dir) with the test suite's helpers (tests/support/redis_server.py,
tests/support/postgres_server.py), and its hubbubs with benchmarks/compare.py's `Hubbub` (flood
control off, clients per address lifted; at the default log level, INFO, without the web
listener), each on a free loopback port. Every configuration has its own Redis database number
and its own PostgreSQL database, so they are separate networks that never see each other's
rooms or nicks.

Configurations (all servers up for the whole run; runs interleaved, REPS times each, medians):
  ngircd     ngIRCd, the reference of every hubbub benchmark, measured in the same run: one
             process, no history (server on core 0, generator on core 1); in fanout and
             at-crossnode-rate (it has no counterpart to one network over a bus)
  single     `hubbub serve` as shipped: one process, SQLite history, no cluster
             (server on core 0, generator on core 1)
  one-node   `hubbub serve --cluster REDIS --store POSTGRES`: the price of the bus and the store
             alone (server on core 0, generator on core 1)
  workers-2  `hubbub serve --workers 2 --cluster … --store …`: two processes on one port, both
             cores (the generator on core 1 shares it with them); the kernel spreads the clients
  two-nodes  two `hubbub serve --cluster … --store …`, node A on core 0, node B on core 1 (shared
             with the generator)
Redis and PostgreSQL are not pinned: they share both cores with everything else.

Scenarios:
  fanout     fanout C=200 S=10, as fast as possible, window 8, against single, one-node,
             workers-2 and two-nodes (clients round robin over A and B): deliveries/s and
             latency p50/p99 (two-nodes: also same-node and cross-node latency apart)
  crossnode  fanout C=200 S=10 against two-nodes with every sender on node A and every other
             client on node B (`--placement senders-apart`) at a fixed rate: half the messages/s
             one-node (or --half-of) sustained in `fanout` (median); cross-node latency p50/p99.
             Node B is moved to core 0 beside node A for it, so the server side and the
             generator are on different cores as everywhere else
  at-crossnode-rate
             fanout C=200 S=10 at the crossnode rate against ngircd and single (every client on
             the one server; server on core 0, generator on core 1): the latency this machine,
             its kernel and the generator give a plain server at that rate, measured in the same
             run. The crossnode tables quote their cross-node p50/p99 as ratios to ngIRCd's here
  crossnode-b-with-generator
             the same with node B back on core 1, sharing it with the generator (as in
             `fanout`): what sharing a core with the generator adds to the latency
  crossnode-b-alone
             the same with node B alone on core 0 and node A on core 1 beside the generator:
             the node that writes the 190 receivers' sockets has a core as the single
             process has, and the light node (10 senders) shares the generator's

Around every run against a cluster configuration the script also reads:
  sequencing  Redis's INFO before and after: EVALSHA calls, commands run (commandstats counts
              those a script runs too) and reads processed (`total_reads_processed`: one per
              request or pipeline that arrived, i.e. round trips) per message sent. These
              include the run's setup and teardown (C registrations, JOINs, QUITs: about 4 C
              script calls) and the other idle nodes' heartbeats; both are small next to the
              messages of a run, and said so in the output. Also Redis's own time per EVALSHA
              (commandstats `usec` ÷ calls): the script's share of the cross-node hop.
  history     the configuration's PostgreSQL `records` table: its highest seq read every 0.2 s
              during the run until it stops changing (one index step, so the sampling costs the
              measured servers nothing), then the PRIVMSG rows the run added counted once: rows
              written (must equal the messages sent), and records/s committed from the first
              new row to the last.
  postgres_upkeep  before the run, the seconds waited until no autovacuum worker ran in the
              PostgreSQL cluster (an earlier run's 40,000 rows start autovacuum and autoanalyze,
              which then ran on the two cores during the next run, counted against it); and the
              autovacuums and autoanalyzes of the configuration's database during the run
              itself (its own rows' upkeep: part of what the run measures, reported beside it).

For looking into latency: `--crossnode-rate R` runs only at-crossnode-rate and the three
crossnode placements, at R messages/s, on a new network; `--warm-up N` first runs fanout N times
against two-nodes alone, unmeasured, as the full run's fan-out phases load it (history in its
database, minutes of load on its nodes), to tell those conditions from the phases' own.

Lost / duplicated / out-of-order deliveries (every 10th member and every sender's acknowledger
checked in full), disconnected clients and history rows missing are reported for every run and
must all be 0. Raw records and medians go to benchmarks/results/cluster-<date>.json, a table to
cluster-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # benchmarks/compare.py
sys.path.insert(0, str(HERE.parent / "tests"))  # the test suite's `support` package

import compare  # noqa: E402

from support.postgres_server import PostgresServer  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402

RESULTS = compare.RESULTS
# crossnode runs three times, with the nodes moved between them (scenario, node A's core,
# node B's core):
#  - B on core 0 with node A: the server side (both nodes) and the generator on different
#    cores, as every other benchmark here pins them; the cross-node hop is the same loopback hop;
#  - B on core 1 with the generator: node B's fan-out and the generator's reading of it then
#    take turns on one core, which adds their time slices to the latency;
#  - B alone on core 0, A on core 1 with the generator: the node with every receiver (190
#    socket writes per message) has a core to itself, as the single process has; node A
#    (10 senders, one bus call per message) takes turns with the generator instead.
CROSSNODE_PLACEMENTS = [
    ("crossnode", 0, 0),
    ("crossnode-b-with-generator", 0, 1),
    ("crossnode-b-alone", 1, 0),
]
# The default log level (INFO), as every quoted figure is at the default configuration. Until
# 2026-12-02 this script ran its servers at WARNING.
LOG_LEVEL: str | None = None

METRICS = [
    "deliveries_per_s",
    "messages_per_s",
    "latency_ms.p50",
    "latency_ms.p99",
    "cross_node_latency_ms.p50",
    "cross_node_latency_ms.p99",
    "same_node_latency_ms.p50",
    "same_node_latency_ms.p99",
    "lost",
    "duplicated",
    "out_of_order",
    "disconnected",
    "history.missing",
    "history.records_per_s",
    "postgres_upkeep.settled_s",
    "postgres_upkeep.autovacuums_during_run",
    "sequencing.evalsha_per_message",
    "sequencing.round_trips_per_message",
    "sequencing.redis_commands_per_message",
    "sequencing.evalsha_us_per_call",
    "server_cpu_pct",
    "server_cpu_us_per_message",
    "generator_cpu_pct",
]


class Node(compare.Hubbub):
    """One `hubbub serve` (possibly `--workers N`) of one configuration."""

    def __init__(
        self,
        name: str,
        tmp: Path,
        cpus: str,
        *,
        store: str = "",
        bus: str = "",
        workers: int = 0,
    ) -> None:
        super().__init__(name, tmp, log_level=LOG_LEVEL)
        self.cpus = cpus
        self.store = store
        self.bus = bus
        self.workers = workers

    def command(self) -> list[str]:
        command = [*super().command(), "--no-web"]
        if self.store:
            command += ["--store", self.store]
        if self.bus:
            command += ["--cluster", self.bus]
        if self.workers:
            command += ["--workers", str(self.workers)]
        return command

    def start(self) -> None:
        super().start()
        # Every worker opens its own listening socket on the shared port (SO_REUSEPORT): wait
        # for all of them, or the first clients would all go to the first worker up.
        deadline = time.monotonic() + 60
        while listening_sockets(self.port) < max(1, self.workers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: not all {self.workers} workers listen")
            time.sleep(0.1)


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` (IPv4 and IPv6), from /proc/net."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                    count += 1
    return count


class Configuration:
    """A network under test: its nodes, and its own Redis database and PostgreSQL database."""

    def __init__(
        self, name: str, nodes: list[compare.Server], store: str = "", bus: str = ""
    ) -> None:
        self.name = name
        self.nodes = nodes
        self.store = store
        self.bus = bus


# ---------------------------------------------------------------------- sequencing cost


def process_tree(root: int) -> list[int]:
    """`root` and every process descended from it (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                # The field after the command (which may hold spaces) is the state, then ppid.
                parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    tree = [root]
    for pid in tree:
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def pin_tree(root: int, cpus: set[int]) -> int:
    """Pin every thread of `root` and of its descendants to `cpus`; processes forked later (a
    PostgreSQL backend per connection) inherit it from their parent. Returns threads pinned."""
    pinned = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for thread in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(thread), cpus)
                    pinned += 1
    return pinned


def redis_counters(client: redis.Redis) -> dict[str, int]:
    """Redis's cumulative counters that the sequencing figures are made of."""
    counters = {"reads": int(client.info("stats")["total_reads_processed"])}
    for key, value in client.info("commandstats").items():
        counters[key.removeprefix("cmdstat_")] = int(value["calls"])
        if key == "cmdstat_evalsha":
            # Redis's own time inside the scripts (commandstats `usec`): the bus's share of the
            # cross-node hop that is not waiting for a core or a socket.
            counters["evalsha_usec"] = int(value["usec"])
    return counters


def sequencing(before: dict[str, int], after: dict[str, int], messages: int) -> dict[str, Any]:
    calls = {
        key: after[key] - before.get(key, 0)
        for key in after
        if key not in ("reads", "evalsha_usec") and after[key] != before.get(key, 0)
    }
    evalsha_usec = after.get("evalsha_usec", 0) - before.get("evalsha_usec", 0)
    per = max(1, messages)
    return {
        "evalsha_per_message": round(calls.get("evalsha", 0) / per, 3),
        "round_trips_per_message": round((after["reads"] - before["reads"]) / per, 3),
        "redis_commands_per_message": round(sum(calls.values()) / per, 3),
        "evalsha_us_per_call": round(evalsha_usec / max(1, calls.get("evalsha", 0)), 1),
        "commands": dict(sorted(calls.items(), key=lambda item: -item[1])),
    }


# ---------------------------------------------------------------------- history write rate


def last_record(connection: psycopg.Connection[Any]) -> int:
    """The highest `seq` of the records table: one step down its primary key's index."""
    row = connection.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()
    return int(row[0]) if row else 0


def privmsg_rows_after(connection: psycopg.Connection[Any], seq: int) -> int:
    """PRIVMSG rows with a `seq` above `seq` (a range of the primary key's index)."""
    row = connection.execute(
        "SELECT count(*) FROM records WHERE seq > %s AND command = 'PRIVMSG'", (seq,)
    ).fetchone()
    return int(row[0]) if row else 0


def maintenance_count(connection: psycopg.Connection[Any]) -> int:
    """Autovacuums and autoanalyzes PostgreSQL has run on this database's tables so far."""
    row = connection.execute(
        "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_user_tables"
    ).fetchone()
    return int(row[0]) if row else 0


def settle_postgres(url: str, limit: float = 120.0) -> float:
    """Wait (at most `limit` s) until no autovacuum worker runs anywhere in the PostgreSQL
    cluster: the seconds waited. An earlier run's rows (a fan-out run writes some 40,000)
    start autovacuum and autoanalyze on its database; measured during the next run, that work
    on the two cores was counted against the run, not against the run's own traffic."""
    began = time.monotonic()
    with psycopg.connect(url, autocommit=True) as connection:
        while time.monotonic() - began < limit:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()
            if not row or not row[0]:
                break
            time.sleep(0.5)  # a benchmark script waiting for another process, not a test
    return round(time.monotonic() - began, 1)


class RowSampler(threading.Thread):
    """Watches the records table every 0.2 s until stopped and it no longer moves; then
    counts the PRIVMSG rows the run added.

    While the run goes it reads only the highest `seq` (one index step): a count of the
    table every 0.2 s, as at first, scanned a table that grows by every run's rows, and that
    PostgreSQL work on the machine's two cores showed in the measured latency (its p99 rose
    with the table). The count is made once, after the rows stopped moving. (`seq` is an
    identity column: a conflicting insert by the second node of a room uses a number too, so
    it says when rows arrive, not how many.)"""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        with psycopg.connect(url, autocommit=True) as connection:
            self.first_seq = last_record(connection)
        self.samples: list[tuple[float, int]] = [(time.monotonic(), self.first_seq)]
        self.rows = 0
        self.stopping = threading.Event()
        self.error = ""

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            quiet = 0
            while quiet < 5:  # a second without a new row once the run is over
                time.sleep(0.2)
                last = last_record(connection)
                moved = last != self.samples[-1][1]
                self.samples.append((time.monotonic(), last))
                if self.stopping.is_set():
                    quiet = 0 if moved else quiet + 1
                if time.monotonic() - self.samples[0][0] > 600:
                    self.error = "history rows still changing after 600 s"
                    return
            self.rows = privmsg_rows_after(connection, self.first_seq)

    def figures(self, messages: int) -> dict[str, Any]:
        first = self.samples[0][1]
        last_time, last = self.samples[-1]
        started = next((t for t, seq in self.samples if seq > first), None)
        finished = next((t for t, seq in self.samples if seq == last), last_time)
        span = finished - started if started is not None else 0.0
        return {
            "rows": self.rows,
            "missing": messages - self.rows,
            # From the first sample that saw a new row to the first that saw the last one:
            # within one sampling interval (0.2 s) at either end.
            "records_per_s": round(self.rows / span, 1) if span > 0 else None,
            "error": self.error,
        }


# ---------------------------------------------------------------------- runs


def run_once(
    configuration: Configuration,
    args: list[str],
    log: Path,
    redis_client: redis.Redis | None,
) -> dict[str, Any] | None:
    first = configuration.nodes[0]
    if len(configuration.nodes) > 1:
        for node in configuration.nodes:
            args = [*args, "--server", f"127.0.0.1:{node.port}"]
    settled = settle_postgres(configuration.store) if configuration.store else None
    sampler = RowSampler(configuration.store) if configuration.store else None
    if configuration.store:
        with psycopg.connect(configuration.store, autocommit=True) as connection:
            maintenance_before = maintenance_count(connection)
    before = redis_counters(redis_client) if redis_client is not None else None
    if sampler is not None:
        sampler.start()
    record = compare.bench(first, args, log, timeout=300)
    if sampler is not None:
        sampler.stopping.set()
        sampler.join()
    if record is None:
        return None
    results = record["results"]
    messages = int(results["messages_sent"])
    if sampler is not None:
        results["history"] = sampler.figures(messages)
        with psycopg.connect(configuration.store, autocommit=True) as connection:
            during = maintenance_count(connection) - maintenance_before
        # Waited for before the run; counted during it (and its drain): PostgreSQL's own
        # upkeep on the same cores, reported beside the latency it may have moved.
        results["postgres_upkeep"] = {"settled_s": settled, "autovacuums_during_run": during}
    if redis_client is not None and before is not None:
        results["sequencing"] = sequencing(before, redis_counters(redis_client), messages)
    if len(configuration.nodes) > 1:
        # --server-pid named one node of several (a --workers parent counts its workers).
        for key in ("server_cpu_s", "server_cpu_pct"):
            results.pop(key, None)
    elif results.get("server_cpu_s") is not None and messages:
        # The server's cost per message, which the machine's other load moves much less than
        # deliveries/s (all its threads: the event loop and the history writer).
        results["server_cpu_us_per_message"] = round(1e6 * results["server_cpu_s"] / messages, 1)
    record["label"] = configuration.name
    return record


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = compare.summarise(records, {records[0]["scenario"]: METRICS})
    summary["raw"] = [r["results"] for r in records]
    summary["command"] = records[-1]["command"]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario and server (3)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of traffic (8)")
    parser.add_argument("--clients", type=int, default=200, help="C (200)")
    parser.add_argument("--senders", type=int, default=10, help="S (10)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one short run of each, C=50 S=5, 2 s (checks the tooling, not a result)",
    )
    parser.add_argument("--out", default="", help="results file stem (default: cluster-<date>)")
    parser.add_argument(
        "--stores-cpu",
        default="",
        help="CPU list for redis-server and PostgreSQL, every process and thread (default '': "
        "unpinned; pinned to the generator's core 1, two-nodes' node B and the generator "
        "starved them and bus calls passed their deadline)",
    )
    parser.add_argument(
        "--half-of",
        choices=("one-node", "single", "workers-2", "two-nodes"),
        default="one-node",
        help="crossnode's rate is half this configuration's fanout messages/s (one-node)",
    )
    parser.add_argument(
        "--crossnode-rate",
        type=float,
        default=0.0,
        help="run only crossnode, at this many messages/s, against two-nodes alone (for "
        "looking into latency; the half-load figure needs the full run)",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=0,
        help="with --crossnode-rate: first run fanout this many times against two-nodes alone, "
        "unmeasured (0), so the network carries a full run's history and load before its "
        "cross-node phases (for telling those conditions from the cross-node phase alone)",
    )
    opts = parser.parse_args()
    reps = 1 if opts.quick else opts.reps
    duration = f"{2.0 if opts.quick else opts.duration:g}"
    clients = str(50 if opts.quick else opts.clients)
    senders = str(5 if opts.quick else opts.senders)
    stem = opts.out or f"cluster-{datetime.date.today().isoformat()}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hubbub-cluster-bench-"))
    log = tmp / "bench.log"
    print(f"work dir {tmp}; bench output in {log}", flush=True)

    fanout = ["-C", clients, "-S", senders, "-D", duration]
    fanout += ["--check-every", "10", "--setup-window", "100", "--drain", "5"]
    results: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": compare.machine(),
        "quick": opts.quick,
        "pinning": {},
        "servers": {},
        "scenarios": {},
    }
    with contextlib.ExitStack() as stack:
        bus_server = stack.enter_context(RedisServer())
        store_server = stack.enter_context(PostgresServer())
        if opts.stores_cpu:
            cpus = {int(cpu) for cpu in str(opts.stores_cpu).split(",")}
            assert bus_server.process is not None and store_server.pid is not None
            pin_tree(bus_server.process.pid, cpus)
            pin_tree(store_server.pid, cpus)
        redis_client = stack.enter_context(redis.Redis(port=bus_server.port))
        results["redis"] = redis_client.info("server")["redis_version"]
        with psycopg.connect(store_server.url, autocommit=True) as connection:
            version = connection.execute("SHOW server_version").fetchone()
            results["postgres"] = str(version[0]) if version else "?"
            for database in ("one_node", "workers_2", "two_nodes"):
                connection.execute(f'CREATE DATABASE "{database}"')

        def network(database: str, number: int) -> tuple[str, str]:
            return store_server.database_url(database), f"{bus_server.url[:-2]}/{number}"

        one_store, one_bus = network("one_node", 1)
        w2_store, w2_bus = network("workers_2", 2)
        two_store, two_bus = network("two_nodes", 3)
        configurations = [
            # The reference every figure is quoted against, measured in the same run.
            Configuration("ngircd", [compare.Ngircd("ngircd", tmp)]),
            Configuration("single", [Node("single", tmp, compare.SERVER_CPU)]),
            Configuration(
                "one-node",
                [Node("one-node", tmp, compare.SERVER_CPU, store=one_store, bus=one_bus)],
                one_store,
                one_bus,
            ),
            Configuration(
                "workers-2",
                [Node("workers-2", tmp, "0,1", store=w2_store, bus=w2_bus, workers=2)],
                w2_store,
                w2_bus,
            ),
            Configuration(
                "two-nodes",
                [
                    Node("node-a", tmp, compare.SERVER_CPU, store=two_store, bus=two_bus),
                    Node("node-b", tmp, compare.BENCH_CPU, store=two_store, bus=two_bus),
                ],
                two_store,
                two_bus,
            ),
        ]
        if opts.crossnode_rate:
            # The latency reference stays: ngIRCd and hubbub's single process at the same rate.
            configurations = [
                c for c in configurations if c.name in ("ngircd", "single", "two-nodes")
            ]
        for configuration in configurations:
            for node in configuration.nodes:
                node.write_config()
                node.start()
                stack.callback(node.stop)
                results["servers"][node.name] = {
                    "version": node.version(),
                    "port": node.port,
                    "command": " ".join(node.command()),
                }
                results["pinning"][node.name] = f"taskset -c {node.cpus}"
                print(f"started {node.name} (pid {node.pid}, port {node.port})", flush=True)
        results["pinning"]["generator"] = f"taskset -c {compare.BENCH_CPU}"
        results["pinning"]["redis, postgres"] = (
            f"every process and thread on CPUs {opts.stores_cpu} (os.sched_setaffinity)"
            if opts.stores_cpu
            else "not pinned (both cores)"
        )

        def measure(name: str, targets: list[Configuration], args: list[str]) -> None:
            runs: dict[str, list[dict[str, Any]]] = {c.name: [] for c in targets}
            for rep in range(reps):
                for configuration in targets:
                    began = time.monotonic()
                    client = redis_client if configuration.bus else None
                    record = run_once(configuration, ["fanout", *args], log, client)
                    took = time.monotonic() - began
                    if record is None:
                        print(f"{name} #{rep + 1} {configuration.name}: FAILED ({took:.0f} s)")
                        continue
                    runs[configuration.name].append(record)
                    r = record["results"]
                    print(
                        f"{name} #{rep + 1} {configuration.name}: deliveries/s "
                        f"{r['deliveries_per_s']}, p99 {r['latency_ms']['p99']} ms, lost "
                        f"{r['lost']} dup {r['duplicated']} reordered {r['out_of_order']}, "
                        f"history missing {r.get('history', {}).get('missing', '-')} "
                        f"({took:.0f} s)",
                        flush=True,
                    )
            results["scenarios"][name] = {
                label: summarise(records) for label, records in runs.items() if records
            }

        by_name = {c.name: c for c in configurations}
        if opts.crossnode_rate:
            sustained = 2 * opts.crossnode_rate
            half_of = "--crossnode-rate"
            for turn in range(opts.warm_up):
                # As the full run's fan-out phases load two-nodes (their records kept apart).
                record = run_once(by_name["two-nodes"], ["fanout", *fanout, "-W", "8"], log, None)
                print(f"warm-up #{turn + 1}: {'done' if record else 'FAILED'}", flush=True)
            results["warm_up"] = opts.warm_up
        else:
            measure("fanout", configurations, [*fanout, "-W", "8"])
            half_of = opts.half_of
            sustained = (results["scenarios"]["fanout"].get(half_of) or {}).get("messages_per_s")
        if sustained:
            rate = f"{sustained / 2:.0f}"
            results["half_load_rate"] = {"messages_per_s": float(rate), "half_of": half_of}
            # The same traffic at the same rate against one server (every client on it): what
            # this machine, its kernel and the generator give a plain server's latency, the
            # reference the cross-node latency is quoted against.
            measure(
                "at-crossnode-rate",
                [by_name["ngircd"], by_name["single"]],
                [*fanout, "-R", rate],
            )
            node_a, node_b = by_name["two-nodes"].nodes
            for scenario, cpu_a, cpu_b in CROSSNODE_PLACEMENTS:
                for node, cpu in ((node_a, cpu_a), (node_b, cpu_b)):
                    if node.proc is not None:
                        pin_tree(node.proc.pid, {cpu})
                    results["pinning"][f"{node.name} in {scenario}"] = f"CPU {cpu}"
                measure(
                    scenario,
                    [by_name["two-nodes"]],
                    [*fanout, "-R", rate, "--placement", "senders-apart"],
                )
        else:
            print(f"crossnode: no {half_of} fanout median to halve, skipped", flush=True)
    results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    json_path = RESULTS / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    md_path = RESULTS / f"{stem}.md"
    md_path.write_text(markdown(results))
    print(f"wrote {json_path} and {md_path}")
    print(markdown(results))
    return 0


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    quick = " (--quick: a check of the tooling, not a result)" if results["quick"] else ""
    lines = [f"# hubbub as a cluster — {results['date']}{quick}", ""]
    lines.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, {m['memory']}, "
        f"Python {m['python']}, Redis {results['redis']}, PostgreSQL {results['postgres']}; "
        f"load average before {m['load_before']}, after {m.get('load_after', '?')}."
    )
    lines.append("")
    lines.append("Pinning (the generator shares core 1 with workers-2 and with node-b):")
    lines.append("")
    lines += [f"- {name}: `{pin}`" for name, pin in results["pinning"].items()]
    lines.append("")
    lines += [f"- {name}: {info['version']}" for name, info in results["servers"].items()]
    lines.append("")
    if "half_load_rate" in results:
        rate = results["half_load_rate"]
        lines.append(
            f"crossnode rate: {rate['messages_per_s']:g} messages/s, "
            + (
                "given with --crossnode-rate (not a half-load figure)."
                if rate["half_of"] == "--crossnode-rate"
                else f"half of {rate['half_of']}'s median messages/s in fanout."
            )
        )
        if results.get("warm_up"):
            lines.append(
                f"Before it: {results['warm_up']} unmeasured fanout runs against two-nodes "
                "(--warm-up)."
            )
        lines.append("")
    for scenario, entry in results["scenarios"].items():
        if not entry:
            continue
        names = list(entry)
        lines.append(f"## {scenario}")
        lines.append("")
        header = "| metric (median) | " + " | ".join(names) + " |"
        lines.append(header)
        lines.append("|---" * (len(names) + 1) + "|")
        for metric in METRICS:
            values = [entry[n].get(metric) for n in names]
            if all(v is None for v in values):
                continue
            lines.append(f"| {metric} | " + " | ".join(compare.fmt(v) for v in values) + " |")
        reference = (entry.get("ngircd") or {}).get("deliveries_per_s")
        if reference and not scenario.startswith("at-"):
            ratios = [f"{entry[n]['deliveries_per_s'] / reference:.2f}\u00d7" for n in names]
            lines.append("| deliveries_per_s ÷ ngircd's | " + " | ".join(ratios) + " |")
        at_rate = results["scenarios"].get("at-crossnode-rate") or {}
        for metric in ("latency_ms.p50", "latency_ms.p99"):
            base = (at_rate.get("ngircd") or {}).get(metric)
            key = "cross_node_" + metric if scenario.startswith("crossnode") else metric
            if base and (scenario.startswith("crossnode") or scenario == "at-crossnode-rate"):
                ratios = [f"{entry[n][key] / base:.2f}\u00d7" for n in names if entry[n].get(key)]
                lines.append(
                    f"| {key} ÷ ngircd's {metric} at the same rate | " + " | ".join(ratios) + " |"
                )
        lines.append("")
        lines += [f"- {name}: `{entry[name]['command']}`" for name in names]
        lines.append("")
    lines.append(
        "Sequencing figures count everything Redis did during a run, its setup and teardown "
        "included (registrations, JOINs and QUITs of the C clients: about 4 C script calls), "
        "and the idle configurations' heartbeats."
    )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
