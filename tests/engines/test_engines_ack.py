"""A message is acknowledged to its sender only once its record is committed (the project rule:
never a message acknowledged and then lost; issue 14: "nothing that any client saw
acknowledged is lost"), on every engine.

The history store here holds every commit until the test lets it go, so the window between
"stored" and "on disk" is as long as the test wants, with no sleeping and no timing: while it
is held, the other members of the room get the message, and the sender gets neither its echo
(echo-message) nor its labelled ACK, nor anything after them; once it is let go, both arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub import engines
from hubbub.app import App
from hubbub.engines.server import EngineServer
from hubbub.history.store import HistoryStore
from support.config import server_config
from support.irc_client import IrcClient, clients
from support.servers import ThreadedServer
from support.waiting import wait_for

ENGINES = ["asyncio", "twisted", *engines.RUNNERS]

#: Seconds a held commit waits at most (a failing test must not hang the run).
GATE_LIMIT = 30.0
#: Seconds the sender's socket is watched for a line that must not come while the commit is
#: held. Without the fix the echo is on the socket before the other member has read the
#: message (it is written in the same flush), so this only bounds how long "nothing" is looked
#: for; it synchronises nothing.
QUIET_WATCH = 0.3


class CommitGatedStore:
    """A history store whose `commit` waits for `gate` (the disk stalls while it is clear);
    `holding` is set while a commit waits there."""

    def __init__(self, inner: HistoryStore, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate
        self.holding = threading.Event()

    def commit(self) -> None:
        # On the history thread: the writer stalls here, nobody else.
        if not self.gate.is_set():
            self.holding.set()
            if not self.gate.wait(GATE_LIMIT):
                raise AssertionError("the test never let the commit go")
            self.holding.clear()
        self.inner.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Running:
    """A running server of one engine over a commit-gated SQLite store (open at first)."""

    def __init__(self, engine: str, tmp_path: Path, **sections: dict[str, Any]) -> None:
        self.gate = threading.Event()
        self.gate.set()
        gate = self.gate
        stores: list[CommitGatedStore] = []

        def gated(inner: HistoryStore) -> HistoryStore:
            store = CommitGatedStore(inner, gate)
            stores.append(store)
            return store  # type: ignore[return-value]

        config = server_config(tmp_path / "data", **sections)
        self.engine_server: Any = None
        self.threaded: ThreadedServer | None = None
        if engine in engines.RUNNERS:
            base: type[EngineServer] = engines.server_class_of(engine)

            class GatedServer(base):  # type: ignore[misc, valid-type]
                def open_history_store(self) -> HistoryStore:
                    return gated(super().open_history_store())

            self.engine_server = GatedServer(config)
            self.address = self.engine_server.start()[0]
            self.worker = self.engine_server.worker
        else:
            if engine == "twisted":
                from hubbub.engines.twisted_engine import TwistedApp

                app_base: type[App] = TwistedApp
            else:
                app_base = App

            class GatedApp(app_base):  # type: ignore[misc, valid-type]
                def open_history_store(self) -> HistoryStore:
                    return gated(super().open_history_store())

            self.threaded = ThreadedServer(config, engine=engine, app_class=GatedApp).start()
            self.address = self.threaded.address
            assert self.threaded.app is not None
            self.worker = self.threaded.app.worker
        self.store = stores[0]

    def stop(self) -> None:
        self.gate.set()
        if self.engine_server is not None:
            self.engine_server.stop()
        if self.threaded is not None:
            self.threaded.stop()


@pytest.fixture(params=ENGINES)
def gated_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    engine = request.param
    if engine == "twisted":
        pytest.importorskip("twisted")
    running = Running(engine, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def nothing_arrives(client: IrcClient) -> bytes:
    """What reaches `client`'s socket within QUIET_WATCH seconds (b"" when nothing did)."""
    client.sock.settimeout(QUIET_WATCH)
    try:
        return client.sock.recv(65536)
    except TimeoutError:
        return b""
    finally:
        client.sock.settimeout(client.timeout)


def test_the_echo_and_the_ack_wait_for_the_commit(gated_server: Running) -> None:
    """While the commit of a room message and a private message is held, the recipients get
    them, and their senders get no echo, no ACK and nothing after them; once the commit is let
    go, the echo and the labelled ACK arrive, in order, before what followed them."""
    running = gated_server
    alice = IrcClient(running.address)  # echo-message: its echo is the acknowledgement
    carol = IrcClient(running.address)  # labeled-response only (to bob): a labelled ACK
    bob = IrcClient(running.address)
    with clients(alice, carol, bob):
        alice.register("alice", ["echo-message"])
        carol.register("carol", ["labeled-response"])
        bob.register("bob")
        alice.join("#durable")
        bob.join("#durable")
        alice.fence()
        carol.fence()
        bob.fence()
        worker = running.worker
        wait_for(lambda: worker.pending == 0, 10, "the writer to have committed everything")

        running.gate.clear()
        alice.send("PRIVMSG #durable :kept before seen", "PING :after-echo")
        carol.send("@label=c1 PRIVMSG bob :kept too", "PING :after-ack")
        texts = {"kept before seen", "kept too"}  # (two senders: in either order)
        seen: set[str] = set()
        bob.until(lambda x: x.command == "PRIVMSG" and seen.add(x.text) is None and seen >= texts)
        assert seen == texts
        wait_for(running.store.holding.is_set, 10, "the writer to hold a commit")
        wait_for(lambda: worker.pending == 2, 10, "both records to be taken")
        assert nothing_arrives(alice) == b""
        assert nothing_arrives(carol) == b""
        assert worker.committed < worker.accepted  # still held: nothing was acknowledged

        running.gate.set()
        echo = alice.until(lambda x: x.command == "PONG", what="the echo, then the PONG")
        assert [x.command for x in echo] == ["PRIVMSG", "PONG"]
        assert echo[0].text == "kept before seen"
        ack = carol.until(lambda x: x.command == "PONG", what="the ACK, then the PONG")
        assert [x.command for x in ack] == ["ACK", "PONG"]
        assert ack[0].tags.get("label") == "c1"
        assert worker.committed == worker.accepted


def test_redact_and_edit_answers_wait_for_the_commit(gated_server: Running) -> None:
    """draft/message-redaction and draft/message-edit: the requester's own REDACT and EDIT
    (or the NOTICE a client without the capability gets) are its acknowledgement, so they
    wait, with all that follows, until the deletion or change is committed; the room's other
    members get the change at once."""
    running = gated_server
    caps = ["message-tags", "echo-message", "draft/message-redaction", "draft/message-edit"]
    alice = IrcClient(running.address)
    bob = IrcClient(running.address)
    with clients(alice, bob):
        alice.register("alice", caps)
        bob.register("bob", caps)
        alice.join("#durable")
        bob.join("#durable")
        alice.say("#durable", "helo", "oops")
        echoes = alice.until(lambda x: x.command == "PRIVMSG" and x.text == "oops")
        first, second = (x.tags["msgid"] for x in echoes if x.command == "PRIVMSG")
        bob.fence()
        worker = running.worker
        for command, line in (
            ("EDIT", f"EDIT #durable {first} :hello"),
            ("REDACT", f"REDACT #durable {second} :typo"),
        ):
            wait_for(lambda: worker.pending == 0, 10, "the writer to have committed everything")
            running.gate.clear()
            alice.send(line, "PING :after-answer")
            assert bob.first(lambda x, c=command: x.command == c).nick == "alice"
            wait_for(running.store.holding.is_set, 10, "the writer to hold a commit")
            assert nothing_arrives(alice) == b""
            running.gate.set()
            answer = alice.until(lambda x: x.command == "PONG", what="the answer, then the PONG")
            assert [x.command for x in answer] == [command, "PONG"]


def test_a_sender_without_acknowledgement_is_not_held(gated_server: Running) -> None:
    """A client that asked for neither echo-message nor a label is acknowledged nothing, so
    nothing of its output waits for the disk: its PONG comes while the commit is held."""
    running = gated_server
    dave = IrcClient(running.address)
    bob = IrcClient(running.address)
    with clients(dave, bob):
        dave.register("dave")
        bob.register("bob")
        dave.join("#durable")
        bob.join("#durable")
        dave.fence()
        running.gate.clear()
        dave.send("PRIVMSG #durable :not acknowledged")
        assert bob.first(lambda x: x.command == "PRIVMSG" and x.text == "not acknowledged")
        wait_for(running.store.holding.is_set, 10, "the writer to hold a commit")
        assert dave.fence() == []
        running.gate.set()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_sender_waiting_for_the_disk_is_not_timed_out(engine: str, tmp_path: Path) -> None:
    """The PING timeout does not count the time a sender's acknowledgement waits for a commit:
    the server is behind, not the client. A client registered after the sender was held, and
    silent, is timed out meanwhile (so the sweep has run past the sender's timeout too); the
    sender then gets its echo once the commit is let go, still connected."""
    if engine == "twisted":
        pytest.importorskip("twisted")
    timeouts = {"ping_interval": 0.5, "ping_timeout": 0.5}
    running = Running(engine, tmp_path, timeouts=timeouts)
    try:
        alice = IrcClient(running.address)
        idle = IrcClient(running.address)
        with clients(alice, idle):
            alice.register("alice", ["echo-message"])
            alice.join("#durable")
            alice.fence()
            wait_for(lambda: running.worker.pending == 0, 10, "everything committed")
            running.gate.clear()
            alice.send("PRIVMSG #durable :waits for the disk")
            wait_for(running.store.holding.is_set, 10, "the writer to hold a commit")
            idle.register("idle")
            # Read the silent client's socket without answering its PINGs, until it is closed.
            received = b""
            idle.sock.settimeout(GATE_LIMIT)
            while chunk := idle.sock.recv(4096):
                received += chunk
            assert b"Ping timeout" in received, received
            running.gate.set()
            echo = alice.first(lambda x: x.command == "PRIVMSG", what="the echo")
            assert echo.text == "waits for the disk"
            alice.fence()  # still connected
    finally:
        running.stop()
