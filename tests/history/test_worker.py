"""HistoryWorker (ordering, flush, batching, failures, stop) and the two HistoryServices,
plus the kill -9 test: after a hard kill, nothing that was committed is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from history_helpers import rec

import hubbub.history.worker
from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record
from hubbub.history.service import LoopHistoryService
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import HistoryStore
from hubbub.history.worker import HistoryWorker
from support.core_services import SyncHistoryService
from support.waiting import wait_for

HERE = Path(__file__).parent
SRC = HERE.parent.parent / "src"


class ManualClock:
    """Stands in for the worker module's `time`: its monotonic clock moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class CountingStore(MemoryStore):
    """A MemoryStore that counts commits and batches, optionally failing; with a clock, each
    append moves that clock on by `append_cost` seconds (a slow disk, without sleeping)."""

    def __init__(self, clock: ManualClock | None = None, append_cost: float = 0.0) -> None:
        super().__init__()
        self.commit_count = 0
        self.batches: list[int] = []
        self.clock = clock
        self.append_cost = append_cost
        self.fail_msgids: set[str] = set()
        self.fail_commits = 0
        self.closed = False
        self.thread: int | None = None

    def append(self, records: Sequence[Record]) -> None:
        self.thread = threading.get_ident()
        if self.clock is not None:
            self.clock.now += self.append_cost
        if any(r.msgid in self.fail_msgids for r in records):
            raise ValueError("a record this store cannot take")
        self.batches.append(len(records))
        super().append(records)

    def commit(self) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise OSError("database is locked")
        self.commit_count += 1

    def close(self) -> None:
        self.closed = True


def started(store: HistoryStore, **kwargs: Any) -> HistoryWorker:
    worker = HistoryWorker(lambda: store, **kwargs)
    worker.start()
    return worker


def gate(worker: HistoryWorker) -> threading.Event:
    """Block the worker thread until the returned event is set (to queue work behind it)."""
    release = threading.Event()
    worker.submit(lambda _store: release.wait(10))
    return release


def test_read_sees_appends_submitted_before_it() -> None:
    worker = started(MemoryStore())
    for n in range(100):
        worker.append(rec("#a", n))
    assert len(worker.submit(lambda s: s.latest("#a", 1000)).result(timeout=5)) == 100
    worker.append(rec("#a", 100))
    assert worker.submit(lambda s: s.latest("#a", 1)).result(timeout=5) == [rec("#a", 100)]
    worker.stop()


def test_runs_on_its_own_thread_and_sqlite_reads_need_no_commit(tmp_path: Path) -> None:
    store = CountingStore()
    worker = started(store)
    worker.append(rec("#a", 1))
    assert worker.flush(timeout=5)
    assert store.thread not in (None, threading.get_ident())
    worker.stop()

    worker = HistoryWorker(lambda: SqliteStore(tmp_path / "h.db"))  # opened on the thread
    worker.start()
    release = gate(worker)
    worker.append(rec("#a", 1))
    read = worker.submit(lambda s: s.latest("#a", 5))
    release.set()
    assert read.result(timeout=5) == [rec("#a", 1)]
    worker.stop()


def test_flush_makes_everything_durable(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    worker = HistoryWorker(lambda: SqliteStore(path), commit_interval_ms=60_000)
    worker.start()
    records = [rec("#a", n) for n in range(500)]
    for r in records:
        worker.append(r)
    assert worker.flush(timeout=10)
    reader = SqliteStore(path)  # another connection sees only committed rows
    assert reader.latest("#a", 1000) == records
    reader.close()
    worker.stop()


def test_stop_is_idempotent_and_closes_the_store() -> None:
    store = CountingStore()
    worker = started(store)
    worker.append(rec("#a", 1))
    worker.stop()
    worker.stop()
    assert store.closed
    assert store.latest("#a", 5) == [rec("#a", 1)]
    assert store.commit_count >= 1
    assert not worker.running
    assert worker.flush(timeout=1)
    with pytest.raises(RuntimeError):
        worker.submit(lambda s: s.latest("#a", 1)).result(timeout=1)
    worker.append(rec("#a", 2))  # after stop: dropped, never raises
    HistoryWorker(MemoryStore).stop()  # never started: nothing to do


def test_calls_queued_before_stop_still_run() -> None:
    worker = started(MemoryStore())
    release = gate(worker)
    worker.append(rec("#a", 1))
    read = worker.submit(lambda s: s.latest("#a", 5))
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    release.set()
    stopper.join(10)
    assert read.result(timeout=5) == [rec("#a", 1)]


def test_appends_are_batched_and_commits_bounded_by_max_batch() -> None:
    store = CountingStore()
    worker = started(store, max_batch=1000, commit_interval_ms=60_000)
    release = gate(worker)
    for n in range(2500):
        worker.append(rec("#a", n))
    release.set()
    assert worker.flush(timeout=10)
    assert store.batches == [1000, 1000, 500]
    assert store.commit_count in (3, 4)  # after each full batch, at the empty queue / flush
    assert len(store.latest("#a", 10_000)) == 2500
    worker.stop()


def test_commits_when_the_queue_runs_empty() -> None:
    store = CountingStore()
    worker = started(store, commit_interval_ms=60_000)
    worker.append(rec("#a", 1))
    wait_for(lambda: store.commit_count > 0, 5, "a commit once the queue is empty")
    assert worker.submit(lambda _s: store.commit_count).result(timeout=5) == 1
    worker.stop()


def test_a_queue_that_runs_empty_between_records_is_not_a_commit_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under load the loop hands over records every turn and the queue runs empty in between:
    that must not be a commit per turn (issue 9: commits were most of the history's cost per
    message). Commits wait until the queue has stayed empty for COMMIT_SETTLE (here an hour, so
    never), or the interval (an hour too), or a flush."""
    monkeypatch.setattr(hubbub.history.worker, "COMMIT_SETTLE", 3600.0)
    store = CountingStore()
    worker = started(store, commit_interval_ms=3_600_000)
    for n in range(20):
        worker.append(rec("#a", n))
        wait_for(lambda n=n: len(store.batches) == n + 1, 5, "the worker took the record")
    assert store.commit_count == 0
    assert worker.pending == 20
    assert worker.flush(timeout=10)
    assert store.commit_count == 1
    assert worker.pending == 0
    worker.stop()


def test_commits_every_interval_while_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    # 60 separate batches (each split by a call) that each take 3 ms of the worker's clock,
    # queue never empty: commits come from the 20 ms interval. 180 ms of work in windows of
    # 20 to 23 ms: 7 to 9 interval commits, and the flush may commit the rest. The clock is
    # the test's, so a loaded machine changes nothing.
    clock = ManualClock()
    monkeypatch.setattr(hubbub.history.worker, "time", clock)
    store = CountingStore(clock, append_cost=0.003)
    worker = started(store, commit_interval_ms=20, max_batch=10_000)
    release = gate(worker)
    for n in range(60):
        worker.append(rec("#a", n))
        worker.submit(lambda _s: None)
    release.set()
    assert worker.flush(timeout=10)
    assert len(store.batches) == 60
    assert 7 <= store.commit_count <= 10, store.commit_count
    worker.stop()


def test_failing_call_sets_its_future_and_the_worker_goes_on() -> None:
    worker = started(MemoryStore())
    bad = worker.submit(lambda _s: 1 // 0)
    assert isinstance(bad.exception(timeout=5), ZeroDivisionError)
    worker.append(rec("#a", 1))
    assert worker.submit(lambda s: s.latest("#a", 5)).result(timeout=5) == [rec("#a", 1)]
    worker.stop()


def test_a_bad_record_is_logged_and_loses_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    """A record the store rejects for itself (not a store failure) is dropped alone."""
    store = CountingStore()
    store.fail_msgids = {"#a/3"}
    worker = started(store)
    release = gate(worker)
    for n in range(6):
        worker.append(rec("#a", n))
    with caplog.at_level(logging.ERROR, logger="hubbub.history"):
        release.set()
        assert worker.flush(timeout=5)
    assert [r.msgid for r in store.latest("#a", 10)] == ["#a/0", "#a/1", "#a/2", "#a/4", "#a/5"]
    assert worker.failed_appends == 1
    assert worker.pending == 0
    assert "storing 1 of 6 history records failed" in caplog.text
    worker.append(rec("#a", 7))
    assert worker.flush(timeout=5)
    assert store.latest("#a", 1) == [rec("#a", 7)]
    worker.stop()


def test_a_failed_commit_is_retried_and_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    store = CountingStore()
    store.fail_commits = 2
    worker = started(store, retry_first=0.01, retry_max=0.02)
    with caplog.at_level(logging.WARNING, logger="hubbub.history"):
        for n in range(6):
            worker.append(rec("#a", n))
        assert worker.flush(timeout=10)
    assert [r.msgid for r in store.latest("#a", 10)] == [f"#a/{n}" for n in range(6)]
    assert worker.incidents == 1 and not worker.failing
    assert caplog.text.count("history store failing: database is locked") == 1
    assert caplog.text.count("history store recovered after") == 1
    worker.stop()


def test_start_raises_when_the_store_cannot_open() -> None:
    def broken() -> HistoryStore:
        raise OSError("no such volume")

    worker = HistoryWorker(broken)
    with pytest.raises(OSError, match="no such volume"):
        worker.start()
    worker.stop()


# -- services --------------------------------------------------------------------------------------


def test_sync_history_service() -> None:
    store = MemoryStore()
    service = SyncHistoryService(store)
    service.append(rec("#a", 1))
    got: list[Any] = []
    service.query(lambda s: s.latest("#a", 5), got.append)
    assert got == [[rec("#a", 1)]]


def test_loop_history_service_answers_on_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    worker = started(MemoryStore())

    async def scenario() -> tuple[Any, Any, set[int]]:
        loop = asyncio.get_running_loop()
        service = LoopHistoryService(worker, loop)
        threads: set[int] = set()
        answers: asyncio.Queue[Any] = asyncio.Queue()

        def done(result: Any) -> None:
            threads.add(threading.get_ident())
            answers.put_nowait(result)

        service.append(rec("#a", 1))
        service.query(lambda s: s.latest("#a", 5), done)
        service.query(lambda _s: 1 // 0, done)
        first = await asyncio.wait_for(answers.get(), 5)
        second = await asyncio.wait_for(answers.get(), 5)
        return first, second, threads

    with caplog.at_level(logging.ERROR, logger="hubbub.history"):
        first, second, threads = asyncio.run(scenario())
    assert first == [rec("#a", 1)]
    assert second == []
    assert threads == {threading.get_ident()}
    assert "history query failed" in caplog.text
    worker.stop()


# -- kill -9 ---------------------------------------------------------------------------------------

COMMIT_INTERVAL_MS = 100


def committed(path: Path) -> int:
    """How many records of "#kill" another reader of the database file sees: the committed
    ones (0 before the table exists)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT count(*) FROM records WHERE target = '#kill'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_kill_9_loses_nothing_committed(tmp_path: Path) -> None:
    """The writer keeps appending (it never flushes), so commits come from the interval; once a
    second reader sees over 1000 committed records, SIGKILL. Every record that reader saw must
    be there after the kill, in order, without gaps."""
    path = tmp_path / "killed.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen(
        [sys.executable, str(HERE / "kill_writer.py"), str(path), str(COMMIT_INTERVAL_MS)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    appended: list[str] = []  # the child's reports, drained so that its prints never block

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            appended.append(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: appended, 20, "the writer to start")
        assert appended[0] == "ready"
        seen = wait_for(lambda: (n := committed(path)) > 1000 and n, 20, "1000 commits")
        assert child.poll() is None, "the writer stopped before the kill: nothing to test"
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    reader.join(5)

    db = sqlite3.connect(path)
    stored = [
        int(json_text[len('["#kill","') : -2])
        for (json_text,) in db.execute(
            "SELECT params FROM records WHERE target = '#kill' ORDER BY seq"
        )
    ]
    db.close()
    # No gaps, no reordering: exactly 1..N, and at least what was committed before the kill.
    assert stored == list(range(1, len(stored) + 1))
    assert len(stored) >= seen, (len(stored), seen, appended[-1])


def test_many_bad_records_in_one_batch_are_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """One line per incident, not per record: a batch with many bad records logs one ERROR."""
    store = CountingStore()
    store.fail_msgids = {f"#a/{n}" for n in range(1, 40)}
    worker = started(store)
    release = gate(worker)
    for n in range(50):
        worker.append(rec("#a", n))
    with caplog.at_level(logging.ERROR, logger="hubbub.history"):
        release.set()
        assert worker.flush(timeout=5)
    assert worker.failed_appends == 39
    assert [r.msgid for r in store.latest("#a", 100)] == ["#a/0"] + [
        f"#a/{n}" for n in range(40, 50)
    ]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "storing 39 of 50 history records failed" in errors[0].getMessage()
    worker.stop()


class SteppedStore(MemoryStore):
    """A MemoryStore whose every `append` takes one step from `steps` (a semaphore the test
    releases): the writer stores exactly as many batches as the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = threading.Semaphore(0)

    def append(self, records: Sequence[Record]) -> None:
        if not self.steps.acquire(timeout=30):
            raise AssertionError("the test never let this append go")
        super().append(records)


def test_room_is_cleared_at_the_high_water_mark_and_set_again_at_the_low_one() -> None:
    """The back-pressure signal: `room` clears when `high_water` (half of max_pending) records
    are pending, and sets again only at `low_water` (a quarter), not as soon as one is written.
    One record per batch and a commit per batch (max_batch=1): the pending count steps down
    one at a time."""
    store = SteppedStore()
    worker = started(store, max_pending=40, max_batch=1)
    assert (worker.high_water, worker.low_water) == (20, 10)
    for n in range(19):
        worker.append(rec("#a", n))
    assert worker.room.is_set()
    worker.append(rec("#a", 19))
    assert not worker.room.is_set() and worker.high_water_hits == 1
    assert worker.available  # held, not refused: max_pending is still 20 records away
    store.steps.release(9)
    wait_for(lambda: worker.pending == 11, 10, "nine records written")
    assert not worker.room.is_set()
    store.steps.release(1)
    assert worker.wait_for_room(10)
    assert worker.pending == 10
    store.steps.release(1000)
    assert worker.flush(timeout=10)
    assert len(store.latest("#a", 100)) == 20
    worker.stop()


def test_room_is_set_while_the_store_fails_so_that_senders_are_refused_not_held() -> None:
    """A failing store is not caught up by waiting: held senders go on, and the core refuses
    their messages (`available` is False), which says why."""
    store = CountingStore()
    store.fail_commits = 1000
    worker = HistoryWorker(lambda: store, max_pending=40, retry_first=0.01, retry_max=0.05)
    worker.start()
    release = gate(worker)
    for n in range(20):
        worker.append(rec("#a", n))
    assert not worker.room.is_set()
    release.set()
    assert worker.wait_for_room(10)
    assert worker.failing and not worker.available and worker.pending == 20
    worker.append(rec("#a", 20))  # past the high-water mark while failing: room stays
    assert worker.room.is_set()
    store.fail_commits = 0
    wait_for(lambda: worker.pending == 0, 10, "the store to recover")
    assert worker.room.is_set() and len(store.latest("#a", 100)) == 21
    worker.stop()


def test_room_is_set_when_the_worker_stops() -> None:
    """Nobody is left waiting for a writer that is going away."""
    worker = started(MemoryStore(), max_pending=4)
    release = gate(worker)
    for n in range(2):
        worker.append(rec("#a", n))
    assert not worker.room.is_set()
    worker.stop(timeout=0)  # the thread is still held by the gate: stop does not wait for it
    assert worker.room.is_set()
    release.set()
    worker.stop()
    assert not worker.running


def test_when_room_calls_back_at_once_or_when_the_writer_has_caught_up() -> None:
    """For an engine with one thread for many connections, which must not wait: the callback
    runs now while there is room, else once, on the worker thread, at the low-water mark."""
    worker = started(MemoryStore(), max_pending=4)
    called: list[int] = []
    worker.when_room(lambda: called.append(threading.get_ident()))
    assert called == [threading.get_ident()]
    release = gate(worker)
    for n in range(2):
        worker.append(rec("#a", n))
    assert not worker.room.is_set()
    done = threading.Event()
    worker.when_room(lambda: (called.append(threading.get_ident()), done.set()))
    assert len(called) == 1
    release.set()
    assert done.wait(10)
    assert worker.room.is_set() and len(called) == 2 and called[1] != threading.get_ident()
    assert worker.flush(timeout=10)
    assert len(called) == 2  # one-shot
    worker.stop()
