"""Users across the cluster in the core (hubbub.core.cluster_users), cores on an in-memory bus:
AWAY and user modes of users of other nodes, INVITE and KILL across nodes, K-/D-lines on every
node. The same on real nodes (Redis, PostgreSQL): tests/cluster/test_nodes_users.py.
"""

from __future__ import annotations

import json

from core_helpers import one, only
from test_cluster_core import Cluster

from hubbub.core.cluster_fields import member_field
from hubbub.core.modes import give_up_oper


def test_away_and_user_modes_reach_the_other_node() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob", ["away-notify"])
    alice.send("JOIN #lobby")
    alice.send("JOIN #other")
    bob.send("JOIN #lobby")
    bob.send("JOIN #other")
    cluster.drain()
    alice.send("AWAY :lunch")
    assert alice.numerics() == ["306"]
    away = only(bob.lines(), "AWAY")
    assert [(m.source.partition("!")[0], m.params) for m in away] == [("alice", ("lunch",))]
    bob.send("WHOIS alice")
    got = bob.lines()
    assert one(got, "301").params[1:] == ("alice", "lunch")
    bob.send("PRIVMSG alice :are you there?")
    assert one(bob.lines(), "301").params[1:] == ("alice", "lunch")
    alice.drain()
    alice.send("MODE alice +Bi")
    alice.drain()
    bob.send("WHO #lobby")
    flags = {m.params[5]: m.params[6] for m in only(bob.lines(), "352")}
    assert flags["alice"].startswith("G") and "B" in flags["alice"]
    bob.send("WHOIS alice")
    assert one(bob.lines(), "335").params[1] == "alice"
    alice.send("AWAY")
    back = only(bob.lines(), "AWAY")
    assert len(back) == 1 and back[0].params == ()
    # A node that opens a room later learns the state from the room's member field.
    carol = b.client("carol")
    carol.send("JOIN #lobby")
    carol.drain()
    fields = cluster.bus.fields["#lobby"]
    assert '"um": "Bi"' in fields[member_field("alice")]


def test_a_user_state_refused_by_the_bus_is_sent_when_it_is_back() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob", ["away-notify"])
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    cluster.bus.available = False
    alice.send("AWAY :gone fishing")
    assert alice.numerics() == ["306"]  # set here; the others are told when the bus is back
    assert bob.raw() == []
    cluster.bus.available = True
    a.server.network_available(True)
    assert [m.params for m in only(bob.lines(), "AWAY")] == [("gone fishing",)]


def test_invite_of_a_user_of_another_node_lets_it_join() -> None:
    """The invitee's node does not follow the room: the invitation reaches it through its
    inbox, and its JOIN passes +i with the room's invite field."""
    cluster = Cluster()
    a, b = cluster.nodes
    op = a.client("op", ["invite-notify"])
    watcher = b.client("watcher", ["invite-notify"])
    guest = b.client("guest")
    op.send("JOIN #secret")
    watcher.send("JOIN #secret")
    op.send("MODE #secret +io watcher")
    cluster.drain()
    op.send("INVITE guest #secret")  # a nick node a has never seen
    assert op.numerics() == ["341"]
    invite = one(guest.lines(), "INVITE")
    assert invite.source.startswith("op!") and invite.params == ("guest", "#secret")
    assert one(watcher.lines(), "INVITE").params == ("guest", "#secret")
    guest.send("INVITE")
    got = guest.lines()
    assert [m.command for m in got] == ["336", "337"] and got[0].params[1] == "#secret"
    guest.send("JOIN #secret")
    assert one(guest.lines(), "JOIN").params[0] == "#secret"
    assert "i:guest" not in cluster.bus.fields["#secret"]  # used up
    op.send("INVITE nobody #secret")
    assert op.numerics() == ["401"]


def test_an_inviter_kicked_while_the_invitee_is_looked_up_is_told_it_is_not_on_the_channel() -> (
    None
):
    """alice (node a, alone of her node in #room) invites guest, whose node the bus is asked
    for; bob's KICK of her is applied first, and node a stops following #room. Her INVITE is
    answered as on one server where the KICK came first: 442 (a fuzz finding: it was sent to
    the room node a no longer followed, so its answer never came and her later commands
    waited for good)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob, guest = a.client("alice"), b.client("bob"), b.client("guest")
    bob.send("JOIN #room")
    alice.send("JOIN #room")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    alice.send("INVITE guest #room")
    locate = bus.take_waiting()  # where guest is
    bob.send("KICK #room alice :out")
    bus.release()  # the KICK, applied on every node ...
    assert "#room" not in a.server.channels
    bus.answer(locate)  # ... before the invitee's node is known
    assert alice.numerics() == ["442"]
    assert not [m for m in guest.lines() if m.command == "INVITE"]
    alice.send("PING :still here")
    assert one(alice.lines(), "PONG").params[-1] == "still here"


def test_kill_of_a_user_of_another_node() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    victim = b.client("victim")
    witness = a.client("witness")
    victim.send("JOIN #lobby")
    witness.send("JOIN #lobby")
    cluster.drain()
    root.send("KILL victim :spamming")
    assert "Killed victim (spamming)" in one(root.lines(), "NOTICE").params[-1]
    got = victim.lines()
    assert one(got, "KILL").params == ("victim", "spamming")
    assert victim.session.closed
    quits = only(witness.lines(), "QUIT")
    assert [m.params[-1] for m in quits] == ["Killed by root (spamming)"]
    root.send("KILL someone :who?")
    assert root.numerics() == ["401"]


def test_a_kline_set_on_one_node_applies_on_the_other() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    victim = b.client("victim")
    victim.user.hostname = victim.session.host = "10.9.9.9"
    root.send("KLINE *@10.9.9.9 :go away")
    assert victim.session.closed
    assert one(victim.lines(), "465").params[-1].endswith("go away")
    assert ("K", "*@10.9.9.9") in b.server.registry.bans
    root.send("UNKLINE *@10.9.9.9")
    assert ("K", "*@10.9.9.9") not in b.server.registry.bans


def test_a_ban_the_bus_refused_is_announced_when_it_is_back() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    victim = b.client("victim")
    victim.user.hostname = victim.session.host = "10.9.9.9"
    cluster.bus.available = False
    root.send("KLINE *@10.9.9.9 :later")
    assert ("K", "*@10.9.9.9") in a.server.registry.bans  # in force here at once
    assert not victim.session.closed
    cluster.bus.available = True
    a.server.network_available(True)
    assert victim.session.closed
    assert ("K", "*@10.9.9.9") in b.server.registry.bans


def test_a_node_applying_a_ban_event_late_does_not_write_it_over_a_later_version() -> None:
    """Every node writes each ban event it applies to the shared store, in place of what the
    events before it left: node n1, lagging, applies the first K-line after its operator's
    node stored a second version of it (not announced: the bus had gone), and leaves that
    in the store. (It wrote the first back over it; the nodes reading the store then, at the
    burial of the node that stored it, read two versions: a cluster fuzz finding, seed
    6728235.)"""
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    cluster.bus.lag("n1")
    root.send("KLINE *@10.9.9.9 :first")
    cluster.bus.cut_off("n0")
    a.server.network_available(False)
    root.send("KLINE *@10.9.9.9 :second")  # stored; its announcement refused
    cluster.bus.catch_up("n1")
    assert b.server.registry.bans[("K", "*@10.9.9.9")].reason == "first"
    assert [ban.reason for ban in cluster.registry.store.bans()] == ["second"]


def test_an_invitation_on_one_node_is_known_to_the_room_on_every_node() -> None:
    """Both in the room's copies: an op of another node hears it (invite-notify), and the
    invitee, a user of the inviter's own node, sees the INVITE once."""
    cluster = Cluster()
    a, b = cluster.nodes
    op = a.client("op")
    guest = a.client("guest")
    watcher = b.client("watcher", ["invite-notify"])
    op.send("JOIN #room")
    watcher.send("JOIN #room")
    op.send("MODE #room +o watcher")
    cluster.drain()
    op.send("INVITE guest #room")
    assert op.numerics() == ["341"]
    assert len(only(guest.lines(), "INVITE")) == 1
    assert one(watcher.lines(), "INVITE").params == ("guest", "#room")
    assert "guest" in b.server.channels["#room"].invited


def test_an_op_and_an_away_of_the_same_user_in_the_same_instant_both_stay() -> None:
    """alice ops bob on node a while bob goes away on node b, both before either event is
    sequenced: a node that opens the room afterwards sees bob both opped and away. (With the
    standing inside the member field, each node rewrote the whole field as it saw it, and
    the event sequenced second undid the first one's part.)"""
    for away_first in (False, True):
        cluster = Cluster(3)
        a, b, c = cluster.nodes
        alice = a.client("alice")
        bob = b.client("bob")
        alice.send("JOIN #lobby")
        cluster.drain()
        bob.send("JOIN #lobby")
        cluster.drain()
        cluster.bus.held = True
        if away_first:
            bob.send("AWAY :lunch")
            alice.send("MODE #lobby +o bob")
        else:
            alice.send("MODE #lobby +o bob")
            bob.send("AWAY :lunch")
        cluster.bus.release()
        cluster.drain()
        carol = c.client("carol")
        carol.send("JOIN #lobby")
        assert "@bob" in one(carol.lines(), "353").params[-1].split()
        carol.send("WHO #lobby")
        flags = {m.params[5]: m.params[6] for m in only(carol.lines(), "352")}
        assert flags["bob"] == "G@", away_first


def test_a_user_killed_while_its_nick_change_is_on_its_way_leaves_under_its_new_nick() -> None:
    """bob is killed from another node while his NICK to zed is on its way. His node lets
    him go once the NICK is back: the other node sees him become zed, then quit, and neither
    nick stays claimed or listed (his QUIT named him bob, sequenced after his NICK: nobody
    was found, and zed stayed in #lobby for good). A cluster fuzz finding."""
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    bob = b.client("bob")
    for client in (root, bob):
        client.send("JOIN #lobby")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    bob.send("NICK zed")
    bus.answer_from("n1")  # the claim: his NICK event goes to #lobby (held)
    root.send("KILL bob :spamming")
    bus.answer_from("n0")  # the KILL reaches bob's node before his NICK is sequenced
    assert bob.session.closed
    bus.release()
    assert [(m.command, m.params[-1]) for m in root.lines() if m.command in ("NICK", "QUIT")] == [
        ("NICK", "zed"),
        ("QUIT", "Killed by root (spamming)"),
    ]
    lobby = a.server.find_channel("#lobby")
    assert lobby is not None and {user.nick for user in lobby.members} == {"root"}
    assert not any(
        name.startswith("m:") and name != member_field("root") for name in bus.fields["#lobby"]
    )
    assert "nick:zed" not in bus.claims and "nick:bob" not in bus.claims


def test_a_user_killed_before_its_claim_came_back_leaves_the_nick_to_its_neighbour() -> None:
    """alice and bob, on one node, both ask for zed (the bus's claims are per node: both
    win it); bob is killed before his answer comes. alice has zed, and the node's claim of it
    stays (bob's answer released it, leaving alice with a nick the bus did not hold). A
    cluster fuzz finding."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), a.client("bob")
    root = b.client("root")
    root.user.oper = "root"
    bus = cluster.bus
    bus.held = True
    root.send("KILL bob :spamming")  # node b asks the bus where bob is: held
    alice.send("NICK zed")
    bob.send("NICK zed")
    bus.answer_from("n1", 2)  # bob located on node a, then the KILL sequenced: he is gone
    assert bob.session.closed
    bus.release()  # alice's claim, then bob's
    assert alice.user.nick == "zed"
    assert bus.claims.get("nick:zed") == "n0"


def test_a_join_of_a_user_gone_meanwhile_keeps_the_room_made_for_a_join_after_it() -> None:
    """frank's JOIN creates #new; erin's, sent at once on the same node, joins it as a plain
    member (the bus has frank's member fields); frank was killed before his JOIN came back to
    his node, which lets him go again. His node must not take erin's JOIN for the room's
    creation (it made her an operator there only: the bus and any other node did not)."""
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    frank, erin = b.client("frank"), b.client("erin")
    bus = cluster.bus
    bus.held = True
    root.send("KILL frank :spamming")  # node a asks the bus where frank is: held
    frank.send("JOIN #new")  # node b opens #new: held
    erin.send("JOIN #new")
    bus.lag("n1")
    bus.release()  # the KILL, then both JOINs, all on their way to node b
    bus.catch_up("n1")  # the KILL first: frank is gone when his JOIN comes back
    assert frank.session.closed
    room = b.server.find_channel("#new")
    assert room is not None
    assert {(user.nick, standing.op) for user, standing in room.members.items()} == {
        ("erin", False)
    }
    assert bus.fields["#new"]["s:erin"] == ""
    assert member_field("frank") not in bus.fields["#new"]


def test_an_away_change_meeting_a_kick_does_not_bring_the_member_back() -> None:
    """alice goes away as carol, on another node, kicks her from #lobby: the KICK is sequenced
    first. Her away state is written into her member field in the room's state only if that
    field is still there, so a node opening #lobby later does not find her listed (it did)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, carol = a.client("alice"), b.client("carol")
    carol.send("JOIN #lobby")
    alice.send("JOIN #lobby")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    carol.send("KICK #lobby alice :out")
    alice.send("AWAY :lunch")
    bus.release()
    assert member_field("alice") not in bus.fields["#lobby"]
    lobby = b.server.find_channel("#lobby")
    assert lobby is not None and {user.nick for user in lobby.members} == {"carol"}


def test_a_nick_taken_from_a_user_killed_while_its_join_was_on_its_way_stays_in_that_room() -> None:
    """bob is killed while his JOIN to #b is on its way; erin, on another node, takes his nick
    and joins #b before the QUIT bob's node sends once that JOIN is back (`departed`). Her
    member fields are written only if absent, and bob's were there: they were not, and bob's
    QUIT then deleted his. #b's state on the bus lost her, for every node opening it later to
    see (a cluster fuzz finding, with no outage). bob's node now sends his QUIT behind his JOIN
    as he leaves, and his nick is free only with it."""
    cluster = Cluster()
    a, b = cluster.nodes
    root, bob = a.client("root"), a.client("bob")
    root.user.oper = "root"
    erin = b.client("erin")
    bus = cluster.bus
    bus.lag("n0")  # bob's node gets his JOIN back only at the end
    bob.send("JOIN #b")
    root.send("KILL bob :out")  # in no room yet: his nick is free at once
    erin.send("NICK bob")
    erin.send("JOIN #b")
    bus.catch_up("n0")  # bob's JOIN is back to a gone user: his node sends his QUIT
    fields = bus.fields["#b"]
    assert json.loads(fields[member_field("bob")])["id"] == erin.user.network_id
    room = b.server.find_channel("#b")
    assert room is not None and list(room.members) == [erin.user]


def test_an_operator_taken_away_while_its_nick_change_is_on_its_way_is_so_everywhere() -> None:
    """The server takes alice's operator status away (REHASH: her entry left the config)
    while her NICK to zoe is on its way. The change used to name her old nick, whose member
    field her NICK moved, and every other node ignored it: she stayed an operator there (WHOIS
    313, WHO `*`) until her next change. It now waits for her NICK to settle, and names zoe."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    alice.user.oper = "root"
    for client in (alice, bob):
        client.send("JOIN #lobby")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    alice.send("NICK zoe")
    bus.answer_from("n0")  # the claim: her NICK event goes to #lobby (held)
    give_up_oper(a.server, alice.user, "removed from the configuration")
    bus.release()
    cluster.drain()
    assert b.server.users["zoe"].oper == ""
    assert json.loads(bus.fields["#lobby"][member_field("zoe")])["op"] == ""
