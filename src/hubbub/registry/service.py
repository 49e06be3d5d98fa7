"""The core's `RegistryService` implementations (as `hubbub.accounts.service`).

* `SyncRegistryService` calls the store on the caller's thread: for core tests only.
* `LoopRegistryService` goes through a `RegistryWorker` and answers on the event loop.

A call that raises is logged and answered with a `RegistryFailure`: a broken database must
never take the server down (the change is then only in memory, and the log says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from hubbub.registry.store import RegistryStore

if TYPE_CHECKING:
    from hubbub.registry.worker import RegistryWorker

log = logging.getLogger("hubbub.registry")

__all__ = ["FAILURE", "LoopRegistryService", "RegistryFailure", "SyncRegistryService"]


class RegistryFailure:
    """The answer of a registry call that raised (the exception is logged, not passed on)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RegistryFailure()"


FAILURE = RegistryFailure()


class SyncRegistryService:
    """Runs every call at once on the caller's thread (`done` runs before `call` returns)."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    def call(self, fn: Callable[[RegistryStore], Any], done: Callable[[Any], None]) -> None:
        try:
            result = fn(self.store)
        except Exception:
            log.exception("registry call failed")
            result = FAILURE
        done(result)


class LoopRegistryService:
    """A RegistryService over a `RegistryWorker`, answering on an asyncio event loop."""

    def __init__(self, worker: RegistryWorker, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.loop = loop

    def call(self, fn: Callable[[RegistryStore], Any], done: Callable[[Any], None]) -> None:
        future = self.worker.submit(fn)
        future.add_done_callback(lambda fut: self._finish(fut, done))

    def _finish(self, future: Future[Any], done: Callable[[Any], None]) -> None:
        result: Any
        if future.cancelled():
            result = FAILURE
        else:
            exc = future.exception()
            if exc is not None:
                log.error("registry call failed", exc_info=exc)
                result = FAILURE
            else:
                result = future.result()
        try:
            self.loop.call_soon_threadsafe(done, result)
        except RuntimeError:
            log.debug("registry call finished after the event loop closed")
