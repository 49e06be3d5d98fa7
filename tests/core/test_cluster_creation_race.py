"""Two users create one room at the same instant on two nodes (hubbub.core.cluster_propose,
hubbub.core.cluster_apply, the bus's creation-only state fields): each node found the room
empty when it opened it, so each sends a creating JOIN; the first sequenced creates the room,
the second joins it.

Modern IRC, JOIN: "If a client JOIN s a channel which doesn't exist, it will be created and
the creating user will become a channel operator." Only one JOIN can find the room missing:
the other user joins an existing channel, as a plain member, on every node alike.
"""

from __future__ import annotations

import json

from core_helpers import Client, one
from test_cluster_core import Cluster

from hubbub.core.cluster_fields import standing_field


def names_on(client: Client, room: str) -> set[str]:
    client.lines()
    client.send(f"NAMES {room}")
    return set(one(client.lines(), "353").params[-1].split())


def answer_node(cluster: Cluster, node: str) -> None:
    """The bus answers the calls `node` made so far (the others' stay held)."""
    bus = cluster.bus
    while calls := [run for run in bus.waiting if bus.callers.get(run) == node]:
        for run in calls:
            bus.waiting.remove(run)
            bus.answer(run)


def created_at_once(cluster: Cluster, room: str, *joiners: Client) -> None:
    """Each joiner's node opens `room` (empty), then their JOINs go to the bus together."""
    bus = cluster.bus
    bus.held = True
    for joiner in joiners:
        joiner.send(f"JOIN {room}")
    opens, bus.waiting = bus.waiting, []
    for run in opens:  # both nodes see the room empty; the JOINs they send now are held
        bus.answer(run)
    assert len(bus.waiting) == len(joiners)
    bus.release()
    cluster.drain()


def test_of_two_joins_creating_one_room_at_once_only_the_first_sequenced_is_opped() -> None:
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    created_at_once(cluster, "#new", alice, bob)
    # alice's JOIN was sequenced first: she created the room; bob joined it.
    assert names_on(alice, "#new") == {"@alice", "bob"}
    assert names_on(bob, "#new") == {"@alice", "bob"}
    # The room's state fields say the same, so a node opening the room later agrees.
    fields = cluster.bus.fields["#new"]
    assert fields[standing_field("alice")] == "o" and fields[standing_field("bob")] == ""
    assert json.loads(fields["room"])["name"] == "#new"
    carol = c.client("carol")
    carol.send("JOIN #new")
    assert names_on(carol, "#new") == {"@alice", "bob", "carol"}
    # bob cannot act as an operator anywhere.
    bob.send("MODE #new +m")
    assert "482" in bob.numerics()


def test_the_second_creating_join_keeps_the_first_ones_spelling_and_topic() -> None:
    """The room's name is the creator's spelling; what the creator set a moment after is not
    reset by the other JOIN, which only joins."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    bus = cluster.bus
    bus.held = True
    alice.send("JOIN #Both")
    bob.send("JOIN #BOTH")
    opens, bus.waiting = bus.waiting, []
    for run in opens:
        bus.answer(run)
    alice_join, bob_join = bus.waiting
    bus.waiting = [alice_join]
    bus.release()  # alice's JOIN alone: she created the room
    cluster.drain()
    alice.send("TOPIC #Both :set by the creator")
    bus.waiting.append(bob_join)
    bus.release()
    cluster.drain()
    fields = bus.fields["#both"]
    assert json.loads(fields["room"])["name"] == "#Both"
    assert json.loads(fields["topic"])["text"] == "set by the creator"
    bob.lines()
    bob.send("TOPIC #BOTH")
    assert one(bob.lines(), "332").params[-1] == "set by the creator"
    assert names_on(bob, "#both") == {"@alice", "bob"}


def test_a_room_emptied_before_a_creating_join_is_created_afresh_on_every_node() -> None:
    """alice's node found #new empty and sent a creating JOIN; before it was sequenced, bob
    created #new, gave it a topic, a limit and an invitation, and left: alice's JOIN creates a
    new room (on one server the emptied room is gone). Her node, which followed bob's room
    meanwhile, has none of its topic, modes or invitations, like the state fields a node
    opening the room later reads (a fuzz finding: the limit stayed on alice's node only)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, bob, carol = a.client("alice"), b.client("bob"), c.client("carol")
    bus = cluster.bus
    bus.held = True
    alice.send("JOIN #new")
    opening, bus.waiting = bus.waiting, []
    bus.answer(opening[0])  # node a opens the empty room; its creating JOIN waits
    for line in ("JOIN #new", "TOPIC #new :bob's", "MODE #new +il 5", "INVITE carol #new"):
        bob.send(line)
        answer_node(cluster, "n1")
    bob.send("PART #new")
    answer_node(cluster, "n1")
    bus.release()
    got = alice.lines()
    assert not [m for m in got if m.command == "332"]  # no topic
    room = a.server.find_channel("#new")
    assert room is not None and {user.nick for user in room.members} == {"alice"}
    assert (room.topic, room.limit, room.invite_only, room.invited) == (None, 0, False, set())
    assert not any(name.startswith(("mode:", "i:", "topic")) for name in bus.fields["#new"])
    carol.send("JOIN #new")  # not invite-only any more; carol's invitation was to bob's room
    got = carol.lines()
    assert not [m for m in got if m.command in ("332", "473")]
    assert set(one(got, "353").params[-1].split()) == {"@alice", "carol"}


def test_a_join_of_a_room_its_last_member_just_left_creates_it_anew() -> None:
    """bob (node b) made #keyed with a key and a topic; alice (node a, in it too) left, and her
    node still knew bob there when carol (node a too) joined with the key; bob's PART was
    sequenced before carol's JOIN. On one server bob's PART ends the room and carol's JOIN
    creates a new one: she is its operator, with no key and no topic, on every node and in
    the state fields a node opening the room later reads (a fuzz finding: node a kept the key
    and carol unopped; a node that opened the room after it emptied made it anew)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, carol = a.client("alice"), a.client("carol")
    bob, dave = b.client("bob"), c.client("dave")
    for line in ("JOIN #keyed", "MODE #keyed +k secret", "TOPIC #keyed :bob's"):
        bob.send(line)
    alice.send("JOIN #keyed secret")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    bus.lag("n0")
    bob.send("PART #keyed")
    answer_node(cluster, "n1")  # sequenced; node a does not have it yet
    alice.send("PART #keyed")  # node a still follows the room: carol is joining it
    carol.send("JOIN #keyed secret")  # node a lets her in: bob, it believes, is still there
    bus.release()
    bus.catch_up("n0")
    cluster.drain()
    fields = bus.fields["#keyed"]
    assert fields[standing_field("carol")] == "o"
    assert not any(name.startswith(("mode:k", "topic")) for name in fields)
    dave.send("JOIN #keyed")  # node c opens the room now: no key, carol its operator
    got = dave.lines()
    assert not [m for m in got if m.command in ("332", "475")]
    assert set(one(got, "353").params[-1].split()) == {"@carol", "dave"}
    room = a.server.find_channel("#keyed")
    assert room is not None and (room.key, room.topic) == ("", None)
    assert names_on(carol, "#keyed") == {"@carol", "dave"}


def test_a_second_join_while_the_creating_one_is_on_its_way_does_not_read_ahead() -> None:
    """dave's node found #new empty and sent his creating JOIN; before it came back (the node
    slow to get the room's events), alice joined from node a and carol from dave's node.
    carol's JOIN does not read the room's state again (ahead of the events her node has
    applied, it would list alice before dave's creation): dave is the room's operator on
    every node (a fuzz finding: he was a plain member on his own node)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, dave, carol = a.client("alice"), b.client("dave"), b.client("carol")
    bus = cluster.bus
    bus.lag("n1")
    dave.send("JOIN #new")
    alice.send("JOIN #new")
    carol.send("JOIN #new")
    bus.catch_up("n1")
    expected = {"dave": True, "alice": False, "carol": False}
    for node in (a, b):
        room = node.server.channels["#new"]
        assert {user.nick: m.op for user, m in room.members.items()} == expected
    assert names_on(carol, "#new") == {"@dave", "alice", "carol"}
