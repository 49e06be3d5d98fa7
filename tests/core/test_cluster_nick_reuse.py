"""A nick taken the instant its user quit (hubbub.core.cluster_propose, `release_claim`): the
claim is released by the bus with the user's last QUIT, so every node applies the QUITs before
any event of the nick's next holder, and nobody is left in a room under a nick someone else
has.

Modern IRC, NICK: "If the server receives a NICK command from a client where the desired
nickname is already in use on the network, it should issue an ERR_NICKNAMEINUSE numeric".
"""

from __future__ import annotations

import json

from core_helpers import Client, one
from test_cluster_core import Cluster

from hubbub.core.cluster_fields import member_field
from support.core_services import MemoryBus


def test_a_nick_claimed_before_its_holders_quit_is_sequenced_is_in_use() -> None:
    """frank (node c, in #room with bob of node b) quits while alice (node a, who shares no
    room with him, so asks the bus) takes his nick; the bus answers alice's claim first.
    frank's QUIT, which carries the release, is not sequenced yet: the nick is in use. (It was
    released before the QUIT was sent: alice won it, her JOIN of #room was taken for his, and
    his QUIT then removed her.)"""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, bob, frank = a.client("alice"), b.client("bob"), c.client("frank")
    for client in (bob, frank):
        client.send("JOIN #room")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    c.server.disconnect(frank.session, "Connection reset", cluster.now)
    alice.send("NICK frank")
    assert "n0" in [bus.callers[run] for run in bus.waiting]  # alice's claim, held
    bus.waiting.sort(key=lambda run: bus.callers[run] != "n0")  # answered first
    bus.release()
    assert one(alice.lines(), "433").params[1] == "frank"
    assert {user.nick for user in b.server.channels["#room"].members} == {"bob"}
    assert "#room" not in c.server.channels  # nobody of node c is in it any more
    assert member_field("frank") not in bus.fields["#room"]
    # Now that he is gone everywhere, the nick is free, and she joins under it.
    alice.send("NICK frank")
    assert one(alice.lines(), "NICK").params[0] == "frank"
    alice.send("JOIN #room")
    for node in (a, b):
        members = {user.nick for user in node.server.channels["#room"].members}
        assert members == {"frank", "bob"}, node.network.node_id


def test_a_nick_change_meeting_a_kick_still_renames_the_user() -> None:
    """carol's NICK is sequenced in #room just after alice's KICK of her, which her node
    applied first: her node keeps following #room until the NICK is back, so she is renamed
    (her only room was where it was sequenced), holds only the new nick's claim, and the room's
    state gets no member field for her."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, carol = a.client("alice"), b.client("carol")
    alice.send("JOIN #room")
    carol.send("JOIN #room")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    carol.send("NICK zed")
    bus.take_waiting()()  # her claim, won: her NICK in #room waits
    alice.send("KICK #room carol :out")
    nick_event, kick = bus.waiting
    bus.waiting = [kick, nick_event]
    bus.release()
    assert carol.user.nick == "zed"
    assert any(m.command == "NICK" and m.params[0] == "zed" for m in carol.lines())
    assert {key for key, owner in bus.claims.items() if owner == "n1"} == {"nick:zed"}
    assert not any(field.endswith((":carol", ":zed")) for field in bus.fields["#room"])
    assert "#room" not in b.server.channels


def in_rooms_then_slow(cluster: Cluster, *joins: tuple[Client, str]) -> MemoryBus:
    """Each client joins its room; then node a gets every room's events late (`bus.lag`)."""
    for client, room in joins:
        client.send(f"JOIN {room}")
    cluster.drain()
    cluster.bus.lag("n0")
    return cluster.bus


def test_a_user_seen_under_its_new_nick_before_its_nick_change_is_one_user() -> None:
    """carol (node b) shares #one with alice (node a) and is in #two too; she becomes yan
    while node a is slow to get its rooms' events, and alice joins #two then: node a reads
    #two's members (yan) before it applies carol's NICK in #one. When it does, carol and yan
    are one user again, renamed, in both rooms (a fuzz finding: node a kept a second user yan
    in #two, and its copy of #one never matched the others)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, carol = a.client("alice"), b.client("carol")
    bus = in_rooms_then_slow(cluster, (alice, "#one"), (carol, "#one"), (carol, "#two"))
    carol.send("NICK yan")
    alice.send("JOIN #two")  # node a reads #two's state: yan is there
    bus.catch_up("n0")
    users = a.server.users
    assert "carol" not in users and users["yan"].nick == "yan"
    for room in ("#one", "#two"):
        assert set(a.server.channels[room].members) == {users["alice"], users["yan"]}
    got = alice.lines()
    assert [m.params for m in got if m.command == "NICK"] == [("yan",)]
    alice.send("NAMES #one")
    assert set(one(alice.lines(), "353").params[-1].split()) == {"@alice", "yan"}


def carol_passes_her_nick_to_frank_while_node_a_is_slow(
    said: str = "",
) -> tuple[Cluster, Client, Client]:
    """carol (node b, in #one with alice of node a; having said `said` there, if anything)
    becomes zed, and frank (node c, in #two) takes the nick carol at once, while node a is slow
    to get its rooms' events; alice joins #two then, and node a reads its members: carol there
    is frank. Then node a catches up. Returns the cluster, alice and frank."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice, carol, frank = a.client("alice"), b.client("carol"), c.client("frank")
    bus = in_rooms_then_slow(cluster, (alice, "#one"), (carol, "#one"), (frank, "#two"))
    if said:
        carol.send(f"PRIVMSG #one :{said}")
    carol.send("NICK zed")
    frank.send("NICK carol")
    alice.send("JOIN #two")  # node a reads #two's state: carol (frank) is there
    bus.catch_up("n0")
    return cluster, alice, frank


def test_a_nick_taken_by_another_user_before_a_slow_node_renamed_its_holder() -> None:
    """Node a keeps carol and frank apart by their network ids: carol's NICK renames her, not
    him (a fuzz finding: node a took frank for carol, and renamed him zed)."""
    cluster, _, frank = carol_passes_her_nick_to_frank_while_node_a_is_slow()
    a = cluster.nodes[0]
    users = a.server.users
    renamed, taker = users["zed"], users["carol"]
    assert renamed is not taker
    assert renamed.username == "~carol" and taker.username == "~frank"
    assert set(a.server.channels["#one"].members) == {users["alice"], renamed}
    assert set(a.server.channels["#two"].members) == {users["alice"], taker}
    frank.send("QUIT :bye")  # his QUIT finds him, not her
    assert set(a.server.channels["#one"].members) == {users["alice"], renamed}
    assert "carol" not in users


def test_a_message_from_a_nick_a_slow_node_knows_under_two_users_is_its_senders() -> None:
    """carol's message, sequenced before her NICK and applied by node a after it read frank
    as carol, is hers by its network id: alice gets it (it was refused there, as if frank, who
    is not in #one, had sent it)."""
    _, alice, _ = carol_passes_her_nick_to_frank_while_node_a_is_slow("before my nick change")
    got = alice.lines()
    said = [(m.source, m.params) for m in got if m.command == "PRIVMSG"]
    assert said == [("carol!~carol@127.0.0.1", ("#one", "before my nick change"))]


def test_a_nick_is_free_only_once_its_holders_nick_is_back_from_every_room() -> None:
    """erin (node b) and alice (node a) share #one and #two; erin becomes yan, and her NICK is
    back from #one (she is renamed) but not yet from #two. alice asks for erin then: still in
    use, since #two knows erin by that nick until its NICK is sequenced (a fuzz finding: the
    nick was free at once, alice's NICK reached #two first, and the room's member fields lost
    her). Once the NICK is back from #two, the nick is free."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, erin = a.client("alice"), b.client("erin")
    for client in (erin, alice):
        for room in ("#one", "#two"):
            client.send(f"JOIN {room}")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    erin.send("NICK yan")
    bus.answer(bus.take_waiting())  # her claim
    first, second = bus.waiting
    bus.waiting = [second]
    bus.answer(first)  # #one's NICK: erin is yan now
    assert erin.user.nick == "yan"
    alice.lines()
    alice.send("NICK erin")
    claim = bus.waiting.pop()
    bus.answer(claim)
    assert one(alice.lines(), "433").params[1] == "erin"
    bus.release()
    alice.send("NICK erin")
    assert one(alice.lines(), "NICK").params[0] == "erin"
    fields = bus.fields["#two"]
    assert json.loads(fields[member_field("erin")])["u"] == "~alice"
    assert json.loads(fields[member_field("yan")])["u"] == "~erin"
