"""One store on one dedicated thread, and the two ways the core reaches it.

The accounts and the channel registry are databases the event loop must never touch: a query can
block on the disk, and account calls hash passwords (tens of milliseconds each). Each runs on a
`StoreThread`: the store is opened on that thread (SQLite connections belong to the thread that
made them), every `submit(fn)` runs `fn(store)` there in submission order, and `stop` closes the
store there. (The history has its own worker, `hubbub.history.worker`, because it also batches
appends into commits.)

The core sees a store through a service with one method, `call(fn, done)`:
* `LoopStoreService` submits to a `StoreThread` and calls `done(result)` on the asyncio loop
  (the core tests use synchronous and hand-completed services of their own:
  tests/support/core_services.py).
A call that raises is logged and answered with `FAILURE` (a `CallFailure`), which the core turns
into a "temporarily unavailable" answer: a broken database never takes the server down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

# The failure answer is part of the core's service contract (hubbub.core.ports).
from hubbub.core.ports import FAILURE, CallFailure

__all__ = ["FAILURE", "CallFailure", "LoopStoreService", "Poster", "StoreThread"]

T = TypeVar("T")


class Poster(Protocol):
    """Where a worker's answer is handed back to the core's thread: an asyncio event loop, or
    the mailbox of one of the engines without asyncio (hubbub.engines.mailbox)."""

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> object: ...


class Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=Closable)


class StoreThread(Generic[S]):
    """Runs calls on one store, on one thread of its own, in submission order."""

    def __init__(self, open_store: Callable[[], S], name: str) -> None:
        self._open_store = open_store
        self._name = name
        self._log = logging.getLogger(f"hubbub.{name}")
        self._executor: ThreadPoolExecutor | None = None
        self._store: S | None = None

    def start(self) -> None:
        """Start the thread and open the store on it. Raises what opening the store raised."""
        if self._executor is not None:
            raise RuntimeError(f"the {self._name} thread was already started")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"hubbub-{self._name}")
        try:
            self._store = self._executor.submit(self._open_store).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def submit(self, call: Callable[[S], T]) -> Future[T]:
        """Run `call(store)` on the thread after everything submitted before it."""
        store = self._store
        executor = self._executor
        if store is None or executor is None:
            future: Future[T] = Future()
            future.set_exception(RuntimeError(f"the {self._name} thread is not running"))
            return future
        try:
            return executor.submit(call, store)
        except RuntimeError as exc:  # shut down meanwhile
            future = Future()
            future.set_exception(exc)
            return future

    def stop(self) -> None:
        """Finish what was submitted, close the store, join the thread. Idempotent."""
        executor, store = self._executor, self._store
        self._store = None
        if executor is None:
            return
        if store is not None:
            try:
                executor.submit(store.close).result()
            except Exception:
                self._log.exception("closing the %s store failed", self._name)
        executor.shutdown(wait=True)


class LoopStoreService(Generic[S]):
    """A store service over a `StoreThread`, answering on an asyncio loop (or any `Poster`)."""

    def __init__(self, worker: StoreThread[S], loop: Poster, name: str) -> None:
        self.worker = worker
        self.loop = loop
        self._log = logging.getLogger(f"hubbub.{name}")
        self._name = name

    def call(self, fn: Callable[[S], Any], done: Callable[[Any], None]) -> None:
        future = self.worker.submit(fn)
        future.add_done_callback(lambda fut: self._finish(fut, done))

    def _finish(self, future: Future[Any], done: Callable[[Any], None]) -> None:
        # Runs on the store's thread (or on the caller's, if the future already finished).
        result: Any
        if future.cancelled():
            result = FAILURE
        else:
            exc = future.exception()
            if exc is not None:
                self._log.error("%s call failed", self._name, exc_info=exc)
                result = FAILURE
            else:
                result = future.result()
        try:
            self.loop.call_soon_threadsafe(done, result)
        except RuntimeError:
            self._log.debug("%s call finished after the event loop closed", self._name)
