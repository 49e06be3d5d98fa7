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
from hubbub.app import App
from hubbub.engines.server import EngineServer
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from support.config import server_config
from support.irc_client import IrcClient, clients
from support.servers import ThreadedServer
from support.waiting import wait_for

#: Every engine: asyncio and Twisted (an App) hold a sender by pausing its transport's reading,
#: threads waits on the writer's event, select and hybrid unwatch the socket.
ENGINES = ["asyncio", "twisted", *engines.RUNNERS]

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


def app_class_of(engine: str) -> type[App]:
    """The App an engine built on asyncio runs (Twisted's is an optional extra)."""
    if engine == "twisted":
        from hubbub.engines.twisted_engine import TwistedApp

        return TwistedApp
    return App


class Running:
    """A running server of one engine over a gated history store (open at first)."""

    def __init__(self, engine: str, flood: bool, tmp_path: Path) -> None:
        self.gate = threading.Event()
        self.gate.set()
        gate = self.gate
        # With flood control on, a bucket big enough for the whole burst: the lines take the
        # flood path (a token each) without being throttled.
        flood_section = {"enabled": flood, "burst": 2 * BURST, "lines_per_second": 1000.0}
        config = server_config(
            tmp_path / "data", history={"max_pending": MAX_PENDING}, flood=flood_section
        )
        self.engine_server: Any = None
        self.threaded: ThreadedServer | None = None
        if engine in engines.RUNNERS:
            base: type[EngineServer] = engines.server_class_of(engine)

            class GatedServer(base):  # type: ignore[misc, valid-type]
                def open_history_store(self) -> HistoryStore:
                    return GatedStore(super().open_history_store(), gate)  # type: ignore[return-value]

            self.engine_server = GatedServer(config)
            self.address = self.engine_server.start()[0]
            self.worker = self.engine_server.worker
        else:
            app_base = app_class_of(engine)

            class GatedApp(app_base):  # type: ignore[misc, valid-type]
                def open_history_store(self) -> HistoryStore:
                    return GatedStore(super().open_history_store(), gate)  # type: ignore[return-value]

            self.threaded = ThreadedServer(config, engine=engine, app_class=GatedApp).start()
            self.address = self.threaded.address
            assert self.threaded.app is not None
            self.worker = self.threaded.app.worker

    def holds(self) -> int:
        """Times a sender was held so far."""
        if self.engine_server is not None:
            return int(self.engine_server.holds)
        assert self.threaded is not None and self.threaded.app is not None
        return int(self.threaded.app.tcp.holds)

    def stop(self) -> None:
        self.gate.set()
        self.stop_keeping_gate()

    def stop_keeping_gate(self) -> None:
        """Stop the server; a shut gate keeps its history writer stalled meanwhile."""
        if self.engine_server is not None:
            self.engine_server.stop()
        if self.threaded is not None:
            self.threaded.stop()


@pytest.fixture(
    params=[(engine, flood) for engine in ENGINES for flood in (False, True)],
    ids=lambda param: f"{param[0]}-{'flood' if param[1] else 'noflood'}",
)
def gated_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    """A running server of each engine over a gated SQLite store, flood control off and on."""
    engine, flood = request.param
    if engine == "twisted":
        pytest.importorskip("twisted")
    running = Running(engine, flood, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_a_burst_past_the_high_water_mark_is_slowed_not_refused(gated_server: Running) -> None:
    """The writer stalls with the sender's burst in flight: the sender is held once the writer
    has `high_water` records pending (before `max_pending`, where the core would refuse), a
    client that only PINGs is answered meanwhile, and once the writer goes on every message is
    accepted (no FAIL), delivered in order and stored."""
    server = gated_server
    worker = server.worker
    assert worker.high_water == MAX_PENDING // 2
    address = server.address
    alice, bob, carol = IrcClient(address), IrcClient(address), IrcClient(address)
    with clients(alice, bob, carol):
        alice.register("alice")
        bob.register("bob")
        carol.register("carol")
        alice.join("#room")
        bob.join("#room")
        # The fence's PONG comes after the JOIN's replay (a history query), so no line of the
        # burst waits in the core behind it: lines the core runs from that backlog when the
        # answer comes are outside the engine's input loop, which is what holds a sender.
        alice.fence()
        assert worker.flush(timeout=10)  # the joins' work is done: only the burst is pending

        server.gate.clear()
        alice.say("#room", *[f"burst {n}" for n in range(BURST)])
        wait_for(lambda: server.holds() >= 1, 10, "the sender to be held")
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


def test_a_held_sender_is_let_go_at_shutdown_while_the_writer_still_stalls(
    gated_server: Running,
) -> None:
    """The shutdown does not wait for the writer to catch up before it closes connections: a
    held sender gets the server's ERROR and its end while the store is still stalled, and what
    was accepted is stored once the writer goes on (the shutdown commits it)."""
    server = gated_server
    worker = server.worker
    alice = IrcClient(server.address)
    with clients(alice):
        alice.register("alice")
        alice.join("#room")
        alice.fence()  # the JOIN's replay answered (see above)
        assert worker.flush(timeout=10)
        server.gate.clear()
        alice.say("#room", *[f"burst {n}" for n in range(BURST)])
        wait_for(lambda: server.holds() >= 1, 10, "the sender to be held")
        # The server stops with the gate still shut (the fixture's stop would open it first).
        stopper = threading.Thread(target=server.stop_keeping_gate, name="test-stop", daemon=True)
        stopper.start()
        said = alice.until_closed()
        assert any(line.command == "ERROR" for line in said)
        assert [line.raw for line in said if line.command == "FAIL"] == []
        assert not server.gate.is_set()
    server.gate.set()
    stopper.join(30)
    assert not stopper.is_alive()
    assert worker.refused == 0 and worker.pending == 0
