"""A room message is checked again in the room's sequence (hubbub.core.cluster_apply): a mute,
ban or +m sequenced just before it refuses it on every node alike, though the sender's node
had not applied that change yet when it let the message go to the bus."""

from __future__ import annotations

from core_helpers import Client
from test_cluster_core import Cluster, texts

ECHO = ["echo-message"]


def room_of_two(cluster: Cluster, caps: list[str] = ECHO) -> tuple[Client, Client]:
    """alice (node a, the room's operator) and bob (node b, with `caps`) in #room."""
    a, b = cluster.nodes[:2]
    alice = a.client("alice", ECHO)
    bob = b.client("bob", caps)
    alice.send("JOIN #room")
    bob.send("JOIN #room")
    cluster.drain()
    alice.lines()
    bob.lines()
    return alice, bob


def raced(cluster: Cluster, alice: Client, change: str, bob: Client, *said: str) -> None:
    """alice's `change` and bob's lines on their way at once, node b's copy of the room not
    changed yet; the bus sequences the change first."""
    cluster.bus.held = True
    alice.send(change)
    for line in said:
        bob.send(line)
    cluster.bus.release()


def test_a_message_sequenced_after_a_mute_is_refused_everywhere_and_never_stored() -> None:
    """EXTBAN m: a muted member "may join but not speak" (Cannot send to channel, 404). The
    mute (node a) and bob's message (node b, whose copy of the room has no mute yet) are on
    their way at once; the bus sequences the mute first."""
    cluster = Cluster()
    alice, bob = room_of_two(cluster)
    raced(cluster, alice, "MODE #room +b m:bob!*@*", bob, "PRIVMSG #room :said under the mute")
    assert "404" in bob.numerics()
    assert "said under the mute" not in texts(alice)
    assert not [line for line in bob.lines() if line.command == "PRIVMSG"]  # no echo either
    stored = [record.params[-1] for record in cluster.store.latest("#room", 10)]
    assert "said under the mute" not in stored
    # Once the mute is lifted the same message goes through.
    alice.send("MODE #room -b m:bob!*@*")
    bob.send("PRIVMSG #room :heard now")
    assert texts(alice) == ["heard now"]


def test_a_message_sequenced_after_plus_m_is_refused_and_voice_lets_it_through() -> None:
    """RFC 2812 3.2.3 / Modern IRC, moderated (+m): "Only users with voice or operator
    privileges may send messages to the channel". The +m is sequenced before bob's message,
    which node b let go by its copy of the room: refused. Voiced, bob speaks again."""
    cluster = Cluster()
    alice, bob = room_of_two(cluster)
    bob.send("PRIVMSG #room :before")
    assert texts(alice) == ["before"]
    raced(cluster, alice, "MODE #room +m", bob, "PRIVMSG #room :after")
    assert "404" in bob.numerics()
    assert texts(alice) == []
    alice.send("MODE #room +v bob")
    bob.send("PRIVMSG #room :voiced")
    assert texts(alice) == ["voiced"]


def test_a_notice_refused_in_sequence_gets_no_reply() -> None:
    """RFC 2812 3.3.2: "automatic replies MUST NEVER be sent in response to a NOTICE"."""
    cluster = Cluster()
    alice, bob = room_of_two(cluster)
    raced(cluster, alice, "MODE #room +m", bob, "NOTICE #room :quietly")
    assert "404" not in bob.numerics()
    assert not [m for m in alice.lines() if m.command == "NOTICE"]


def test_a_node_opening_the_room_later_does_not_replay_a_message_refused_in_sequence() -> None:
    """The refused message stays in the bus's stream; the void its sender's node sequenced
    keeps it out of the join replay a node merges from the stream when it opens the room."""
    cluster = Cluster(3)
    alice, bob = room_of_two(cluster)
    alice.send("PRIVMSG #room :before")
    raced(cluster, alice, "MODE #room +b m:bob!*@*", bob, "PRIVMSG #room :muted")
    assert "404" in bob.numerics()
    carol = cluster.nodes[2].client("carol")
    carol.send("JOIN #room")
    replayed = [m.params[-1] for m in carol.lines() if m.command == "PRIVMSG"]
    assert len(replayed) == 1 and replayed[0].endswith("before")  # "[hh:mm] before"


def test_a_multiline_message_sequenced_after_plus_m_is_refused_whole() -> None:
    """draft/multiline: a batch is one message; sequenced after a +m, none of its lines
    reaches anyone and its sender gets 404, as for a single line."""
    cluster = Cluster()
    alice, bob = room_of_two(cluster, ["batch", "draft/multiline", "echo-message"])
    raced(
        cluster,
        alice,
        "MODE #room +m",
        bob,
        "BATCH +m draft/multiline #room",
        "@batch=m PRIVMSG #room :one",
        "@batch=m PRIVMSG #room :two",
        "BATCH -m",
    )
    assert "404" in bob.numerics()
    assert texts(alice) == []
