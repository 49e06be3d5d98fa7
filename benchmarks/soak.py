"""A soak test: hours of ordinary use must not make the server grow (issue 11).

Run through `benchmarks/soak` (default 30 minutes; `--minutes N`). It starts `hubbub serve` as a
child process on 127.0.0.1 (a free port, its own data directory in a temp dir, SQLite history),
then, for the whole duration, `--workers` threads each loop through a client's life:

  connect → register (chathistory, batch, server-time, message-tags) → join a few of `--rooms`
  rooms → send messages to rooms and a private message → page back through a room's history
  with CHATHISTORY LATEST then BEFORE → leave one room → QUIT, or every third time drop the
  socket without a QUIT (a lost connection) → reconnect.

A few long-lived clients stay connected in every room meanwhile (they receive the traffic).

Every `--interval` seconds the server's resident memory (VmRSS) and open file descriptors are
read from /proc and written, with the work done so far, to a JSON file (`--output`, default
benchmarks/results/soak-<time>.json), rewritten after each sample.

The bound. After a warm-up (the first fifth of the run, at least 20 s), the median RSS of the
first three samples is the baseline. At the end, the median of the last three samples may exceed
it by at most `--rss-growth-percent` (default 25 %) plus `--rss-slack-mib` (default 16 MiB): the
stores' caches and allocator arenas settle, steady growth beyond that is a leak. When every
client has gone, the server's descriptor count must be back within `--fd-slack` (default 4) of
its count before the first client connected. The script exits 1 when a bound is exceeded, the
server died or a worker kept failing, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LISTENING = re.compile(r"listening on (\S+?):(\d+)")
HERE = Path(__file__).resolve().parent
CAPS = "draft/chathistory batch server-time message-tags"
TIMEOUT = 20.0


@dataclass
class Counts:
    """Work done, shared by the workers (under `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: int = 0
    messages: int = 0
    history_pages: int = 0
    drops: int = 0
    failures: int = 0
    last_failure: str = ""

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def fail(self, error: BaseException) -> None:
        with self.lock:
            self.failures += 1
            self.last_failure = f"{type(error).__name__}: {error}"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "sessions": self.sessions,
                "messages": self.messages,
                "history_pages": self.history_pages,
                "drops": self.drops,
                "failures": self.failures,
                "last_failure": self.last_failure,
            }


class Client:
    """A minimal blocking IRC client: send lines, read until a line matches."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=TIMEOUT)
        self.buffer = b""

    def send(self, *lines: str) -> None:
        self.sock.sendall(b"".join(line.encode() + b"\r\n" for line in lines))

    def until(self, *needles: str) -> list[str]:
        """Lines up to and including the first that contains one of `needles`."""
        seen: list[str] = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                raw, self.buffer = self.buffer[:newline], self.buffer[newline + 1 :]
                line = raw.rstrip(b"\r").decode("utf-8", "replace")
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                    continue
                seen.append(line)
                if any(needle in line for needle in needles):
                    return seen
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {needles} within {TIMEOUT} s")
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.buffer += data

    def register(self, nick: str) -> None:
        self.send("CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :soak {nick}")
        self.send(f"CAP REQ :{CAPS}", "CAP END")
        self.until(" 001 ")

    def close(self) -> None:
        self.sock.close()


def time_tag(line: str) -> str:
    """The value of the `time` tag of a tagged line."""
    tags = line[1:].split(" ", 1)[0] if line.startswith("@") else ""
    for tag in tags.split(";"):
        if tag.startswith("time="):
            return tag[5:]
    return ""


def worker(
    index: int, address: tuple[str, int], rooms: int, stop: threading.Event, counts: Counts
) -> None:
    rng = random.Random(index)
    generation = 0
    while not stop.is_set():
        generation += 1
        nick = f"w{index}g{generation % 1000}"
        client: Client | None = None
        try:
            client = Client(address)
            client.register(nick)
            mine = rng.sample(range(rooms), k=min(3, rooms))
            for room in mine:
                client.send(f"JOIN #soak{room}")
                client.until(" 366 ")
            sent = rng.randint(5, 20)
            for number in range(sent):
                room = rng.choice(mine)
                client.send(f"PRIVMSG #soak{room} :message {number} from {nick} " + "x" * 60)
            other = f"w{(index + 1) % 1000}g{generation % 1000}"
            client.send(f"PRIVMSG {other} :a private word")
            client.send("PING :sent")  # everything above has been handled once PONG comes
            client.until("PONG")
            counts.add(messages=sent + 1)
            # Page back through one room's history: the latest page, then the one before it.
            room = rng.choice(mine)
            client.send(f"CHATHISTORY LATEST #soak{room} * 50")
            page = client.until("BATCH -")
            stamps = [time_tag(line) for line in page if "PRIVMSG" in line and time_tag(line)]
            counts.add(history_pages=1)
            if stamps:
                client.send(f"CHATHISTORY BEFORE #soak{room} timestamp={stamps[0]} 50")
                client.until("BATCH -")
                counts.add(history_pages=1)
            client.send(f"PART #soak{mine[0]} :bye")
            if generation % 3 == 0:
                counts.add(drops=1)  # a lost connection: no QUIT
            else:
                client.send("QUIT :done")
                client.until("ERROR")
            counts.add(sessions=1)
        except (OSError, EOFError, TimeoutError) as error:
            counts.fail(error)
            stop.wait(1.0)  # a failing server: do not spin
        finally:
            if client is not None:
                client.close()


def listeners(address: tuple[str, int], rooms: int, count: int) -> list[Client]:
    """Long-lived clients in every room: the traffic fans out to them all run long."""
    idle = []
    for index in range(count):
        client = Client(address)
        client.register(f"idle{index}")
        for room in range(rooms):
            client.send(f"JOIN #soak{room}")
            client.until(" 366 ")
        idle.append(client)
    return idle


def drain(idle: list[Client], stop: threading.Event) -> None:
    """Read (and throw away) what the listeners receive, answering PINGs."""
    for client in idle:
        client.sock.settimeout(0.05)
    while not stop.is_set():
        for client in idle:
            try:
                data = client.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"PING " in data:
                for line in data.split(b"\r\n"):
                    if line.startswith(b"PING "):
                        client.sock.sendall(b"PONG " + line[5:] + b"\r\n")


def sample(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open descriptors) of process `pid`."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def start_server(data_dir: Path, clients: int) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    config = data_dir / "hubbub.toml"
    config.write_text(
        f'[server]\ndata_dir = "{data_dir}"\n\n[listen]\nhosts = ["127.0.0.1"]\nport = 0\n\n'
        f"[limits]\nclients_per_ip = {clients + 16}\n\n[flood]\nenabled = false\n\n"
        '[log]\nlevel = "INFO"\n'  # INFO: the line saying where it listens
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubbub", "serve", "--config", str(config), "--no-web"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.stderr is not None
    found: list[tuple[str, int]] = []
    listening = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for text in proc.stderr:
            match = LISTENING.search(text)
            if match and not found:
                found.append((match.group(1).strip("[]"), int(match.group(2))))
                listening.set()
            elif "Traceback" in text or " ERROR " in text:
                sys.stderr.write("server: " + text)

    threading.Thread(target=pump, daemon=True).start()
    if not listening.wait(30):
        proc.kill()
        raise SystemExit("the server never said where it listens")
    return proc, found[0]


def settle_fds(pid: int, target: int, slack: int, wait: float) -> int:
    """The server's descriptor count once it is back near `target` (or after `wait` s)."""
    deadline = time.monotonic() + wait
    while True:
        _, fds = sample(pid)
        if fds <= target + slack or time.monotonic() > deadline:
            return fds
        time.sleep(0.5)  # a script polling a condition with a deadline, not a test


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="duration (30)")
    parser.add_argument("--workers", type=int, default=8, help="churning clients (8)")
    parser.add_argument("--listeners", type=int, default=4, help="long-lived clients (4)")
    parser.add_argument("--rooms", type=int, default=10, help="rooms (10)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds per sample (5)")
    parser.add_argument("--rss-growth-percent", type=float, default=25.0)
    parser.add_argument("--rss-slack-mib", type=float, default=16.0)
    parser.add_argument("--fd-slack", type=int, default=4)
    parser.add_argument("--output", type=Path, default=None, help="the JSON file")
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    output = args.output or HERE / "results" / time.strftime("soak-%Y-%m-%dT%H%M%S.json")
    output.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="hubbub-soak-") as temp:
        proc, address = start_server(Path(temp), args.workers + args.listeners)
        try:
            return run(args, proc, address, duration, output)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def run(
    args: argparse.Namespace,
    proc: subprocess.Popen[str],
    address: tuple[str, int],
    duration: float,
    output: Path,
) -> int:
    _, fds_before = sample(proc.pid)
    counts = Counts()
    stop = threading.Event()
    idle = listeners(address, args.rooms, args.listeners)
    threads = [threading.Thread(target=drain, args=(idle, stop), daemon=True)]
    threads += [
        threading.Thread(target=worker, args=(i, address, args.rooms, stop, counts), daemon=True)
        for i in range(args.workers)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    warmup = max(20.0, duration / 5)
    samples: list[dict[str, Any]] = []
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {key: str(value) for key, value in vars(args).items()},
        "fds_before": fds_before,
        "samples": samples,
    }
    died = False
    while (elapsed := time.monotonic() - started) < duration:
        stop.wait(min(args.interval, max(0.0, duration - elapsed)))
        if proc.poll() is not None:
            died = True
            break
        rss, fds = sample(proc.pid)
        moment = round(time.monotonic() - started, 1)
        samples.append({"t": moment, "rss_kib": rss, "fds": fds, **counts.snapshot()})
        output.write_text(json.dumps(report, indent=1))
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    for client in idle:
        client.close()

    problems: list[str] = []
    if died or proc.poll() is not None:
        problems.append(f"the server died (exit status {proc.poll()})")
    done = counts.snapshot()
    if done["sessions"] == 0 or done["failures"] > max(5, done["sessions"] // 100):
        problems.append(f"{done['failures']} failures, last: {done['last_failure']}")
    after_warmup = [s["rss_kib"] for s in samples if s["t"] >= warmup]
    if len(after_warmup) >= 6:
        baseline = statistics.median(after_warmup[:3])
        final = statistics.median(after_warmup[-3:])
        bound = baseline * (1 + args.rss_growth_percent / 100) + args.rss_slack_mib * 1024
        report["rss"] = {"baseline_kib": baseline, "final_kib": final, "bound_kib": bound}
        if final > bound:
            problems.append(f"RSS grew from {baseline:.0f} KiB to {final:.0f} (bound {bound:.0f})")
    else:
        problems.append("too few samples after the warm-up to judge RSS growth")
    if not died:
        fds_after = settle_fds(proc.pid, fds_before, args.fd_slack, wait=30)
        report["fds_after"] = fds_after
        if fds_after > fds_before + args.fd_slack:
            problems.append(f"descriptors: {fds_before} before, {fds_after} after")
    report["totals"] = done
    report["problems"] = problems
    output.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    print(f"samples: {output}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
