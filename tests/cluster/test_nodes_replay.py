"""The join replay and CHATHISTORY LATEST on a node that just opened a room (two hubbub nodes
on a real redis-server bus and a real PostgreSQL). hubbub.core.cluster_replay.

Issue 14: the nodes see the same history. A node that opens a room did not apply what was
said there before, which reaches the store through the other nodes' history writers a few
milliseconds later; so the replay is merged with the bus's stream of the room. Here node A's
history writer is held before its commit (a commit-gated store), so the messages it applied
are certainly not in the store when node B's users join: they can only come from the stream.
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import client
from replay_helpers import gated_nodes, said_uncommitted

from support.irc_client import IrcClient, Line, read_batch
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

REPLAY_CAPS = ("batch", "server-time", "message-tags")
HISTORY_CAPS = (*REPLAY_CAPS, "draft/chathistory")


def said(lines: list[Line]) -> list[str]:
    return [line.text for line in lines if line.command == "PRIVMSG"]


def latest(irc: IrcClient, target: str) -> list[Line]:
    irc.send(f"CHATHISTORY LATEST {target} * 20")
    return read_batch(irc)[1]


def test_a_join_replay_on_a_node_that_opens_the_room_has_what_another_node_just_applied(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """IRCv3 chathistory (https://ircv3.net/specs/extensions/chathistory), LATEST: "Request
    the most recent messages that have been sent to a target". Node A applied alice's last
    two messages but its writer has not committed them; bob joins on node B (which opens the
    room then) and is replayed all three, in order, once; carol on node B asks CHATHISTORY
    LATEST and gets the same; what alice says after bob's JOIN reaches him live, once."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", REPLAY_CAPS) as alice,
    ):
        alice.join("#lobby")
        alice.say("#lobby", "one")
        said_uncommitted(alice, store, "#lobby", "two", "three")
        with client(b, "bob", REPLAY_CAPS) as bob, client(b, "carol", HISTORY_CAPS) as carol:
            bob.join("#lobby")
            opening, replay = read_batch(bob)
            assert opening.params[2] == "#lobby"
            replayed = [line for line in replay if line.command == "PRIVMSG"]
            assert [line.text for line in replayed] == ["one", "two", "three"]
            assert all(line.nick == "alice" for line in replayed)
            assert len({line.tags["msgid"] for line in replayed}) == 3
            carol.join("#lobby")
            history = latest(carol, "#lobby")
            assert said(history) == ["one", "two", "three"]
            assert [line.tags["msgid"] for line in history if line.command == "PRIVMSG"] == [
                line.tags["msgid"] for line in replayed
            ]
            store.gate.set()
            alice.say("#lobby", "four")
            assert bob.first(lambda line: line.command == "PRIVMSG").text == "four"
            assert "four" not in said(bob.fence())
            # Once committed, the store alone answers the same.
            assert said(latest(carol, "#lobby")) == ["one", "two", "three", "four"]


def test_chathistory_latest_on_a_node_that_opens_the_room_has_what_another_node_just_applied(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """IRCv3 chathistory, LATEST: "Request the most recent messages that have been sent to a
    target". A client with draft/chathistory gets no join replay and asks for the latest
    messages itself, right after its JOIN opened the room on node B: it gets what node A
    applied and has not committed yet, in order, once."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", REPLAY_CAPS) as alice,
    ):
        alice.join("#lobby")
        store.gate.clear()
        alice.say("#lobby", "one", "two")
        alice.fence()
        wait_for(store.holding.is_set, 10, "node A's writer holding its commit")
        with client(b, "dave", HISTORY_CAPS) as dave:
            dave.join("#lobby")
            history = latest(dave, "#lobby")
            assert said(history) == ["one", "two"]
            assert len({line.tags["msgid"] for line in history}) == 2
