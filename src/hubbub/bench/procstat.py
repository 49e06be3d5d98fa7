"""What /proc and getrusage say about CPU time and memory: the server's (by pid) and our own."""

from __future__ import annotations

import os
import resource

__all__ = [
    "own_cpu_seconds",
    "process_cpu_seconds",
    "process_rss_kb",
    "process_threads",
    "raise_fd_limit",
    "tree_cpu_seconds",
]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process `pid` (all its threads); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = text[text.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def tree_cpu_seconds(pid: int) -> float | None:
    """`process_cpu_seconds` of `pid` plus its descendants' (a `hubbub serve --workers N`
    parent and its workers); None if `pid` is gone."""
    own = process_cpu_seconds(pid)
    if own is None:
        return None
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue
        parent = int(text[text.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
    total = own
    waiting = list(children.get(pid, ()))
    while waiting:
        child = waiting.pop()
        total += process_cpu_seconds(child) or 0.0
        waiting += children.get(child, ())
    return total


def process_rss_kb(pid: int) -> int | None:
    """The resident set size of process `pid` in KiB (VmRSS); None if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_threads(pid: int) -> int | None:
    """How many threads process `pid` runs now (Threads in /proc/PID/status); None if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def own_cpu_seconds() -> float:
    """User + system CPU seconds used so far by this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft open-file limit towards `wanted` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft
