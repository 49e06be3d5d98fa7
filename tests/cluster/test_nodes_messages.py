"""Message state network-wide: REDACT, EDIT and read markers across two hubbub nodes (a real
redis-server bus, a real PostgreSQL). hubbub.core.cluster_messages.

Issue 14: the nodes are one network; a message deleted or changed on one node is deleted or
changed for the members of every node and in the history every node reads.
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import client, running_nodes

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

PASSWORD = "correct-horse-battery"
FAST_HASHING = {"hash_time_cost": 1, "hash_memory_kib": 64}
CAPS = (
    "batch",
    "server-time",
    "message-tags",
    "echo-message",
    "draft/chathistory",
    "draft/message-redaction",
    "draft/message-edit",
)


def history(irc: IrcClient, target: str) -> list[tuple[str, str]]:
    """CHATHISTORY LATEST: (msgid, text) of each PRIVMSG, oldest first."""
    irc.send(f"CHATHISTORY LATEST {target} * 20")
    batch = irc.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
    return [(line.tags["msgid"], line.text) for line in batch if line.command == "PRIVMSG"]


def said(irc: IrcClient, text: str) -> Line:
    return irc.first(lambda line: line.command == "PRIVMSG" and line.text == text)


def test_a_redact_on_one_node_deletes_the_message_on_every_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/message-redaction (https://ircv3.net/specs/extensions/message-redaction): "If the
    client is authorised to delete the message, the server: SHOULD forward this REDACT, with an
    appropriate prefix, to the target recipients that have negotiated the
    draft/message-redaction capability, in the same way as PRIVMSG messages." Here the
    recipients are on both nodes, and the message leaves the history every node reads."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
        client(b, "carol", CAPS) as carol,
    ):
        for irc in (alice, bob, carol):
            irc.join("#lobby")
        alice.fence()
        bob.fence()
        bob.say("#lobby", "keep me", "oops")
        msgid = said(bob, "oops").tags["msgid"]
        said(alice, "oops")
        said(carol, "oops")
        bob.send(f"REDACT #lobby {msgid} :typo")
        echo = bob.first(lambda line: line.command == "REDACT")
        assert echo.params == ["#lobby", msgid, "typo"]
        for other in (alice, carol):
            got = other.first(lambda line: line.command == "REDACT")
            assert got.params == ["#lobby", msgid, "typo"] and got.nick == "bob"
            assert got.tags["msgid"] == echo.tags["msgid"]  # one event, the same everywhere
        # Gone from the history every node reads (each node deleted it after its own write).
        assert [text for _, text in history(alice, "#lobby")] == ["keep me"]
        assert [text for _, text in history(bob, "#lobby")] == ["keep me"]


def test_an_edit_on_one_node_reaches_every_node_and_its_history(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/message-edit (the open proposal, ircv3-specifications PR 425): "If the client is
    authorised to edit the message, the server MUST forward this `EDIT` to the target
    recipients with an appropriate source." Here they are on both nodes; hubbub sends members
    without the capability a correction line."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(a, "plain") as plain,
        client(b, "bob", CAPS) as bob,
    ):
        for irc in (alice, plain, bob):
            irc.join("#lobby")
        alice.fence()
        plain.fence()
        bob.say("#lobby", "helo")
        msgid = said(bob, "helo").tags["msgid"]
        said(alice, "helo")
        said(plain, "helo")
        bob.send(f"EDIT #lobby {msgid} :hello")
        echo = bob.first(lambda line: line.command == "EDIT")
        assert echo.tags["draft/target-msgid"] == msgid
        got = alice.first(lambda line: line.command == "EDIT")
        assert got.nick == "bob" and got.params == ["#lobby"]
        assert got.tags["draft/target-msgid"] == msgid and got.tags["draft/edit-text"] == "hello"
        assert got.tags["msgid"] == echo.tags["msgid"]
        assert said(plain, "* correction: hello").nick == "bob"
        # Stored once (by bob's node), read the same on both.
        for irc in (bob, alice):
            wait_for(
                lambda irc=irc: history(irc, "#lobby") == [(msgid, "hello")],
                what="the edited text in the history",
            )


def test_a_read_marker_reaches_the_accounts_connections_on_other_nodes(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/read-marker (https://ircv3.net/specs/extensions/read-marker): "after the last read
    timestamp of a target changes, the server SHOULD send a `MARKREAD` command for that target
    to all the clients of the user". Here the user's clients are on two nodes."""
    caps = ("draft/read-marker", "server-time")
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=FAST_HASHING) as (a, b),
        client(a, "alice", caps) as here,
        client(b, "alice_b", caps) as there,
    ):
        here.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
        here.expect("900")
        there.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
        there.expect("900")
        stamp = "timestamp=2026-01-01T00:00:00.000Z"
        here.send(f"MARKREAD #lobby {stamp}")
        assert here.first(lambda line: line.command == "MARKREAD").params == ["#lobby", stamp]
        got = there.first(lambda line: line.command == "MARKREAD")
        assert got.params == ["#lobby", stamp]
        # and the node it was set on answers the same when asked
        there.send("MARKREAD #lobby")
        assert there.first(lambda line: line.command == "MARKREAD").params == ["#lobby", stamp]


def test_redact_and_edit_of_a_private_message_reach_the_other_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/message-redaction: the server "SHOULD forward this REDACT ... to the target
    recipients that have negotiated the draft/message-redaction capability, in the same way as
    PRIVMSG messages" — a private message's recipient on another node, who shares no room
    with the sender, included; and the same for an EDIT."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        bob.say("alice", "oops", "helo")
        oops = said(bob, "oops").tags["msgid"]
        helo = said(bob, "helo").tags["msgid"]
        said(alice, "helo")
        bob.send(f"REDACT alice {oops}")
        bob.first(lambda line: line.command == "REDACT")
        got = alice.first(lambda line: line.command == "REDACT")
        assert got.nick == "bob" and got.params == ["alice", oops]
        bob.send(f"EDIT alice {helo} :hello")
        echo = bob.first(lambda line: line.command == "EDIT")
        got = alice.first(lambda line: line.command == "EDIT")
        assert got.nick == "bob" and got.tags["draft/edit-text"] == "hello"
        assert got.tags["msgid"] == echo.tags["msgid"]  # the stored edit's msgid, on both
        wait_for(lambda: history(alice, "bob") == [(helo, "hello")], what="alice's history")
