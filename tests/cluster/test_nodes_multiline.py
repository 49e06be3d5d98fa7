"""Multiline messages (draft/multiline) across two hubbub nodes (a real redis-server bus, a
real PostgreSQL). hubbub.core.cluster_multiline.

Issue 14: the nodes are one network. A multiline message is sequenced once, as one event: every
member on every node gets the same batch (one msgid, the sender's lines) or its fallback lines,
and the history every node reads holds it once, replayed as the same batch.
"""

from __future__ import annotations

from pathlib import Path

from multiline_helpers import multiline_batch, replayed_messages, send_batch
from node_helpers import client, running_nodes

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

ML = ("draft/multiline", "batch", "message-tags", "server-time", "echo-message")
PLAIN = ("message-tags", "server-time")
HISTORY = ("draft/chathistory", "batch", "message-tags", "server-time", "draft/multiline")


def history(irc: IrcClient, target: str) -> list[Line]:
    """CHATHISTORY LATEST of `target`: every line of the answer's batch."""
    irc.send(f"CHATHISTORY LATEST {target} * 20")
    return irc.until(
        lambda line: (
            line.command == "BATCH"
            and line.params[0].startswith("-")
            and not line.params[0].startswith("-ml")
        )
    )


def test_a_multiline_message_to_a_room_is_one_message_on_every_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/multiline (https://ircv3.net/specs/extensions/multiline): "When delivering
    multiline batches to clients that have not negotiated the multiline capability, servers
    MUST deliver the component messages without using a multiline BATCH." and "Servers MUST
    only include a message ID on the first message of a batch when sending a fallback to
    non-supporting clients." Here the members are on both nodes: they get the same batch, with
    the same msgid, and CHATHISTORY on either node replays it as that one message."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", ML) as alice,
        client(b, "bob", ML) as bob,
        client(b, "carol", PLAIN) as carol,
        client(a, "dave", PLAIN) as dave,
    ):
        for irc in (alice, bob, carol, dave):
            irc.join("#lobby")  # each JOIN is sequenced in #lobby before the batch below
        send_batch(alice, "#lobby", "hello", "", "how is ", "+everyone?")
        echo = multiline_batch(alice)
        msgid = echo[0].tags["msgid"]
        assert [x.text for x in echo[1:-1]] == ["hello", "", "how is ", "everyone?"]
        got = multiline_batch(bob)
        assert got[0].tags["msgid"] == msgid and got[0].params[1:] == ["draft/multiline", "#lobby"]
        assert got[0].tags["time"] == echo[0].tags["time"]
        assert [x.text for x in got[1:-1]] == ["hello", "", "how is ", "everyone?"]
        assert ["draft/multiline-concat" in x.tags for x in got[1:-1]] == [
            False,
            False,
            False,
            True,
        ]
        for plain in (carol, dave):
            lines = plain.until(lambda x: x.command == "PRIVMSG" and x.text == "everyone?")
            fallback = [x for x in lines if x.command == "PRIVMSG"]
            assert [x.text for x in fallback] == ["hello", "how is ", "everyone?"]
            assert [x.tags.get("msgid") for x in fallback] == [msgid, None, None]
        # The record keeps the message, not its line layout: replay re-splits it at line feeds
        # (hubbub.core.multiline, as on one server).
        expected = [(msgid, ["hello", "", "how is everyone?"])]
        with client(a, "reader_a", HISTORY) as reader_a, client(b, "reader_b", HISTORY) as reader_b:
            for reader in (reader_a, reader_b):
                reader.join("#lobby")
                reader.fence()  # its join replay
                wait_for(
                    lambda reader=reader: replayed_messages(history(reader, "#lobby")) == expected,
                    10,
                    "the message in the history of each node, once",
                )


def test_a_multiline_message_to_a_user_of_another_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/multiline: "Servers MUST deliver the batch ... to the target" whichever node the
    target is on — a user sharing a room with the sender (known to its node) and one sharing
    none (found by its nick's claim) — and the recipient's node stores it for the conversation
    ("The combined message value of a multiline batch is defined as the concatenation of the
    messages from each individual line within the batch")."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", ML) as alice,
        client(b, "bob", ML) as bob,
        client(b, "carol", (*PLAIN, "draft/chathistory", "batch")) as carol,
    ):
        alice.join("#lobby")
        bob.join("#lobby")
        alice.first(lambda x: x.command == "JOIN" and x.source.startswith("bob!"))
        send_batch(alice, "bob", "one", "two")  # known on node a: they share #lobby
        echo = multiline_batch(alice)
        got = multiline_batch(bob)
        assert got[0].params[1:] == ["draft/multiline", "bob"]
        assert got[0].tags["msgid"] == echo[0].tags["msgid"]
        assert [x.text for x in got[1:-1]] == ["one", "two"]
        send_batch(alice, "carol", "three", "+ four", ref="m2")  # carol shares no room
        echo = multiline_batch(alice)
        lines = carol.until(lambda x: x.command == "PRIVMSG" and x.text == " four")
        assert [x.text for x in lines if x.command == "PRIVMSG"] == ["three", " four"]
        stored = history(carol, "alice")
        assert [x.text for x in stored if x.command == "PRIVMSG"] == ["three four"]
        assert [x.tags["msgid"] for x in stored if x.command == "PRIVMSG"] == [
            echo[0].tags["msgid"]
        ]
        send_batch(alice, "nobody", "is", "here", ref="m3")
        assert alice.expect("401")[-1].params[1] == "nobody"
