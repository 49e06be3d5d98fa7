"""A room message or JOIN is checked again in the room's sequence (hubbub.core.cluster_apply):
a mute, ban, +m, +i or +l sequenced just before it refuses it on every node alike, though the
sender's node had not applied that change yet when it let the message or JOIN go to the bus.
So is an operator's KICK, MODE or TOPIC: a deop (or a KICK of the operator) sequenced just
before it refuses it, and the bus leaves the room's state fields as they are."""

from __future__ import annotations

from core_helpers import Client
from test_cluster_core import Cluster, texts

from support.core_services import MemoryBus

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


def open_first(bus: MemoryBus) -> None:
    """The held bus answers a node's opening of a room, and the read of the room's stream
    that loading it makes (hubbub.core.cluster_replay `_read_earlier`): the JOIN that waited
    for the room is the one call left waiting."""
    opens, bus.waiting = bus.waiting, []
    for run in opens:
        bus.answer(run)
    *reads, join = bus.waiting
    bus.waiting = [join]
    for run in reads:
        bus.answer(run)


def join_raced(cluster: Cluster, alice: Client, change: str, joiner: Client, room: str) -> None:
    """`joiner`'s node opens `room` (already open if it follows it) and checks the JOIN
    against its copy; alice's `change` and that JOIN are then on their way at once, the
    change sequenced first."""
    bus = cluster.bus
    bus.held = True
    joiner.send(f"JOIN {room}")
    open_first(bus)  # the joiner's node has its copy of the room: the JOIN waits
    alice.send(change)
    join, sent_change = bus.waiting
    bus.waiting = [sent_change, join]
    bus.release()


def op_in_room(cluster: Cluster) -> Client:
    """alice, the operator of #room on node a."""
    alice = cluster.nodes[0].client("alice")
    alice.send("JOIN #room")
    cluster.drain()
    alice.lines()
    return alice


def test_a_join_sequenced_after_a_ban_is_refused_everywhere() -> None:
    """RFC 2812 3.2.1 / Modern IRC: a banned user gets ERR_BANNEDFROMCHAN (474) "Cannot join
    channel (+b)". bob's node let the JOIN go by its copy of the room, which had no ban yet;
    the ban was sequenced first: no node lets him in, and the room's state has no trace."""
    cluster = Cluster()
    alice = op_in_room(cluster)
    bob = cluster.nodes[1].client("bob")
    join_raced(cluster, alice, "MODE #room +b bob!*@*", bob, "#room")
    got = bob.lines()
    assert "474" in [m.command for m in got] and not [m for m in got if m.command == "JOIN"]
    assert [m.command for m in alice.lines()] == ["MODE"]  # the ban, and no JOIN after it
    for node in cluster.nodes:
        channel = node.server.find_channel("#room")
        assert channel is None or {user.nick for user in channel.members} == {"alice"}
    # bob's node, which followed the room for his JOIN alone, lets go of it (a fuzz finding).
    assert cluster.nodes[1].server.find_channel("#room") is None
    assert "#room" not in cluster.nodes[1].network.rooms
    assert not any(field.endswith(":bob") for field in cluster.bus.fields["#room"])
    stored = [record.command for record in cluster.store.latest("#room", 10)]
    assert "JOIN" not in stored[1:]  # alice's own JOIN only, if JOINs are stored
    # Unbanned, bob joins as usual.
    alice.send("MODE #room -b bob!*@*")
    bob.send("JOIN #room")
    assert bob.lines()[0].command == "JOIN"


def test_a_join_sequenced_after_plus_i_or_a_full_limit_is_refused() -> None:
    """Modern IRC: ERR_INVITEONLYCHAN (473) "Cannot join channel (+i)", ERR_CHANNELISFULL
    (471) "Cannot join channel (+l)"; both set just before the JOIN in the sequence."""
    cluster = Cluster(3)
    alice = op_in_room(cluster)
    bob = cluster.nodes[1].client("bob")
    join_raced(cluster, alice, "MODE #room +i", bob, "#room")
    assert "473" in bob.numerics()
    alice.send("MODE #room -i")
    bob.send("JOIN #room")
    assert bob.lines()[0].command == "JOIN"
    carol = cluster.nodes[2].client("carol")
    join_raced(cluster, alice, "MODE #room +l 2", carol, "#room")
    assert "471" in carol.numerics()
    assert {u.nick for u in cluster.nodes[0].server.channels["#room"].members} == {"alice", "bob"}


def test_a_node_that_loaded_a_refused_joiner_before_its_void_lets_him_part() -> None:
    """Node c opens the room after the refused JOIN and before the void that deletes the
    joiner's fields: it loaded bob as a member, and shows him leaving when the void comes."""
    cluster = Cluster(3)
    alice = op_in_room(cluster)
    bob = cluster.nodes[1].client("bob")
    carol = cluster.nodes[2].client("carol")
    bus = cluster.bus
    bus.held = True
    bob.send("JOIN #room")
    open_first(bus)
    alice.send("MODE #room +b bob!*@*")
    join, ban = bus.waiting
    bus.waiting = []
    bus.answer(ban)
    bus.answer(join)  # applied and refused on node b, whose void now waits
    (void,) = bus.waiting
    bus.waiting = []
    carol.send("JOIN #room")
    (carol_open,) = bus.waiting
    bus.waiting = [carol_open, void]
    bus.release()
    got = carol.lines()
    assert "bob" in next(m for m in got if m.command == "353").params[-1].split()
    parted = [m for m in got if m.command == "PART"]
    assert [(m.nick, m.params[-1]) for m in parted] == [("bob", "Cannot join channel (+b)")]
    assert {u.nick for u in cluster.nodes[2].server.channels["#room"].members} == {
        "alice",
        "carol",
    }
    assert not any(field.endswith(":bob") for field in bus.fields["#room"])


def two_operators(cluster: Cluster) -> tuple[Client, Client]:
    """alice (node a) and bob (node b), both operators of #room."""
    alice, bob = room_of_two(cluster)
    alice.send("MODE #room +o bob")
    cluster.drain()
    return alice, bob


def members(cluster: Cluster) -> list[dict[str, bool] | None]:
    """Each node's #room (None: it does not follow it): member nicks, and which are operators."""
    rooms = [node.server.channels.get("#room") for node in cluster.nodes]
    return [
        None if room is None else {user.nick: m.op for user, m in room.members.items()}
        for room in rooms
    ]


def test_a_kick_sequenced_after_its_sender_was_deopped_is_refused_everywhere() -> None:
    """Modern IRC, KICK: the sender must be a channel operator, else ERR_CHANOPRIVSNEEDED
    (482) "You're not channel operator". bob's node let his KICK go by its copy of the room,
    where he was still an operator; alice's deop was sequenced first: nobody is kicked."""
    cluster = Cluster(3)
    alice, bob = two_operators(cluster)
    carol = cluster.nodes[2].client("carol")
    carol.send("JOIN #room")
    cluster.drain()
    raced(cluster, alice, "MODE #room -o bob", bob, "KICK #room carol :out")
    assert "482" in bob.numerics()
    assert not [m for m in carol.lines() if m.command == "KICK"]
    expected = {"alice": True, "bob": False, "carol": False}
    assert members(cluster) == [expected] * 3
    fields = cluster.bus.fields["#room"]
    assert {"m:carol", "s:carol"} <= set(fields) and fields["s:bob"] == ""
    stored = [record.command for record in cluster.store.latest("#room", 10)]
    assert "KICK" not in stored


def test_a_kick_sequenced_after_its_sender_was_kicked_gets_not_on_channel() -> None:
    """Modern IRC, KICK: ERR_NOTONCHANNEL (442) for a sender not on the channel: alice
    kicked bob first; bob's KICK of alice, on its way, kicks nobody."""
    cluster = Cluster()
    alice, bob = two_operators(cluster)
    raced(cluster, alice, "KICK #room bob :first", bob, "KICK #room alice :second")
    assert "442" in bob.numerics()
    assert members(cluster) == [{"alice": True}, None]
    assert "m:alice" in cluster.bus.fields["#room"]


def test_a_mode_sequenced_after_its_sender_was_deopped_changes_nothing() -> None:
    """Modern IRC, MODE: a change by a non-operator gets ERR_CHANOPRIVSNEEDED (482); the room
    stays as it is on every node and in the state fields a node opening it later reads."""
    cluster = Cluster(3)
    alice, bob = two_operators(cluster)
    raced(cluster, alice, "MODE #room -o bob", bob, "MODE #room +mo-o bob alice")
    assert "482" in bob.numerics()
    assert [m.command for m in alice.lines()] == ["MODE"]  # her own deop only
    for node in cluster.nodes[:2]:
        assert not node.server.channels["#room"].moderated
    assert members(cluster)[:2] == [{"alice": True, "bob": False}] * 2
    fields = cluster.bus.fields["#room"]
    assert "mode:m" not in fields and (fields["s:alice"], fields["s:bob"]) == ("o", "")
    dave = cluster.nodes[2].client("dave")
    dave.send("JOIN #room")
    assert not cluster.nodes[2].server.channels["#room"].moderated


def test_a_topic_sequenced_after_plus_t_from_a_plain_member_is_refused() -> None:
    """Modern IRC, TOPIC: "If the protected topic mode is set on a channel, then clients
    MUST have appropriate channel permissions to modify the topic"; bob (no operator) set
    the topic of a room without +t as alice set +t, sequenced first."""
    cluster = Cluster()
    alice, bob = room_of_two(cluster)
    alice.send("MODE #room -t")
    cluster.drain()
    raced(cluster, alice, "MODE #room +t", bob, "TOPIC #room :bob's topic")
    assert "482" in bob.numerics()
    for node in cluster.nodes:
        assert node.server.channels["#room"].topic is None
    assert "topic" not in cluster.bus.fields["#room"]
    alice.send("MODE #room -t")  # without +t again, his topic is taken
    bob.send("TOPIC #room :bob's topic")
    assert cluster.bus.fields["#room"].get("topic") is not None


def test_a_message_sent_as_its_sender_is_kicked_is_answered_and_the_next_commands_run() -> None:
    """bob's message is on its way as alice kicks him, his node's last member of #room: the
    node keeps following the room until the message is back, which refuses it (bob is no
    member: ERR_CANNOTSENDTOCHAN, 404, as on one server), then lets go of the room. Its
    reply used to wait forever, and every later line of bob's behind it."""
    cluster = Cluster()
    alice, bob = room_of_two(cluster)
    raced(cluster, alice, "KICK #room bob :out", bob, "PRIVMSG #room :too late")
    got = bob.lines()
    assert [m.command for m in got] == ["KICK", "404"]
    bob.send("PING :still here")
    assert [m.command for m in bob.lines()] == ["PONG"]
    assert "#room" not in cluster.nodes[1].server.channels
    assert "#room" not in cluster.nodes[1].network.rooms
    assert "too late" not in texts(alice)


def test_an_invite_to_plus_i_sequenced_after_its_sender_was_deopped_invites_nobody() -> None:
    """Modern IRC, INVITE: "if the channel has invite-only mode set, only channel operators
    may issue INVITE command. Otherwise, the server MUST reject the command with the
    ERR_CHANOPRIVSNEEDED numeric"; the deop was sequenced just before bob's INVITE."""
    cluster = Cluster(3)
    alice, bob = two_operators(cluster)
    alice.send("MODE #room +i")
    cluster.drain()
    carol = cluster.nodes[2].client("carol")
    raced(cluster, alice, "MODE #room -o bob", bob, "INVITE carol #room")
    assert "482" in bob.numerics()
    assert not [m for m in carol.lines() if m.command == "INVITE"]
    assert "i:carol" not in cluster.bus.fields["#room"]
    assert all("carol" not in node.server.channels["#room"].invited for node in cluster.nodes[:2])
    carol.send("JOIN #room")
    assert "473" in carol.numerics()
