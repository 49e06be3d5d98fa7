"""A multiline message in the join replay and CHATHISTORY LATEST of a node that just opened
the room (two hubbub nodes on a real redis-server bus and a real PostgreSQL).
hubbub.core.cluster_replay, hubbub.core.cluster_multiline.

Node A's history writer is held before its commit (a commit-gated store), so the multiline
message it applied is certainly not in the store when node B's users join: it can only come
from the bus's stream of the room, and must come as the store would give it (one message: a
draft/multiline batch for a client with the capability, its lines for the others).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from multiline_helpers import multiline_batch, replayed_messages, send_batch
from node_helpers import client
from replay_helpers import gated_nodes

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

SENDER = ("draft/multiline", "batch", "message-tags", "server-time", "echo-message")
MULTILINE = ("draft/multiline", "batch", "message-tags", "server-time")
FALLBACK = ("batch", "message-tags", "server-time")
HISTORY = (*MULTILINE, "draft/chathistory")
#: The PRIVMSG lines of the history batch, the multiline batch's included.
EVERY_LINE = ["before", "first", "", "second"]


def history_batch(irc: IrcClient) -> list[Line]:
    """Every line up to the end of the next chathistory batch (nested batches included)."""
    lines = irc.until(lambda x: x.command == "BATCH" and x.params[1:2] == ["chathistory"])
    ref = lines[-1].params[0][1:]
    return lines + irc.until(lambda x: x.command == "BATCH" and x.params[:1] == ["-" + ref])


def test_a_join_replay_on_a_node_that_opens_the_room_has_a_multiline_message_not_committed(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/multiline (https://ircv3.net/specs/extensions/multiline): "When delivering
    multiline batches to clients that have not negotiated the multiline capability, servers
    MUST deliver the component messages without using a multiline BATCH" and "Servers MUST
    only include a message ID on the first message of a batch when sending a fallback to
    non-supporting clients". Node A applied alice's multiline message, its writer has not
    committed it; bob (multiline) and carol (no multiline) join on node B, which opens the room
    then: bob's replay has the batch with its msgid, carol's its lines, the msgid on the first;
    dave on node B gets the same batch from CHATHISTORY LATEST."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", SENDER) as alice,
    ):
        alice.join("#lobby")
        alice.say("#lobby", "before")
        alice.fence()
        wait_for(lambda: not store.holding.is_set(), 10, "node A's writer idle")
        store.gate.clear()
        send_batch(alice, "#lobby", "first", "", "second")
        msgid = multiline_batch(alice)[0].tags["msgid"]
        wait_for(store.holding.is_set, 10, "node A's writer holding its commit")
        with (
            client(b, "bob", MULTILINE) as bob,
            client(b, "carol", FALLBACK) as carol,
            client(b, "dave", HISTORY) as dave,
        ):
            bob.send("JOIN #lobby")
            replay = history_batch(bob)
            assert [x.text for x in replay if x.command == "PRIVMSG"] == EVERY_LINE
            assert replayed_messages(replay) == [(msgid, ["first", "", "second"])]
            carol.send("JOIN #lobby")
            replay = history_batch(carol)
            fallback = [x for x in replay if x.command == "PRIVMSG"]
            assert [x.text for x in fallback] == ["before", "first", "second"]
            assert [x.tags.get("msgid") for x in fallback][1:] == [msgid, None]
            dave.join("#lobby")
            dave.send("CHATHISTORY LATEST #lobby * 20")
            latest = history_batch(dave)
            assert replayed_messages(latest) == [(msgid, ["first", "", "second"])]
            assert [x.text for x in latest if x.command == "PRIVMSG"] == EVERY_LINE
            store.gate.set()

            def committed() -> bool:
                with psycopg.connect(fresh_postgres_url) as db:
                    query = "SELECT count(*) FROM records WHERE msgid = %s"
                    row = db.execute(query, (msgid,)).fetchone()
                return row is not None and row[0] == 1

            # Once the store has it too (node A's writer committed it), it is still there once.
            wait_for(committed, 10, "the message committed")
            dave.send("CHATHISTORY LATEST #lobby * 20")
            assert replayed_messages(history_batch(dave)) == [(msgid, ["first", "", "second"])]
