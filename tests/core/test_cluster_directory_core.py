"""The network directory in the core (hubbub.core.cluster_directory), several cores on one
in-memory bus: WHO with a mask over every node, WHOIS's rooms from the directory, the
network-room events for MONITOR and extended-monitor (and those refused, sent again)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core_helpers import one, only
from test_cluster_core import Cluster

from hubbub.core.cluster_fields import registered_ms
from hubbub.core.network import buried_payload
from hubbub.core.ports import NETWORK_ROOM
from hubbub.protocol.message import Message
from support.config import changed


def nicks(lines: list[Message]) -> list[str]:
    return sorted(m.params[5] for m in only(lines, "352"))


def test_who_with_a_mask_adds_the_users_of_other_nodes_from_the_directory() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    a.client("alice")
    a.client("anna")
    ghost = a.client("ghost")
    ghost.send("MODE ghost +i")
    bob = b.client("bob")
    cluster.drain()
    bob.send("WHO a*")
    got = bob.lines()
    assert nicks(got) == ["alice", "anna"] and got[-1].command == "315"
    bob.send("WHO *")
    assert nicks(bob.lines()) == ["alice", "anna", "bob"]  # ghost: +i, no room shared


def test_who_with_a_mask_is_capped_over_every_node_and_refused_without_the_bus() -> None:
    cluster = Cluster()
    for node in cluster.nodes:
        node.config = node.server.config = changed(node.config, limits={"who_replies": 2})
    a, b = cluster.nodes
    a.client("user1")
    a.client("user2")
    bob = b.client("bob")
    cluster.drain()
    bob.send("WHO *")
    got = bob.lines()
    assert len(only(got, "352")) == 2 and len(only(got, "416")) == 1
    cluster.bus.available = False
    bob.send("WHO *")
    got = bob.lines()
    assert one(got, "FAIL").params[:3] == ("WHO", "TEMPORARILY_UNAVAILABLE", "*")
    assert nicks(got) == ["bob"] and got[-1].command == "315"


def test_whois_lists_the_rooms_of_a_user_of_another_node_from_its_entry() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    carol = a.client("carol")
    bob = b.client("bob")
    alice.send("JOIN #open")
    alice.send("JOIN #secret")
    alice.send("MODE #secret +s")
    carol.send("JOIN #talk")
    alice.send("JOIN #talk")
    carol.send("MODE #talk +v alice")
    cluster.drain()
    bob.send("WHOIS alice")
    assert sorted(one(bob.lines(), "319").params[-1].split()) == ["+#talk", "@#open"]
    alice.send("PART #open")
    bob.send("WHOIS alice")
    assert one(bob.lines(), "319").params[-1] == "+#talk"


def test_monitor_and_extended_monitor_events_refused_are_sent_when_the_bus_is_back() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    carol = a.client("carol")
    bob = b.client("bob", ["extended-monitor", "away-notify"])
    bob.send("MONITOR + alice,carol")
    assert only(bob.lines(), "730")
    cluster.bus.available = False
    a.server.network_available(False)
    carol.send("AWAY :stranded")
    alice.send("QUIT :bye")
    cluster.drain()
    assert bob.raw() == []
    cluster.bus.available = True
    a.server.network_available(True)
    got = bob.lines()
    assert [(m.command, m.params[-1]) for m in got] == [("AWAY", "stranded"), ("731", "alice")]


def test_a_monitor_answer_naming_a_user_of_a_node_buried_meanwhile_says_offline() -> None:
    """monitor: RPL_MONOFFLINE "that a target has just left the irc network". A directory
    answer is read before it arrives; the burial of the user's node may end in between (in
    Redis, the read and the `buried` event travel on different connections), and the
    answer is then stale (hubbub.core.cluster_monitor `buried_meanwhile`)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    a.client("alice")
    bob = b.client("bob")
    cluster.drain()
    answers: list[tuple[list[str | None] | None, Callable[..., None]]] = []
    directory = cluster.bus.directory

    def read_now_answer_later(keys: Sequence[str], done: Callable[..., None]) -> None:
        answers.append(([directory[key][1] if key in directory else None for key in keys], done))

    b.server.cluster.watching.lookup = read_now_answer_later
    bob.send("MONITOR + alice")
    assert answers and bob.raw() == []
    c.network.sequence(NETWORK_ROOM, buried_payload("n0", {}), {}, (), lambda *_: None)
    cluster.drain()
    entries, done = answers.pop()
    done(entries)
    assert [(m.command, m.params[-1]) for m in bob.lines()] == [("731", "alice")]


def test_the_burial_by_a_successor_under_the_same_node_id_leaves_its_users() -> None:
    """A process started under a dead one's node id buries it before it serves; a node whose
    network room lags may apply a new user's JOIN before that `buried` event, whose `b` (the
    successor's start) tells her apart from the dead incarnation's users."""
    cluster = Cluster()
    a, b = cluster.nodes
    carol = a.client("carol")
    carol.send("JOIN #r")
    bob = b.client("bob")
    bob.send("JOIN #r")
    bob.send("MONITOR + carol")
    cluster.drain()
    registered = registered_ms(a.server.users["carol"].network_id)
    assert registered is not None

    def bury(before: int) -> None:
        payload = buried_payload("n0", {}, before)
        b.network.sequence(NETWORK_ROOM, payload, {}, (), lambda *_: None)

    bury(registered)  # she registered as the successor started: one of its users
    assert bob.lines() == []
    assert "carol" in [user.nick for user in b.server.channels["#r"].members]
    bury(registered + 1)  # she registered before: the dead incarnation's
    got = bob.lines()
    assert [(m.command, m.params[-1]) for m in got if m.command in ("QUIT", "731")] == [
        ("QUIT", "Server lost: its connection to the network timed out"),
        ("731", "carol"),
    ]
