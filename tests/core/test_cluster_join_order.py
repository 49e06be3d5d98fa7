"""A JOIN of several rooms in cluster mode answers in the order the rooms were named, whichever
the bus opens first (hubbub.core.cluster_propose, `_take_turns`), as on one server."""

from __future__ import annotations

from test_cluster_core import Cluster


def test_rooms_of_one_join_answer_in_the_order_named_when_the_second_opens_first() -> None:
    cluster = Cluster()
    a, _ = cluster.nodes
    alice = a.client("alice")
    cluster.bus.held = True
    alice.send("JOIN #one,#two,#three")
    assert len(cluster.bus.waiting) == 3  # the three rooms being opened
    cluster.bus.waiting.reverse()  # the bus answers #three first, #one last
    cluster.bus.release()
    order = [
        (m.command, m.params[0] if m.command == "JOIN" else m.params[1])
        for m in alice.lines()
        if m.command in ("JOIN", "366")
    ]
    assert order == [
        ("JOIN", "#one"),
        ("366", "#one"),
        ("JOIN", "#two"),
        ("366", "#two"),
        ("JOIN", "#three"),
        ("366", "#three"),
    ]
