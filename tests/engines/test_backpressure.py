"""Back-pressure from the history writer (issue 13, the threads engine's lost window): a sender
whose messages the writer cannot keep up with is slowed down (its connection is not read until
the writer has caught up), not refused with FAIL … TEMPORARILY_UNAVAILABLE; a client that
stores nothing is answered meanwhile.

The history store here is gated: every `append` waits until the test opens the gate, so the
writer falls behind exactly when the test says, with no sleeping and no timing."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hubbub import engines
from hubbub.engines.server import EngineServer
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from support.config import server_config
from support.irc_client import IrcClient, clients
from support.waiting import wait_for

#: The engines whose connections wait for the history writer (`EngineServer.holds_senders`).
HOLDING = [name for name in engines.RUNNERS if engines.server_class_of(name).holds_senders]

#: history.max_pending: senders are held at 20 pending records, refused at 40.
MAX_PENDING = 40
#: Messages in the sender's burst: five times what the writer may have pending.
BURST = 200
#: Seconds a gated append waits at most (a failing test must not hang the run).
GATE_LIMIT = 30.0


class GatedStore:
    """A history store whose `append` waits for `gate` (the disk stalls while it is clear)."""

    def __init__(self, inner: HistoryStore, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate

    def append(self, records: Sequence[Record]) -> None:
        # On the history thread: the writer stalls here, nobody else.
        if not self.gate.wait(GATE_LIMIT):
            raise AssertionError("the test never opened the history gate")
        self.inner.append(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(params=HOLDING)
def gated_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A running engine server (each engine that holds senders) over a gated SQLite store;
    `server.gate` is the gate, open at first."""
    base: type[EngineServer] = engines.server_class_of(request.param)
    gate = threading.Event()
    gate.set()

    class Gated(base):  # type: ignore[misc, valid-type]
        def open_history_store(self) -> HistoryStore:
            return GatedStore(super().open_history_store(), gate)  # type: ignore[return-value]

    config = server_config(tmp_path / "data", history={"max_pending": MAX_PENDING})
    server = Gated(config)
    server.gate = gate
    server.start()
    try:
        yield server
    finally:
        gate.set()
        server.stop()


def test_a_burst_past_the_high_water_mark_is_slowed_not_refused(gated_server: Any) -> None:
    """The writer stalls with the sender's burst in flight: the sender is held once the writer
    has `high_water` records pending (before `max_pending`, where the core would refuse), a
    client that only PINGs is answered meanwhile, and once the writer goes on every message is
    accepted (no FAIL), delivered in order and stored."""
    server = gated_server
    worker = server.worker
    assert worker.high_water == MAX_PENDING // 2
    address = server.addresses[0]
    alice, bob, carol = IrcClient(address), IrcClient(address), IrcClient(address)
    with clients(alice, bob, carol):
        alice.register("alice")
        bob.register("bob")
        carol.register("carol")
        alice.join("#room")
        bob.join("#room")
        assert worker.flush(timeout=10)  # the joins' work is done: only the burst is pending

        server.gate.clear()
        alice.say("#room", *[f"burst {n}" for n in range(BURST)])
        wait_for(lambda: server.holds >= 1, 10, "the sender to be held")
        # Held at the high-water mark, its first message past it: nothing was refused.
        assert not worker.room.is_set()
        assert worker.pending == worker.high_water and worker.refused == 0
        # The writer is stalled and the sender held: a client that stores nothing is answered.
        carol.fence()
        carol.send("WHO #room")
        carol.expect("315")
        # Still held: the burst waits with the sender, not in the writer's queue.
        assert worker.pending == worker.high_water
        got = bob.until(lambda x: x.command == "PRIVMSG", what="the first of the burst")
        assert got[-1].text == "burst 0"

        server.gate.set()
        received = [got[-1].text]
        while len(received) < BURST:
            line = bob.first(lambda x: x.command == "PRIVMSG", what="the rest of the burst")
            received.append(line.text)
        assert received == [f"burst {n}" for n in range(BURST)]
        said = alice.fence()
        assert [line.raw for line in said if line.command == "FAIL"] == []

    assert worker.flush(timeout=10)
    stored = worker.submit(lambda store: store.latest("#room", BURST + 10)).result(timeout=10)
    texts = [record.params[-1] for record in stored if record.command == "PRIVMSG"]
    assert texts == [f"burst {n}" for n in range(BURST)]
    assert worker.refused == 0
    assert worker.room.is_set()
