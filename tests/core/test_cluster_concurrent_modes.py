"""Mode changes sequenced at the same instant on two nodes (hubbub.core.cluster_fields: one
state field per flag, parameter and list entry). Each node changed its own copy of the room
when it sent its MODE; the rooms apply both in sequence order, and so must the state fields a
node opening the room later loads.

Issue 14: "modes, topics, bans ... act network-wide".
"""

from __future__ import annotations

from core_helpers import Client
from test_cluster_core import Cluster


def two_operators(cluster: Cluster) -> tuple[Client, Client]:
    """alice (node a) and carol (node b), both operators of #room."""
    a, b = cluster.nodes[:2]
    alice, carol = a.client("alice"), b.client("carol")
    alice.send("JOIN #room")
    carol.send("JOIN #room")
    alice.send("MODE #room +o carol")
    cluster.drain()
    return alice, carol


def at_once(cluster: Cluster, *sent: tuple[Client, str]) -> None:
    cluster.bus.held = True
    for client, line in sent:
        client.send(line)
    cluster.bus.release()


def opened_later(cluster: Cluster, key: str = "") -> Client:
    """dave, on the third node, which opens #room only now: from the room's state fields."""
    dave = cluster.nodes[2].client("dave")
    dave.send(f"JOIN #room {key}".rstrip())
    dave.lines()
    return dave


def test_two_flags_set_at_once_on_two_nodes_are_both_kept() -> None:
    cluster = Cluster(3)
    alice, carol = two_operators(cluster)
    at_once(cluster, (alice, "MODE #room +s-t"), (carol, "MODE #room +m"))
    dave = opened_later(cluster)
    for node in cluster.nodes:
        channel = node.server.channels["#room"]
        assert channel.secret and channel.moderated and not channel.topic_locked
    dave.send("MODE #room")
    flags = next(m for m in dave.lines() if m.command == "324").params[2]
    assert "s" in flags and "m" in flags and "t" not in flags


def test_bans_set_at_once_on_two_nodes_are_all_kept_and_the_first_setter_wins() -> None:
    """RPL_BANLIST (367) gives each ban's setter: the one sequenced first, everywhere."""
    cluster = Cluster(3)
    alice, carol = two_operators(cluster)
    at_once(
        cluster,
        (alice, "MODE #room +bb one!*@* same!*@*"),
        (carol, "MODE #room +bbk two!*@* same!*@* secret"),
    )
    dave = opened_later(cluster, key="secret")
    dave.send("MODE #room b")
    listed = {m.params[2]: m.params[3] for m in dave.lines() if m.command == "367"}
    assert set(listed) == {"one!*@*", "two!*@*", "same!*@*"}
    assert listed["same!*@*"].startswith("alice!")
    live = {ban.mask: ban.setter for ban in cluster.nodes[0].server.channels["#room"].bans}
    assert live["same!*@*"].startswith("alice!")
    assert cluster.nodes[2].server.channels["#room"].key == "secret"
    # Lifted on one node, then the other's flag: both stay as sequenced.
    at_once(cluster, (carol, "MODE #room -b same!*@*"), (alice, "MODE #room -k secret"))
    late = cluster.nodes[2].client("erin")
    late.send("JOIN #room")  # node c follows the room: from its copy, kept by the events
    for node in cluster.nodes:
        channel = node.server.channels["#room"]
        assert {ban.mask for ban in channel.bans} == {"one!*@*", "two!*@*"} and not channel.key
