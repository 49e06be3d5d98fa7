"""The fair readers-writers lock (hubbub.engines.rwlock): sharing, exclusion, and arrival order
(no starvation of writers by readers, nor of readers by writers).

Threads wait on conditions (the lock's own queue, events), never on sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from hubbub.engines.rwlock import FairRWLock
from support.waiting import wait_for

WAIT = 10.0


class Holder:
    """A thread that takes the lock (to read or to write), says so, and holds it until told."""

    def __init__(self, lock: FairRWLock, write: bool, log: list[str], name: str) -> None:
        self.lock = lock
        self.write = write
        self.log = log
        self.name = name
        self.entered = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self.write:
            self.lock.acquire_write()
        else:
            self.lock.acquire_read()
        self.log.append(self.name)
        self.entered.set()
        self.release.wait(WAIT)
        if self.write:
            self.lock.release_write()
        else:
            self.lock.release_read()

    def start(self) -> Holder:
        self.thread.start()
        return self

    def finish(self) -> None:
        self.release.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


def queued(lock: FairRWLock, readers: int, writers: int) -> Callable[[], bool]:
    return lambda: lock.waiting() == (readers, writers)


def test_readers_share_the_lock() -> None:
    lock = FairRWLock()
    log: list[str] = []
    first = Holder(lock, False, log, "r1").start()
    second = Holder(lock, False, log, "r2").start()
    assert first.entered.wait(WAIT) and second.entered.wait(WAIT)
    assert lock.readers == 2 and not lock.writing
    first.finish()
    second.finish()
    assert lock.readers == 0


def test_a_writer_is_alone() -> None:
    lock = FairRWLock()
    log: list[str] = []
    writer = Holder(lock, True, log, "w").start()
    assert writer.entered.wait(WAIT)
    reader = Holder(lock, False, log, "r").start()
    wait_for(queued(lock, 1, 0), WAIT, "the reader to queue")
    other_writer = Holder(lock, True, log, "w2").start()
    wait_for(queued(lock, 1, 1), WAIT, "the second writer to queue")
    assert log == ["w"] and lock.writing
    writer.finish()
    assert reader.entered.wait(WAIT)
    assert log == ["w", "r"]  # arrival order: the reader came first
    wait_for(queued(lock, 0, 1), WAIT, "the second writer to wait for the reader")
    reader.finish()
    assert other_writer.entered.wait(WAIT)
    other_writer.finish()
    assert log == ["w", "r", "w2"]


def test_a_stream_of_readers_never_starves_a_writer() -> None:
    """The writer-starvation scenario: readers keep overlapping each other; a writer that
    arrived meanwhile still gets the lock before any reader that arrived after it."""
    lock = FairRWLock()
    log: list[str] = []
    reading = Holder(lock, False, log, "r0").start()
    assert reading.entered.wait(WAIT)
    writer = Holder(lock, True, log, "w").start()
    wait_for(queued(lock, 0, 1), WAIT, "the writer to queue behind the reader")
    # Readers keep arriving while r0 still reads: with a readers-preference lock they would
    # join r0 at once and the writer could wait forever.
    late = [Holder(lock, False, log, f"late{i}").start() for i in range(5)]
    wait_for(queued(lock, 5, 1), WAIT, "the late readers to queue behind the writer")
    assert log == ["r0"]
    reading.finish()
    assert writer.entered.wait(WAIT)
    assert log == ["r0", "w"]
    assert not any(holder.entered.is_set() for holder in late)
    writer.finish()
    # Then the readers queued behind the writer enter together.
    for holder in late:
        assert holder.entered.wait(WAIT)
    assert lock.readers == 5
    assert sorted(log[2:]) == sorted(f"late{i}" for i in range(5))
    for holder in late:
        holder.finish()


def test_a_stream_of_writers_never_starves_a_reader() -> None:
    lock = FairRWLock()
    log: list[str] = []
    first = Holder(lock, True, log, "w0").start()
    assert first.entered.wait(WAIT)
    reader = Holder(lock, False, log, "r").start()
    wait_for(queued(lock, 1, 0), WAIT, "the reader to queue")
    later = []
    for i in range(1, 4):  # one at a time, so that their arrival order is known
        later.append(Holder(lock, True, log, f"w{i}").start())
        wait_for(queued(lock, 1, i), WAIT, f"writer {i} to queue")
    first.finish()
    assert reader.entered.wait(WAIT)
    assert log == ["w0", "r"]
    reader.finish()
    for holder in later:
        assert holder.entered.wait(WAIT)
        holder.finish()
    assert log == ["w0", "r", "w1", "w2", "w3"]


def test_many_threads_count_exactly_under_the_write_lock() -> None:
    """Exclusion under contention: unlocked, `+=` on a shared list item loses updates across
    threads; under the write side it never does, and readers never see a half-done update."""
    lock = FairRWLock()
    state = [0, 0]  # two counters a writer keeps equal
    torn: list[tuple[int, int]] = []

    def writer() -> None:
        for _ in range(2000):
            with lock.write():
                state[0] += 1
                state[1] += 1

    def reader() -> None:
        for _ in range(2000):
            with lock.read():
                a, b = state
                if a != b:
                    torn.append((a, b))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert state == [8000, 8000]
    assert torn == []
    assert lock.waiting() == (0, 0) and lock.readers == 0 and not lock.writing


def test_releasing_what_is_not_held_is_an_error() -> None:
    lock = FairRWLock()
    with pytest.raises(RuntimeError):
        lock.release_read()
    with pytest.raises(RuntimeError):
        lock.release_write()
