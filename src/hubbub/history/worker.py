"""The history writer thread: one store, one dedicated thread, batched commits.

The event loop never touches the disk. It hands records to `HistoryWorker.append` (one queue
put) and reads through `HistoryWorker.submit`, which runs a call against the store on the
worker thread and returns a `concurrent.futures.Future`. Everything runs on that thread in
submission order, so a read sees every append submitted before it.

Durability: the thread appends records in batches and commits when its queue runs empty, when
`commit_interval_ms` has passed since the oldest uncommitted append, or after `max_batch`
uncommitted records. After a hard kill, at most the last commit window of accepted records is
lost (as long as the thread keeps up with the load; `backlog` shows how far behind it is).

A failing store call (disk full, database locked or corrupted) is logged and never stops the
thread: a failing batch of appends is retried record by record so that one bad record loses
only itself, and a failing `submit` call sets the exception on its future.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from hubbub.history.record import Record
from hubbub.history.store import HistoryStore

T = TypeVar("T")

log = logging.getLogger("hubbub.history")

__all__ = ["HistoryWorker"]


class _Call:
    __slots__ = ("call", "future")

    def __init__(self, call: Callable[[HistoryStore], Any], future: Future[Any]) -> None:
        self.call = call
        self.future = future


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop:
    __slots__ = ()


_STOP = _Stop()

_Item = Record | _Call | _Flush | _Stop


class HistoryWorker:
    """Owns one `HistoryStore` on one daemon thread; see the module docstring."""

    def __init__(
        self,
        open_store: Callable[[], HistoryStore],
        commit_interval_ms: int = 100,
        max_batch: int = 1000,
    ) -> None:
        if commit_interval_ms < 0:
            raise ValueError("commit_interval_ms must be >= 0")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._open_store = open_store
        self._interval = commit_interval_ms / 1000.0
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._lock = threading.Lock()
        self._stopped = False
        # Counters, written by the worker thread only (for tests and monitoring).
        self.commits = 0
        self.appended = 0
        self.failed_appends = 0

    # -- the caller's side ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread and open the store on it. Raises what opening the store raised."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("HistoryWorker already started")
            self._thread = threading.Thread(target=self._run, name="hubbub-history", daemon=True)
            self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            self._thread.join()
            with self._lock:
                self._stopped = True
            raise self._open_error

    def append(self, record: Record) -> None:
        """Queue a record for storage. Non-blocking and thread-safe."""
        self._queue.put(record)

    def submit(self, call: Callable[[HistoryStore], T]) -> Future[T]:
        """Run `call(store)` on the worker thread after everything submitted before it."""
        future: Future[T] = Future()
        with self._lock:
            if not self._stopped:
                self._queue.put(_Call(call, future))
                return future
        future.set_exception(RuntimeError("HistoryWorker is stopped"))
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything submitted so far is appended and committed.

        Returns False if that did not happen within `timeout` seconds (or the worker is not
        running). After `stop`, everything is already committed and this returns True.
        """
        thread = self._thread
        if self._stopped:
            return thread is not None and not thread.is_alive()
        if thread is None or not thread.is_alive():
            return False
        item = _Flush()
        self._queue.put(item)
        return item.done.wait(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Store and commit everything submitted so far, close the store, join the thread.

        Idempotent. Safe to call on a worker that was never started.
        """
        with self._lock:
            if self._stopped:
                thread = self._thread
            else:
                self._stopped = True
                thread = self._thread
                if thread is not None:
                    self._queue.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def backlog(self) -> int:
        """Items waiting in the queue (approximate): how far behind the thread is."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = self._open_store()
        except BaseException as exc:
            log.exception("cannot open the history store")
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(store)
        finally:
            try:
                store.close()
            except Exception:
                log.exception("closing the history store failed")
            self._fail_leftovers()

    def _loop(self, store: HistoryStore) -> None:
        q = self._queue
        get = q.get
        get_nowait = q.get_nowait
        empty = q.empty
        monotonic = time.monotonic
        interval = self._interval
        max_batch = self._max_batch
        # Uncommitted work: whether there is any, since when (monotonic seconds), and how many
        # records. A submitted call counts as work without records: it may have written (prune).
        dirty = False
        dirty_since = 0.0
        pending = 0
        while True:
            if dirty:
                wait = dirty_since + interval - monotonic()
                if wait <= 0:
                    self._commit(store)
                    dirty, pending = False, 0
                    continue
                try:
                    item = get(timeout=wait)
                except queue.Empty:
                    self._commit(store)
                    dirty, pending = False, 0
                    continue
            else:
                item = get()

            if isinstance(item, Record):
                batch = [item]
                control: _Item | None = None
                room = max_batch - pending
                while len(batch) < room:
                    try:
                        nxt = get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(nxt, Record):
                        batch.append(nxt)
                    else:
                        control = nxt
                        break
                self._append(store, batch)
                if not dirty:
                    dirty, dirty_since = True, monotonic()
                pending += len(batch)
                if control is not None:
                    item = control
            if isinstance(item, _Call):
                self._call(store, item)
                if not dirty:
                    dirty, dirty_since = True, monotonic()
            elif isinstance(item, _Flush):
                self._commit(store)
                dirty, pending = False, 0
                item.done.set()
            elif isinstance(item, _Stop):
                self._commit(store)
                return
            if dirty and (pending >= max_batch or empty() or monotonic() - dirty_since >= interval):
                self._commit(store)
                dirty, pending = False, 0

    def _append(self, store: HistoryStore, batch: list[Record]) -> None:
        try:
            store.append(batch)
        except Exception:
            if len(batch) == 1:
                self.failed_appends += 1
                log.exception("storing a history record failed (target %r)", batch[0].target)
                return
            log.exception("storing %d history records failed; retrying one by one", len(batch))
            for record in batch:
                self._append(store, [record])
            return
        self.appended += len(batch)

    def _commit(self, store: HistoryStore) -> None:
        try:
            store.commit()
        except Exception:
            log.exception("committing history failed")
        else:
            self.commits += 1

    @staticmethod
    def _call(store: HistoryStore, item: _Call) -> None:
        future = item.future
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = item.call(store)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _fail_leftovers(self) -> None:
        """After the thread ends: fail calls that can no longer run, release flush waiters."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Call):
                if item.future.set_running_or_notify_cancel():
                    item.future.set_exception(RuntimeError("HistoryWorker is stopped"))
            elif isinstance(item, _Flush):
                item.done.set()
