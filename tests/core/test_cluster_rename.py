"""RENAME of a room across nodes in the core (hubbub.core.cluster_rename), several cores on one
in-memory bus (support.core_services.MemoryBus, the bus's contract without Redis).

draft/channel-rename (https://ircv3.net/specs/extensions/channel-rename): "A channel rename
preserves all channel state".
"""

from __future__ import annotations

from core_helpers import Client, one, only
from test_cluster_core import Cluster, texts

from hubbub.core.cluster_rename import EARLIER_ROOM_REASON
from hubbub.core.network import member_field

CAP = "draft/channel-rename"


def joined(cluster: Cluster, *clients: object) -> None:
    for client in clients:
        client.send("JOIN #lobby")  # type: ignore[attr-defined]
    cluster.drain()


def test_a_rename_is_applied_on_every_node_and_the_state_moves() -> None:
    """ "Servers MUST send the RENAME message to members of the channel that have negotiated
    this capability" and, to the others, "a PART message for the old channel name ... a JOIN
    message followed by the usual messages", on every node; the room's state fields move to
    the new name, so a node that opens it later reads them."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice = a.client("alice", [CAP])
    bob = b.client("bob", [CAP])
    carol = b.client("carol")
    joined(cluster, alice, bob, carol)
    alice.send("TOPIC #lobby :the topic")
    alice.send("PRIVMSG #lobby :before")
    cluster.drain()
    alice.send("RENAME #lobby #hall :moving")
    assert one(alice.lines(), "RENAME").params == ("#lobby", "#hall", "moving")
    assert one(bob.lines(), "RENAME").params == ("#lobby", "#hall", "moving")
    got = carol.lines()
    assert [m.command for m in got[:2]] == ["PART", "JOIN"]
    assert got[0].params == ("#lobby", "moving") and got[1].params[0] == "#hall"
    assert one(got, "332").params[-1] == "the topic"
    for node in (a, b):
        assert node.server.find_channel("#lobby") is None
        assert node.server.find_channel("#hall") is not None
    assert member_field("bob") in cluster.bus.fields["#hall"]
    assert not any(name.startswith("m:") for name in cluster.bus.fields.get("#lobby", {}))
    bob.send("PRIVMSG #hall :after")  # node b follows the new name
    assert [m.params for m in only(alice.lines(), "PRIVMSG")] == [("#hall", "after")]
    # The history follows the room, moved once (the store is shared).
    stored = [r.params[-1] for r in cluster.store.latest("#hall", 10) if r.command == "PRIVMSG"]
    assert stored == ["before", "after"]
    assert cluster.store.latest("#lobby", 10) == []
    dave = c.client("dave")
    dave.send("JOIN #hall")
    got = dave.lines()
    assert one(got, "332").params[-1] == "the topic"  # read from the moved state
    assert "@alice" in one(got, "353").params[-1].split()


def test_a_name_in_use_on_another_node_is_refused() -> None:
    """ "If the new channel name is already taken, the server MUST send a FAIL message
    with the CHANNEL_NAME_IN_USE code" — also when the room of that name is on another node
    only."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP])
    bob = b.client("bob", [CAP])
    alice.send("JOIN #lobby")
    bob.send("JOIN #taken")
    cluster.drain()
    alice.send("RENAME #lobby #taken")
    fail = one(alice.lines(), "FAIL")
    assert fail.params[:4] == ("RENAME", "CHANNEL_NAME_IN_USE", "#lobby", "#taken")
    assert a.server.find_channel("#lobby") is not None
    assert bob.raw() == []


def test_events_sent_in_the_instant_of_the_rename_are_sent_on_to_the_new_name() -> None:
    """A message and a QUIT sent on another node before it applied the rename are sequenced in
    the old room after it: they are neither lost nor left behind under the old name."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP, "echo-message"])
    bob = b.client("bob", [CAP, "echo-message"])
    carol = b.client("carol", [CAP])
    joined(cluster, alice, bob, carol)
    cluster.bus.held = True
    alice.send("RENAME #lobby #hall")  # sequenced first...
    bob.send("PRIVMSG #lobby :just now")  # ...then these, checked against the old room
    b.server.disconnect(carol.session, "gone", cluster.now)
    cluster.bus.release()
    got = alice.lines()
    assert [m.command for m in got] == ["RENAME", "PRIVMSG", "QUIT"]
    assert got[1].params == ("#hall", "just now")
    echo = [m for m in bob.lines() if m.command != "RENAME"]
    assert [m.params for m in echo if m.command == "PRIVMSG"] == [("#hall", "just now")]
    for node in (a, b):
        hall = node.server.find_channel("#hall")
        assert hall is not None and {m.nick for m in hall.members} == {"alice", "bob"}
    assert not any(name.startswith("m:") for name in cluster.bus.fields.get("#lobby", {}))
    assert set(cluster.bus.fields["#hall"]) >= {member_field("alice"), member_field("bob")}
    assert member_field("carol") not in cluster.bus.fields["#hall"]
    stored = cluster.store.latest("#hall", 10)
    assert [r.params for r in stored if r.command == "PRIVMSG"] == [("#hall", "just now")]


def test_a_rename_while_the_bus_is_away_is_refused() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP])
    bob = b.client("bob", [CAP])
    joined(cluster, alice, bob)
    cluster.bus.available = False
    alice.send("RENAME #lobby #hall")
    assert one(alice.lines(), "FAIL").params[:2] == ("RENAME", "TEMPORARILY_UNAVAILABLE")
    assert b.server.find_channel("#lobby") is not None and bob.raw() == []


def join_as_renamed(cluster: Cluster, joiner: Client, renamer: Client) -> None:
    """`joiner`'s node finds #hall empty and sends a creating JOIN; `renamer`'s RENAME of
    #lobby to #hall, sent in that instant, is sequenced first."""
    bus = cluster.bus
    bus.held = True
    joiner.send("JOIN #hall")
    opens, bus.waiting = bus.waiting, []
    for run in opens:  # the room is empty there: the creating JOIN waits
        bus.answer(run)
    renamer.send("RENAME #lobby #hall")
    creating_join, rename = bus.waiting
    bus.waiting = [rename, creating_join]
    bus.release()


def test_a_join_creating_the_new_name_in_the_instant_of_the_rename_joins_the_renamed_room() -> None:
    """dave's node found #hall empty and sent a creating JOIN; the rename to #hall was
    sequenced first: dave joins the renamed room as a plain member (hubbub.core.cluster_apply),
    and its topic stays in the state fields a node opening it later reads."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice = a.client("alice", [CAP])
    dave = b.client("dave", [CAP])
    joined(cluster, alice)
    alice.send("TOPIC #lobby :kept")
    cluster.drain()
    join_as_renamed(cluster, dave, alice)
    cluster.drain()
    for node in (a, b):
        hall = node.server.find_channel("#hall")
        assert hall is not None
        members = {user.nick: membership.op for user, membership in hall.members.items()}
        assert members == {"alice": True, "dave": False}
        assert hall.topic is not None and hall.topic.text == "kept"
    carol = c.client("carol")
    carol.send("JOIN #hall")
    got = carol.lines()
    assert one(got, "332").params[-1] == "kept"
    assert set(one(got, "353").params[-1].split()) == {"@alice", "dave", "carol"}


def test_a_member_joining_the_new_name_in_the_instant_of_the_rename_keeps_its_standing() -> None:
    """bob, an operator of #lobby, sends JOIN #hall as alice renames #lobby to #hall: the
    rename brings him there first, so his JOIN changes nothing, in the rooms and in the state
    fields a node opening the room later reads (the JOIN's member fields are written only for
    someone who is not a member yet)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice = a.client("alice", [CAP])
    bob = b.client("bob", [CAP])
    joined(cluster, alice, bob)
    alice.send("MODE #lobby +o bob")
    cluster.drain()
    join_as_renamed(cluster, bob, alice)
    for node in (a, b):
        hall = node.server.find_channel("#hall")
        assert hall is not None
        assert {user.nick: m.op for user, m in hall.members.items()} == {"alice": True, "bob": True}
    dave = c.client("dave")
    dave.send("JOIN #hall")
    assert set(one(dave.lines(), "353").params[-1].split()) == {"@alice", "@bob", "dave"}


def two_operators(cluster: Cluster) -> tuple[Client, Client]:
    """alice (node a) and bob (node b), both operators of #lobby."""
    a, b = cluster.nodes
    alice, bob = a.client("alice", [CAP]), b.client("bob", [CAP])
    joined(cluster, alice, bob)
    alice.send("MODE #lobby +o bob")
    cluster.drain()
    return alice, bob


def run_held(cluster: Cluster, node: str, count: int = 1) -> None:
    """Answer the first `count` held calls made by `node` (the others stay held, in order)."""
    cluster.bus.answer_from(node, count)


def test_a_node_opening_the_new_name_as_the_rename_comes_applies_what_follows_the_marker() -> None:
    """bob's node opens #hall for his JOIN as alice renames #lobby to #hall; alice then kicks
    bob from #hall before that node's subscription is made. The node follows the renamed room
    from the rename's marker, so the KICK, sequenced before the state its subscription read,
    reaches its copy too: every node agrees bob is gone (a fuzz finding of
    tests/fuzz/test_cluster_stateful.py)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP])
    bob = b.client("bob", [CAP])
    joined(cluster, alice, bob)
    cluster.bus.held = True
    bob.send("JOIN #hall")  # node b opens #hall: held
    alice.send("RENAME #lobby #hall :moving")
    run_held(cluster, "n0", 2)  # the rename, applied on both nodes; then node a follows #hall
    alice.send("KICK #hall bob :out")
    run_held(cluster, "n0")  # sequenced in #hall, before node b's subscription reads it
    cluster.bus.release()  # node b opens #hall, then follows it from the marker
    assert one(bob.lines(), "KICK").params == ("#hall", "bob", "out")
    hall = a.server.find_channel("#hall")
    assert hall is not None and {user.nick for user in hall.members} == {"alice"}
    assert b.server.find_channel("#hall") is None  # nobody of node b's there any more


def test_an_event_sent_before_two_renames_is_sent_on_to_the_last_name() -> None:
    """bob's message to #lobby is sequenced after alice renamed #lobby to #hall and then #hall
    to #den; bob's node applies the second rename before the message comes back to it: the
    message is sent on to #den, not dropped with #hall (a fuzz finding)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP, "echo-message"])
    bob = b.client("bob", [CAP, "echo-message"])
    joined(cluster, alice, bob)
    bus = cluster.bus
    bus.held = True
    bob.send("PRIVMSG #lobby :just now")
    alice.send("RENAME #lobby #hall")
    run_held(cluster, "n0", 2)  # the rename, applied on both nodes; node a follows #hall
    alice.send("RENAME #hall #den")
    run_held(cluster, "n0")  # applied on node a only: node b does not follow #hall yet
    bus.lag("n1")
    run_held(cluster, "n1", 2)  # bob's message in #lobby, then node b follows #hall
    bus.catch_up("n1")  # #hall's rename first (read from its stream), then the message
    bus.release()
    assert [m.params for m in only(alice.lines(), "PRIVMSG")] == [("#den", "just now")]
    assert [m.params for m in only(bob.lines(), "PRIVMSG")] == [("#den", "just now")]
    for node in (a, b):
        den = node.server.find_channel("#den")
        assert den is not None and {user.nick for user in den.members} == {"alice", "bob"}


def dave_joins_as_lobby_is_renamed_and_made_anew(cluster: Cluster) -> tuple[Client, ...]:
    """dave's JOIN of #lobby is on its way (held) as alice renames #lobby to #hall and carol
    makes a new #lobby: (alice, dave, carol) of nodes a, b and c."""
    a, b, c = cluster.nodes
    alice, dave, carol = a.client("alice", [CAP]), b.client("dave", [CAP]), c.client("carol")
    joined(cluster, alice)
    cluster.bus.held = True
    dave.send("JOIN #lobby")
    run_held(cluster, "n1")  # node b opens #lobby; dave's JOIN waits
    alice.send("RENAME #lobby #hall")
    run_held(cluster, "n0")  # applied on node a and node b (dave's JOIN is for #hall now)
    carol.send("JOIN #lobby")
    run_held(cluster, "n2", 2)  # node c finds #lobby empty: carol makes it anew
    return alice, dave, carol


def test_a_join_sent_on_after_the_old_name_was_made_again_is_not_left_there() -> None:
    """dave's JOIN, sequenced in #lobby after the rename and carol's JOIN, is sent on to #hall
    by his node; carol's room does not get him (a fuzz finding: he stayed listed in carol's
    room on her node only; since the tenth session, her node ignores that JOIN there)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    bus = cluster.bus
    dave_joins_as_lobby_is_renamed_and_made_anew(cluster)
    bus.release()  # dave's JOIN in #lobby, then in #hall
    assert {user.nick for user in c.server.channels["#lobby"].members} == {"carol"}
    assert not any(name.endswith(":dave") for name in bus.fields["#lobby"])
    for node in (a, b):
        hall = node.server.find_channel("#hall")
        assert hall is not None and {user.nick for user in hall.members} == {"alice", "dave"}
    assert "#lobby" not in b.server.channels


def test_a_rename_by_an_operator_deopped_in_that_instant_is_refused() -> None:
    """draft/channel-rename: a RENAME by a non-operator gets ERR_CHANOPRIVSNEEDED (482), as
    any operator command. bob's node let his RENAME go by its copy of the room; alice's deop
    was sequenced first: the bus renames nothing (a change of case neither)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = two_operators(cluster)
    for rename in ("RENAME #lobby #hall", "RENAME #lobby #LOBBY"):
        cluster.bus.held = True
        alice.send("MODE #lobby -o bob")
        bob.send(rename)
        cluster.bus.release()
        assert "482" in bob.numerics()
        for node in (a, b):
            lobby = node.server.find_channel("#lobby")
            assert lobby is not None and lobby.name == "#lobby"
            assert node.server.find_channel("#hall") is None
        assert "room" in cluster.bus.fields["#lobby"] and "#hall" not in cluster.bus.fields
        assert not [m for m in alice.lines() if m.command == "RENAME"]
        alice.send("MODE #lobby +o bob")
        cluster.drain()


def test_a_quit_sent_on_while_the_bus_is_away_is_sent_again_to_the_new_name() -> None:
    """bob quits as alice renames #lobby to #hall; his QUIT, sequenced in #lobby after the
    rename, is to be sent on to #hall in the very moment the bus goes away. When it is back,
    his node sends it again to #hall, not #lobby: he leaves #hall on every node (he stayed
    there, a member without a connection)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice", [CAP]), b.client("bob", [CAP])
    joined(cluster, alice, bob)
    bus = cluster.bus
    bus.held = True
    alice.send("RENAME #lobby #hall")
    b.server.disconnect(bob.session, "gone", cluster.now)
    run_held(cluster, "n0")  # the rename, applied on both nodes
    run_held(cluster, "n1")  # bob's QUIT, in #lobby after it: node b sends it on to #hall
    bus.available = False
    bus.release()  # refused: sending it on, and both nodes' following #hall
    bus.available = True
    for node in (a, b):
        node.server.network_available(True)
    hall = a.server.find_channel("#hall")
    assert hall is not None and {user.nick for user in hall.members} == {"alice"}
    assert b.server.find_channel("#hall") is None  # none of node b's users there
    assert not any(name.endswith(":bob") for name in bus.fields["#hall"])
    assert [m.command for m in alice.lines() if m.command in ("QUIT", "RENAME")] == [
        "RENAME",
        "QUIT",
    ]


def test_a_message_sent_on_from_the_old_name_is_not_delivered_in_a_room_made_there() -> None:
    """bob's message to #lobby is sequenced there after alice renamed #lobby to #hall and
    carol made a new #lobby, open to outsiders (`-n`). It was meant for the room bob was in,
    now #hall: only its members get it, there. On one server the message would have gone to
    the room bob was in, whatever it is called; carol's room, which bob never saw, gets
    nothing (it did, on carol's node, before the bus marked such events)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice = a.client("alice", [CAP, "echo-message"])
    bob = b.client("bob", [CAP, "echo-message"])
    carol = c.client("carol", [CAP])
    joined(cluster, alice, bob)
    bus = cluster.bus
    bus.held = True
    bob.send("PRIVMSG #lobby :just now")  # held behind nothing of node b's: sent first
    alice.send("RENAME #lobby #hall")
    run_held(cluster, "n0")  # the rename, applied on node a and node b
    carol.send("JOIN #lobby")
    run_held(cluster, "n2", 2)  # node c finds #lobby empty: carol makes it anew
    carol.send("MODE #lobby -n")
    run_held(cluster, "n2")
    bus.release()  # bob's message in #lobby, then sent on to #hall
    assert not only(carol.lines(), "PRIVMSG")
    assert [m.params for m in only(alice.lines(), "PRIVMSG")] == [("#hall", "just now")]
    assert [m.params for m in only(bob.lines(), "PRIVMSG")] == [("#hall", "just now")]
    assert not [r for r in cluster.store.latest("#lobby", 10) if r.command == "PRIVMSG"]


def test_a_join_sent_on_leaves_the_room_made_under_the_old_name_alone() -> None:
    """dave's first JOIN of #lobby is on its way as alice renames #lobby to #hall and carol
    makes a new #lobby; then dave joins carol's #lobby too. His first JOIN, sequenced in
    #lobby after all that, was for alice's room: he joins #hall, and stays in carol's room,
    which never shows him joining and parting (it did, and he left carol's room, before the
    bus marked such events: docs/cluster.md)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    bus = cluster.bus
    _, dave, carol = dave_joins_as_lobby_is_renamed_and_made_anew(cluster)
    dave.send("JOIN #lobby")  # carol's room, this time
    bus.release()
    for node in (a, b, c):
        lobby = node.server.find_channel("#lobby")
        if node is not a:
            assert lobby is not None
            assert {user.nick for user in lobby.members} == {"carol", "dave"}
        if node is not c:
            hall = node.server.find_channel("#hall")
            assert hall is not None and {user.nick for user in hall.members} == {"alice", "dave"}
    assert [m.command for m in carol.lines() if m.nick == "dave"] == ["JOIN"]
    assert {member_field("carol"), member_field("dave")} <= set(bus.fields["#lobby"])
    assert member_field("dave") in bus.fields["#hall"]


def test_a_change_of_case_sent_as_the_room_was_renamed_is_refused() -> None:
    """bob changes the case of #lobby's name as alice renames it to #hall: his change comes
    after hers. He gets what a RENAME of a room renamed away by another operator in the same
    instant gets, `FAIL RENAME CANNOT_RENAME` (docs/cluster.md), as on one server where hers
    came first and #lobby was gone; he used to get no answer at all. #hall keeps its name on
    every node."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = two_operators(cluster)
    bus = cluster.bus
    bus.held = True
    bob.send("RENAME #lobby #LOBBY :case")
    alice.send("RENAME #lobby #hall :moving")
    run_held(cluster, "n0")  # alice's, applied on both nodes
    bus.release()
    fail = one(bob.lines(), "FAIL")
    assert fail.params[:3] == ("RENAME", "CANNOT_RENAME", "#lobby")
    for node in (a, b):
        hall = node.server.find_channel("#hall")
        assert hall is not None and hall.name == "#hall"
    assert [m.params[:2] for m in only(alice.lines(), "RENAME")] == [("#lobby", "#hall")]


def test_a_part_of_a_room_another_was_renamed_to_is_answered_on_a_slow_node() -> None:
    """bob left #c, and alice then renamed #a to #b and #b to #c (empty now). Node b, slow,
    applied the first rename, and the second one came from #b's stream before bob's PART came
    back from #c's: the renamed room replaced its copy of #c with bob in it, and the PART,
    an earlier room's event, was never answered, so every later command of bob's waited
    behind it for good (a cluster fuzz finding, seed 4324064). bob is told he left that #c,
    his PART is answered, and he goes on."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP])
    dave, bob = b.client("dave", [CAP]), b.client("bob")
    alice.send("JOIN #a")
    dave.send("JOIN #a")
    bob.send("JOIN #c")
    cluster.drain()
    cluster.bus.lag("n1")
    alice.send("RENAME #a #b :first")
    bob.send("PART #c :bye")
    alice.send("RENAME #b #c :second")
    cluster.bus.catch_up("n1")
    parts = [message.params for message in only(bob.lines(), "PART")]
    assert parts == [("#c", EARLIER_ROOM_REASON)]
    assert [message.params[:2] for message in only(dave.lines(), "RENAME")] == [
        ("#a", "#b"),
        ("#b", "#c"),
    ]
    assert sorted(user.nick for user in b.channel("#c").members) == ["alice", "dave"]
    bob.send("PING :still here")
    assert one(bob.lines(), "PONG").params[-1] == "still here"


def test_lines_after_the_marker_are_not_shown_twice_when_the_rename_comes_late() -> None:
    """Node b's feed of #lobby is filling a gap as alice renames #lobby to #hall and talks
    there; dave, of node b, joins #hall meanwhile, so node b opens the room and shows him (and
    bob, a member it moved there) what follows. When the rename comes, node b's renamed copy
    replaces that one and applies what followed the marker again: each of its users sees each
    line once, what they had not seen included (the brief: nothing duplicated)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", [CAP])
    bob = b.client("bob", [CAP])
    dave = b.client("dave", [CAP])
    joined(cluster, alice, bob)
    cluster.bus.hold_feed("n1", "#lobby")
    alice.send("RENAME #lobby #hall :moving")
    alice.send("PRIVMSG #hall :before dave")
    dave.send("JOIN #hall")
    alice.send("PRIVMSG #hall :after dave")
    first, second = texts(dave)
    assert first.endswith("before dave") and second == "after dave"  # (the first replayed)
    assert bob.raw() == []
    cluster.bus.release_feed("n1", "#lobby")
    got = bob.lines()
    assert [m.command for m in got] == ["RENAME", "PRIVMSG", "JOIN", "PRIVMSG"]
    assert [m.params[-1] for m in only(got, "PRIVMSG")] == ["before dave", "after dave"]
    assert dave.raw() == []
    hall = b.server.find_channel("#hall")
    assert hall is not None and {user.nick for user in hall.members} == {"alice", "bob", "dave"}
    alice.send("PRIVMSG #hall :later")
    assert texts(dave) == ["later"] and texts(bob) == ["later"]
