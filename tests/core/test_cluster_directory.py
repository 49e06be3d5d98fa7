"""The network directory in the core (hubbub.core.cluster_directory): what a node answers
about users and rooms it does not follow, on the in-memory bus (support.core_services)."""

from __future__ import annotations

from core_helpers import one, only
from test_cluster_core import Cluster


def test_whois_and_who_find_a_user_of_another_node_sharing_no_room() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("AWAY :lunch")
    alice.send("MODE alice +B")
    bob.send("WHOIS alice")
    got = bob.lines()
    assert [m.command for m in got] == ["311", "312", "301", "335", "318"]
    assert got[0].params[1:4] == ("alice", "~alice", "127.0.0.1")
    assert got[2].params[-1] == "lunch"
    bob.send("WHO alice")
    who = bob.lines()
    assert [m.command for m in who] == ["352", "315"]
    assert who[0].params[5] == "alice" and who[0].params[6].startswith("G")
    bob.send("WHOIS nobody")
    assert bob.numerics() == ["401", "318"]


def test_a_directory_question_keeps_the_clients_order() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    a.client("alice")
    bob = b.client("bob")
    cluster.bus.held = True
    bob.send("WHOIS alice")
    bob.send("PING :after")
    assert bob.raw() == []
    cluster.bus.release()
    # Its idle time is not in the directory (no 317).
    assert [m.command for m in bob.lines()] == ["311", "312", "318", "PONG"]


def test_whois_when_the_bus_is_unavailable_fails_clearly() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    a.client("alice")
    bob = b.client("bob")
    cluster.bus.available = False
    bob.send("WHOIS alice")
    got = bob.lines()
    assert [m.command for m in got] == ["FAIL", "401", "318"]
    assert got[0].params[:2] == ("WHOIS", "TEMPORARILY_UNAVAILABLE")


def test_list_shows_the_rooms_of_other_nodes_but_not_secret_ones() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    carol = a.client("carol")
    bob = b.client("bob")
    alice.send("JOIN #far")
    carol.send("JOIN #far")
    alice.send("TOPIC #far :far away")
    alice.send("JOIN #hidden")
    alice.send("MODE #hidden +s")
    bob.send("JOIN #near")
    cluster.drain()
    bob.send("LIST")
    got = bob.lines()
    listed = {m.params[1]: m.params[2:] for m in only(got, "322")}
    assert listed == {"#near": ("1", ""), "#far": ("2", "far away")}
    assert got[0].command == "321" and got[-1].command == "323"
    bob.send("LIST >1")
    assert [m.params[1] for m in only(bob.lines(), "322")] == ["#far"]


def test_monitor_follows_a_user_of_another_node_whatever_rooms_it_shares() -> None:
    """Online from registration to QUIT: a PART from the last shared room is not offline, and
    coming back is not a second 730; a nick change is 731 then 730."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    bob.send("MONITOR + alice,alicia")
    got = bob.lines()
    assert [m.command for m in got] == ["730", "731"]  # asked to the directory
    assert got[0].params[-1] == "alice!~alice@127.0.0.1"
    bob.send("JOIN #lobby")
    bob.lines()
    alice.send("JOIN #lobby")
    alice.send("PART #lobby")
    alice.send("JOIN #lobby")
    assert [m.command for m in bob.lines()] == ["JOIN", "PART", "JOIN"]
    alice.send("NICK alicia")
    got = bob.lines()
    assert [m.command for m in got] == ["NICK", "731", "730"]
    assert got[1].params[-1] == "alice" and got[2].params[-1].startswith("alicia!")
    alice.send("QUIT :bye")
    assert [m.command for m in bob.lines()] == ["QUIT", "731"]
    bob.send("MONITOR S")
    assert bob.numerics() == ["731"]


def test_setname_reaches_the_other_nodes() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["setname"])
    bob = b.client("bob", ["setname"])
    carol = b.client("carol")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("SETNAME :Alice Liddell")
    assert one(alice.lines(), "SETNAME").params[-1] == "Alice Liddell"
    seen = one(bob.lines(), "SETNAME")
    assert (seen.source or "").startswith("alice!") and seen.params[-1] == "Alice Liddell"
    carol.send("WHOIS alice")
    assert one(carol.lines(), "311").params[-1] == "Alice Liddell"
    # One sharing no room with node b reads it from the directory.
    dave = a.client("dave")
    dave.send("SETNAME :Dave")
    carol.send("WHOIS dave")
    assert one(carol.lines(), "311").params[-1] == "Dave"


def test_wallops_reaches_the_wallops_users_of_every_node() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    root = a.client("root")
    root.user.oper = "root"
    bob = b.client("bob")
    carol = b.client("carol")
    bob.send("MODE bob +w")
    bob.lines()
    carol.lines()
    root.send("WALLOPS :maintenance at noon")
    seen = one(bob.lines(), "WALLOPS")
    assert (seen.source or "").startswith("root!") and seen.params[-1] == "maintenance at noon"
    assert only(carol.lines(), "WALLOPS") == []


def test_a_private_message_to_an_away_user_of_another_node_gets_rpl_away() -> None:
    """Modern IRC, PRIVMSG: "if the target is away, the server MAY reply with RPL_AWAY": so
    it does for a user of another node sharing no room with the sender's node too."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob", ["echo-message"])
    alice.send("AWAY :lunch")
    alice.lines()
    bob.send("PRIVMSG alice :are you there?")
    got = bob.lines()
    assert [m.command for m in got] == ["301", "PRIVMSG"]
    assert got[0].params[1:] == ("alice", "lunch")
    assert [m.params[-1] for m in only(alice.lines(), "PRIVMSG")] == ["are you there?"]


def test_monitor_status_and_an_online_event_crossing_it_tell_once() -> None:
    """A user of another node registers while a watcher's MONITOR + of it is being asked:
    the watcher is told it is online once (not by the event and again by the answer)."""
    cluster = Cluster()
    a, b = cluster.nodes
    bob = b.client("bob")
    alice = a.connect()
    cluster.bus.held = True
    alice.send("NICK alice")  # its claim waits on the bus first
    alice.send("USER alice 0 * :Alice")
    bob.send("MONITOR + alice")  # then the directory lookup
    cluster.bus.release()  # the claim: alice registers, her online event; then the answer
    assert "001" in alice.numerics()
    got = bob.lines()
    assert [m.command for m in got] == ["730"]
    assert got[0].params[-1].startswith("alice!")
    alice.send("QUIT")
    assert [m.command for m in bob.lines()] == ["731"]


def test_list_when_the_bus_is_unavailable_says_so_and_lists_this_nodes_rooms() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #far")
    bob.send("JOIN #near")
    cluster.drain()
    cluster.bus.available = False
    bob.send("LIST")
    got = bob.lines()
    assert [m.command for m in got] == ["FAIL", "321", "322", "323"]
    assert got[0].params[:2] == ("LIST", "TEMPORARILY_UNAVAILABLE")
    assert got[2].params[1:3] == ("#near", "1")


def _took_frank_and_quit(cluster: Cluster) -> None:
    """From now on the bus holds every call: a user of node n0 takes frank (its claim
    answered: registered) and quits, its node's `online` and `offline` of him held."""
    bus = cluster.bus
    bus.held = True
    first = cluster.nodes[0].connect()
    first.send("NICK frank")
    first.send("USER frank 0 * :First")
    bus.answer_from("n0")  # its claim: registered, its `online` held
    assert "001" in first.numerics()
    first.send("QUIT")  # the claim released, its `offline` held


def test_an_earlier_holders_online_sequenced_after_a_later_ones_tells_nobody() -> None:
    """A user of node n0 takes frank and quits while its node's `online` and `offline` of him
    wait for the bus; a user of node n1 takes frank, and its `online` is sequenced first. The
    watcher on node n2 is told frank is online, and the earlier holder's late events tell it
    nothing: their claim was taken before (the bus numbers claims). (Told as they came, it
    heard frank go offline while he was online: a cluster fuzz finding, seed 6708361.)"""
    cluster = Cluster(3)
    _, b, c = cluster.nodes
    carol = c.client("carol")
    carol.send("MONITOR + frank")
    assert carol.numerics() == ["731"]
    bus = cluster.bus
    _took_frank_and_quit(cluster)
    second = b.connect()
    second.send("NICK frank")
    second.send("USER second 0 * :Second")
    bus.answer_from("n1")  # its claim
    assert "001" in second.numerics()
    bus.answer_from("n1")  # its `online`, sequenced before the first holder's
    told = carol.lines()
    assert [(m.command, m.params[-1]) for m in told] == [("730", "frank!~second@127.0.0.1")]
    bus.release()
    assert carol.lines() == []
    carol.send("MONITOR S")
    assert carol.numerics() == ["730"]


def test_an_earlier_holders_late_online_crossing_a_status_question_tells_nothing() -> None:
    """As above, but the earlier holder's late `online` comes while the watcher's MONITOR +
    is being asked: the answer, the later holder's directory entry, wins (its claim's number
    is in the entry too)."""
    cluster = Cluster(3)
    _, b, c = cluster.nodes
    carol = c.client("carol")
    bus = cluster.bus
    _took_frank_and_quit(cluster)
    second = b.connect()
    second.send("NICK frank")
    second.send("USER second 0 * :Second")
    bus.answer_from("n1", 2)  # its claim, its `online`
    assert "001" in second.numerics()
    carol.send("MONITOR + frank")  # its directory question held
    bus.answer_from("n0")  # the first holder's `online`, while the question waits
    bus.answer_from("n2")  # the answer
    told = carol.lines()
    assert [(m.command, m.params[-1]) for m in told] == [("730", "frank!~second@127.0.0.1")]
    bus.release()
    assert carol.lines() == []
