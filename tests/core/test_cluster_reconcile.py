"""Cluster mode in the core: what Redis lost that some nodes had read and others had not.

Issue 14: "Redis restarted or unreachable: nodes keep their connections, [...] resynchronise
presence and room state when it returns; no split brain." Redis may die with events that a
lagging node has not read yet: a PART, NICK, QUIT or KICK of another node's user, a RENAME.
When each node writes its rooms back (hubbub.core.cluster_resync), a user's own node has the
last word on it: the lagging node's copy, and the bus's fields, end up as the user's node has
them.
"""

from __future__ import annotations

import pytest
from core_helpers import Client, one
from test_cluster_core import Cluster, Node
from test_cluster_resync import back_in_new_epoch, restarted_empty

from hubbub.core.cluster_fields import member_field
from hubbub.core.cluster_rename import CAUGHT_UP_REASON
from hubbub.core.cluster_resync import LOST_DEPARTURE_REASON


def in_a(nicks_a: tuple[str, ...], nicks_b: tuple[str, ...]) -> tuple[Cluster, list[Client]]:
    """Two nodes, the users of each (in that order) in #a; the first of node a joins first."""
    cluster = Cluster()
    a, b = cluster.nodes
    clients = [a.client(nick) for nick in nicks_a] + [b.client(nick) for nick in nicks_b]
    for client in clients:
        client.send("JOIN #a")
    cluster.drain()
    return cluster, clients


def lost_for(
    cluster: Cluster, lagging: int, sender: Client, line: str | tuple[str, ...], first: int = 0
) -> None:
    """`sender` sends `line` (or each of several); Redis restarts empty before node `lagging`
    reads it; both nodes come back in the new epoch, node `first` first. (What clients were
    told before is read.)"""
    node_id = cluster.nodes[lagging].network.node_id
    cluster.bus.lag(node_id)
    for each in (line,) if isinstance(line, str) else line:
        sender.send(each)
    cluster.drain()
    restarted_empty(cluster)
    cluster.bus.backlog[node_id] = []  # what was on its way went with the data
    cluster.bus.catch_up(node_id)
    cluster.drain()
    back_in_new_epoch(cluster, first)
    back_in_new_epoch(cluster, 1 - first)


def names(node: Node, room: str) -> list[str]:
    return sorted(user.nick for user in node.channel(room).members)


@pytest.mark.parametrize("first", [0, 1])
def test_a_part_a_lagging_node_missed_is_undone_there(first: int) -> None:
    """bob parted #a; Redis lost it before node a read it. Node a's copy (and its sync, which
    writes other nodes' members it has) still listed bob, whichever node wrote #a back first:
    bob was in #a for alice and on the bus, and not on his own node. Node b's sync is the last
    word on its users: alice sees bob leave, and the bus lists him no more."""
    cluster, (alice, bob, _dave) = in_a(("alice",), ("bob", "dave"))
    a, b = cluster.nodes
    lost_for(cluster, 0, bob, "PART #a", first)
    part = one(alice.lines(), "PART")
    assert part.source.partition("!")[0] == "bob"
    assert part.params == ("#a", LOST_DEPARTURE_REASON)
    assert names(a, "#a") == names(b, "#a") == ["alice", "dave"]
    assert member_field("bob") not in cluster.bus.fields["#a"]


def test_a_node_that_left_a_room_is_asked_to_say_so_after_redis_lost_its_data() -> None:
    """bob, node b's only user in #a, parted; node a missed it. Node b follows #a no more, so
    no sync of its came: bob stayed in #a on node a and on the bus for good. Node a, its sync
    done, now asks node b (in b's inbox) to speak in #a, and b says none of its users is
    there."""
    cluster, (alice, bob) = in_a(("alice",), ("bob",))
    a, b = cluster.nodes
    lost_for(cluster, 0, bob, "PART #a")
    assert one(alice.lines(), "PART").source.partition("!")[0] == "bob"
    assert names(a, "#a") == ["alice"]
    assert member_field("bob") not in cluster.bus.fields["#a"]
    assert "#a" not in b.server.channels


def renamed_as_b_lags(cluster: Cluster, alice: Client) -> str:
    """alice renames #a to #c; Redis restarts empty before node b, lagging, reads it (and b
    gets nothing more until `catch_up`). Node b's id."""
    node_id = cluster.nodes[1].network.node_id
    cluster.bus.lag(node_id)
    alice.send("RENAME #a #c :moving")
    cluster.drain()
    restarted_empty(cluster)
    cluster.bus.backlog[node_id] = []  # what was on its way went with the data
    return node_id


@pytest.mark.parametrize("first", [0, 1])
def test_a_rename_a_lagging_node_missed_is_taken_there_when_it_is_asked_to_speak(
    first: int,
) -> None:
    """alice renamed #a to #c; Redis lost it before node b read it. Node b kept #a (with
    alice), node a had #c (with bob): each side's sync wrote the other's users back where
    their own nodes were not, and each node, asked, said it had nobody in the room it did not
    follow: two rooms, each listing only its own. Node a now tells node b, as it asks it to
    speak in #c, that #c was #a up to the rename's seq; node b's copy had not read that far,
    so it takes the rename: bob is told, his node says he left #a, and its sync writes him
    into #c. One room, whichever node wrote its rooms back first."""
    cluster, (alice, bob) = in_a(("alice",), ("bob",))
    a, b = cluster.nodes
    node_id = renamed_as_b_lags(cluster, alice)
    if first == 1:
        cluster.bus.catch_up(node_id)
    # (Nothing of the new epoch reaches node b before it is told of it, as on the real bus.)
    back_in_new_epoch(cluster, first)
    back_in_new_epoch(cluster, 1 - first)
    cluster.bus.catch_up(node_id)
    # (bob's client has not negotiated draft/channel-rename: PART and JOIN in its place. With
    # node b back first, alice's node said she was not in #a before it asked b to speak in
    # #c: bob saw her leave #a, then meets her in #c.)
    got = [
        (message.source.partition("!")[0], message.command, message.params)
        for message in bob.lines()
        if message.command in ("PART", "JOIN")
    ]
    moved = got.index(("bob", "PART", ("#a", CAUGHT_UP_REASON)))
    assert got[moved + 1][:2] == ("bob", "JOIN") and got[moved + 1][2][0] == "#c"
    assert [who for who, command, _ in got if command == "JOIN"] == ["bob", "alice"][: 1 + first]
    assert "#a" not in a.server.channels and "#a" not in b.server.channels
    assert names(a, "#c") == names(b, "#c") == ["alice", "bob"]
    assert member_field("alice") not in cluster.bus.fields.get("#a", {})
    assert member_field("bob") not in cluster.bus.fields.get("#a", {})
    assert member_field("bob") in cluster.bus.fields["#c"]
    alice.drain()
    bob.send("PRIVMSG #c :here")
    assert one(alice.lines(), "PRIVMSG").params == ("#c", "here")


def test_a_lagging_node_that_follows_the_new_name_already_keeps_two_rooms() -> None:
    """As above, but a user of node b joined #c in the new epoch before node a asked: node b
    answers for that copy alone (its users in #a stay there), as before."""
    cluster, (alice, _bob) = in_a(("alice",), ("bob",))
    a, b = cluster.nodes
    cluster.bus.catch_up(renamed_as_b_lags(cluster, alice))
    cluster.drain()
    dave = b.client("dave")
    back_in_new_epoch(cluster, 1)
    dave.send("JOIN #c")
    cluster.drain()
    back_in_new_epoch(cluster, 0)
    assert names(b, "#a") == ["bob"]
    assert names(a, "#c") == names(b, "#c") == ["alice", "dave"]


@pytest.mark.parametrize("first", [0, 1])
def test_a_nick_a_lagging_node_missed_is_taken_from_the_users_node(first: int) -> None:
    """bob became robert; Redis lost it before node a read it. Node a knew him as bob, and
    took node b's sync for another user: bob and robert, one person, both in #a (and both on
    the bus). Node a now renames him as his node has him: alice sees the NICK."""
    cluster, (alice, bob) = in_a(("alice",), ("bob",))
    a, b = cluster.nodes
    lost_for(cluster, 0, bob, "NICK robert", first)
    nick = one(alice.lines(), "NICK")
    assert (nick.source.partition("!")[0], nick.params) == ("bob", ("robert",))
    assert names(a, "#a") == names(b, "#a") == ["alice", "robert"]
    assert member_field("bob") not in cluster.bus.fields["#a"]
    assert "bob" not in a.server.users


def test_a_quit_a_lagging_node_missed_leaves_no_ghost_of_the_user() -> None:
    """bob quit; node a had not read his QUIT. Neither node a's copy of #a nor the bus keeps
    him, and his own node, which follows #a still (dave), does not take him back from node a's
    sync as a user of its own."""
    cluster, (_alice, bob, _dave) = in_a(("alice",), ("bob", "dave"))
    a, b = cluster.nodes
    lost_for(cluster, 0, bob, "QUIT :bye")
    assert names(a, "#a") == names(b, "#a") == ["alice", "dave"]
    assert "bob" not in b.server.users
    assert member_field("bob") not in cluster.bus.fields["#a"]


def test_a_kick_its_targets_node_missed_is_undone_and_shown() -> None:
    """alice kicked bob; Redis lost it before bob's node, lagging, read it. Bob's node still
    has him in #a, and its word on its users is the last: he is back in #a on alice's node
    too, and alice sees him come in (his node's sync used to put him back silently, so her
    client did not list him)."""
    cluster, (alice, _bob) = in_a(("alice",), ("bob",))
    a, b = cluster.nodes
    lost_for(cluster, 1, alice, "KICK #a bob :out")
    join = one(alice.lines(), "JOIN")
    assert (join.source.partition("!")[0], join.params[0]) == ("bob", "#a")
    assert names(a, "#a") == names(b, "#a") == ["alice", "bob"]


def test_a_node_asked_to_speak_while_a_join_is_on_its_way_speaks_once_it_is_in() -> None:
    """dave parted #c; Redis lost it before node b read it, and node b wrote him back. Node a,
    asked to speak in #c, had alice's JOIN of #c on its way: a sync of no member then would
    take her out again, so it said nothing, and dave stayed in #c on node b and on the bus.
    Node a now speaks once her JOIN is in, from its copy with her."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, dave, bob = a.client("alice"), a.client("dave"), b.client("bob")
    dave.send("JOIN #c")
    bob.send("JOIN #c")
    cluster.drain()
    cluster.bus.lag("n1")
    dave.send("PART #c")
    cluster.drain()
    restarted_empty(cluster)
    cluster.bus.backlog["n1"] = []
    cluster.bus.catch_up("n1")
    back_in_new_epoch(cluster, 0)  # (node a follows #c no more: no sync of its there)
    cluster.bus.held = True
    back_in_new_epoch(cluster, 1)
    alice.send("JOIN #c")  # on its way when node b's sync comes back and b asks node a
    cluster.bus.release()
    assert names(a, "#c") == names(b, "#c") == ["alice", "bob"]
    assert member_field("dave") not in cluster.bus.fields["#c"]


def test_a_rename_into_a_room_not_written_back_yet_joins_the_two() -> None:
    """Redis lost its data; before node b wrote #a back (bob in it), carol renamed #b to #a:
    the bus, with no member in #a, let her. Node b ignored the rename's marker (its copy had
    members), so it showed #a with bob only, the others with carol and bob. Node b now takes
    the renamed room into its copy, shows carol come in, and its sync writes bob into it."""
    cluster = Cluster()
    a, b = cluster.nodes
    carol, bob = a.client("carol"), b.client("bob")
    bob.send("JOIN #a")
    carol.send("JOIN #b")
    cluster.drain()
    restarted_empty(cluster)
    cluster.bus.lag("n1")  # (nothing of the new epoch reaches node b before it is told)
    back_in_new_epoch(cluster, 0)
    carol.send("RENAME #b #a :moving")  # (before node b is back: #a is empty on the bus)
    back_in_new_epoch(cluster, 1)
    cluster.bus.catch_up("n1")
    join = one(bob.lines(), "JOIN")
    assert (join.source.partition("!")[0], join.params[0]) == ("carol", "#a")
    assert names(a, "#a") == names(b, "#a") == ["bob", "carol"]
    assert member_field("bob") in cluster.bus.fields["#a"]


@pytest.mark.parametrize("first", [0, 1])
def test_the_room_ends_up_as_the_copy_that_had_read_furthest_has_it(first: int) -> None:
    """alice (node a) changed the topic, set +m and lifted a ban; alice's node read all three
    (she was told they were made), then Redis lost them before node b read them. Each node's
    sync writes the room's own state back; the one from the copy that had read further (node
    a's) is the room's, whichever node writes the room back first: before, the last sync
    written won (node b's undid all three when it came last, and a ban lifted came back
    either way, as the bans of every copy were kept)."""
    cluster, (alice, _bob) = in_a(("alice",), ("bob",))
    a, b = cluster.nodes
    alice.send("TOPIC #a :before")
    alice.send("MODE #a +b spam!*@*")
    cluster.drain()
    # (As lost_for, but both nodes are told of the new epoch before either's sync is
    # answered, as hubbub.cluster.node tells a node before it delivers the epoch's events.)
    cluster.bus.lag(b.network.node_id)
    for line in ("TOPIC #a :after", "MODE #a +m", "MODE #a -b spam!*@*"):
        alice.send(line)
    cluster.drain()
    restarted_empty(cluster)
    cluster.bus.backlog[b.network.node_id] = []
    cluster.bus.catch_up(b.network.node_id)
    cluster.bus.held = True
    back_in_new_epoch(cluster, first)
    back_in_new_epoch(cluster, 1 - first)
    cluster.bus.release()
    cluster.drain()
    for node in (a, b):
        channel = node.channel("#a")
        assert channel.topic is not None and channel.topic.text == "after"
        assert channel.moderated and not channel.bans
    fields = cluster.bus.fields["#a"]
    assert "after" in fields["topic"] and fields["mode:m"] == "1"
    assert not [name for name in fields if name.startswith("list:")]
