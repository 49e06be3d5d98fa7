"""METADATA network-wide: users' and rooms' metadata across two hubbub nodes (a real
redis-server bus, a real PostgreSQL). hubbub.core.cluster_messages.

IRCv3 metadata (https://ircv3.net/specs/extensions/metadata): "When a user's metadata is
updated, all users sharing a channel with that user ... will receive a `METADATA` message" —
also those on another node, who also read the same values with `METADATA GET`.
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import client, running_nodes

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

CAPS = ("draft/metadata-2", "batch", "message-tags")


def subscribe(irc: IrcClient, *keys: str) -> None:
    irc.send("METADATA * SUB " + " ".join(keys))
    irc.expect("770")


def updates(lines: list[Line]) -> list[list[str]]:
    return [line.params for line in lines if line.command == "METADATA"]


def get(irc: IrcClient, target: str, key: str) -> str | None:
    """The value `METADATA <target> GET <key>` answers (None: not set)."""
    irc.send(f"METADATA {target} GET {key}")
    lines = irc.fence()
    for line in lines:
        if line.command == "761":
            return line.params[-1]
    return None


def test_a_users_metadata_reaches_the_nodes_sharing_a_room(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """ "When a user's metadata is updated, all users sharing a channel with that user ... will
    receive a `METADATA` message" (for the keys they subscribed to)."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        subscribe(bob, "avatar")
        alice.join("#lobby")
        bob.join("#lobby")
        bob.fence()
        alice.send("METADATA * SET avatar :https://a/1.png")
        alice.expect("761")
        got = bob.until(lambda line: line.command == "METADATA", what="alice's avatar")
        assert updates(got) == [["alice", "avatar", "*", "https://a/1.png"]]
        assert get(bob, "alice", "avatar") == "https://a/1.png"
        # A node that opens the room afresh reads it from alice's member field.
        bob.send("PART #lobby")
        bob.fence()
        bob.join("#lobby")
        assert get(bob, "alice", "avatar") == "https://a/1.png"
        # Removed: gone there too.
        alice.send("METADATA * SET avatar")
        alice.expect("761")
        got = bob.until(lambda line: line.command == "METADATA", what="alice's avatar removed")
        assert updates(got) == [["alice", "avatar", "*"]]
        assert get(bob, "alice", "avatar") is None


def test_a_newcomer_from_another_node_brings_its_metadata(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """ "On joining a channel, users will get the channel's current metadata ... and get the
    same information for all users who are in the channel" — and the members get the
    newcomer's, on every node."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        subscribe(bob, "avatar")
        bob.join("#room")
        alice.send("METADATA * SET avatar :https://a/1.png")
        alice.expect("761")
        alice.join("#room")
        got = bob.until(lambda line: line.command == "METADATA", what="the newcomer's avatar")
        assert updates(got) == [["alice", "avatar", "*", "https://a/1.png"]]


def test_a_rooms_metadata_set_on_either_node_is_the_same_on_both(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Room metadata, set by operators on two nodes: both keys end up everywhere, and the
    subscribed members of each node hear the other's change."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        subscribe(alice, "color", "homepage")
        subscribe(bob, "color", "homepage")
        alice.join("#lobby")
        bob.join("#lobby")
        # (Node A has his JOIN: else it has nobody of that nick there to op, 441.)
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        alice.send("MODE #lobby +o bob")
        bob.first(lambda line: line.command == "MODE")
        alice.send("METADATA #lobby SET color :teal")
        bob.send("METADATA #lobby SET homepage :https://lobby.example")
        heard = bob.until(lambda line: line.command == "METADATA", what="alice's color")
        assert ["#lobby", "color", "*", "teal"] in updates(heard)
        heard = alice.until(lambda line: line.command == "METADATA", what="bob's homepage")
        assert ["#lobby", "homepage", "*", "https://lobby.example"] in updates(heard)
        for irc in (alice, bob):
            wait_for(lambda irc=irc: get(irc, "#lobby", "color") == "teal", what="color")
            wait_for(
                lambda irc=irc: get(irc, "#lobby", "homepage") == "https://lobby.example",
                what="homepage",
            )
