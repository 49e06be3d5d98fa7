"""`hubbub serve --workers N --cluster URL`: N processes, one machine, one network.

Each worker is a whole hubbub node (its own event loop, core and node id on the bus) and they
all listen on the same ports: the listeners set SO_REUSEPORT when `cluster.workers` is above
1, so the kernel spreads new connections over them. They are one network through the bus like
nodes on different machines; nothing is shared between them but the bus and the store.

The parent forks the workers before it has an event loop or a thread, passes SIGINT and
SIGTERM on to them, and waits for all of them; a worker whose parent dies (even by SIGKILL) is
sent SIGTERM and shuts down cleanly. A worker that ends is not restarted (a process
supervisor restarts the whole service); the others keep serving.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from hubbub.config import Config

log = logging.getLogger("hubbub.cluster")

#: prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def worker_config(config: Config, index: int) -> Config:
    """Worker `index`'s configuration: its own node id when one is configured."""
    cluster = config.cluster
    if not cluster.node_id:
        return config  # each makes up its own (host, pid, random)
    named = dataclasses.replace(cluster, node_id=f"{cluster.node_id}.{index}")
    return dataclasses.replace(config, cluster=named)


def end_with_parent(parent: int) -> None:
    """In a worker: be sent SIGTERM (a clean shutdown) if the parent dies, even by SIGKILL,
    so that no worker is left serving on its own (Linux's PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's signals still reach workers
        return
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def run_workers(config: Config, run_one: Callable[[Config], int]) -> int:
    """Fork `config.cluster.workers` processes running `run_one`; the worst exit status."""
    if not config.cluster.url:
        log.error("--workers needs --cluster: the workers are one network only through the bus")
        return 2
    children: list[int] = []
    for index in range(config.cluster.workers):
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                end_with_parent(parent)
                status = run_one(worker_config(config, index))
            finally:
                os._exit(status)
        children.append(pid)
    log.info("%d workers started: %s", len(children), ", ".join(map(str, children)))

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    worst = 0
    try:
        for child in children:
            while True:
                try:
                    _, status = os.waitpid(child, 0)
                    break
                except InterruptedError:
                    continue
            worst = max(worst, os.waitstatus_to_exitcode(status) & 0xFF)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return worst
