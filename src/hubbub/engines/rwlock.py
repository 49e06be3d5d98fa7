"""A fair readers-writers lock: first come, first served, so nobody starves.

The algorithm is the task-fair (FIFO) readers-writers lock of Mellor-Crummey and Scott
("Scalable reader-writer synchronization for shared-memory multiprocessors", PPoPP 1991), here
with one small lock per waiter instead of spinning:

* A thread that finds the lock free for its kind (a reader: no writer holds it and nobody waits;
  a writer: nobody holds it and nobody waits) takes it at once.
* Otherwise it joins the back of one FIFO queue and blocks on its own waiter lock.
* A release hands the lock over in queue order: to the writer at the head (once the last reader
  has left), or to the whole run of readers at the head, together.

So a reader arriving while a writer waits queues behind that writer (writers are never starved
by a stream of readers), and readers queued behind a writer all enter together when it leaves
(readers are never starved by a stream of writers). Every waiter is served after at most the
threads that were queued before it. A release wakes only the threads it admits (no
thundering herd on one condition variable, which matters with thousands of connection threads).

The lock is not re-entrant: a thread that holds it must not ask for it again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FairRWLock"]


class FairRWLock:
    """Readers share, writers are alone, everyone is served in arrival order."""

    __slots__ = ("_mutex", "_queue", "_readers", "_writer")

    def __init__(self) -> None:
        # Guards the three fields below; held only for a few instructions.
        self._mutex = threading.Lock()
        self._readers = 0
        self._writer = False
        # Waiting threads in arrival order: (wants to write, the lock it blocks on).
        self._queue: deque[tuple[bool, threading.Lock]] = deque()

    # -- what tests and metrics may look at --------------------------------------------------

    @property
    def readers(self) -> int:
        """Threads holding the lock to read."""
        return self._readers

    @property
    def writing(self) -> bool:
        """Whether a writer holds the lock."""
        return self._writer

    def waiting(self) -> tuple[int, int]:
        """(readers, writers) queued, not yet admitted."""
        with self._mutex:
            writers = sum(1 for wants_write, _ in self._queue if wants_write)
            return len(self._queue) - writers, writers

    # -- reading -------------------------------------------------------------------------------

    def acquire_read(self) -> None:
        with self._mutex:
            if not self._writer and not self._queue:
                self._readers += 1
                return
            waiter = self._enqueue(False)
        waiter.acquire()  # released by the thread that admits us, with _readers counted

    def release_read(self) -> None:
        with self._mutex:
            if self._readers <= 0:
                raise RuntimeError("release_read without acquire_read")
            self._readers -= 1
            if self._readers == 0:
                self._admit()

    # -- writing -------------------------------------------------------------------------------

    def acquire_write(self) -> None:
        with self._mutex:
            if not self._writer and self._readers == 0 and not self._queue:
                self._writer = True
                return
            waiter = self._enqueue(True)
        waiter.acquire()  # released by the thread that admits us, with _writer set

    def release_write(self) -> None:
        with self._mutex:
            if not self._writer:
                raise RuntimeError("release_write without acquire_write")
            self._writer = False
            self._admit()

    @contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self) -> Iterator[None]:
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()

    # -- hand-over (the mutex is held) ---------------------------------------------------------

    def _enqueue(self, wants_write: bool) -> threading.Lock:
        waiter = threading.Lock()
        waiter.acquire()
        self._queue.append((wants_write, waiter))
        return waiter

    def _admit(self) -> None:
        """Give the free lock to the head of the queue: one writer, or every reader up to the
        next writer. The admitted threads' state is set here, before they wake."""
        queue = self._queue
        if not queue or self._writer:
            return
        if queue[0][0]:
            if self._readers == 0:
                _, waiter = queue.popleft()
                self._writer = True
                waiter.release()
            return
        while queue and not queue[0][0]:
            _, waiter = queue.popleft()
            self._readers += 1
            waiter.release()
