"""The hybrid engine: several select loops, each owning a share of the connections, sharing the
core under the fair lock.

Definition
----------
`server.engine_loops` threads (0: one per CPU core, at most `MAX_LOOPS`) each run the select
engine's loop (`hubbub.engines.selectloop.SelectLoop`) over their own share of the client
sockets. Loop 0 also owns the listening sockets and hands each new connection to the loop with
the fewest sockets; it also runs the worker answers and the housekeeping. Every call into the
core holds the write side of the fair readers-writers lock (`hubbub.engines.rwlock`); what a
core call writes is sent, without blocking, by the thread that made the call, and what the
kernel refuses is drained by the recipient's own loop (asked through its mailbox and wake-up
pair).

Why this design
---------------
It is the "N event loops" half of the classic hybrid (Welsh's SEDA and the multi-reactor
servers: nginx and memcached workers, Netty's event-loop groups, libuv thread pools): the
system calls of reading and writing — the largest part of a delivery's cost once the core is
cheap — are spread over several threads, while a connection's state stays with one loop (no
handing of a socket between threads, no per-message wake-up of the other loops unless a
recipient's socket is full). The other half, one I/O thread feeding a pool of core workers,
buys nothing here: the core is one shared state machine that runs under one lock anyway, so a
pool would only add a queue hop per line.

What to expect, stated before measuring: in CPython the GIL lets only one thread run Python
code at a time, so the loops can overlap only their system calls (which release the GIL) and
the waiting in `select`. Under heavy fan-out, each sender's thread sends to every recipient
itself, so the other loops mostly wait for the core lock and the GIL: the hybrid should be
close to the select engine, slightly behind it (lock hand-overs), and its edge, if any, shows
with many connections each doing a little.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hubbub.engines.selectloop import SelectServer

__all__ = ["MAX_LOOPS", "HybridServer", "loop_count"]

T = TypeVar("T")

#: Most loops `server.engine_loops = 0` picks (one per core beyond this only adds contention).
MAX_LOOPS = 8


def loop_count(configured: int) -> int:
    """The loops to run for `server.engine_loops`."""
    if configured > 0:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_LOOPS, cores or 1))


class HybridServer(SelectServer):
    """The hybrid engine: the select loop, several times, over one locked core."""

    engine = "hybrid"
    shared_core = True

    def _loop_count(self) -> int:
        return loop_count(self.config.server.engine_loops)

    def on_core_thread(self, fn: Callable[..., T], *args: Any) -> T:
        # The core is locked: any thread may call into it.
        return fn(*args)
