"""The core's `AccountService` implementations: how the chat core reaches the account store.

* `SyncAccountService` calls the store (and hashes) on the caller's thread: for core tests only.
* `LoopAccountService` goes through an `AccountWorker` and delivers results back on the asyncio
  event loop with `call_soon_threadsafe`.

A call that raises is logged and answered with an `AccountFailure`, which the core turns into a
"temporarily unavailable" answer: a broken database must never take the server down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from hubbub.accounts.store import AccountStore

if TYPE_CHECKING:
    from hubbub.accounts.worker import AccountWorker

log = logging.getLogger("hubbub.accounts")

__all__ = ["AccountFailure", "LoopAccountService", "SyncAccountService"]


class AccountFailure:
    """The answer of an account call that raised (the exception is logged, not passed on)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "AccountFailure()"


FAILURE = AccountFailure()


class SyncAccountService:
    """Runs every call at once on the caller's thread (`done` runs before `call` returns)."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def call(self, fn: Callable[[AccountStore], Any], done: Callable[[Any], None]) -> None:
        try:
            result = fn(self.store)
        except Exception:
            log.exception("account call failed")
            result = FAILURE
        done(result)


class LoopAccountService:
    """An AccountService over an `AccountWorker`, answering on an asyncio event loop."""

    def __init__(self, worker: AccountWorker, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.loop = loop

    def call(self, fn: Callable[[AccountStore], Any], done: Callable[[Any], None]) -> None:
        future = self.worker.submit(fn)
        future.add_done_callback(lambda fut: self._finish(fut, done))

    def _finish(self, future: Future[Any], done: Callable[[Any], None]) -> None:
        # Runs on the worker thread (or on the caller's, if the future already finished).
        result: Any
        if future.cancelled():
            result = FAILURE
        else:
            exc = future.exception()
            if exc is not None:
                log.error("account call failed", exc_info=exc)
                result = FAILURE
            else:
                result = future.result()
        try:
            self.loop.call_soon_threadsafe(done, result)
        except RuntimeError:
            log.debug("account call finished after the event loop closed")
