"""The account worker: one store on one dedicated thread.

The event loop never touches the account database and never hashes a password. It hands a
function to `AccountWorker.submit`, which runs `fn(store)` on the worker thread (in submission
order) and returns a `concurrent.futures.Future`. Password hashing happens inside those
functions, so it runs here too.

The store is opened on the worker thread (SQLite connections belong to the thread that made
them) and closed there by `stop`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from hubbub.accounts.store import AccountStore

T = TypeVar("T")

log = logging.getLogger("hubbub.accounts")

__all__ = ["AccountWorker"]


class AccountWorker:
    def __init__(self, open_store: Callable[[], AccountStore]) -> None:
        self._open_store = open_store
        self._executor: ThreadPoolExecutor | None = None
        self._store: AccountStore | None = None

    def start(self) -> None:
        """Start the thread and open the store on it. Raises what opening the store raised."""
        if self._executor is not None:
            raise RuntimeError("AccountWorker already started")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hubbub-accounts")
        try:
            self._store = self._executor.submit(self._open_store).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def submit(self, call: Callable[[AccountStore], T]) -> Future[T]:
        """Run `call(store)` on the worker thread after everything submitted before it."""
        store = self._store
        executor = self._executor
        if store is None or executor is None:
            future: Future[T] = Future()
            future.set_exception(RuntimeError("AccountWorker is not running"))
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
                log.exception("closing the account store failed")
        executor.shutdown(wait=True)
