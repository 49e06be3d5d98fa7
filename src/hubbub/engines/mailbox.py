"""How worker threads hand their answers back to an engine without asyncio.

A `Mailbox` is what the history, account and registry services (`LoopHistoryService`, …) are
given in place of an event loop: it has the one method they use, `call_soon_threadsafe(fn,
*args)`. The call is put on a bounded queue and the engine is woken (`wake`: for the select
engines a byte on a socketpair their selector watches; for the threads engine nothing, its
housekeeping thread blocks on the queue itself). The engine then runs the calls with the core's
lock held, on its own thread (`run_pending`).

The queue is bounded (`capacity`): a worker that finds it full waits, which slows that worker
only (its own queue is bounded in turn by the core, `accounts.max_queued_calls`,
`history.max_pending`). Once the engine has stopped (`close`), posts are dropped: the core is
gone and nobody is left to answer, as with an asyncio loop that has closed.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any

__all__ = ["Mailbox"]

log = logging.getLogger("hubbub.engines")

#: Answers waiting for the core at most; a worker finding the box full waits for room.
CAPACITY = 4096
#: How long a worker waits for room before it looks again whether the engine has stopped.
_PUT_PATIENCE = 0.25


class Mailbox:
    """A bounded queue of calls for the engine's core thread, with a wake-up."""

    def __init__(self, wake: Callable[[], None] | None = None, capacity: int = CAPACITY) -> None:
        self._queue: queue.Queue[tuple[Callable[..., object], tuple[Any, ...]]] = queue.Queue(
            capacity
        )
        self._wake = wake
        self.closed = False

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        """Have `callback(*args)` run on the engine's thread (any thread may call this)."""
        item = (callback, args)
        while not self.closed:
            try:
                self._queue.put(item, timeout=_PUT_PATIENCE)
            except queue.Full:
                continue
            if self._wake is not None:
                self._wake()
            return
        log.debug("an answer arrived after the engine stopped; dropped")

    def get(self, timeout: float) -> tuple[Callable[..., object], tuple[Any, ...]] | None:
        """The next call, waiting up to `timeout` seconds (None: none came)."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def take_all(self) -> list[tuple[Callable[..., object], tuple[Any, ...]]]:
        """Every call waiting now, without waiting."""
        calls = []
        get = self._queue.get_nowait
        while True:
            try:
                calls.append(get())
            except queue.Empty:
                return calls

    def close(self) -> None:
        self.closed = True
        self.take_all()  # a worker blocked on a full box gets room, sees `closed`, and leaves


def run_call(callback: Callable[..., object], args: tuple[Any, ...]) -> None:
    """Run one posted call; a failing one is logged, never allowed to stop the engine."""
    try:
        callback(*args)
    except Exception:
        log.exception("a worker's answer failed in the core")
