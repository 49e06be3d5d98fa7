"""Which of a remote user's nicks is the newer (User.nick_version): a node that applies each
room's events in that room's order can see a user under two nicks, or under one nick twice,
in either order. Her node numbers each change of nick, and her facts and NICK events carry the
number (hubbub.core.cluster_rooms `remote_user`, hubbub.core.cluster_apply `_rename_member`).

Modern IRC, KICK: "If a "comment" is given, this will be sent instead of the default message";
the command names its target by nick, so each node must know, at the KICK's place in the
room's sequence, whom that nick names there.
"""

from __future__ import annotations

from test_cluster_core import Cluster, Node


def members(node: Node, room: str) -> set[str]:
    return {user.nick for user in node.server.channels[room].members}


def test_a_kick_of_a_nick_given_up_in_a_room_opened_later_kicks_nobody() -> None:
    """alice (node a) becomes zed and alice again while node b lags; bob (node b) then joins
    #two, so node b opens #two after both NICKs there, and applies #one's afterwards. carol
    (node c), lagging after the first NICK, kicks zed from #two: on the bus that names nobody.
    Node b kicked alice all the same, by zed, an old name #one's NICKs had left in its copy of
    #two for NICKs it never reads there (found by reading a cluster fuzz finding, seed
    3851328)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, bob, carol = a.client("alice"), b.client("bob"), c.client("carol")
    carol.send("JOIN #two")  # carol creates #two: its operator
    alice.send("JOIN #one,#two")
    bob.send("JOIN #one")
    cluster.drain()
    bus = cluster.bus
    bus.lag("n1")
    alice.send("NICK zed")
    cluster.drain()
    bus.lag("n2")
    alice.send("NICK alice")
    bob.send("JOIN #two")
    carol.send("KICK #two zed :out")  # her copy still has zed there
    bus.catch_up("n1")
    bus.catch_up("n2")
    cluster.drain()
    for node in (a, b, c):
        assert members(node, "#two") == {"alice", "bob", "carol"}, node.network.node_id
    for node in (a, b):
        assert members(node, "#one") == {"alice", "bob"}, node.network.node_id


def test_a_change_of_case_made_where_a_node_was_not_shows_when_it_next_sees_her() -> None:
    """alice (node a) parts #one, her only room, becomes Alice (applied at once: nobody shares
    a room with her) and joins #two, while node b lags. bob (node b) joins #two: node b, which
    still has her in #one (her PART not read yet), opens #two with her facts, where her nick
    is a later one. It shows the change of case at once, as her NICK, rather than the old
    case until her next NICK."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    for client in (alice, bob):
        client.send("JOIN #one")
    cluster.drain()
    bob.lines()
    bus = cluster.bus
    bus.lag("n1")
    alice.send("PART #one")
    alice.send("NICK Alice")
    alice.send("JOIN #two")
    bob.send("JOIN #two")
    got = bob.lines()
    assert [(m.source, m.params) for m in got if m.command == "NICK"] == [
        ("alice!~alice@127.0.0.1", ("Alice",))
    ]
    bus.catch_up("n1")
    cluster.drain()
    for node in (a, b):
        assert members(node, "#two") == {"Alice", "bob"}, node.network.node_id
    assert "#one" not in a.server.channels
    assert members(b, "#one") == {"bob"}
