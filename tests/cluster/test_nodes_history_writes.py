"""Which node writes a room message to the shared PostgreSQL history (two hubbub nodes on a
real redis-server bus and a real PostgreSQL). hubbub.core.cluster_history.

Issue 14: "history writes are idempotent ... and batched (... or each node for its own events —
say which and why)". The sender's node writes a message; the other node holds it until the
sender's node says it is committed, and writes it itself before a read of its own.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from node_helpers import LEASE_MS, client, running_nodes
from replay_helpers import gated_nodes, said_uncommitted

from support.irc_client import IrcClient, read_batch
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

CAPS = ("batch", "server-time", "message-tags", "draft/chathistory")
#: Seconds until a node that stopped is buried by another (its lease, and then some).
LOST_WITHIN = LEASE_MS / 1000 + 15.0
FUTURE = "timestamp=2100-01-01T00:00:00.000Z"


@contextlib.contextmanager
def stopped_dead(node: ThreadedServer) -> Iterator[None]:
    """`node`'s event loop blocked (no heartbeat, nothing answered: as a node killed, but
    its connections open) until the block ends."""
    frozen = threading.Event()
    assert node.loop is not None
    node.loop.call_soon_threadsafe(frozen.wait, LOST_WITHIN * 2)
    try:
        yield
    finally:
        frozen.set()


def buried(irc: IrcClient, nick: str) -> None:
    """Wait until the burial of `nick`'s node is over, as `irc` (a client of another node)
    sees it: MONITOR says `nick` offline after its QUITs."""
    irc.send(f"MONITOR + {nick}")
    irc.first(lambda line: line.command == "730")
    offline = irc.first(lambda line: line.command == "731", timeout=LOST_WITHIN)
    assert offline.params[1] == nick


def writes_of(node: ThreadedServer) -> Any:
    """The node's `ClusterHistory` (its core's history service)."""
    assert node.app is not None
    return node.app.core.cluster.writes  # type: ignore[attr-defined]


def worker_of(node: ThreadedServer) -> Any:
    assert node.app is not None and node.app.worker is not None
    return node.app.worker


def test_a_room_message_is_inserted_by_its_senders_node_alone(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Five messages from node A's user: node B, told in each next message that the ones
    before are committed, inserts none of them; the store has them once, in order."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        worker_a, worker_b = worker_of(a), worker_of(b)
        appended_by_a, appended_by_b = worker_a.accepted, worker_b.accepted
        texts = [f"message {number}" for number in range(5)]
        for sent, text in enumerate(texts):
            # Each after node A appended and committed the ones before: its watermark then
            # covers them. (Bob may see a message before node A has applied it, so waiting for
            # the commit alone could pass with the message before not yet appended there.)
            wait_for(
                lambda sent=sent: (
                    worker_a.accepted >= appended_by_a + sent
                    and worker_a.committed >= worker_a.accepted
                ),
                10,
                "node A appended and committed the messages before",
            )
            alice.say("#room", text)
            bob.first(lambda line, text=text: line.text == text)
        assert writes_of(b).let_go == 4  # all but the last, which no later message confirmed
        assert worker_b.accepted == appended_by_b  # node B inserted none of them
        alice.send(f"CHATHISTORY BEFORE #room {FUTURE} 10")
        stored = [line.text for line in read_batch(alice)[1] if line.command == "PRIVMSG"]
        assert stored == texts


def test_a_read_on_the_other_node_writes_what_it_holds_first(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Node A's writer holds its commit: bob, on node B, was shown alice's message live, so
    his CHATHISTORY there has it — node B inserts it before reading (its insert waits for A's
    transaction, as PostgreSQL makes a conflicting insert wait, and the answer comes then)."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        wait_for(lambda: not store.holding.is_set(), 10, "node A's writer idle")
        store.gate.clear()
        alice.say("#room", "said while node A's commit waits")
        wait_for(store.holding.is_set, 10, "node A's writer holding its commit")
        bob.first(lambda line: line.text == "said while node A's commit waits")
        assert writes_of(b).written_for_others == 0
        bob.send(f"CHATHISTORY BEFORE #room {FUTURE} 10")
        wait_for(lambda: writes_of(b).written_for_others == 1, 10, "node B writing it")
        store.gate.set()
        stored = [line.text for line in read_batch(bob)[1] if line.command == "PRIVMSG"]
        assert stored == ["said while node A's commit waits"]


def test_a_burial_writes_the_dead_nodes_messages_nobody_held(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Node A stops dead (its event loop frozen, its writer's transaction killed) with two of
    alice's messages in #lobby sequenced and never committed; nobody else is in the room, so
    no node holds them. Node B, burying node A, writes them before its QUIT of alice, and
    waits for their commit: the store has the room's three messages, in order (issue 14: a
    killed node loses "nothing acknowledged"; hubbub.core.cluster_replay `burial_records`)."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        alice.join("#lobby")
        alice.say("#lobby", "one")
        said_uncommitted(alice, store, "#lobby", "two", "three")
        with stopped_dead(a):
            with psycopg.connect(fresh_postgres_url, autocommit=True) as db:
                killed = db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE state = 'idle in transaction' AND backend_xid IS NOT NULL"
                ).fetchall()
            # Node A's writer, the one transaction that wrote and waits: its rows are gone.
            assert killed == [(True,)]
            buried(bob, "alice")
            with psycopg.connect(fresh_postgres_url) as db:
                rows = db.execute(
                    "SELECT params FROM records WHERE target = '#lobby' AND command = 'PRIVMSG'"
                    " ORDER BY seq"
                ).fetchall()
            assert [json.loads(row[0])[1] for row in rows] == ["one", "two", "three"]


def test_a_burial_after_a_rename_leaves_the_renamed_rooms_history_as_it_was(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """alice renamed #old to #new (node A applied it: the store moved the room's records) and
    talked on; node A stops dead. Node B, burying it, asks the store for that rename's move
    again (it does so for a room whose only node may have died before applying a rename:
    hubbub.core.cluster_rename `move_renamed`): the store made it once, so nothing moves, and
    the room's messages are under its new name, in order, none under the old."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, _store),
        client(a, "alice", (*CAPS, "draft/channel-rename")) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        alice.join("#old")
        alice.say("#old", "before")
        alice.send("RENAME #old #new :moving")
        alice.expect("RENAME")
        alice.say("#new", "after")
        alice.fence()
        with stopped_dead(a):
            buried(bob, "alice")
            with psycopg.connect(fresh_postgres_url) as db:
                rows = db.execute(
                    "SELECT target, params FROM records WHERE command = 'PRIVMSG' ORDER BY seq"
                ).fetchall()
            assert [(row[0], json.loads(row[1])[1]) for row in rows] == [
                ("#new", "before"),
                ("#new", "after"),
            ]
