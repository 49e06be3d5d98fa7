"""A WebSocket sender's acknowledgement waits for its message's commit, like a TCP sender's
(the project rule: never a message acknowledged and then lost): the web listener's shared room
flush, which writes a member's whole outbox, leaves alone an outbox waiting for a commit, so
neither the echo nor a room line after it reaches the sender before the commit, and both come,
in order, after it.

The history store here holds every commit until the test lets it go (no sleeping, no timing)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest
from web_helpers import make_config, split_prefix
from websockets.asyncio.client import ClientConnection, connect

from hubbub.app import App
from hubbub.history.store import HistoryStore
from support.waiting import until

WAIT = 10.0
#: Seconds the sender is watched for a message that must not come while the commit is held
#: (without the hold it is written in the same loop turn as the other member's copy); it only
#: bounds how long "nothing" is looked for.
QUIET_WATCH = 0.3


class CommitGatedStore:
    """A history store whose `commit` waits for `gate`; `holding` is set while one waits."""

    def __init__(self, inner: HistoryStore, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate
        self.holding = threading.Event()

    def commit(self) -> None:
        if not self.gate.is_set():  # on the history thread: the writer stalls, nobody else
            self.holding.set()
            if not self.gate.wait(WAIT * 3):
                raise AssertionError("the test never let the commit go")
            self.holding.clear()
        self.inner.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def text_of(ws: ClientConnection, command: str) -> tuple[str, list[str]]:
    """The next message of `command` (others before it are skipped): its source, params."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await ws.recv()
            text = message if isinstance(message, str) else message.decode()
            source, got, params = split_prefix(text.split(" ", 1)[1] if text[0] == "@" else text)
            if got == command:
                return source, params


async def register(ws: ClientConnection, nick: str, caps: str = "") -> None:
    if caps:
        await ws.send(f"CAP REQ :{caps}")
    await ws.send(f"NICK {nick}")
    await ws.send(f"USER {nick} 0 * :{nick}")
    if caps:
        await ws.send("CAP END")
    await ws.send("JOIN #room")
    await text_of(ws, "366")


@pytest.mark.asyncio
async def test_a_web_senders_echo_and_what_follows_wait_for_the_commit(tmp_path: Path) -> None:
    gate = threading.Event()
    gate.set()
    stores: list[CommitGatedStore] = []

    class GatedApp(App):
        def open_history_store(self) -> HistoryStore:
            store = CommitGatedStore(super().open_history_store(), gate)
            stores.append(store)
            return store  # type: ignore[return-value]

    app = GatedApp(make_config(tmp_path, history={"replay_on_join": 0}), shutdown_grace=0.5)
    await app.start()
    assert app.web is not None and app.worker is not None
    worker = app.worker
    host, port = app.web_addresses[0]
    url = f"ws://{host}:{port}/irc"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(app.stop)
        stack.callback(gate.set)
        alice = await stack.enter_async_context(connect(url))
        bob = await stack.enter_async_context(connect(url))
        await register(alice, "alice", "echo-message")
        await register(bob, "bob")
        await text_of(alice, "JOIN")  # bob's
        await bob.send("PRIVMSG #room :before")  # alice's output is now room fan-out's outbox
        assert (await text_of(alice, "PRIVMSG"))[1] == ["#room", "before"]
        await until(lambda: worker.pending == 0, WAIT, "everything committed")

        gate.clear()
        await alice.send("PRIVMSG #room :held")
        assert (await text_of(bob, "PRIVMSG"))[1] == ["#room", "held"]
        await until(stores[0].holding.is_set, WAIT, "the writer to hold the commit")
        await bob.send("PRIVMSG #room :after")
        await bob.send("PING :fence")
        await text_of(bob, "PONG")  # bob's message went out to the room (to alice's outbox)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(QUIET_WATCH):
                await alice.recv()
        assert worker.committed < worker.accepted

        gate.set()
        echo = await text_of(alice, "PRIVMSG")
        after = await text_of(alice, "PRIVMSG")
        assert (echo[0].split("!")[0], echo[1]) == ("alice", ["#room", "held"])
        assert (after[0].split("!")[0], after[1]) == ("bob", ["#room", "after"])
