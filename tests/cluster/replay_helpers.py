"""Helpers of the cluster tests that hold a node's history writer: node A's store commits
only when the test lets it (its rows written, not committed), so what another node reads from
the store certainly lacks them (hubbub.core.cluster_replay, acknowledgements after commit)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from node_helpers import node_config

from hubbub.app import App
from hubbub.history.store import HistoryStore
from support.irc_client import IrcClient
from support.servers import ThreadedServer
from support.waiting import wait_for

#: Seconds a held commit waits at most (a failing test must not hang the run).
GATE_LIMIT = 30.0


class CommitGatedStore:
    """A history store whose `commit` waits for `gate` (the writer stalls while it is clear,
    its rows written but not committed); `holding` is set while a commit waits there."""

    def __init__(self, inner: HistoryStore, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate
        self.holding = threading.Event()

    def commit(self) -> None:
        if not self.gate.is_set():  # on the history thread: the writer stalls, nobody else
            self.holding.set()
            if not self.gate.wait(GATE_LIMIT):
                raise AssertionError("the test never let the commit go")
            self.holding.clear()
        self.inner.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextlib.contextmanager
def gated_nodes(
    tmp_path: Path, redis_url: str, store_url: str
) -> Iterator[tuple[ThreadedServer, ThreadedServer, CommitGatedStore]]:
    """Node A (its store's commits gated, open at first) and node B, of one network."""
    gate = threading.Event()
    gate.set()
    stores: list[CommitGatedStore] = []

    class GatedApp(App):
        def open_history_store(self) -> HistoryStore:
            store = CommitGatedStore(super().open_history_store(), gate)
            stores.append(store)
            return store  # type: ignore[return-value]

    config_a = node_config(tmp_path / "a", redis_url, store_url, "node-a")
    config_b = node_config(tmp_path / "b", redis_url, store_url, "node-b")
    with ThreadedServer(config_a, app_class=GatedApp) as a, ThreadedServer(config_b) as b:
        try:
            yield a, b, stores[0]
        finally:
            gate.set()  # before the nodes stop: a held writer would not let A stop


def said_uncommitted(irc: IrcClient, store: CommitGatedStore, room: str, *texts: str) -> None:
    """`irc` (a client of node A) says `texts` in `room` once what it said before is committed,
    and node A's writer then holds its commit: their rows written, not committed."""
    irc.fence()
    wait_for(lambda: not store.holding.is_set(), 10, "node A's writer idle")
    store.gate.clear()
    irc.say(room, *texts)
    irc.fence()
    wait_for(store.holding.is_set, 10, "node A's writer holding its commit")
