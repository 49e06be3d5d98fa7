"""ChanServ SET HISTORY of a room in cluster mode (hubbub.core.chanserv, cluster_propose,
cluster_apply): sequenced in the room, so every node's copy has it (and so does a node that
opens the room later, from the room's state field); it was set on the setter's node only."""

from __future__ import annotations

from test_cluster_core import Cluster, Node

SET = "PRIVMSG ChanServ :SET #room HISTORY since_join"


def test_set_history_acts_on_every_node_and_on_a_node_that_opens_the_room_later() -> None:
    """Who may read a room's history is the room's, not one node's: bob's node and a node that
    opens the room afterwards apply `since_join` too, so a newcomer there is not replayed what
    was said before it joined."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #room")
    bob.send("JOIN #room")
    cluster.drain()
    alice.send("PRIVMSG #room :said before")
    cluster.drain()
    alice.send(SET)
    answer = [m.params[-1] for m in alice.lines() if m.command == "NOTICE"]
    assert answer == ["History access of #room is now since_join"]
    told = [m for m in bob.lines() if m.command == "NOTICE" and m.params[0] == "#room"]
    assert len(told) == 1 and told[0].params[-1].endswith("history: since_join")
    assert told[0].nick == "ChanServ"
    assert b.channel("#room").history_access == "since_join"
    late = Node(cluster, "n9")
    cluster.nodes.append(late)
    dave = late.client("dave")
    dave.send("JOIN #room")
    assert late.channel("#room").history_access == "since_join"
    assert not [m for m in dave.lines() if m.command == "PRIVMSG"]  # nothing from before


def test_set_history_refused_by_the_bus_changes_nothing() -> None:
    cluster = Cluster()
    a = cluster.nodes[0]
    alice = a.client("alice")
    alice.send("JOIN #room")
    cluster.drain()
    alice.lines()
    cluster.bus.available = False
    alice.send(SET)
    answer = [m.params[-1] for m in alice.lines() if m.command == "NOTICE"]
    assert answer == ["Channel settings are temporarily unavailable; try again"]
    assert a.channel("#room").history_access == ""
