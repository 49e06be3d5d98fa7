"""hubbub's engines against each other and ngIRCd: the same scenarios, on this machine, in one run.

Run through `benchmarks/engines` (which installs ngIRCd from Debian and raises the open-file
limit). The servers, the generator and the results are those of `benchmarks/compare` (this script
imports it: the same `Hubbub` and `Ngircd` servers, the same `hubbub bench` call, medians and
machine record). What is added:

* one hubbub per engine, `hubbub serve --engine NAME --no-web`, pinned to one core
  (`taskset -c SERVER_CPU`, named `NAME@1`); the threads and hybrid engines once more on every
  CPU but the generator's (`NAME@all`), since they are the designs that can use several cores;
  ngIRCd, pinned to the same one core, is the reference;
* every `hubbub bench` run pinned to the generator's CPUs (`--bench-cpus`, core 1 by default);
* the scenarios below, each REPS times against every server, interleaved (so slow drifts of the
  machine hit all servers alike). Medians, the runs' values and every run's raw result go to
  benchmarks/results/engines-<date>.json, a table to engines-<date>.md.

Scenarios:
  fanout200      fanout C=200 S=10, as fast as possible, window 8
  fanout1000     fanout C=1000 S=20, as fast as possible, window 8
  rooms          rooms C=1000 K=50 S=50, window 8
  connect        connect C=1000: registrations/s and their latency
  idle10k        connect C=10000 to a freshly started server: RSS per idle connection and the
                 server's thread count (from /proc)
  steady200      fanout C=200 S=10 at a fixed rate (--steady-rate; by default half the slowest
                 fanout200 median of this run), 200 more bytes per line (about 250 in all, a
                 chat line's length): the unloaded reference of the two below
  slowreader200  steady200 with one more member that never reads (`--stalled 1`): the others'
                 p99 against steady200's; `stalled_cut_off` says whether the server reached its
                 send-queue limit for it within the run
  slowstore200   steady200 against a hubbub whose history store waits 50 ms before every write
                 (`python -m hubbub.bench.slowstore`, every engine; hubbub only): the others'
                 p99 against steady200's. A slowed server that fails to start is reported so.

Server CPU is the server process's user + system time from /proc (all its threads) over the
traffic, as a percentage of one core; lost / duplicated / out-of-order are counted by every
checked receiver (every 10th member, and every sender's acknowledger) and must be 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # benchmarks/compare.py, beside this file

RESULTS = compare.RESULTS
ENGINES = ("asyncio", "threads", "select", "hybrid", "twisted")
ALL_CORES = ("threads", "hybrid")
REFERENCE = "asyncio@1"
SLOW_WRITE_MS = 50.0

# compare's metrics, plus what these scenarios add.
METRICS: dict[str, list[str]] = {
    **compare.METRICS,
    "connect": [*compare.METRICS["connect"], "server_threads", "server_rss_after_kb"],
    "slow": [
        "deliveries_per_s",
        "latency_ms.p50",
        "latency_ms.p99",
        "lost",
        "duplicated",
        "out_of_order",
        "disconnected",
        "stalled_cut_off",
        "server_cpu_pct",
    ],
}
# Scenarios whose p99 is compared with steady200's.
AGAINST_STEADY = ("slowreader200", "slowstore200")


class EngineHubbub(compare.Hubbub):
    """hubbub on one engine, pinned to `cpus`; with `slow_store_ms`, started through the slow
    store wrapper. The web listener is off for every engine alike (only asyncio and twisted
    serve it)."""

    def __init__(
        self, engine: str, cpus: str, label: str, tmp: Path, slow_store_ms: float = 0.0
    ) -> None:
        suffix = f"+slowstore{slow_store_ms:g}ms" if slow_store_ms else ""
        super().__init__(f"{engine}@{label}{suffix}", tmp)
        self.engine = engine
        self.cpus = cpus
        self.slow_store_ms = slow_store_ms

    def command(self) -> list[str]:
        data = self.dir / f"data-{self.port}"
        common = [
            "--config",
            str(self.dir / "hubbub.toml"),
            "--port",
            str(self.port),
            "--data-dir",
            str(data),
            "--no-web",
        ]
        if self.slow_store_ms:
            return [
                str(self.venv / "python"),
                "-m",
                "hubbub.bench.slowstore",
                "--write-delay-ms",
                f"{self.slow_store_ms:g}",
                "--engine",
                self.engine,
                *common,
            ]
        return [str(self.venv / "hubbub"), "serve", "--engine", self.engine, *common]

    def version(self) -> str:
        return f"engine {self.engine} on CPUs {self.cpus}; {super().version()}"


def all_cpus_but(excluded: str) -> str:
    """Every CPU this process may use except those in `excluded` (taskset list syntax)."""
    skip = set()
    for part in excluded.split(","):
        low, _, high = part.partition("-")
        skip.update(range(int(low), int(high or low) + 1))
    free = sorted(set(os.sched_getaffinity(0)) - skip)
    return ",".join(str(cpu) for cpu in free) or compare.SERVER_CPU


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario and server (3)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of traffic (8)")
    parser.add_argument("--quick", action="store_true", help="one short run of each (smoke test)")
    parser.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help=f"engines to run ({','.join(ENGINES)})"
    )
    parser.add_argument(
        "--all-cores",
        default=",".join(ALL_CORES),
        help="engines also run on every CPU but the generator's (threads,hybrid)",
    )
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections (10000)")
    parser.add_argument(
        "--steady-rate",
        type=float,
        default=0.0,
        help="messages/s of steady200 and the slow scenarios; 0: half the slowest fanout200 "
        "median of this run (0)",
    )
    parser.add_argument("--server-cpu", default=compare.SERVER_CPU, help="the one core (0)")
    parser.add_argument("--bench-cpus", default=compare.BENCH_CPU, help="the generator's (1)")
    parser.add_argument("--no-ngircd", action="store_true", help="leave the reference out")
    parser.add_argument(
        "--out",
        default="",
        help="results file stem in benchmarks/results, or a path without suffix "
        "(default: engines-<date>)",
    )
    opts = parser.parse_args()
    reps = 1 if opts.quick else opts.reps
    duration = min(2.0, opts.duration) if opts.quick else opts.duration
    d = f"{duration:g}"
    chosen = set(filter(None, opts.only.split(",")))
    stem = opts.out or f"engines-{datetime.date.today().isoformat()}"
    out = Path(stem) if "/" in stem else RESULTS / stem
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hubbub-engines-"))
    log = tmp / "bench.log"
    print(f"work dir {tmp}; bench output in {log}", flush=True)

    many = all_cpus_but(opts.bench_cpus)
    if many == opts.server_cpu:
        print(
            f"note: every CPU but the generator's is just CPU {many}: the @all runs are "
            "pinned like the @1 runs on this machine",
            flush=True,
        )
    engines = [e for e in opts.engines.split(",") if e]
    servers: list[compare.Server] = []
    for engine in engines:
        servers.append(EngineHubbub(engine, opts.server_cpu, "1", tmp))
        if engine in opts.all_cores.split(","):
            servers.append(EngineHubbub(engine, many, "all", tmp))
    if not opts.no_ngircd:
        reference = compare.Ngircd("ngircd", tmp)
        reference.cpus = opts.server_cpu
        servers.append(reference)
    hubbubs = [s for s in servers if isinstance(s, EngineHubbub)]

    fanout = ["--check-every", "10", "--setup-window", "100", "--drain", "5"]
    scenarios: list[tuple[str, str, list[str]]] = [
        ("fanout200", "fanout", ["-C", "200", "-S", "10", "-W", "8", "-D", d, *fanout]),
        ("fanout1000", "fanout", ["-C", "1000", "-S", "20", "-W", "8", "-D", d, *fanout]),
        (
            "rooms",
            "rooms",
            ["-C", "1000", "--rooms", "50", "-S", "50", "-W", "8", "-D", d, *fanout],
        ),
        ("connect", "connect", ["-C", "1000", "--settle", "0.2"]),
        ("idle10k", "connect", ["-C", str(opts.idle), "--settle", "1"]),
        ("steady200", "fanout", []),  # the rate is known once fanout200 has run
        ("slowreader200", "fanout", []),
        ("slowstore200", "fanout", []),
    ]
    connect_window = {"ngircd": "8"}
    results: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": compare.machine(),
        "pinning": {
            "one core": f"taskset -c {opts.server_cpu}",
            "all cores": f"taskset -c {many}",
            "generator": f"taskset -c {opts.bench_cpus}",
        },
        "reference": REFERENCE,
        # The servers in the order they were started (the JSON's keys are sorted).
        "order": [server.name for server in servers],
        "servers": {},
        "scenarios": {},
    }
    slow_servers: list[EngineHubbub] = []
    try:
        for server in servers:
            server.write_config()
            server.start()
            results["servers"][server.name] = {
                "version": server.version(),
                "cpus": server.cpus,
                "port": server.port,
            }
            print(f"started {server.name} (pid {server.pid}, CPUs {server.cpus})", flush=True)
        for name, scenario, args in scenarios:
            if chosen and name not in chosen:
                continue
            targets: list[compare.Server] = servers
            if name in ("steady200", "slowreader200", "slowstore200"):
                rate = opts.steady_rate or steady_rate(results)
                results["steady_rate"] = rate
                # Lines of a real chat's length (~250 bytes), so that a reader who stopped
                # reaches the send-queue limit within the run.
                args = ["-C", "200", "-S", "10", "-R", f"{rate:g}", "-D", d, "--size", "200"]
                args += fanout
                if name == "slowreader200":
                    args += ["--stalled", "1"]
            if name == "slowstore200":
                slow_servers = start_slow_servers(hubbubs, tmp, results)
                targets = list(slow_servers)
            entry = measure(name, scenario, args, targets, reps, log, opts, connect_window)
            results["scenarios"][name] = entry
            if name == "slowstore200":
                for server in slow_servers:
                    server.stop()
                slow_servers = []
        compare_with_steady(results)
    finally:
        for server in [*servers, *slow_servers]:
            server.stop()
    results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    json_path = out.with_name(out.name + ".json")
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    md_path = out.with_name(out.name + ".md")
    md_path.write_text(markdown(results))
    print(f"wrote {json_path} and {md_path}")
    print(markdown(results))
    return 0


def steady_rate(results: dict[str, Any]) -> float:
    """Half the slowest fanout200 median of this run, in messages/s (each message reaches 199
    members): a load every server carries, so latency measures waiting, not saturation."""
    entry = results["scenarios"].get("fanout200", {})
    medians = [
        summary["deliveries_per_s"]
        for summary in entry.values()
        if isinstance(summary, dict) and summary.get("deliveries_per_s")
    ]
    if not medians:
        print("steady200: no fanout200 medians, using 500 messages/s", flush=True)
        return 500.0
    return float(max(10, round(0.5 * min(medians) / 199)))


def start_slow_servers(
    hubbubs: list[EngineHubbub], tmp: Path, results: dict[str, Any]
) -> list[EngineHubbub]:
    """One slowed hubbub per engine variant; one that fails to start is recorded so."""
    started: list[EngineHubbub] = []
    for plain in hubbubs:
        label = plain.name.split("@", 1)[1]
        server = EngineHubbub(plain.engine, plain.cpus, label, tmp, SLOW_WRITE_MS)
        server.write_config()
        try:
            server.start()
        except RuntimeError as exc:
            note = server.log.read_text(errors="replace").strip().splitlines()[-1:]
            results["servers"][server.name] = {"not started": f"{exc}: {' '.join(note)}"}
            print(f"{server.name}: not started ({exc})", flush=True)
            server.proc = None
            continue
        results["servers"][server.name] = {
            "version": server.version(),
            "cpus": server.cpus,
            "port": server.port,
        }
        print(f"started {server.name} (pid {server.pid})", flush=True)
        started.append(server)
    return started


def measure(
    name: str,
    scenario: str,
    args: list[str],
    servers: list[compare.Server],
    reps: int,
    log: Path,
    opts: argparse.Namespace,
    connect_window: dict[str, str],
) -> dict[str, Any]:
    """REPS runs of one scenario against every server, interleaved; medians and raw runs."""
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    commands: dict[str, str] = {}
    for rep in range(reps):
        for server in servers:
            extra: list[str] = []
            if scenario == "connect":
                extra = ["-W", connect_window.get(server.name, "64")]
            if name == "idle10k":
                server.restart()  # RSS growth is only meaningful on a fresh process
            started = time.monotonic()
            record = compare.bench(
                server, [scenario, *args, *extra], log, timeout=300, cpus=opts.bench_cpus
            )
            took = time.monotonic() - started
            if record is None:
                print(f"{name} #{rep + 1} {server.name}: FAILED ({took:.0f} s)", flush=True)
                continue
            runs[server.name].append(record)
            commands[server.name] = record["command"]
            key = METRICS[scenario][0]
            value = compare.get(record, key)
            print(f"{name} #{rep + 1} {server.name}: {key} {value} ({took:.0f} s)", flush=True)
    entry: dict[str, Any] = {"commands": commands}
    metrics = {**METRICS, "fanout": METRICS["slow"]} if name in AGAINST_STEADY else METRICS
    for server_name, records in runs.items():
        if records:
            entry[server_name] = compare.summarise(records, metrics)
            entry[server_name]["raw"] = [r["results"] for r in records]
    return entry


def compare_with_steady(results: dict[str, Any]) -> None:
    """Each slow scenario's p99 as a ratio to the same engine's steady200 p99 (the target: the
    others stay within 2x of the unloaded run)."""
    steady = results["scenarios"].get("steady200", {})
    for name in AGAINST_STEADY:
        entry = results["scenarios"].get(name, {})
        for server_name, summary in entry.items():
            if not isinstance(summary, dict) or "runs" not in summary:
                continue
            base_name = server_name.split("+", 1)[0]
            base = (steady.get(base_name) or {}).get("latency_ms.p99")
            p99 = summary.get("latency_ms.p99")
            summary["p99_vs_steady200"] = round(p99 / base, 3) if p99 and base else None


def ordered(results: dict[str, Any]) -> list[str]:
    """Every server, in the order they were started, slowed variants after the rest."""
    names = [name for name in results.get("order", []) if name in results["servers"]]
    return names + [name for name in results["servers"] if name not in names]


def markdown(results: dict[str, Any]) -> str:
    """The medians, with each hubbub as a ratio to the reference engine and to ngIRCd."""
    lines = [f"# hubbub engines vs ngIRCd — {results['date']}", ""]
    m = results["machine"]
    pinning = ", ".join(f"{k}: `{v}`" for k, v in results["pinning"].items())
    lines.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, {m['memory']}, "
        f"Python {m['python']}; load average before {m['load_before']}, after "
        f"{m.get('load_after', '?')}. Pinning: {pinning}."
    )
    if "steady_rate" in results:
        lines.append(f"Steady rate: {results['steady_rate']:g} messages/s.")
    lines.append("")
    for name in ordered(results):
        info = results["servers"][name]
        lines.append(f"- {name}: {info.get('version') or info.get('not started')}")
    lines.append("")
    for scenario, entry in results["scenarios"].items():
        present = [s for s in ordered(results) if s in entry]
        if not present:
            continue
        metrics = [k for k in entry[present[0]] if k not in ("runs", "raw") and "(runs)" not in k]
        reference = next((s for s in present if s.split("+")[0] == REFERENCE), None)
        lines.append(f"## {scenario}")
        lines.append("")
        header = "| metric (median) | " + " | ".join(present) + " |"
        lines.append(header)
        lines.append("|---" * (len(present) + 1) + "|")
        for metric in metrics:
            cells = [compare.fmt(entry[s].get(metric)) for s in present]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        for base in filter(None, (reference, "ngircd" if "ngircd" in entry else None)):
            for metric in ("deliveries_per_s", "latency_ms.p99", "rss_per_connection_kb"):
                if metric not in metrics:
                    continue
                cells = []
                for s in present:
                    value, against = entry[s].get(metric), entry[base].get(metric)
                    cells.append(f"{value / against:.2f}x" if value and against else "-")
                lines.append(f"| {metric} / {base} | " + " | ".join(cells) + " |")
        lines.append("")
        for server_name, command in entry.get("commands", {}).items():
            lines.append(f"- {server_name}: `{command}`")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
