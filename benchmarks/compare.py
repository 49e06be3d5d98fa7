"""hubbub against ngIRCd and InspIRCd: the same scenarios, on this machine, in one run.

Run through `benchmarks/compare` (which installs the two servers from Debian). Every server runs
in the foreground of this script with its own config in a temp dir, on a free port on
127.0.0.1, without flood throttling and with raised per-address limits, pinned to core 0
(`taskset -c 0`); every `hubbub bench` run is pinned to core 1. Each scenario runs REPS times
against each server, interleaved (hubbub, ngIRCd, InspIRCd, hubbub, ...) so slow drifts of the
machine hit all servers alike. Medians go to benchmarks/results/<date>.json and <date>.md.

Scenarios (see docs/benchmarks.md for why these parameters):
  fanout200   fanout C=200 S=10, as fast as possible, window 8
  fanout1000  fanout C=1000 S=20, as fast as possible, window 8
  fanout200ws fanout200 over IRC-over-WebSocket (hubbub only: compare with its fanout200)
  rate200     fanout C=200 S=10 at a fixed rate: 80 % of ngIRCd's fanout200 median
  rooms       rooms C=1000 K=50 S=50, window 8
  connect     connect C=1000 (registrations/s, latency)
  idle10k     connect C=10000 to a freshly started server: RSS per idle connection
  history     history N=5000 (hubbub only: the others have no CHATHISTORY)
  join5000    join C=5000 J=200, one JOIN after another (hubbub and ngIRCd)
  join5000nin join5000 with the joiners on no-implicit-names (hubbub only: ngIRCd does not
              offer the capability)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "benchmarks" / "results"
SERVER_CPU = "0"
BENCH_CPU = "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class Server(ABC):
    """One server process we started (and stop by its pid)."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"
        # The CPUs it is pinned to (taskset -c); benchmarks/engines also runs some on several.
        self.cpus = SERVER_CPU

    # per-server details ------------------------------------------------------------------
    @abstractmethod
    def command(self) -> list[str]:
        """How to run this server in the foreground."""

    def bench_args(self, scenario: str) -> list[str]:
        """Extra `hubbub bench` flags this server needs."""
        return []

    @abstractmethod
    def version(self) -> str:
        """The server's version, as the results record it."""

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", self.cpus, *self.command()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
            )
        wait_listening(self.port, self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        time.sleep(0.5)
        self.port = free_port()
        self.write_config()
        self.start()

    def write_config(self) -> None:  # noqa: B027 (optional hook: most servers need no file)
        """Write the config file for the current port, if this server has one."""


class Hubbub(Server):
    """hubbub from a source tree (this one by default, or another checkout with its own .venv),
    at its default configuration except what a load test from one address needs lifted (flood
    control, clients per address). `log_level` None keeps the default level (INFO)."""

    def __init__(
        self,
        name: str,
        tmp: Path,
        tree: Path = ROOT,
        log_level: str | None = None,
        extra: str = "",
    ) -> None:
        super().__init__(name, tmp)
        self.tree = tree
        self.venv = tree / ".venv" / "bin"
        self.log_level = log_level
        self.extra = extra  # more TOML for this variant (e.g. metrics on)
        # Its own web listener (IRC over WebSocket), so that several hubbubs never share one.
        self.web_port = free_port()

    def restart(self) -> None:
        self.web_port = free_port()
        super().restart()

    def write_config(self) -> None:
        text = "[flood]\nenabled = false\n[limits]\nclients_per_ip = 100000\nmax_clients = 100000\n"
        if self.log_level is not None:
            text += f'[log]\nlevel = "{self.log_level}"\n'
        (self.dir / "hubbub.toml").write_text(text + self.extra)

    def command(self) -> list[str]:
        # History stays on, in SQLite (the default backend), in a fresh data directory.
        data = self.dir / f"data-{self.port}"
        return [
            str(self.venv / "hubbub"),
            "serve",
            "--config",
            str(self.dir / "hubbub.toml"),
            "--port",
            str(self.port),
            "--data-dir",
            str(data),
            "--web-port",
            str(self.web_port),
        ]

    def version(self) -> str:
        out = subprocess.run(
            [str(self.venv / "hubbub"), "--version"], capture_output=True, text=True
        )
        commit = subprocess.run(
            ["git", "-C", str(self.tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(self.tree), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        # The server is under active development: name the exact sources measured.
        digest = hashlib.sha256()
        for path in sorted((self.tree / "src" / "hubbub").rglob("*.py")):
            digest.update(path.read_bytes())
        local = " + local changes" if dirty else ""
        level = f"log level {self.log_level}" if self.log_level else "default log level (INFO)"
        return (
            f"{out.stdout.strip()} ({level}; commit {commit}{local}; "
            f"sha256 of src/hubbub/**/*.py {digest.hexdigest()[:12]})"
        )


class Ngircd(Server):
    def write_config(self) -> None:
        (self.dir / "ngircd.conf").write_text(
            f"""[Global]
\tName = ngircd.bench
\tInfo = ngIRCd benchmark
\tListen = 127.0.0.1
\tPorts = {self.port}
\tMotdPhrase = "benchmark"
\tPidFile = {self.dir}/ngircd.pid
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tPingTimeout = 600
\tPongTimeout = 600
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tOperCanUseMode = yes
[Operator]
\tName = bench
\tPassword = bench
"""
        )

    def command(self) -> list[str]:
        return ["ngircd", "--nodaemon", "--config", str(self.dir / "ngircd.conf")]

    def bench_args(self, scenario: str) -> list[str]:
        # ngIRCd throttles every user to a few commands per second; user mode +F (set by an
        # operator) lifts that. Only senders send more than a line or two.
        # In `join` the joiners are the ones that send (JOIN and a PING fence).
        if scenario in ("fanout", "rooms", "join"):
            return ["--sender-cmd", "OPER bench bench", "--sender-cmd", "MODE {nick} +F"]
        return []

    def version(self) -> str:
        out = subprocess.run(["ngircd", "--version"], capture_output=True, text=True)
        return out.stdout.splitlines()[0] if out.stdout else "ngircd ?"


class Inspircd(Server):
    def write_config(self) -> None:
        (self.dir / "motd.txt").write_text("benchmark\n")
        (self.dir / "inspircd.conf").write_text(
            f"""<server name="inspircd.bench" description="InspIRCd benchmark" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{self.port}" type="clients">
<power diepass="" restartpass="">
<connect name="bench" allow="*" timeout="60" pingfreq="600" threshold="100000"
         commandrate="100000000" fakelag="off" localmax="100000" globalmax="100000"
         maxconnwarn="off" limit="100000" maxchans="100" resolvehostnames="no"
         useident="no" recvq="1M" softsendq="1M" hardsendq="64M">
<files motd="{self.dir}/motd.txt">
<pid file="{self.dir}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{self.dir}/ircd.log">
<options prefixquit="Quit: " syntaxhints="no">
<security maxtargets="20">
<performance softlimit="100000" somaxconn="4096" clonesonconnect="no" quietbursts="yes">
<channels users="100" opers="100">
"""
        )

    def command(self) -> list[str]:
        return [
            "inspircd",
            "--nofork",
            "--nopid",
            "--runasroot",
            f"--config={self.dir / 'inspircd.conf'}",
        ]

    def version(self) -> str:
        out = subprocess.run(["inspircd", "--version"], capture_output=True, text=True)
        return out.stdout.strip() or "inspircd ?"


# ---------------------------------------------------------------------- running benches


def bench(
    server: Server,
    args: list[str],
    log: Path,
    timeout: float,
    port: int | None = None,
    cpus: str = BENCH_CPU,
) -> dict[str, Any] | None:
    """One `hubbub bench` run against `server` (on `port`, by default its IRC port), pinned to
    `cpus`; its JSON record, or None if it failed."""
    out = log.with_suffix(".jsonl")
    scenario = args[0]
    command = [
        "taskset",
        "-c",
        cpus,
        str(VENV / "hubbub"),
        "bench",
        *args,
        "--port",
        str(port if port is not None else server.port),
        "--server-pid",
        str(server.pid),
        "--label",
        server.name,
        "--json",
        str(out),
        *server.bench_args(scenario),
    ]
    before = out.read_text().count("\n") if out.exists() else 0
    with open(log, "a") as f:
        f.write(f"\n$ {shlex.join(command)}\n")
        f.flush()
        try:
            status = subprocess.run(
                command, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            f.write(f"(timed out after {timeout} s)\n")
            return None
    lines = out.read_text().splitlines() if out.exists() else []
    if status != 0 or len(lines) <= before:
        return None
    record: dict[str, Any] = json.loads(lines[-1])
    record["command"] = shlex.join(["hubbub", "bench", *args, *server.bench_args(scenario)])
    return record


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def get(record: dict[str, Any], path: str) -> Any:
    value: Any = record["results"]
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


METRICS = {
    "fanout": [
        "deliveries_per_s",
        "latency_ms.p50",
        "latency_ms.p99",
        "lost",
        "duplicated",
        "out_of_order",
        "server_cpu_pct",
        "generator_cpu_pct",
    ],
    "rooms": [
        "deliveries_per_s",
        "latency_ms.p50",
        "latency_ms.p99",
        "lost",
        "duplicated",
        "out_of_order",
        "server_cpu_pct",
        "generator_cpu_pct",
    ],
    "connect": [
        "connections_per_s",
        "registration_ms.p50",
        "registration_ms.p99",
        "rss_per_connection_kb",
        "failed",
        "server_cpu_pct",
        "generator_cpu_pct",
    ],
    "history": [
        "join_to_names_ms.p50",
        "join_to_replay_end_ms.p50",
        "join_to_replay_end_ms.p99",
        "pages_per_s",
        "paged_lines_per_s",
        "page_ms.p99",
    ],
    "join": [
        "joins_per_s",
        "join_to_echo_ms.p50",
        "join_to_echo_ms.p99",
        "join_to_names_ms.p50",
        "join_to_names_ms.p99",
        "join_to_done_ms.p99",
        "lines_per_join",
        "bytes_per_join",
        "fanout_latency_ms.p99",
        "lost",
        "duplicated",
        "server_cpu_per_join_ms",
        "server_cpu_pct",
    ],
}


def summarise(
    records: list[dict[str, Any]], metrics: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """Medians (and every run's value) of the scenario's metrics (`metrics`, default METRICS)."""
    scenario = records[0]["scenario"]
    summary: dict[str, Any] = {"runs": len(records)}
    for metric in (metrics or METRICS)[scenario]:
        values = [get(r, metric) for r in records]
        summary[metric] = median([v for v in values if isinstance(v, (int, float))])
        summary[metric + " (runs)"] = values
    return summary


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f.readline().split(":", 1)[1].strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "memory": mem,
        "python": platform.python_version(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario and server (3)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of traffic (8)")
    parser.add_argument("--quick", action="store_true", help="one short run of each (smoke test)")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names to run (default: all)"
    )
    parser.add_argument("--out", default="", help="results file stem (default: today's date)")
    parser.add_argument(
        "--hubbub",
        action="append",
        default=[],
        metavar="NAME=TREE[@LEVEL]",
        help="a hubbub to measure: a name, a source tree with its own .venv, and optionally a log "
        "level (default: one hubbub, this tree, default log level). Repeat to compare versions "
        "or levels in one run, e.g. --hubbub hubbub=. --hubbub hubbub@WARNING=.@WARNING",
    )
    parser.add_argument(
        "--hubbub-extra",
        action="append",
        default=[],
        metavar="NAME=TOML",
        help="more config for one hubbub, e.g. --hubbub-extra 'metrics=[metrics]\nenabled = true'",
    )
    parser.add_argument(
        "--no-inspircd", action="store_true", help="leave InspIRCd out (ngIRCd is the reference)"
    )
    opts = parser.parse_args()
    reps = 1 if opts.quick else opts.reps
    dur = 2.0 if opts.quick else opts.duration
    d = f"{dur:g}"
    chosen = set(filter(None, opts.only.split(",")))
    stem = opts.out or datetime.date.today().isoformat()
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hubbub-compare-"))
    log = tmp / "bench.log"
    print(f"work dir {tmp}; bench output in {log}", flush=True)

    extras: dict[str, str] = {}
    for spec in opts.hubbub_extra:
        name, _, toml = spec.partition("=")
        extras[name] = extras.get(name, "") + toml.replace("\\n", "\n") + "\n"
    hubbubs: list[Server] = []
    for spec in opts.hubbub or ["hubbub=."]:
        name, _, where = spec.partition("=")
        tree, _, level = where.partition("@")
        hubbubs.append(
            Hubbub(name, tmp, Path(tree or ".").resolve(), level or None, extras.get(name, ""))
        )
    servers: list[Server] = [*hubbubs, Ngircd("ngircd", tmp)]
    if not opts.no_inspircd:
        servers.append(Inspircd("inspircd", tmp))
    # Registration (connect) windows: ngIRCd listens with a backlog of 10, so more than ~10
    # attempts at once get SYNs dropped and 1 s retransmits; InspIRCd finishes every
    # registration on its once-a-second timer, so it needs many in flight. Each server gets
    # the window that suits it.
    connect_window = {"ngircd": "8", "inspircd": "512"}
    fanout = ["--check-every", "10", "--setup-window", "100", "--drain", "5"]
    join = ["-C", "1000" if opts.quick else "5000", "-J", "200", "-W", "1"]
    join += ["--check-every", "10", "--setup-window", "100", "--setup-timeout", "240"]
    scenarios: list[tuple[str, str, list[str]]] = [
        ("fanout200", "fanout", ["-C", "200", "-S", "10", "-W", "8", "-D", d, *fanout]),
        ("fanout1000", "fanout", ["-C", "1000", "-S", "20", "-W", "8", "-D", d, *fanout]),
        # hubbub only: the same C=200 fan-out with every client on IRC over WebSocket.
        (
            "fanout200ws",
            "fanout",
            ["-C", "200", "-S", "10", "-W", "8", "-D", d, "--websocket", *fanout],
        ),
        ("rate200", "fanout", []),  # filled in from ngIRCd's fanout200 median
        (
            "rooms",
            "rooms",
            ["-C", "1000", "--rooms", "50", "-S", "50", "-W", "8", "-D", d, *fanout],
        ),
        ("connect", "connect", ["-C", "1000", "--settle", "0.2"]),
        ("idle10k", "connect", ["-C", "2000" if opts.quick else "10000", "--settle", "1"]),
        ("history", "history", ["-C", "20", "--lines", "5000", "-D", d]),
        ("join5000", "join", join),
        ("join5000nin", "join", [*join, "--no-implicit-names"]),
    ]
    results: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "pinning": {"servers": f"taskset -c {SERVER_CPU}", "generator": f"taskset -c {BENCH_CPU}"},
        "servers": {},
        "scenarios": {},
    }
    try:
        for server in servers:
            server.write_config()
            server.start()
            results["servers"][server.name] = {"version": server.version(), "port": server.port}
            print(f"started {server.name} (pid {server.pid}, port {server.port})", flush=True)
        for name, scenario, args in scenarios:
            if chosen and name not in chosen:
                continue
            if name == "rate200":
                peak = (results["scenarios"].get("fanout200", {}).get("ngircd") or {}).get(
                    "deliveries_per_s"
                )
                if not peak:
                    print("rate200: no ngIRCd fanout200 median, skipped", flush=True)
                    continue
                rate = round(0.8 * peak / 199)
                args = ["-C", "200", "-S", "10", "-R", str(rate), "-D", d, *fanout]
            runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
            commands: dict[str, str] = {}
            for rep in range(reps):
                for server in servers:
                    websocket = name.endswith("ws")
                    if (scenario == "history" or websocket) and not isinstance(server, Hubbub):
                        continue
                    # join: hubbub and ngIRCd; no-implicit-names is a capability only hubbub has.
                    if scenario == "join" and (
                        isinstance(server, Inspircd)
                        or (name == "join5000nin" and not isinstance(server, Hubbub))
                    ):
                        continue
                    extra: list[str] = []
                    if scenario == "connect":
                        extra = ["-W", connect_window.get(server.name, "8")]
                    if name == "idle10k":
                        server.restart()  # RSS growth is only meaningful on a fresh process
                    t = time.monotonic()
                    port = server.web_port if websocket and isinstance(server, Hubbub) else None
                    # join's setup (5,000 members) alone may take minutes on ngIRCd.
                    limit = 600 if scenario == "join" else 300
                    record = bench(server, [scenario, *args, *extra], log, timeout=limit, port=port)
                    took = time.monotonic() - t
                    if record is None:
                        print(f"{name} #{rep + 1} {server.name}: FAILED ({took:.0f} s)", flush=True)
                        continue
                    runs[server.name].append(record)
                    commands[server.name] = record["command"]
                    key = METRICS[scenario][0]
                    print(
                        f"{name} #{rep + 1} {server.name}: {key} {get(record, key)} ({took:.0f} s)",
                        flush=True,
                    )
            entry: dict[str, Any] = {"commands": commands}
            for server_name, records in runs.items():
                if records:
                    entry[server_name] = summarise(records)
                    entry[server_name]["raw"] = [r["results"] for r in records]
            results["scenarios"][name] = entry
    finally:
        for server in servers:
            server.stop()
    results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    json_path = RESULTS / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    md_path = RESULTS / f"{stem}.md"
    md_path.write_text(markdown(results))
    print(f"wrote {json_path} and {md_path}")
    print(markdown(results))
    return 0


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# hubbub vs ngIRCd vs InspIRCd — {results['date']}", ""]
    m = results["machine"]
    lines.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, {m['memory']}, "
        f"Python {m['python']}; load average before {m['load_before']}, after "
        f"{m.get('load_after', '?')}. Servers pinned with `{results['pinning']['servers']}`, "
        f"generator with `{results['pinning']['generator']}`."
    )
    lines.append("")
    for name, info in results["servers"].items():
        lines.append(f"- {name}: {info['version']}")
    lines.append("")
    for scenario, entry in results["scenarios"].items():
        present = [s for s in results["servers"] if s in entry]
        if not present:
            continue
        metrics = [k for k in entry[present[0]] if k not in ("runs", "raw") and "(runs)" not in k]
        # Every hubbub (anything that is not a reference server) as a ratio to ngIRCd.
        ratios = (
            [s for s in present if s not in ("ngircd", "inspircd")] if "ngircd" in entry else []
        )
        lines.append(f"## {scenario}")
        lines.append("")
        header = "| metric (median) | " + " | ".join(present)
        header += "".join(f" | {s} / ngIRCd" for s in ratios) + " |"
        lines.append(header)
        lines.append("|---" * (header.count("|") - 1) + "|")
        for metric in metrics:
            row = f"| {metric} | " + " | ".join(fmt(entry[s].get(metric)) for s in present)
            for s in ratios:
                h, n = entry[s].get(metric), entry["ngircd"].get(metric)
                row += f" | {h / n:.2f}x" if h and n else " | -"
            lines.append(row + " |")
        lines.append("")
        for server_name, command in entry.get("commands", {}).items():
            lines.append(f"- {server_name}: `{command}`")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
