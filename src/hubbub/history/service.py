"""The core's `HistoryService` implementations: how the chat core reaches a history store.

* `LoopHistoryService` goes through a `HistoryWorker` (one store on one thread) and delivers
  query results back on the asyncio event loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.storethread import Poster

if TYPE_CHECKING:
    from hubbub.core.ports import Link
    from hubbub.history.worker import HistoryWorker

log = logging.getLogger("hubbub.history")

__all__ = ["LoopHistoryService"]


class LoopHistoryService:
    """A HistoryService over a `HistoryWorker`, answering on an asyncio event loop.

    `append` is one queue put. `query` submits the call to the worker; when it finishes,
    `done(result)` is scheduled on `loop`. A query that raises is logged and answered with an
    empty list: a broken query must never take the server down.
    """

    def __init__(self, worker: HistoryWorker, loop: Poster) -> None:
        self.worker = worker
        self.loop = loop
        # The mark of the record appended last (the core appends from one thread, or under
        # its lock, and asks `acknowledge_after_commit` right after).
        self.last_mark = 0

    @property
    def available(self) -> bool:
        """False while the store is failing or `max_pending` records wait (see the worker)."""
        return self.worker.available

    @property
    def committed_mark(self) -> int:
        return self.worker.committed

    def append(self, record: Record) -> None:
        self.last_mark = self.worker.append(record)

    def acknowledge_after_commit(self, link: Link) -> None:
        """The record appended last is acknowledged to `link` (its echo, a labelled ACK): the
        link writes nothing more until the writer has committed it, and the writer commits as
        soon as its queue is empty. A link that cannot wait (no `wait_for_commit`) is not held."""
        mark = self.last_mark
        if not mark:
            return  # refused: nothing to wait for (the core checked `available` before)
        wait = getattr(link, "wait_for_commit", None)
        if wait is not None:
            wait(mark)
            self.worker.want_commit(mark)

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        future = self.worker.submit(call)
        future.add_done_callback(lambda fut: self._finish(fut, done))

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        """`query` for a call that changes stored records (REDACT, EDIT): an
        `acknowledge_after_commit` after it (in `done`, or right after this for a change
        whose answer comes otherwise) waits until a commit covered the change."""
        future, mark = self.worker.submit_change(call)
        self.last_mark = max(self.last_mark, mark)
        future.add_done_callback(lambda fut: self._finish(fut, done))

    def _finish(self, future: Future[Any], done: Callable[[Any], None]) -> None:
        # Runs on the worker thread (or on the caller's, if the future already finished).
        result: Any
        if future.cancelled():
            log.error("history query was cancelled")
            result = []
        else:
            exc = future.exception()
            if exc is not None:
                if isinstance(exc, OSError):  # the store is unreachable or failing: one line
                    log.error("history query failed: %s", exc)
                else:
                    log.error("history query failed", exc_info=exc)
                result = []
            else:
                result = future.result()
        try:
            self.loop.call_soon_threadsafe(done, result)
        except RuntimeError:
            # The loop is closed (shutdown): nobody is left to answer.
            log.debug("history query finished after the event loop closed")
