"""Cluster mode in the core when Redis comes back without its data: the `sync` event.

Issue 14: "Redis restarted or unreachable: nodes keep their connections, [...] resynchronise
presence and room state when it returns; no split brain." After a new epoch each node writes
its members and its copy of each room back to the bus (hubbub.core.cluster_resync). A node
that writes back later than another must not undo what was sequenced in between.
"""

from __future__ import annotations

import json

import pytest
from core_helpers import Client, one, only
from test_cluster_core import Cluster

from hubbub.core import cluster_resync
from hubbub.core.cluster_fields import (
    asks_of_burial,
    member_field,
    standing_field,
    written_back_field,
)
from hubbub.core.ports import inbox


def restarted_empty(cluster: Cluster) -> None:
    """Redis goes away and comes back empty (a new epoch): every node is told it went."""
    cluster.bus.go_away()
    for node in cluster.nodes:
        node.server.network_available(False)
    cluster.bus.lose_data()
    cluster.bus.available = True


def back_in_new_epoch(cluster: Cluster, index: int, claims: bool = True) -> None:
    """One node learns the bus is back in a new epoch, as hubbub.cluster.node does: it is
    told, claims its users' nicks again (unless `claims` is False: not yet), and writes its
    rooms back."""
    server = cluster.nodes[index].server
    server.cluster.epoch_restarted()
    server.network_available(True)
    if claims:
        server.cluster.reclaim_nicks()
    server.cluster.resync()


def two_nodes_in_a_room() -> tuple[Cluster, Client, Client]:
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    alice.send("JOIN #a")
    bob.send("JOIN #a")
    cluster.drain()
    return cluster, alice, bob


def test_a_member_kicked_before_its_node_writes_the_room_back_stays_out() -> None:
    """Node a writes #a back first; alice kicks bob; node b, which has not applied the KICK
    yet, writes its copy back. That copy used to put bob's member fields back on the bus:
    every node that opened #a later listed bob, whom nobody else saw in it."""
    cluster, alice, _ = two_nodes_in_a_room()
    bus = cluster.bus
    restarted_empty(cluster)
    bus.lag("n1")  # node b gets nothing for now
    back_in_new_epoch(cluster, 0)
    assert member_field("alice") in bus.fields["#a"]
    alice.send("KICK #a bob :out")
    back_in_new_epoch(cluster, 1)  # from a copy without the KICK: changes nothing
    assert member_field("bob") not in bus.fields["#a"]
    bus.catch_up("n1")  # b applies the KICK, then its sync comes back: nothing of its left
    cluster.drain()
    assert member_field("bob") not in bus.fields["#a"]
    assert [user.nick for user in cluster.nodes[0].channel("#a").members] == ["alice"]
    assert cluster.nodes[1].server.channels.get("#a") is None


def test_an_operator_made_before_its_node_writes_the_room_back_stays_one() -> None:
    """alice gives bob +o after node a wrote #a back and before node b did: the MODE found no
    member field of bob's to change. b's copy from before the MODE used to write bob back
    without it; b now writes it from a copy with the MODE applied."""
    cluster, alice, _ = two_nodes_in_a_room()
    bus = cluster.bus
    restarted_empty(cluster)
    bus.lag("n1")
    back_in_new_epoch(cluster, 0)
    alice.send("MODE #a +o bob")
    back_in_new_epoch(cluster, 1)
    bus.catch_up("n1")
    cluster.drain()
    assert "o" in bus.fields["#a"][standing_field("bob")]
    for node in cluster.nodes:
        bob = node.server.users["bob"]
        assert node.channel("#a").members[bob].op


def test_every_node_writes_its_members_back_after_a_new_epoch() -> None:
    cluster, _, _ = two_nodes_in_a_room()
    restarted_empty(cluster)
    back_in_new_epoch(cluster, 0)
    back_in_new_epoch(cluster, 1)
    cluster.drain()
    fields = cluster.bus.fields["#a"]
    assert member_field("alice") in fields and member_field("bob") in fields
    assert "o" in fields[standing_field("alice")] and "room" in fields


def test_a_mode_before_the_room_is_written_back_is_refused_for_now() -> None:
    """Before any node wrote #a back, the bus has no standing of alice's: it would refuse her
    MODE (changing no field) where every node, from its copy, applies it. So her node refuses
    it, as while the bus is away, until a sync has written the room back."""
    cluster, alice, _ = two_nodes_in_a_room()
    bus = cluster.bus
    restarted_empty(cluster)
    bus.held = True
    back_in_new_epoch(cluster, 0)
    alice.send("MODE #a +k key")
    fail = one(alice.lines(), "FAIL")
    assert fail.params[:2] == ("MODE", "TEMPORARILY_UNAVAILABLE")
    bus.release()
    back_in_new_epoch(cluster, 1)
    cluster.drain()
    alice.send("MODE #a +k key")
    assert [m.command for m in alice.lines()] == ["MODE"]
    assert bus.fields["#a"]["mode:k"] == "key"
    assert all(node.channel("#a").key == "key" for node in cluster.nodes)


def test_a_nick_taken_elsewhere_before_its_node_claims_it_again_is_a_collision() -> None:
    """Redis lost the claim of bob's nick; carol (node a) takes it before node b claims it
    again. Two users with one nick used to stay so; bob is now disconnected, as IRC servers
    resolve a nick collision, and his client reconnects under another."""
    cluster = Cluster()
    a, b = cluster.nodes
    carol, bob = a.client("carol"), b.client("bob")
    restarted_empty(cluster)
    back_in_new_epoch(cluster, 0)
    carol.send("NICK bob")
    assert [m.command for m in carol.lines()] == ["NICK"]
    back_in_new_epoch(cluster, 1)
    assert bob.session.closed
    assert any("Nick collision" in line for line in bob.raw())
    assert cluster.bus.claims == {"nick:bob": "n0"}


def carol_is_the_only_bob(cluster: Cluster, old_bob: Client) -> None:
    """Node b claims bob again and finds the nick taken: old bob is disconnected, and the bus
    and every copy list carol, now bob, in #a beside dave."""
    cluster.nodes[1].server.cluster.reclaim_nicks()
    assert old_bob.session.closed
    assert '"u": "~carol"' in cluster.bus.fields["#a"][member_field("bob")]
    for node in cluster.nodes:
        members = sorted(user.prefix for user in node.channel("#a").members)
        assert members == ["bob!~carol@127.0.0.1", "dave!~dave@127.0.0.1"]


def test_a_join_under_a_nick_taken_meanwhile_takes_the_room_from_its_old_holder() -> None:
    """The same, with bob in #a: node b writes #a back (bob in it), carol, now bob, joins #a,
    and then node b's claim of the nick fails (the bus answers calls in any order). A
    member field is per nick, and the bus gives bob's to the joiner; every copy shows the
    old bob leave #a then, so that nobody lists a member the bus has not (his QUIT, which
    deletes only his own fields, used to leave #a with no field for the new bob)."""
    cluster = Cluster()
    a, b = cluster.nodes
    carol, old_bob, dave = a.client("carol"), b.client("bob"), b.client("dave")
    old_bob.send("JOIN #a")
    dave.send("JOIN #a")
    cluster.drain()
    restarted_empty(cluster)
    back_in_new_epoch(cluster, 0)
    carol.send("NICK bob")
    back_in_new_epoch(cluster, 1, claims=False)  # #a written back, bob in it; bob not claimed
    cluster.drain()
    carol.send("JOIN #a")
    for watcher in (old_bob, dave):
        parted = [m for m in watcher.lines() if m.command == "PART"]
        assert [(m.source, m.params[1]) for m in parted] == [
            ("bob!~bob@127.0.0.1", "Nick collision: another user has this nick now")
        ]
    carol_is_the_only_bob(cluster, old_bob)


def test_a_nick_taken_meanwhile_in_a_room_takes_it_from_its_old_holder() -> None:
    """The same with a NICK: node b is back in the new epoch but has not claimed bob again;
    bob joins #a, and carol, in #a on node a, which has not read that JOIN yet, becomes bob.
    Her NICK's member fields replace old bob's on the bus, as a JOIN's do, so every copy
    shows old bob leave #a (every copy used to keep him: with his node lost, its burial,
    reading the room's fields, found him nowhere; a cluster fuzz finding)."""
    cluster = Cluster()
    a, b = cluster.nodes
    carol, old_bob, dave = a.client("carol"), b.client("bob"), b.client("dave")
    carol.send("JOIN #a")
    dave.send("JOIN #a")
    cluster.drain()
    restarted_empty(cluster)
    back_in_new_epoch(cluster, 0)
    back_in_new_epoch(cluster, 1, claims=False)  # #a written back; bob's nick not claimed yet
    cluster.drain()
    cluster.bus.lag("n0")
    old_bob.send("JOIN #a")
    carol.send("NICK bob")  # node a knows no bob yet, and the bus has no claim of it
    cluster.bus.catch_up("n0")
    seen = [(m.command, m.source, m.params[-1]) for m in dave.lines()]
    assert seen == [
        ("JOIN", "bob!~bob@127.0.0.1", "#a"),
        ("NICK", "carol!~carol@127.0.0.1", "bob"),
        ("PART", "bob!~bob@127.0.0.1", "Nick collision: another user has this nick now"),
    ]
    carol_is_the_only_bob(cluster, old_bob)


def test_a_sync_naming_its_user_by_a_nick_the_copy_gives_another_brings_that_user_in() -> None:
    """Node c, lagging, misses dave's JOIN of #c, bob's KILL and dave's NICK to bob, which Redis
    loses with its data. Node b's sync of #c lists its user bob (dave): c's copy, which still
    has the killed bob there, shows him leave and the new bob join, as the bus has it. (It
    used to take the sync's bob for the killed one, and the new bob never came into c's copy,
    while the killed one left when node a said it had nobody there: a cluster fuzz finding.)"""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, bob, dave, frank = (
        a.client("alice"),
        a.client("bob"),
        b.client("dave"),
        c.client("frank"),
    )
    alice.user.oper = "root"
    bob.send("JOIN #c")
    frank.send("JOIN #c")
    cluster.drain()
    cluster.bus.lag("n2")
    dave.send("JOIN #c")
    alice.send("KILL bob :out")
    dave.send("NICK bob")
    cluster.drain()
    cluster.bus.go_away()
    for node in cluster.nodes:
        node.server.network_available(False)
    del cluster.bus.backlog["n2"]  # what node c had not read is lost with the data
    cluster.bus.lose_data()
    cluster.bus.available = True
    for index in range(3):
        back_in_new_epoch(cluster, index)
    assert frank.raw() == [
        ":bob!~bob@127.0.0.1 PART #c :Nick collision: another user has this nick now",
        ":bob!~dave@127.0.0.1 JOIN #c",
    ]
    for node in (b, c):
        members = sorted(user.prefix for user in node.channel("#c").members)
        assert members == ["bob!~dave@127.0.0.1", "frank!~frank@127.0.0.1"]


def test_views_outlive_a_mere_reconnection() -> None:
    """After a reconnection in the same epoch the seqs go on, so a node keeps the seq each of
    its copies reflects (a new epoch clears them: `epoch_restarted`). alice's message, sent
    right after the bus came back, as bob renamed #a to #b and carol made a new #a (-n), names
    the copy it was meant for: the bus marks it under the old name and alice's node sends it
    on to #b. Her node used to forget its views on every return, and the message, sent with
    none, went to carol's new #a."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, bob, carol = a.client("alice"), b.client("bob"), c.client("carol")
    alice.send("JOIN #a")
    bob.send("JOIN #a")
    alice.send("MODE #a +o bob")
    cluster.drain()
    bus = cluster.bus
    bus.go_away()
    for node in cluster.nodes:
        node.server.network_available(False)
    bus.available = True
    for node in cluster.nodes:
        node.server.network_available(True)
        node.server.cluster.reclaim_nicks()
    bus.lag("n0")  # alice's node has applied nothing since
    bob.send("RENAME #a #b :moving")
    carol.send("JOIN #a")
    carol.send("MODE #a -n")  # (messages from outside reach it)
    carol.lines()
    alice.send("PRIVMSG #a :hi")
    bus.catch_up("n0")
    assert [m.params for m in only(bob.lines(), "PRIVMSG")] == [("#b", "hi")]
    assert only(carol.lines(), "PRIVMSG") == []


def test_a_room_given_up_on_is_written_back_when_its_user_wants_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node stops sending a room's sync after `SYNC_ATTEMPTS`, each undone by a change (here
    one: carol's JOIN, which found #a empty and made it anew, came before node b's sync). It
    used to let its users' events there through from then on, decided by the bus from a room
    without them: bob's message was sequenced and his member fields never written back, so a
    node opening #a later did not list him. The room now stays refused, and the refusal starts
    another round of syncs."""
    monkeypatch.setattr(cluster_resync, "SYNC_ATTEMPTS", 1)
    cluster = Cluster()
    carol, bob = cluster.nodes[0].client("carol"), cluster.nodes[1].client("bob")
    bob.send("JOIN #a")
    cluster.drain()
    bus = cluster.bus
    restarted_empty(cluster)
    back_in_new_epoch(cluster, 0)
    bus.held = True
    carol.send("JOIN #a")
    back_in_new_epoch(cluster, 1)  # its sync comes after carol's JOIN: it changes nothing
    bus.release()
    cluster.drain()
    assert member_field("bob") not in bus.fields["#a"]
    bob.send("PRIVMSG #a :hello")
    fail = one(bob.lines(), "FAIL")
    assert fail.params[:2] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE")
    cluster.drain()
    assert member_field("bob") in bus.fields["#a"]
    bob.send("PRIVMSG #a :hello again")
    assert not [m for m in bob.lines() if m.command == "FAIL"]


def test_a_message_whose_echo_redis_lost_is_refused_and_its_sender_goes_on() -> None:
    """Redis sequenced alice's message and lost its data before her node, lagging, read it
    back (bob's node had). Her node waited for it for good, and every later command of hers
    behind it (her PING was never answered). The events of a node that have not come back in
    a new epoch are now taken as refused: she is told `FAIL` (bob saw the message, as the
    failure model allows for a call that failed half-way), and her next command is answered."""
    cluster, alice, bob = two_nodes_in_a_room()
    bus = cluster.bus
    bus.lag("n0")
    alice.send("PRIVMSG #a :lost with the data")
    assert [m.command for m in bob.lines()] == ["PRIVMSG"]
    assert alice.lines() == []  # (waiting for its echo)
    restarted_empty(cluster)
    bus.backlog["n0"] = []  # what was on its way to node a went with the data
    bus.catch_up("n0")
    back_in_new_epoch(cluster, 0)
    back_in_new_epoch(cluster, 1)
    fail = one(alice.lines(), "FAIL")
    assert fail.params[:2] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE")
    cluster.drain()
    alice.send("PING :still there")
    assert [m.command for m in alice.lines()] == ["PONG"]


def test_only_the_events_of_rooms_whose_end_redis_lost_are_taken_as_refused() -> None:
    """Redis restarted from an append-only file without the end of #a (the same epoch): the
    seq of #a continues after the last one node a read, so its event there not read back
    was lost, and is refused; its event in #b, which Redis kept, still comes back."""
    cluster, alice, _ = two_nodes_in_a_room()
    carol = cluster.nodes[0].client("carol")
    carol.send("JOIN #b")
    cluster.drain()
    bus = cluster.bus
    bus.lag("n0")
    alice.send("PRIVMSG #a :lost with the end of #a")
    carol.send("PRIVMSG #b :kept")
    cluster.nodes[0].server.cluster.lost_echoes({"#a"})  # (as hubbub.cluster.node does)
    assert one(alice.lines(), "FAIL").params[:2] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE")
    carol.send("PING :still there")
    assert carol.lines() == []  # her message in #b still waits for its echo
    bus.catch_up("n0")
    assert [m.command for m in carol.lines()] == ["PONG"]  # it came back: no FAIL


def test_a_join_redis_lost_before_its_node_read_it_is_undone_where_it_was_read() -> None:
    """alice's JOIN of #b reached bob's node, then Redis lost its data before her node, lagging,
    read it back. Her node refuses it (`FAIL JOIN`), and she is not in #b there; bob's node
    listed her in #b for good (her node sends nothing of her there, her QUIT included). Her
    node now sends a `void` of that JOIN once the bus is back: bob sees her part, and her
    member fields go."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    bob.send("JOIN #b")
    cluster.drain()
    bus = cluster.bus
    bus.lag("n0")
    alice.send("JOIN #b")
    assert [(m.command, m.source.partition("!")[0]) for m in bob.lines()] == [("JOIN", "alice")]
    restarted_empty(cluster)
    bus.backlog["n0"] = []  # what was on its way to node a went with the data
    bus.catch_up("n0")
    back_in_new_epoch(cluster, 0)
    back_in_new_epoch(cluster, 1)
    assert one(alice.lines(), "FAIL").params[:2] == ("JOIN", "TEMPORARILY_UNAVAILABLE")
    part = one(bob.lines(), "PART")
    assert part.source.partition("!")[0] == "alice"
    assert part.params[-1] == "Join lost by the network"
    cluster.drain()
    assert [user.nick for user in b.channel("#b").members] == ["bob"]
    assert member_field("alice") not in bus.fields["#b"]
    assert a.server.channels.get("#b") is None


def test_a_join_its_copy_refuses_as_its_node_is_asked_to_speak_still_lets_it_speak() -> None:
    """alice parted #r, a room with a key, and Redis lost her PART before bob's node, lagging,
    read it. Back in a new epoch, bob's node writes #r back with alice in it and asks hers to
    speak there, while alice's JOIN without the key is opening #r on her node. Her node's copy
    refuses the JOIN (475) and no JOIN goes to the bus: her node must still say that it has
    nobody in #r, or bob's copy keeps her there for good (a cluster fuzz finding)."""
    cluster, alice, bob = two_nodes_in_a_room()
    alice.send("MODE #a +k key")
    cluster.drain()
    bus = cluster.bus
    bus.lag("n1")
    alice.send("PART #a")
    cluster.drain()
    restarted_empty(cluster)
    bus.backlog["n1"] = []  # alice's PART, not read by bob's node, went with the data
    bus.catch_up("n1")
    back_in_new_epoch(cluster, 0)
    bus.held = True
    back_in_new_epoch(cluster, 1)  # its sync waits
    alice.send("JOIN #a")  # opening #a waits behind it
    asked = cluster.nodes[0].server.cluster.speak_when_joined
    while "#a" not in asked:  # bob's node's sync (sent again from where it came back), its ask
        bus.answer_from("n1")
    assert "#a" in cluster.nodes[0].server.cluster.opening  # the ask came as #a was opening
    bus.release()
    assert one(alice.lines(), "475").params[1] == "#a"
    part = one(bob.lines(), "PART")
    assert (part.source.partition("!")[0], part.params[-1]) == (
        "alice",
        cluster_resync.LOST_DEPARTURE_REASON,
    )
    assert [user.nick for user in cluster.nodes[1].channel("#a").members] == ["bob"]
    assert member_field("alice") not in bus.fields["#a"]


def test_a_lost_end_of_the_network_room_writes_nothing_back_there() -> None:
    """The bus reports every room whose end Redis lost, the network room and the nodes'
    inboxes too: they have no members to write back, so no `sync` goes there."""
    cluster, _, _ = two_nodes_in_a_room()
    bus = cluster.bus
    before = {room: len(events) for room, events in bus.events.items()}
    cluster.nodes[0].server.cluster.resync({"~network", "~node:n1", "#a"})
    cluster.drain()
    synced = {
        room
        for room, events in bus.events.items()
        for _, _, _, payload in events[before.get(room, 0) :]
        if json.loads(payload)["t"] == "sync"
    }
    assert synced == {"#a"}


def test_a_burial_asks_the_nodes_that_have_not_written_a_room_back() -> None:
    """A lost node's sync may list a user of another node who had left the room (a QUIT
    Redis lost before the lost node read it); the lost node would have asked hers to speak.
    Its burial does: each node the room's fields name as a home and that has not written
    it back, the lost one and those that have spoken aside. A room nobody has written back
    since Redis lost its data (its fields as the bus sequenced them) asks nobody."""
    fields = {
        member_field("alice"): json.dumps({"n": "alice", "node": "n0"}),
        member_field("bob"): json.dumps({"n": "bob", "node": "n1"}),
        member_field("erin"): json.dumps({"n": "erin", "node": "n2"}),
        written_back_field("n0"): "1",
        written_back_field("n1"): "1",
    }
    asks = asks_of_burial("n0", "#a", fields)
    assert [(room, json.loads(payload)) for room, payload in asks] == [
        (inbox("n2"), {"t": "speak", "r": "#a"})
    ]
    assert asks_of_burial("n2", "#a", fields) == []
    unwritten = {name: value for name, value in fields.items() if name.startswith("m:")}
    assert asks_of_burial("n0", "#a", unwritten) == []
