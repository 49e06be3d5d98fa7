"""Cluster mode in the core (hubbub.core.network), several cores on one in-memory bus.

Each node is a `ChatServer` with a `MemoryNetwork` port (support.core_services): a real,
synchronous implementation of the bus's contract (per-room sequence, state fields, claims).
They share one history store and one registry store, as the nodes of a cluster share
PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

from core_helpers import START, Client, Harness, make_config, one, only

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.config import Config
from hubbub.core.network import (
    NODE_LOST_REASON,
    buried_payload,
    member_field,
    member_field_names,
    offline_payload,
    quit_payload,
)
from hubbub.core.ports import NETWORK_ROOM
from hubbub.core.server import ChatServer
from hubbub.history.memory import MemoryStore
from hubbub.registry.memory import MemoryRegistryStore
from support.config import changed
from support.core_services import MemoryBus, SyncHistoryService, SyncService, core_ports


class Node(Harness):
    """One node of the test cluster: a Harness whose core has a network port."""

    def __init__(
        self, cluster: Cluster, node_id: str, config: Config | None = None, incarnation: int = 0
    ) -> None:
        """`incarnation`: how often a process of this node id was started before (a restart:
        its msgids are its own, as a real process's random prefix makes them, and its clock
        that many seconds later, so its users' network ids are new ones too)."""
        self.cluster = cluster
        self.network = cluster.bus.node(node_id)
        self.incarnation = incarnation
        super().__init__(config, history=cluster.history)
        self.now += incarnation

    def rebuild(
        self, accounts: object = None, registry: object = None, instance_id: str = "t"
    ) -> ChatServer:
        # (The registry and the accounts are the nodes' shared ones, as PostgreSQL is: bans,
        # registrations, accounts.)
        shared: Any = registry if registry is not None else self.cluster.registry_of(self)
        names: Any = accounts if accounts is not None else self.cluster.accounts
        ports = core_ports(self.history, names, shared, started=START, network=self.network)
        node_id = self.network.node_id
        instance = f"{node_id}-r{self.incarnation}" if self.incarnation else node_id
        self.server = ChatServer(self.config, ports, instance_id=instance)
        self.network.server = self.server
        return self.server


class Cluster:
    def __init__(
        self, count: int = 2, *, named: bool = False, config: Config | None = None
    ) -> None:
        """`named`: each node a server of its own name, n0.example, n1.example and so on
        (else every node is hubbub.local, the default); `config`: every node's otherwise."""
        self.now = START
        self.store = MemoryStore()
        self.history = SyncHistoryService(self.store)
        self.registry = SyncService(MemoryRegistryStore())
        self.accounts = SyncService(MemoryAccountStore())
        self.bus = MemoryBus(lambda: self.now)
        self.nodes = [
            Node(self, f"n{i}", named_config(f"n{i}") if named else config) for i in range(count)
        ]

    def registry_of(self, node: Node) -> Any:
        """The registry worker of a node (being built): the one every node shares here."""
        return self.registry

    def drain(self) -> None:
        for node in self.nodes:
            node.drain()


def named_config(node_id: str) -> Config:
    return changed(
        make_config(), server={"name": f"{node_id}.example", "description": f"node {node_id}"}
    )


def texts(client: Client, command: str = "PRIVMSG") -> list[str]:
    return [m.params[-1] for m in only(client.lines(), command)]


def test_messages_cross_nodes_and_echo_comes_when_sequenced() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message", "server-time", "message-tags"])
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    alice.drain()
    bob.send("JOIN #lobby")
    joined = bob.lines()
    names = one(joined, "353")
    assert "alice" in names.params[-1] and "bob" in names.params[-1]
    assert [m.command for m in alice.lines()] == ["JOIN"]  # bob's JOIN reached node a
    cluster.bus.held = True
    alice.send("PRIVMSG #lobby :hello")
    alice.send("PING :after")
    assert alice.raw() == []  # neither the echo nor the PONG before it is sequenced
    assert bob.raw() == []
    cluster.bus.release()
    got = alice.lines()
    assert [m.command for m in got] == ["PRIVMSG", "PONG"]
    assert got[0].tags["time"] and got[0].tags["msgid"].startswith("n0-")
    assert texts(bob) == ["hello"]
    # Stored (once, though both nodes wrote it) in the history every node reads.
    stored = cluster.store.find("#lobby", got[0].tags["msgid"])
    assert stored is not None and stored.params == ("#lobby", "hello")


def test_remote_members_show_in_names_who_and_list_counts_but_not_as_local() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("LIST")
    listed = one(alice.lines(), "322")
    assert listed.params[1:3] == ("#lobby", "2")
    alice.send("WHO #lobby")
    who = only(alice.lines(), "352")
    assert sorted(m.params[5] for m in who) == ["alice", "bob"]
    assert a.server.registered_count == 1
    assert len(a.server.sessions) == 1
    remote = a.server.users["bob"]
    assert remote.session.remote and remote not in {s.user for s in a.server.sessions}


def test_lusers_counts_the_whole_network_and_this_node_apart() -> None:
    # Modern IRC, RPL_LUSERCLIENT: "the number of users and invisible users ... on the whole
    # network"; RPL_LUSERME: "the number of clients and servers connected to this server";
    # RPL_LOCALUSERS / RPL_GLOBALUSERS: "the number of clients currently and the maximum
    # number of clients that have been connected directly to this server" / "... on the
    # whole network". Each node of a cluster is one server of the network.
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice = a.client("alice")
    b.client("bob")
    carol = b.client("carol")
    carol.send("MODE carol +i")
    c.client("dave")
    alice.send("JOIN #lobby")
    carol.send("JOIN #other")
    cluster.drain()
    alice.send("LUSERS")
    replies = {m.command: m.params[1:] for m in alice.lines()}
    assert replies["251"] == ("There are 3 users and 1 invisible on 3 servers",)
    assert replies["254"] == ("2", "channels formed")
    assert replies["255"] == ("I have 1 clients and 2 servers",)
    assert replies["265"] == ("1", "1", "Current local users 1, max 1")
    assert replies["266"] == ("4", "4", "Current global users 4, max 4")
    carol.send("QUIT")
    cluster.drain()
    alice.send("LUSERS")
    replies = {m.command: m.params[1:] for m in alice.lines()}
    assert replies["251"] == ("There are 3 users and 0 invisible on 3 servers",)
    assert replies["254"] == ("1", "channels formed")
    assert replies["266"] == ("3", "4", "Current global users 3, max 4")


def test_each_user_is_shown_on_its_own_nodes_server_and_links_lists_every_node() -> None:
    # RFC 2812 3.4.5: "With LINKS, a user can list all servernames, which are known by the
    # server answering the query." Modern IRC, RPL_WHOISSERVER: "Sent as a reply to the WHOIS
    # command, this numeric shows which server the client with the nickname <nick> is
    # connected to." RPL_WHOREPLY's <server> and WHOX's %s are the same server.
    cluster = Cluster(3, named=True)
    a, b, c = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    c.client("carol")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.lines()
    alice.send("WHOIS bob")  # a member of a room of node n0's
    assert one(alice.lines(), "312").params[2:] == ("n1.example", "node n1")
    alice.send("WHOIS carol")  # in no room with anybody here: from the directory
    assert one(alice.lines(), "312").params[2:] == ("n2.example", "node n2")
    alice.send("WHOIS alice")
    assert one(alice.lines(), "312").params[2:] == ("n0.example", "node n0")
    alice.send("WHO #lobby")
    servers = {m.params[5]: m.params[4] for m in only(alice.lines(), "352")}
    assert servers == {"alice": "n0.example", "bob": "n1.example"}
    alice.send("WHO carol %ns")
    assert one(alice.lines(), "354").params[1:] == ("n2.example", "carol")
    alice.send("LINKS")
    got = alice.lines()
    assert [m.params[1:] for m in only(got, "364")] == [
        ("*", "n0.example", "0 node n0"),
        ("*", "n1.example", "1 node n1"),
        ("*", "n2.example", "1 node n2"),
    ]
    assert got[-1].command == "365"
    # A user who left is remembered on the server it was on.
    bob.send("QUIT")
    cluster.drain()
    alice.send("WHOWAS bob")
    assert one(alice.lines(), "312").params[2] == "n1.example"


def test_links_lists_a_name_once_though_several_nodes_share_it() -> None:
    # The workers of one machine (`hubbub serve --workers N`) share its server name.
    cluster = Cluster(3)
    alice = cluster.nodes[0].client("alice")
    alice.send("LINKS")
    assert [m.params[1:] for m in only(alice.lines(), "364")] == [
        ("*", "hubbub.local", "0 a hubbub chat server")
    ]


def test_whowas_reads_the_network_and_this_nodes_own_when_it_cannot() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    carol = b.client("carol")
    alice.send("NICK alicia")
    carol.send("QUIT")
    cluster.drain()
    bob.send("WHOWAS alice")
    got = bob.lines()
    assert [m.command for m in got] == ["314", "312", "369"]
    assert got[0].params[1:] == ("alice", "~alice", "127.0.0.1", "*", "alice Example")
    assert got[1].params[2] == "hubbub.local"
    cluster.bus.available = False
    bob.send("WHOWAS carol")
    got = bob.lines()
    assert got[0].command == "FAIL" and got[0].params[:2] == ("WHOWAS", "TEMPORARILY_UNAVAILABLE")
    assert [m.command for m in got[1:]] == ["314", "312", "369"]
    bob.send("WHOWAS alice")
    assert [m.command for m in bob.lines()] == ["FAIL", "406", "369"]


def test_nick_is_unique_network_wide() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    a.client("alice")
    late = b.connect()
    late.send("NICK alice")
    late.send("USER x 0 * :x")
    assert "433" in late.numerics()
    late.send("NICK Alice2")
    assert "001" in late.numerics()
    # A registered user's NICK to a nick held on another node is refused too.
    late.send("NICK ALICE")
    assert "433" in late.numerics()


def alice_and_bob_in_two_rooms() -> tuple[Cluster, list[Node], tuple[Client, Client]]:
    """Two nodes; alice on the first and bob on the second, both in #one and #two."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    for room in ("#one", "#two"):
        alice.send(f"JOIN {room}")
        bob.send(f"JOIN {room}")
    cluster.drain()
    return cluster, cluster.nodes, (alice, bob)


def test_nick_change_is_seen_on_every_node_once() -> None:
    cluster, (_, b), (alice, bob) = alice_and_bob_in_two_rooms()
    alice.send("NICK alicia")
    assert len(only(alice.lines(), "NICK")) == 1
    assert [m.params[0] for m in only(bob.lines(), "NICK")] == ["alicia"]
    assert "alicia" in b.server.users and "alice" not in b.server.users
    assert "nick:alice" not in cluster.bus.claims and cluster.bus.claims["nick:alicia"] == "n0"


def test_part_topic_and_kick_cross_nodes() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    carol = b.client("carol")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    carol.send("JOIN #lobby")
    cluster.drain()
    alice.send("TOPIC #lobby :the plan")
    assert one(alice.lines(), "TOPIC").params[-1] == "the plan"
    assert one(bob.lines(), "TOPIC").params[-1] == "the plan"
    topic = b.channel("#lobby").topic
    assert topic is not None and topic.text == "the plan"
    bob.send("TOPIC #lobby :mine")  # bob is no operator (+t)
    assert "482" in bob.numerics()
    alice.send("KICK #lobby bob :out")
    assert one(alice.lines(), "KICK").params[1] == "bob"
    assert one(bob.lines(), "KICK").params[1] == "bob"
    assert one(carol.lines(), "KICK").params[1] == "bob"
    assert bob.user not in b.channel("#lobby").members
    carol.send("PART #lobby :bye")
    assert one(carol.lines(), "PART").params[-1] == "bye"
    assert one(alice.lines(), "PART").params[-1] == "bye"
    # No local member left on node b: it forgets the room and its remote members.
    assert b.server.find_channel("#lobby") is None
    assert "alice" not in b.server.users
    assert "#lobby" not in cluster.bus.nodes["n1"].rooms


def test_a_late_joiner_loads_the_room_state_from_the_bus() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    alice.send("JOIN #lobby")
    alice.send("TOPIC #lobby :hello world")
    alice.send("PRIVMSG #lobby :before bob")
    cluster.drain()
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    got = bob.lines()
    assert one(got, "332").params[-1] == "hello world"
    assert "@alice" in one(got, "353").params[-1]
    channel = b.channel("#lobby")
    assert channel.created == a.channel("#lobby").created
    assert channel.history_since_ms == a.channel("#lobby").history_since_ms
    # The join replay reads the shared history: what alice said on node a.
    assert "before bob" in " ".join(m.params[-1] for m in got if m.command == "PRIVMSG")


def test_quit_reaches_other_nodes_once_and_frees_the_nick() -> None:
    cluster, (a, b), (alice, bob) = alice_and_bob_in_two_rooms()
    alice.send("QUIT :later")
    assert len(only(bob.lines(), "QUIT")) == 1
    assert "alice" not in a.server.users and "alice" not in b.server.users
    assert "nick:alice" not in cluster.bus.claims
    assert [m.nick for m in b.channel("#one").members] == ["bob"]


def test_refused_when_the_bus_is_unavailable_and_nothing_is_delivered() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message"])
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    cluster.bus.available = False
    alice.send("PRIVMSG #lobby :lost?")
    fail = one(alice.lines(), "FAIL")
    assert fail.params[:2] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE")
    assert bob.raw() == []
    alice.send("JOIN #other")
    assert one(alice.lines(), "FAIL").params[:2] == ("JOIN", "TEMPORARILY_UNAVAILABLE")
    cluster.bus.available = True
    alice.send("PRIVMSG #lobby :back")
    assert texts(bob) == ["back"]


def test_a_quit_refused_by_the_bus_is_sent_again_when_it_is_back() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    cluster.bus.available = False
    alice.send("QUIT :gone")
    assert alice.session.closed  # her ERROR is hers at once
    assert bob.raw() == []
    # Until her QUIT is sequenced she stays in #lobby on her node too, as on bob's: whatever
    # of hers was sequenced before is applied alike on both (a cluster fuzz finding).
    assert "alice" in {user.nick for user in a.channel("#lobby").members}
    assert cluster.bus.claims.get("nick:alice") == "n0"  # released with that QUIT
    cluster.bus.available = True
    a.server.network_available(True)
    assert one(bob.lines(), "QUIT").params[-1] == "Quit: gone"
    assert "alice" not in a.server.users and "nick:alice" not in cluster.bus.claims


def test_same_order_on_every_node_under_concurrent_senders() -> None:
    cluster = Cluster(3)
    clients = [node.client(f"user{i}") for i, node in enumerate(cluster.nodes)]
    for client in clients:
        client.send("JOIN #race")
    cluster.drain()
    cluster.bus.held = True
    for round_number in range(5):
        for i, client in enumerate(clients):
            client.send(f"PRIVMSG #race :{i}-{round_number}")
    cluster.bus.release()
    events = [json.loads(payload) for _, _, _, payload in cluster.bus.events["#race"]]
    order = [event["x"] for event in events if event["t"] == "msg"]
    assert len(order) == 15
    # Each node shows everyone else's lines in the one network-wide order.
    for i, client in enumerate(clients):
        assert texts(client) == [text for text in order if not text.startswith(f"{i}-")]


def test_private_messages_cross_nodes_through_the_inbox_and_are_stored_once() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message", "server-time", "message-tags"])
    bob = b.client("bob", ["server-time", "message-tags"])
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("PRIVMSG bob :psst")
    echoed = one(alice.lines(), "PRIVMSG")
    got = one(bob.lines(), "PRIVMSG")
    assert got.params == ("bob", "psst") and got.source.startswith("alice!")
    assert got.tags["msgid"] == echoed.tags["msgid"] and got.tags["time"] == echoed.tags["time"]
    cluster.bus.available = False
    alice.send("PRIVMSG bob :lost?")
    fail = one(alice.lines(), "FAIL")
    assert fail.params[:3] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE", "bob")
    assert bob.raw() == []


def test_channel_modes_and_bans_act_on_every_node() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    carol = b.client("carol")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("MODE #lobby +o-t+k bob secret")
    assert one(alice.lines(), "MODE").params[1:] == ("+o-t+k", "bob", "secret")
    assert one(bob.lines(), "MODE").params[1:] == ("+o-t+k", "bob", "secret")
    channel = b.channel("#lobby")
    assert channel.members[bob.user].op and not channel.topic_locked and channel.key == "secret"
    # bob, opped on node a's say, bans carol; node b refuses her JOIN by its copy of the room.
    bob.send("MODE #lobby +b carol!*@*")
    assert one(alice.lines(), "MODE").params[1:] == ("+b", "carol!*@*")
    carol.send("JOIN #lobby secret")
    assert "474" in carol.numerics()
    # Refusals are numerics at once and nothing is sequenced.
    sequenced = cluster.bus.seq["#lobby"]
    alice.send("MODE #lobby +l notanumber")
    assert "696" in alice.numerics()
    assert cluster.bus.seq["#lobby"] == sequenced
    # A node that opens the room later gets its modes from the room's state fields.
    late = Node(cluster, "n9")
    cluster.nodes.append(late)
    dave = late.client("dave")
    dave.send("JOIN #lobby")
    assert "475" in dave.numerics()  # +k
    dave.send("JOIN #lobby secret")
    joined = late.channel("#lobby")
    assert joined.bans[0].mask == "carol!*@*" and joined.members[late.server.users["bob"]].op


def test_joins_on_their_way_count_against_the_channel_limit() -> None:
    cluster = Cluster()
    cluster.nodes = [Node(cluster, "small")]
    node = cluster.nodes[0]
    node.config = node.server.config = changed(node.config, limits={"channels_per_user": 2})
    alice = node.client("alice")
    cluster.bus.held = True
    alice.send("JOIN #a,#a,#b,#c")
    cluster.bus.release()
    got = alice.lines()
    assert [m.params[0] for m in only(got, "JOIN")] == ["#a", "#b"]
    assert [m.params[1] for m in only(got, "405")] == ["#c"]
    assert not node.server.cluster.entering  # type: ignore[union-attr]


def test_a_private_message_finds_a_user_of_another_node_through_its_nick_claim() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message"])
    carol = b.client("carol")
    alice.send("PRIVMSG Carol :no room in common")  # a nick node a has never seen
    assert one(alice.lines(), "PRIVMSG").params == ("Carol", "no room in common")
    got = one(carol.lines(), "PRIVMSG")
    assert got.params[-1] == "no room in common" and got.source.startswith("alice!")
    alice.send("PRIVMSG nobody :hello?")
    assert alice.numerics() == ["401"]
    cluster.bus.available = False
    alice.send("PRIVMSG carol :now?")
    assert one(alice.lines(), "FAIL").params[:2] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE")


def test_a_multiline_message_is_sequenced_once_or_refused_while_the_bus_is_away() -> None:
    """A multiline batch to a room with a member on another node reaches it as the same
    lines (hubbub.core.cluster_multiline); while the bus is unavailable it is refused with
    FAIL BATCH TEMPORARILY_UNAVAILABLE, and nobody gets any of it."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["batch", "draft/multiline", "echo-message"])
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("BATCH +m draft/multiline #lobby")
    alice.send("@batch=m PRIVMSG #lobby :one")
    alice.send("@batch=m PRIVMSG #lobby :two")
    alice.send("BATCH -m")
    assert [m.params[-1] for m in bob.lines() if m.command == "PRIVMSG"] == ["one", "two"]
    echoed = alice.lines()
    assert [m.command for m in echoed] == ["BATCH", "PRIVMSG", "PRIVMSG", "BATCH"]
    cluster.bus.available = False
    alice.send("BATCH +n draft/multiline #lobby")
    alice.send("@batch=n PRIVMSG #lobby :three")
    alice.send("BATCH -n")
    assert one(alice.lines(), "FAIL").params[:2] == ("BATCH", "TEMPORARILY_UNAVAILABLE")
    assert bob.raw() == []


def test_a_user_gone_while_its_join_was_on_its_way_leaves_again_everywhere() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    carol = a.client("carol")
    bob = b.client("bob")
    carol.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    cluster.bus.held = True
    alice.send("JOIN #lobby")  # sent to the bus (node a follows #lobby already)...
    a.server.disconnect(alice.session, "Connection reset by peer", cluster.now)  # ...then gone
    cluster.bus.release()
    got = bob.lines()
    assert [m.command for m in got] == ["JOIN", "QUIT"]
    # Her QUIT, sent behind her JOIN as she left (its nick free only then), says why.
    assert got[1].params[-1] == "Connection reset by peer"
    assert carol.raw() == []  # on alice's own node she never came in
    for node in (a, b):
        assert sorted(m.nick for m in node.channel("#lobby").members) == ["bob", "carol"]
    assert "alice" not in a.server.users and "nick:alice" not in cluster.bus.claims


def test_a_join_whose_user_left_before_the_room_opened_is_never_sent() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    cluster.bus.held = True
    alice.send("JOIN #lobby")  # node a opens the room first
    a.server.disconnect(alice.session, "Connection reset by peer", cluster.now)
    cluster.bus.release()
    assert bob.raw() == []
    # Node a keeps no room for nobody, and forgot alice.
    assert a.server.find_channel("#lobby") is None and "#lobby" not in cluster.bus.nodes["n0"].rooms
    assert "alice" not in a.server.users and "nick:alice" not in cluster.bus.claims


def test_a_room_opened_for_a_user_gone_before_its_join_came_back_is_closed_again() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    cluster.bus.held = True
    alice.send("JOIN #lobby")
    # Node a opens the room; the JOIN goes to the (slow) bus.
    cluster.bus.answer(cluster.bus.waiting.pop(0))
    a.server.disconnect(alice.session, "Connection reset by peer", cluster.now)
    cluster.bus.release()
    assert [m.command for m in bob.lines()] == ["JOIN", "QUIT"]
    assert a.server.find_channel("#lobby") is None and "#lobby" not in cluster.bus.nodes["n0"].rooms


def test_monitor_hears_a_lost_nodes_user_go_offline() -> None:
    """A user of a node whose lease ran out leaves through the QUITs a survivor sequences
    (hubbub.cluster.node): MONITOR watchers on the other nodes get RPL_MONOFFLINE (731)."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    bob.send("MONITOR + alice")
    assert [m.command for m in bob.lines()] == ["730"]
    # n0 is lost: its claims go, and n1 (the survivor) sequences a QUIT for its member.
    cluster.bus.lose_node("n0")
    payload = quit_payload("alice", "alice!alice@127.0.0.1", NODE_LOST_REASON, "lost-1")
    b.network.sequence("#lobby", payload, {}, (member_field("alice"),), lambda _time_ms, _seq: None)
    assert [m.command for m in bob.lines()] == ["QUIT"]
    # ... and, in the network room, that its nicks are offline (MONITOR, on every node).
    b.network.sequence(
        NETWORK_ROOM, offline_payload("alice", "alice"), {}, (), lambda _time_ms, _seq: None
    )
    got = bob.lines()
    assert [m.command for m in got] == ["731"]
    assert got[0].params[-1] == "alice"
    assert "alice" not in b.server.users


def test_a_lost_nodes_user_the_bus_no_longer_lists_leaves_at_the_end_of_its_burial() -> None:
    """A copy may list a user of a lost node that the bus's fields do not (her JOIN in the
    end Redis lost, restarted from a file missing its last writes): no QUIT of the burial's
    finds her there. Its `buried` event, in the network room, takes the lost node's users out
    of every copy (hubbub.core.cluster_users), seen to QUIT once."""
    cluster, (_, b), (_, bob) = alice_and_bob_in_two_rooms()
    bob.lines()
    # As Redis restarted without alice's member fields, and then n0 lost.
    for room in ("#one", "#two"):
        for name in member_field_names("alice"):
            cluster.bus.fields[room].pop(name, None)
    cluster.bus.lose_node("n0")
    b.network.sequence(NETWORK_ROOM, buried_payload("n0", {}), {}, (), lambda _time_ms, _seq: None)
    got = bob.lines()
    assert [(m.command, m.source.split("!")[0], m.params) for m in got] == [
        ("QUIT", "alice", (NODE_LOST_REASON,))
    ]
    for room in ("#one", "#two"):
        channel = b.server.find_channel(room)
        assert channel is not None and [user.nick for user in channel.members] == ["bob"]


def test_monitor_hears_a_remote_user_come_online_when_it_registers_and_go_once() -> None:
    """A user of another node is online (RPL_MONONLINE, 730) when it registers there, not
    when it first shares a room with this node, and goes offline with its QUIT (731, once,
    after the QUIT lines)."""
    cluster = Cluster()
    a, b = cluster.nodes
    bob = b.client("bob")
    for room in ("#one", "#two"):
        bob.send(f"JOIN {room}")
    bob.send("MONITOR + alice")
    assert "731" in bob.numerics()  # nobody, anywhere
    alice = a.client("alice")
    got = bob.lines()
    assert [m.command for m in got] == ["730"]
    assert got[0].params[-1].startswith("alice!")
    alice.send("JOIN #one")
    assert [m.command for m in bob.lines()] == ["JOIN"]
    alice.send("JOIN #two")
    assert [m.command for m in bob.lines()] == ["JOIN"]  # known already: no second 730
    alice.send("QUIT :bye")
    assert [m.command for m in bob.lines()] == ["QUIT", "731"]


def test_nicks_two_users_gave_up_in_turn_are_both_announced_offline_again() -> None:
    """After Redis lost data a node announces again the nicks its users gave up lately:
    per holder, so that when two of its users held one nick in turn, a watcher elsewhere
    that never read either offline (lost with Redis's end) and was told the first holds it
    is told it went. (Kept per nick, only the second's was announced, which names a holder
    the watcher was never told of: a cluster fuzz finding, seed 6191536.)"""
    cluster = Cluster()
    a, b = cluster.nodes
    watcher = a.client("watcher")
    erin = b.client("erin")
    watcher.send("MONITOR + erin")
    assert [m.command for m in watcher.lines()] == ["730"]
    cluster.bus.lag("n0")
    erin.send("QUIT :gone")
    b.client("erin").send("QUIT :gone too")  # another user of n1 held the nick meanwhile
    cluster.bus.backlog["n0"].clear()  # what Redis lost before node n0 read it
    cluster.bus.catch_up("n0")
    assert watcher.lines() == []
    b.server.cluster.resync()  # (as on the bus's return, when it finds what Redis lost)
    got = watcher.lines()
    assert [(m.command, m.params[-1]) for m in got] == [("731", "erin")]


def test_a_room_message_is_logged_once_by_its_senders_node_through_the_room_log() -> None:
    """The INFO line per room message goes through `Ports.room_log` (the app's cheap way, no
    LogRecord on the loop), as on one server, and only on the node it was said on."""
    cluster = Cluster()
    a, b = cluster.nodes
    logged: dict[str, list[tuple[str, str, str]]] = {"n0": [], "n1": []}
    for node in (a, b):
        lines = logged[node.network.node_id]
        node.server.room_log = lambda room, nick, text, lines=lines: lines.append(
            (room, nick, text)
        )
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("PRIVMSG #lobby :hello")
    assert texts(bob) == ["hello"]
    assert logged == {"n0": [("#lobby", "alice", "hello")], "n1": []}
