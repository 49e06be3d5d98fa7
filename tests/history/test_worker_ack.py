"""Acknowledgement after commit, on the history writer's side: every accepted record has a mark,
`committed` reaches it after the commit that covers it, `on_commit` callbacks hear of each
commit, and a waiting acknowledgement (`want_commit`) is committed at once instead of after the
settle time (group commit: what was taken meanwhile shares the commit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from history_helpers import rec

from hubbub.history.memory import MemoryStore
from hubbub.history.service import LoopHistoryService
from hubbub.history.worker import HistoryWorker
from support.waiting import wait_for

#: A settle time and commit interval nothing in a test waits out: a commit that happens came
#: from an acknowledgement waiting, a flush or the stop.
NEVER = 600.0


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1


@pytest.fixture
def worker() -> Iterator[HistoryWorker]:
    store = CountingStore()
    worker = HistoryWorker(lambda: store, commit_interval_ms=int(NEVER * 1000), commit_settle=NEVER)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def test_a_waiting_acknowledgement_is_committed_without_the_settle_wait(
    worker: HistoryWorker,
) -> None:
    heard: list[int] = []
    worker.on_commit(lambda: heard.append(worker.committed))
    marks = [worker.append(rec("#a", n)) for n in range(3)]
    assert marks == [1, 2, 3]  # in the queue's order
    assert worker.committed == 0
    worker.want_commit(marks[-1])
    wait_for(lambda: worker.committed == 3, 10, "the commit an acknowledgement waits for")
    assert heard == [3]  # one commit for the three: nothing committed them before
    assert worker.wanted == 3


def test_marks_committed_by_a_flush_and_a_mark_already_committed(worker: HistoryWorker) -> None:
    first = worker.append(rec("#a", 1))
    assert worker.flush(10)
    assert worker.committed == first == 1
    worker.want_commit(first)  # already on disk: nothing to wake the thread for
    assert worker.wanted == 0
    assert worker.append(rec("#a", 2)) == 2


class NoLoop:
    """The service's loop, which this test never needs (no query is made)."""

    def call_soon_threadsafe(self, callback: Any, *args: Any) -> None:
        raise AssertionError("no query was made")


class WaitingLink:
    """A link that can hold its output until a commit (as the transports' connections)."""

    def __init__(self) -> None:
        self.marks: list[int] = []

    def write(self, data: bytes) -> None:
        raise AssertionError("not written in this test")

    def close(self) -> None:
        pass

    def wait_for_commit(self, mark: int) -> None:
        self.marks.append(mark)


def test_the_service_holds_the_acknowledged_link_until_its_record_is_committed(
    worker: HistoryWorker,
) -> None:
    service = LoopHistoryService(worker, NoLoop())
    link = WaitingLink()
    service.append(rec("#a", 1))
    service.append(rec("#a", 2))
    service.acknowledge_after_commit(link)
    assert link.marks == [2]
    wait_for(lambda: worker.committed == 2, 10, "the commit the link waits for")
    # A link without `wait_for_commit` (a test's, a cluster node's) is never held.
    service.append(rec("#a", 3))
    service.acknowledge_after_commit(object())  # type: ignore[arg-type]
