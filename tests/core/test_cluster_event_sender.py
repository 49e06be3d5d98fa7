"""The sender of a room's event, on a node that applies it late (hubbub.core.cluster_rooms,
`event_sender`): the user with the event's network id, known in that room by the nick it had
then, not whoever holds that nick on this node now. Its fan-out skips only the sender (who is
answered apart), so a local user who took the nick meanwhile still sees the line.

Modern IRC, TOPIC: "If the topic of a channel is changed or cleared, every client in that
channel (including the author of the topic change) will receive a TOPIC command with the new
topic as argument".
"""

from __future__ import annotations

from core_helpers import Client, only
from test_cluster_core import Cluster

from hubbub.protocol.message import Message


def nick_of(message: Message) -> str:
    return str(message.source).partition("!")[0]


def _nick_taken_while_room_lags(cluster: Cluster) -> tuple[Client, Client, Client]:
    """alice (node a, operator of #room) and bob and dave (node b); node b's feed of #room
    is held, so it applies alice's next events there late. The caller sends them, then alice
    becomes alice2 and dave takes "alice": node b applies both NICKs in #other, which it
    follows on time, so it knows dave as "alice" before it applies alice's events in #room."""
    a, b = cluster.nodes
    alice, bob, dave = a.client("alice"), b.client("bob"), b.client("dave")
    alice.send("JOIN #room")
    alice.send("JOIN #other")
    cluster.drain()
    for client in (bob, dave):
        client.send("JOIN #room")
    for client in (bob, dave):
        client.send("JOIN #other")
    cluster.drain()
    for client in (alice, bob, dave):
        client.lines()
    cluster.bus.hold_feed("n1", "#room")
    return alice, bob, dave


def _rename_and_take(cluster: Cluster, alice: Client, dave: Client) -> None:
    alice.send("NICK alice2")
    dave.send("NICK alice")
    renamed = only(dave.lines(), "NICK")  # his own is answered when #room has it too
    assert [(nick_of(m), m.params[0]) for m in renamed] == [("alice", "alice2")]
    assert cluster.nodes[1].server.users["alice"] is dave.user


def test_a_late_topic_reaches_the_user_who_took_its_senders_nick() -> None:
    cluster = Cluster()
    alice, bob, dave = _nick_taken_while_room_lags(cluster)
    alice.send("TOPIC #room :news")
    _rename_and_take(cluster, alice, dave)
    cluster.bus.release_feed("n1", "#room")
    topics = only(dave.lines(), "TOPIC")
    assert [(nick_of(m), m.params) for m in topics] == [("alice", ("#room", "news"))]
    assert [m.params for m in only(bob.lines(), "TOPIC")] == [("#room", "news")]


def test_a_late_mode_and_kick_reach_the_user_who_took_its_senders_nick() -> None:
    cluster = Cluster()
    alice, _bob, dave = _nick_taken_while_room_lags(cluster)
    alice.send("MODE #room +v bob")
    alice.send("KICK #room bob :out")
    _rename_and_take(cluster, alice, dave)
    cluster.bus.release_feed("n1", "#room")
    got = dave.lines()
    assert [m.params for m in only(got, "MODE")] == [("#room", "+v", "bob")]
    assert [m.params for m in only(got, "KICK")] == [("#room", "bob", "out")]
