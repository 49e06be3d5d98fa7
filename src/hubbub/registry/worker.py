"""The registry worker: one store on one dedicated thread (as `hubbub.accounts.worker`).

The event loop never touches the registry database: it hands a function to
`RegistryWorker.submit`, which runs `fn(store)` on the worker thread, in submission order, and
returns a `concurrent.futures.Future`. Saves are submitted in the order the changes happened, so
the last one written is the newest state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from hubbub.registry.store import RegistryStore

T = TypeVar("T")

log = logging.getLogger("hubbub.registry")

__all__ = ["RegistryWorker"]


class RegistryWorker:
    def __init__(self, open_store: Callable[[], RegistryStore]) -> None:
        self._open_store = open_store
        self._executor: ThreadPoolExecutor | None = None
        self._store: RegistryStore | None = None

    def start(self) -> None:
        """Start the thread and open the store on it. Raises what opening the store raised."""
        if self._executor is not None:
            raise RuntimeError("RegistryWorker already started")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hubbub-registry")
        try:
            self._store = self._executor.submit(self._open_store).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def submit(self, call: Callable[[RegistryStore], T]) -> Future[T]:
        """Run `call(store)` on the worker thread after everything submitted before it."""
        store = self._store
        executor = self._executor
        if store is None or executor is None:
            future: Future[T] = Future()
            future.set_exception(RuntimeError("RegistryWorker is not running"))
            return future
        try:
            return executor.submit(call, store)
        except RuntimeError as exc:  # shut down meanwhile
            future = Future()
            future.set_exception(exc)
            return future

    def stop(self) -> None:
        """Finish what was submitted (every save), close the store, join the thread."""
        executor, store = self._executor, self._store
        self._store = None
        if executor is None:
            return
        if store is not None:
            try:
                executor.submit(store.close).result()
            except Exception:
                log.exception("closing the registry store failed")
        executor.shutdown(wait=True)
