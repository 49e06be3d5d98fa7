"""The history writer thread: one store, one dedicated thread, batched commits.

The event loop never touches the disk. It hands records to `HistoryWorker.append` (one queue
put) and reads through `HistoryWorker.submit`, which runs a call against the store on the
worker thread and returns a `concurrent.futures.Future`. Everything runs on that thread in
submission order, so a read sees every append submitted before it (while the store is
working; see below).

Durability: the thread appends records in batches and commits when its queue has stayed empty
for `COMMIT_SETTLE` (5 ms), when `commit_interval_ms` has passed since the oldest uncommitted
append, or after `max_batch` uncommitted records. After a hard kill, at most the last commit
window of accepted records is lost (as long as the thread keeps up with the load; `backlog`
shows how far behind it is), and none whose acknowledgement a client saw (see below).

Acknowledgement after commit. Every accepted record has a mark, the number `append` returns
(1, 2, 3 … in the order of the queue), and `committed` is the mark of the last record a
successful commit covered (it only grows; the worker alone writes it, after the commit). An
acknowledgement that must not be seen before its record is on disk (the echo of a message to
its sender, a labelled ACK) waits for `committed` to reach the record's mark: the caller says
so with `want_commit(mark)`, which makes the thread commit as soon as its queue is empty (group
commit: no `COMMIT_SETTLE` wait while an acknowledgement waits; every record taken meanwhile
shares the commit), and hears of each commit through the callbacks given to `on_commit` (run
on the worker thread after `committed` has moved: they should only post a wake-up to their
loop). Nothing of this costs anything while nobody waits: the settle and interval policy is
the same as before.

Bounded, and never silently lossy. At most `max_pending` records are accepted and not yet
committed; `available` is False when that many wait or while the store is failing, and the
core then refuses new messages (FAIL … TEMPORARILY_UNAVAILABLE) instead of acknowledging
them. An `append` past the bound is dropped and counted (`refused`), never queued.

Back-pressure before refusal. The refusal is the last resort; an engine should rather stop
reading from a client that sends while the writer is behind, so that TCP slows the client
down. The worker says when with a high-water/low-water signal, `room` (a `threading.Event`):
it is cleared by the `append` that brings the pending records to `high_water` (half of
`max_pending`), and set again by the worker thread once they are down to `low_water` (a
quarter); the gap keeps a sender from being woken and stopped again for every commit. It stays
set while the store is failing (holding senders then would only stall them; the refusal says
why) and once the worker has stopped. A connection that sent a message while `room` is clear
waits on it (`wait_for_room`; an engine with one thread for many connections asks for a
callback instead, `when_room`) before it reads or handles any more of its input; a client that
sends nothing stored is never held. Both transitions are decided under `_room_lock` from the
two counts read inside it, so a clear and a set racing each other always end in the state the
counts say.

When the store fails (`is_store_failure`: disk full, read-only, locked, I/O error), the thread
keeps every uncommitted record (SQLite may have rolled the whole transaction back), logs one
ERROR, and retries with a doubling delay (RETRY_FIRST up to RETRY_MAX seconds): appending all
kept records again (a store ignores a (target, msgid) it already has) and committing. Calls
still run meanwhile (reads usually work on a full disk). When a retry succeeds it logs one line,
"recovered after N s, M records written". A record the store rejects for itself (any other
exception: a bug, bad data) is logged and dropped alone, as before. A failing `submit` call sets
the exception on its future. At `stop`, a store that still fails gets one last try; what it
still refuses is reported (ERROR, with the count) since nothing can keep it any longer.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from hubbub.history.record import Record
from hubbub.history.store import HistoryStore

T = TypeVar("T")

log = logging.getLogger("hubbub.history")

__all__ = [
    "DEFAULT_MAX_PENDING",
    "RETRY_FIRST",
    "RETRY_MAX",
    "HistoryWorker",
    "high_water_of",
    "is_store_failure",
    "low_water_of",
]

#: Upper bounds (seconds) of the commit latency histogram's buckets, +Inf after the last.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Seconds the queue must stay empty before uncommitted records are committed early. A commit
#: per loop turn (the queue runs empty between turns) was a commit per few messages under
#: load; with this, a busy server commits every `commit_interval_ms` and a quiet one within
#: this much of its last message.
COMMIT_SETTLE = 0.005
#: Seconds the thread waits, once a record has woken it, before taking what is queued, unless
#: an acknowledgement waits. Under load each record woke it (a futex wake-up, a context switch
#: and a GIL handover on the loop's core, per room message: measured with `perf` on a server
#: under fan-out, about a quarter of the writer's CPU was switching in); lingering, it takes a
#: loop turn's records or more at once, at most one wake-up per LINGER. (1 ms gave fan-out at
#: C=200 about 4 % more deliveries per second, 2 ms about 11 %: benchmarks/compare.)
LINGER = 0.002
#: Records accepted and not yet committed, at most (`history.max_pending`).
DEFAULT_MAX_PENDING = 20_000
#: Seconds before the first retry of a failing store, doubling up to RETRY_MAX.
RETRY_FIRST = 0.25
RETRY_MAX = 5.0


def high_water_of(max_pending: int) -> int:
    """Pending records at which senders are held: half of `max_pending` (at least 1). The other
    half is the headroom for what is in flight when the mark is passed (each connection's line
    being handled, answers to queries) before anything would be refused."""
    return max(1, max_pending // 2)


def low_water_of(max_pending: int) -> int:
    """Pending records at which held senders are let go again: a quarter of `max_pending`."""
    return max_pending // 4


def is_store_failure(exc: BaseException) -> bool:
    """Whether `exc` says the store cannot write now (so records are kept and retried), rather
    than that one record is bad. SQLite raises OperationalError for a full disk, a read-only
    file or a lock, and plain DatabaseError for a damaged file."""
    return isinstance(exc, OSError | sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


class _Call:
    __slots__ = ("call", "changes", "future")

    def __init__(
        self, call: Callable[[HistoryStore], Any], future: Future[Any], changes: bool = False
    ) -> None:
        self.call = call
        self.future = future
        # A call that changes stored records (`submit_change`): it has a mark, as a record.
        self.changes = changes


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop:
    __slots__ = ()


_STOP = _Stop()


class _Nudge:
    """Wakes the thread when an acknowledgement starts waiting (`want_commit`), so it commits
    now rather than after the settle time it may be sleeping through."""

    __slots__ = ()


_NUDGE = _Nudge()

_Item = Record | _Call | _Flush | _Stop | _Nudge


class HistoryWorker:
    """Owns one `HistoryStore` on one daemon thread; see the module docstring."""

    def __init__(
        self,
        open_store: Callable[[], HistoryStore],
        commit_interval_ms: int = 100,
        max_batch: int = 1000,
        max_pending: int = DEFAULT_MAX_PENDING,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        commit_settle: float | None = None,
    ) -> None:
        if commit_interval_ms < 0:
            raise ValueError("commit_interval_ms must be >= 0")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self._open_store = open_store
        self._interval = commit_interval_ms / 1000.0
        # Seconds the queue stays empty before an early commit (COMMIT_SETTLE; tests make it
        # long to show that a waiting acknowledgement does not wait for it).
        self._settle = COMMIT_SETTLE if commit_settle is None else commit_settle
        self._max_batch = max_batch
        self.max_pending = max_pending
        self._retry_first = retry_first
        self._retry_max = retry_max
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._lock = threading.Lock()
        self._stopped = False
        # Records accepted by `append`, and of those committed or dropped as bad: two counts
        # that only ever grow, so neither needs a lock; the difference is what waits
        # (`pending`). The worker alone adds to the second; appends number themselves with
        # `next` on an itertools.count (atomic under the GIL: appending threads never lose a
        # count, at worst one's store lands after a later one's for an instant).
        self._accept_numbers = itertools.count(1)
        self._accepted = 0
        self._settled_count = 0
        # Set by the thread from the first failure of an incident until a retry succeeds.
        self.failing = False
        # Whether the bound was reached (and said so) since records last fitted.
        self._full = False
        # Set while senders may go on (see the module docstring): cleared at `high_water`, set
        # again at `low_water`, while failing and after the stop.
        self.room = threading.Event()
        self.room.set()
        self._room_lock = threading.Lock()
        # One-shot callbacks for the next time `room` is set (`when_room`).
        self._room_callbacks: list[Callable[[], object]] = []
        # Counters (for tests and monitoring). `refused` is written by the appending thread,
        # the others by the worker thread only.
        self.commits = 0
        self.appended = 0
        self.failed_appends = 0
        self.refused = 0
        self.incidents = 0
        # Times `room` was cleared (the writer passed the high-water mark).
        self.high_water_hits = 0
        # The mark (see `append`) of the last record a commit covered, written by the worker
        # thread only; the highest mark an acknowledgement waits for (`want_commit`); and who
        # hears of each commit (`on_commit`).
        self.committed = 0
        self.wanted = 0
        # Set by `want_commit`: ends the writer's LINGER early, so an acknowledgement that
        # comes while it lingers is not kept waiting for the rest of it.
        self._ack_wanted = threading.Event()
        self._commit_callbacks: list[Callable[[], object]] = []
        # How long each successful `store.commit()` took: counts per bucket of
        # COMMIT_BUCKETS (the last one is +Inf) and the sum in seconds; read by hubbub.metrics.
        self.commit_seconds = [0] * (len(COMMIT_BUCKETS) + 1)
        self.commit_seconds_sum = 0.0

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

    @property
    def available(self) -> bool:
        """Whether a record appended now will be kept: the store is not failing and fewer than
        `max_pending` records wait. The core refuses new messages while this is False."""
        if self.failing:
            return False  # the thread logged the failure
        if self._accepted - self._settled_count < self.max_pending:
            self._full = False
            return True
        self._say_full()
        return False

    def _say_full(self) -> None:
        if not self._full:  # once per incident
            self._full = True
            log.warning(
                "history writer behind: %d records wait (history.max_pending); new messages"
                " are refused until it catches up",
                self.pending,
            )

    def append(self, record: Record) -> int:
        """Queue a record for storage. Non-blocking and thread-safe, without a lock (the event
        loop calls it for every message). The record's mark (`committed` reaches it once the
        record is on disk; marks follow the queue's order as long as appends are not
        concurrent, which the core's one thread or lock guarantees), or 0 (false: the record
        dropped, counted in `refused`) when `max_pending` records already wait."""
        if self._accepted - self._settled_count >= self.max_pending:
            self.refused += 1
            self._say_full()
            return 0
        self._accepted = accepted = next(self._accept_numbers)
        self._queue.put(record)
        if accepted - self._settled_count >= self.high_water and self.room.is_set():
            self._close_room()
        return accepted

    def want_commit(self, mark: int) -> None:
        """An acknowledgement waits for the record `mark`: commit as soon as the queue is empty
        (see the module docstring). Called on the thread that appended it, right after."""
        if mark > self.wanted and mark > self.committed:
            self.wanted = mark
            self._queue.put(_NUDGE)
            self._ack_wanted.set()

    def on_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback()` on the worker thread after every commit (and once when the thread
        ends), after `committed` has moved. It must not block: post a wake-up and return."""
        self._commit_callbacks.append(callback)

    def _committed_to(self, mark: int) -> None:
        """Worker thread: records up to `mark` are on disk; tell whoever waits."""
        self.committed = mark
        for callback in self._commit_callbacks:
            try:
                callback()
            except Exception:
                log.exception("a history commit callback failed")

    @property
    def high_water(self) -> int:
        """Pending records at which `room` is cleared (`high_water_of(max_pending)`)."""
        return high_water_of(self.max_pending)

    @property
    def low_water(self) -> int:
        """Pending records at which `room` is set again (`low_water_of(max_pending)`)."""
        return low_water_of(self.max_pending)

    @property
    def accepted(self) -> int:
        """Records accepted by `append` so far (a count that only grows): an engine compares it
        before and after a client's line to see whether that line was a message stored."""
        return self._accepted

    def wait_for_room(self, timeout: float | None = None) -> bool:
        """Block until `room` is set (True) or `timeout` seconds passed (False). For a
        connection's own thread, holding no lock anybody else needs."""
        return self.room.wait(timeout)

    def when_room(self, callback: Callable[[], object]) -> None:
        """Call `callback()` once `room` is set: now (on this thread) if it is, else on the
        worker thread when it is set again. For an engine whose one thread minds many
        connections and cannot wait: the callback should only post a wake-up to it."""
        with self._room_lock:
            if not self.room.is_set():
                self._room_callbacks.append(callback)
                return
        callback()

    def _close_room(self) -> None:
        with self._room_lock:
            if (
                self.room.is_set()
                and not self.failing
                and not self._stopped
                and self._accepted - self._settled_count >= self.high_water
            ):
                self.room.clear()
                self.high_water_hits += 1

    def _open_room(self, *, always: bool = False) -> None:
        """Set `room` if the pending records are down to the low-water mark (or `always`: the
        store is failing, the worker stopped). Called by the worker thread."""
        with self._room_lock:
            if self.room.is_set() or (
                not always and self._accepted - self._settled_count > self.low_water
            ):
                return
            self.room.set()
            callbacks, self._room_callbacks = self._room_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a history room callback failed")

    def submit(self, call: Callable[[HistoryStore], T]) -> Future[T]:
        """Run `call(store)` on the worker thread after everything submitted before it."""
        future: Future[T] = Future()
        with self._lock:
            if not self._stopped:
                self._queue.put(_Call(call, future))
                return future
        future.set_exception(RuntimeError("HistoryWorker is stopped"))
        return future

    def submit_change(self, call: Callable[[HistoryStore], T]) -> tuple[Future[T], int]:
        """`submit` for a call that changes stored records (REDACT, EDIT), and its mark, as
        `append` gives a record's: `committed` reaches it once a commit after the call covered
        its change, so its acknowledgement can wait for that (`want_commit`). It counts as a
        pending record until the thread has run it."""
        future: Future[T] = Future()
        with self._lock:
            if not self._stopped:
                self._accepted = mark = next(self._accept_numbers)
                self._queue.put(_Call(call, future, changes=True))
                return future, mark
        future.set_exception(RuntimeError("HistoryWorker is stopped"))
        return future, 0

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything submitted so far is appended and committed.

        Returns False if that did not happen within `timeout` seconds (or the worker is not
        running; or the store is failing and has not recovered in time). After `stop`,
        everything storable is already committed and this returns True.
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
        # Nobody waits for a worker that is going away (what is sent now is refused or lost
        # with the server anyway; the engines stop reading before they stop the worker).
        self._open_room(always=True)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def backlog(self) -> int:
        """Items waiting in the queue (approximate): how far behind the thread is."""
        return self._queue.qsize()

    @property
    def pending(self) -> int:
        """Records accepted and not yet committed (at most `max_pending`)."""
        return self._accepted - self._settled_count

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = self._open_store()
        except BaseException as exc:
            # The caller of start() reports it (the app: one line, and it refuses to start).
            log.debug("cannot open the history store", exc_info=True)
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            _Writer(self, store).loop()
        finally:
            try:
                store.close()
            except Exception:
                log.exception("closing the history store failed")
            self._fail_leftovers()
            self._open_room(always=True)

    def _settled(self, count: int) -> None:
        """`count` accepted records were committed or dropped: room for that many more. Only
        the worker thread adds to this count."""
        self._settled_count += count
        if not self.room.is_set():
            self._open_room()

    def _fail_leftovers(self) -> None:
        """After the thread ends: fail calls that can no longer run, release flush waiters."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Call):
                if item.changes:
                    self._settled(1)
                if item.future.set_running_or_notify_cancel():
                    item.future.set_exception(RuntimeError("HistoryWorker is stopped"))
            elif isinstance(item, _Flush):
                item.done.set()
            elif isinstance(item, Record):
                self._settled(1)


class _Writer:
    """The worker thread's state: the records since the last commit, and the failure state."""

    def __init__(self, worker: HistoryWorker, store: HistoryStore) -> None:
        self.worker = worker
        self.store = store
        # Appended (or, while failing, only taken) since the last successful commit: kept until
        # a commit succeeds, because a failure may roll them all back.
        self.uncommitted: list[Record] = []
        # Work since the last commit, records or calls (a call may have written: prune).
        self.dirty = False
        self.dirty_since = 0.0
        # When the last item was taken from the queue (see COMMIT_SETTLE).
        self.last_item = 0.0
        self.flushes: list[_Flush] = []
        # Records taken from the queue so far: a commit covers every one of them, so after it
        # this is the worker's `committed` mark (records are numbered in the queue's order).
        self.taken = 0
        self.failed_since = 0.0
        self.retry_at = 0.0
        self.delay = 0.0

    def loop(self) -> None:
        worker = self.worker
        get = worker._queue.get
        get_nowait = worker._queue.get_nowait
        monotonic = time.monotonic
        interval = worker._interval
        settle = min(worker._settle, interval)
        max_batch = worker._max_batch
        while True:
            if worker.failing:
                wait: float | None = self.retry_at - monotonic()
            elif self.dirty:
                if worker.wanted > worker.committed and worker._queue.empty():
                    # An acknowledgement waits, and every record it may wait for was taken
                    # (it was queued before its `want_commit`): commit them all now.
                    self.commit()
                    continue
                # Commit once the queue has stayed empty for COMMIT_SETTLE, or at the interval.
                wait = min(self.dirty_since + interval, self.last_item + settle) - monotonic()
            else:
                wait = None
            if wait is not None and wait <= 0:
                self.commit()
                continue
            try:
                item = get() if wait is None else get(timeout=wait)
            except queue.Empty:
                self.commit()
                continue
            self.last_item = monotonic()

            if isinstance(item, Record):
                if worker.wanted <= worker.committed and not worker.failing:
                    # (See LINGER.) An acknowledgement wanted meanwhile ends it at once.
                    worker._ack_wanted.wait(LINGER)
                worker._ack_wanted.clear()
                batch = [item]
                control: _Item | None = None
                room = max_batch if worker.failing else max_batch - len(self.uncommitted)
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
                self.taken += len(batch)
                self.write(batch)
                self.touch()
                if control is not None:
                    item = control
            if isinstance(item, _Call):
                if item.changes:  # numbered among the records: the next commit covers it
                    self.taken += 1
                    worker._settled(1)
                self.call(item)
                self.touch()
            elif isinstance(item, _Flush):
                self.flushes.append(item)
                self.commit()
            elif isinstance(item, _Stop):
                self.commit()
                if worker.failing:
                    self.give_up()
                return
            # (A _Nudge only wakes the loop: its top commits when an acknowledgement waits.)
            if (
                self.dirty
                and not worker.failing
                and (
                    len(self.uncommitted) >= max_batch or monotonic() - self.dirty_since >= interval
                )
            ):
                self.commit()

    def touch(self) -> None:
        if not self.dirty:
            self.dirty, self.dirty_since = True, time.monotonic()

    def write(self, batch: list[Record]) -> None:
        """Append a batch (only keep it, while the store is failing)."""
        if self.worker.failing:
            self.uncommitted += batch
            return
        try:
            stored = self.append(batch)
        except Exception as exc:  # is_store_failure: append() re-raises nothing else
            self.uncommitted += batch
            self.fail(exc)
            return
        self.uncommitted += stored
        self.worker._settled(len(batch) - len(stored))  # the bad ones, dropped

    def append(self, batch: list[Record]) -> list[Record]:
        """store.append(batch); the records it kept. A record the store rejects for itself is
        logged and dropped alone; a store failure propagates."""
        try:
            self.store.append(batch)
        except Exception as exc:
            if is_store_failure(exc):
                raise
            if len(batch) == 1:
                self.worker.failed_appends += 1
                log.exception("storing a history record failed (target %r)", batch[0].target)
                return []
            # One record at a time; the bad ones are one incident, so one ERROR line for the
            # whole batch (with the first one's traceback), never a line per record.
            kept: list[Record] = []
            bad: list[tuple[Record, Exception]] = []
            for record in batch:
                try:
                    self.store.append([record])
                except Exception as one:
                    if is_store_failure(one):
                        raise
                    bad.append((record, one))
                else:
                    kept.append(record)
            self.worker.appended += len(kept)
            self.worker.failed_appends += len(bad)
            if bad:
                first, error = bad[0]
                log.error(
                    "storing %d of %d history records failed; they were dropped, the others"
                    " kept (first: target %r)",
                    len(bad),
                    len(batch),
                    first.target,
                    exc_info=error,
                )
            return kept
        self.worker.appended += len(batch)
        return batch

    def commit(self) -> None:
        """Commit; while failing, this is the retry: append every kept record again first."""
        worker = self.worker
        if worker.failing and time.monotonic() < self.retry_at:
            return
        store = self.store
        try:
            if worker.failing:
                max_batch = worker._max_batch
                kept = self.uncommitted
                stored: list[Record] = []
                try:
                    for start in range(0, len(kept), max_batch):
                        stored += self.append(kept[start : start + max_batch])
                except BaseException:
                    self.uncommitted = kept
                    raise
                self.uncommitted = stored
                worker._settled(len(kept) - len(stored))  # the bad ones, dropped
            started = time.monotonic()
            store.commit()
            took = time.monotonic() - started
        except Exception as exc:
            # Whatever the reason, nothing since the last commit is durable: keep it all.
            self.fail(exc)
            return
        worker.commit_seconds[bisect.bisect_left(COMMIT_BUCKETS, took)] += 1
        worker.commit_seconds_sum += took
        count = len(self.uncommitted)
        self.uncommitted = []
        self.dirty = False
        worker.commits += 1
        worker._settled(count)
        if self.taken != worker.committed:
            worker._committed_to(self.taken)
        if worker.failing:
            worker.failing = False
            log.warning(
                "history store recovered after %.1f s, %d records written",
                time.monotonic() - self.failed_since,
                count,
            )
        for flush in self.flushes:
            flush.done.set()
        self.flushes.clear()

    def fail(self, exc: Exception) -> None:
        worker = self.worker
        now = time.monotonic()
        if not worker.failing:
            worker.failing = True
            worker.incidents += 1
            self.failed_since = now
            self.delay = worker._retry_first
            log.error(
                "history store failing: %s; keeping %d records and retrying, new messages are"
                " refused until it recovers",
                exc,
                len(self.uncommitted),
            )
            # Held senders go on and are refused: waiting for a failing store stalls them
            # with no word of why, and the refusal is what the failure is for.
            worker._open_room(always=True)
        else:
            self.delay = min(self.delay * 2, worker._retry_max)
        self.retry_at = now + self.delay

    def give_up(self) -> None:
        """At stop, after the last try failed: say what is lost (nothing can keep it now)."""
        self.retry_at = 0.0
        self.commit()
        if self.worker.failing:
            log.error(
                "history store still failing at shutdown: %d accepted records not stored",
                len(self.uncommitted),
            )
            self.worker._settled(len(self.uncommitted))
        for flush in self.flushes:
            flush.done.set()
        self.flushes.clear()

    def call(self, item: _Call) -> None:
        future = item.future
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = item.call(self.store)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
