"""ChanServ-registered rooms network-wide in the core (hubbub.core.cluster_registry), several
cores on the in-memory bus of tests/core/test_cluster_core.py sharing one registry, as the
nodes of a cluster share PostgreSQL.

A node holds a live channel only for the rooms it follows; the registrations it knows of the
others are kept by name (`RegistryState.known`), announced in the accounts room when they
change, and a room the node opens or creates takes its registration from there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core_helpers import START, Client
from test_cluster_core import Cluster, Node

from hubbub.core.server import ChatServer
from hubbub.history.memory import MemoryStore
from hubbub.protocol.message import Message
from hubbub.registry.memory import MemoryRegistryStore
from hubbub.registry.model import RegisteredChannel
from support.config import changed
from support.core_services import (
    HeldService,
    MemoryBus,
    SyncHistoryService,
    SyncService,
    core_ports,
)

SAVED = RegisteredChannel(
    name="#saved",
    fold="#saved",
    owner="alice",
    registered_ms=1_700_000_000_000,
    created=1_600_000_000,
    topic="what was saved",
    topic_setter="alice!alice@example",
    topic_time=1_600_000_100,
    flags="knt",
    key="sesame",
)


def names_of_join(messages: list[Message]) -> list[str]:
    return [nick for m in messages if m.command == "353" for nick in m.params[-1].split()]


class SharedRegistryNode(Node):
    """A node whose registry is the cluster's one registry store."""

    def registry_worker(self) -> Any:
        assert isinstance(self.cluster, RegistryCluster)
        return self.cluster.registry

    def rebuild(
        self, accounts: object = None, registry: object = None, instance_id: str = "t"
    ) -> ChatServer:
        shared = self.registry_worker()
        ports = core_ports(self.history, None, shared, started=START, network=self.network)
        self.server = ChatServer(self.config, ports, instance_id=self.network.node_id)
        self.network.server = self.server
        return self.server


class WorkerNode(SharedRegistryNode):
    """A node with a registry worker of its own over the store the nodes share, as each node
    of a cluster has its own connection to PostgreSQL: its calls are answered when the test
    says (`worker`)."""

    def registry_worker(self) -> Any:
        assert isinstance(self.cluster, RegistryCluster)
        self.worker = HeldService(self.cluster.registry.store)
        return self.worker


class RegistryCluster(Cluster):
    """Test_cluster_core's cluster, its nodes sharing `store` as their registry."""

    def __init__(
        self, store: MemoryRegistryStore, count: int = 2, node: type[Node] = SharedRegistryNode
    ) -> None:
        self.now = START
        self.store = MemoryStore()
        self.history = SyncHistoryService(self.store)
        self.bus = MemoryBus(lambda: self.now)
        self.registry = SyncService(store)
        self.nodes: list[Node] = [node(self, f"n{i}") for i in range(count)]


def cluster_with(*saved: RegisteredChannel) -> RegistryCluster:
    store = MemoryRegistryStore()
    for channel in saved:
        assert store.create_channel(channel)
    return RegistryCluster(store)


def logged_in(node: Node, nick: str, account: str) -> Client:
    client = node.client(nick)
    user = node.server.users[node.server.fold(nick)]
    user.account = user.account_id = account
    return client


def test_a_registered_room_is_no_live_channel_until_joined_and_its_creator_gets_its_state() -> None:
    cluster = cluster_with(SAVED)
    a, b = cluster.nodes
    for node in (a, b):
        assert "#saved" not in node.server.channels  # known, not followed
        assert "#saved" in node.server.registry.known
    alice = logged_in(b, "alice", "alice")
    alice.send("JOIN #saved")
    alice.send("PING :after")
    got = alice.lines()
    assert [m.command for m in got if m.command in ("JOIN", "PONG")] == ["JOIN", "PONG"]
    assert "@alice" in names_of_join(got)
    assert [m.params[-1] for m in got if m.command == "332"] == ["what was saved"]
    channel = b.channel("#saved")
    assert channel.registered is not None and channel.registered.owner == "alice"
    assert channel.created == 1_600_000_000 and channel.key == "sesame"
    # The other node's copy, opened from the room's state fields, has it all too.
    bob = a.client("bob")
    bob.send("JOIN #saved")
    assert [m.command for m in bob.lines() if m.command.isdigit()][-1] == "475"
    bob.send("JOIN #saved sesame")
    cluster.drain()
    copy = a.channel("#saved")
    assert copy.topic is not None and copy.topic.text == "what was saved"
    assert copy.registered is not None and copy.created == 1_600_000_000


def test_register_access_and_drop_reach_every_node() -> None:
    cluster = cluster_with()
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    alice.send("JOIN #lobby")
    cluster.drain()
    alice.send("PRIVMSG ChanServ :REGISTER #lobby")
    cluster.drain()
    known = b.server.registry.known.get("#lobby")
    assert known is not None and known.owner == "alice" and known.ops == ()
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    copy = b.channel("#lobby")
    assert copy.registered is not None and copy.registered.owner == "alice"
    alice.send("PRIVMSG ChanServ :ACCESS #lobby ADD alice")  # the owner already: refused
    a.server.accounts.names.add("carol")
    alice.send("PRIVMSG ChanServ :ACCESS #lobby ADD carol")
    cluster.drain()
    assert copy.registered.ops == ["carol"]
    assert b.server.registry.known["#lobby"].ops == ("carol",)
    alice.send("PRIVMSG ChanServ :DROP #lobby")
    cluster.drain()
    assert copy.registered is None and "#lobby" not in b.server.registry.known
    assert "#lobby" not in a.server.registry.known


def emptied_registered_room(*changes: str) -> tuple[RegistryCluster, Client]:
    """alice (logged in to her account, on the first node) makes #keep with the topic "kept"
    and `changes`, registers it and leaves it: nobody is in it."""
    cluster = cluster_with()
    alice = logged_in(cluster.nodes[0], "alice", "alice")
    alice.send("JOIN #keep")
    alice.send("TOPIC #keep :kept")
    for line in changes:
        alice.send(line)
    alice.send("PRIVMSG ChanServ :REGISTER #keep")
    alice.send("PART #keep")
    cluster.drain()
    return cluster, alice


def test_a_registered_room_emptied_everywhere_keeps_its_state_for_the_next_join() -> None:
    cluster, _ = emptied_registered_room("MODE #keep +k sesame")
    a, b = cluster.nodes
    assert "#keep" not in a.server.channels  # not followed any more, still known
    assert "#keep" in a.server.registry.known
    bob = b.client("bob")
    bob.send("JOIN #keep")
    assert [m.command for m in bob.lines() if m.command.isdigit()] == ["475"]
    other = logged_in(b, "alice2", "alice")
    other.send("JOIN #keep")
    got = other.lines()
    assert "@alice2" in names_of_join(got)
    assert [m.params[-1] for m in got if m.command == "332"] == ["kept"]


def test_chanserv_on_a_node_where_nobody_is_in_the_room_uses_the_saved_registration() -> None:
    """On one server a registered room stays, empty, and ChanServ works on it; a node where
    nobody is in it answers from the registry, and a change made there reaches every node."""
    cluster = cluster_with(SAVED)
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    alice.send("PRIVMSG ChanServ :INFO #saved")
    assert any("registered to alice" in m.params[-1] for m in alice.lines())
    assert "#saved" not in a.server.channels  # answered without following it
    a.server.accounts.names.add("carol")
    alice.send("PRIVMSG ChanServ :ACCESS #saved ADD carol")
    cluster.drain()
    assert cluster.registry.store.get_channel("#saved").ops == ("carol",)  # type: ignore[union-attr]
    assert b.server.registry.known["#saved"].ops == ("carol",)
    carol = logged_in(b, "carol", "carol")
    carol.send("JOIN #saved")  # passes the key: on the access list
    assert "@carol" in names_of_join(carol.lines())


def test_a_drop_crossing_joins_of_the_emptied_room_leaves_every_copy_with_the_buss_state() -> None:
    """ChanServ DROP of an emptied registered room while users of two nodes JOIN it: the
    node whose owner dropped it forgets the registration at once, so it takes the room for a
    new one, while the other node's JOIN, sequenced first, joins the room the bus kept (topic
    and all). Both copies have the room as the bus has it (a cluster fuzz finding, seed
    6716132: the dropping node's copy had lost the topic)."""
    cluster, alice = emptied_registered_room()
    a, b = cluster.nodes
    assert "#keep" not in a.server.channels and "#keep" in b.server.registry.known
    bob, carol = b.client("bob"), a.client("carol")
    cluster.bus.held = True
    bob.send("JOIN #keep")  # b takes it for registered: its JOIN keeps the room's state
    carol.send("JOIN #keep")
    alice.send("PRIVMSG ChanServ :DROP #keep")
    cluster.bus.answer_from("n1")  # b reads the room's state; its JOIN is held
    cluster.bus.answer_from("n0")  # a reads it too, no longer knowing it registered
    cluster.bus.release()  # b's JOIN first, then the DROP's announcement and a's JOIN
    cluster.drain()
    assert "topic" in cluster.bus.fields["#keep"]  # the first JOIN did not make it anew
    for node in (a, b):
        copy = node.channel("#keep")
        assert sorted(user.nick for user in copy.members) == ["bob", "carol"]
        assert copy.topic is not None and copy.topic.text == "kept"
        assert copy.registered is None


def workers_of(cluster: RegistryCluster) -> list[HeldService[Any]]:
    return [node.worker for node in cluster.nodes if isinstance(node, WorkerNode)]


def settled(cluster: RegistryCluster) -> None:
    """Every event applied and every registry call answered (and what those asked in turn)."""
    while True:
        cluster.drain()
        pending = [worker for worker in workers_of(cluster) if worker.pending]
        if not pending:
            return
        for worker in pending:
            worker.complete()


def test_two_nodes_state_saves_committing_out_of_order_leave_the_later_in_the_registry() -> None:
    """Two nodes whose users change a registered room one after the other each save their
    copy through their own registry worker; the earlier save may commit last. The registry
    keeps the later state: each is saved with its place in the room's sequence."""
    store = MemoryRegistryStore()
    assert store.create_channel(SAVED)
    cluster = RegistryCluster(store, node=WorkerNode)
    a, b = cluster.nodes
    settled(cluster)
    alice, other = logged_in(a, "alice", "alice"), logged_in(b, "alice2", "alice")
    alice.send("JOIN #saved")
    settled(cluster)
    other.send("JOIN #saved")
    settled(cluster)
    first, second = workers_of(cluster)
    alice.send("TOPIC #saved :first")
    cluster.drain()
    other.send("TOPIC #saved :second")
    cluster.drain()
    assert b.channel("#saved").topic.text == "second"  # type: ignore[union-attr]
    assert first.pending and second.pending  # each node's save, not committed yet
    second.complete()
    first.complete()  # the earlier change's save commits last
    saved = store.get_channel("#saved")
    assert saved is not None and saved.topic == "second"
    assert saved.topic_setter.startswith("alice2!")


def alice_in_saved(
    saved: RegisteredChannel = SAVED, list_modes: int | None = None
) -> tuple[MemoryRegistryStore, RegistryCluster, Client]:
    """Two nodes with registry workers of their own over one store that has `saved`; alice,
    its owner, logged in on node a, in the room. `list_modes`: the nodes'
    `limits.list_modes`. Returns the store, the cluster and alice."""
    store = MemoryRegistryStore()
    assert store.create_channel(saved)
    cluster = RegistryCluster(store, node=WorkerNode)
    if list_modes is not None:
        for node in cluster.nodes:
            node.server.config = changed(node.server.config, limits={"list_modes": list_modes})
    settled(cluster)
    alice = logged_in(cluster.nodes[0], "alice", "alice")
    alice.send("JOIN #saved")
    settled(cluster)
    return store, cluster, alice


def test_chanserv_on_a_node_without_the_room_saves_the_registration_not_the_copy_it_read() -> None:
    """ChanServ ACCESS on a node where nobody is in the room works on the registry's copy;
    a topic saved by a member's node between that read and the ACCESS's save stays: the
    ACCESS saves the registration alone."""
    store, cluster, alice = alice_in_saved()
    a, b = cluster.nodes
    owner = logged_in(b, "ali", "alice")  # not in the room: node b does not follow it
    b.server.accounts.names.add("carol")
    member_worker, other_worker = workers_of(cluster)
    owner.send("PRIVMSG ChanServ :ACCESS #saved ADD carol")  # b reads the registry's copy
    alice.send("TOPIC #saved :fresh")
    cluster.drain()
    other_worker.answer_next()  # the copy is read (the old topic); the ACCESS is saved next
    assert other_worker.pending
    member_worker.complete()  # the topic's save commits
    settled(cluster)
    saved = store.get_channel("#saved")
    assert saved is not None and saved.ops == ("carol",) and saved.topic == "fresh"
    assert a.server.registry.known["#saved"].ops == ("carol",)


def access_adds_on_two_nodes(
    list_modes: int | None = None,
) -> tuple[MemoryRegistryStore, RegistryCluster, Client, Client]:
    """Two nodes sharing the registered #saved, followed by node a (alice, its owner, in it)
    and not by node b, where the owner's other connection is: the owner adds dave on b (from
    the registry's copy, read) and carol on a in the same instant, and each change waits in
    its node's registry worker. `list_modes`: the nodes' `limits.list_modes`. Returns the
    store, the cluster, alice and the owner's other connection."""
    store, cluster, alice = alice_in_saved(list_modes=list_modes)
    a, b = cluster.nodes
    for node in (a, b):
        node.server.accounts.names.update({"carol", "dave"})
    owner = logged_in(b, "ali", "alice")  # not in the room: node b does not follow it
    owner.send("PRIVMSG ChanServ :ACCESS #saved ADD dave")
    workers_of(cluster)[1].answer_next()  # b reads the registry's copy: no operator yet
    alice.send("PRIVMSG ChanServ :ACCESS #saved ADD carol")
    cluster.drain()
    return store, cluster, alice, owner


def test_two_access_adds_on_two_nodes_at_once_both_stay() -> None:
    """The owner adds one operator on each node in the same instant, on the node that follows
    the room (from its copy) and on one that does not (from the registry's): each change is
    made to the registration the registry has when it commits (hubbub.core.registered
    `registration_changed`), so neither undoes the other, whichever commits first, and every
    node ends with both. (Saved whole, as each node had the list, the later commit kept only
    its own.)"""
    for first_commits in (0, 1):
        store, cluster, _, _ = access_adds_on_two_nodes()
        a, b = cluster.nodes
        # Each node's change waits in its worker; one commits, then the other.
        workers = workers_of(cluster)
        workers[first_commits].answer_next()
        workers[1 - first_commits].answer_next()
        settled(cluster)
        saved = store.get_channel("#saved")
        assert saved is not None and sorted(saved.ops) == ["carol", "dave"]
        for node in (a, b):
            assert sorted(node.server.registry.known["#saved"].ops) == ["carol", "dave"]
        registration = a.channel("#saved").registered  # type: ignore[union-attr]
        assert registration is not None and sorted(registration.ops) == ["carol", "dave"]


def test_two_access_adds_on_two_nodes_at_once_keep_the_list_within_its_limit() -> None:
    """`limits.list_modes` 1, and the owner adds one operator on each node in the same
    instant: each node's copy has room for one. The registry's transaction checks the limit
    again (hubbub.core.registered `with_operator`), so the ADD committed first stays, the other
    is answered that the list is full, and every node ends with the one, the ADD's own node
    once it committed. (Each node checking only its copy, the list took both, one past the
    limit.)"""
    for first_commits, stays in ((0, "carol"), (1, "dave")):
        store, cluster, alice, owner = access_adds_on_two_nodes(list_modes=1)
        a, b = cluster.nodes
        alice.lines()
        # Not on the node's copy before the registry committed it (a JOIN of carol's there
        # meanwhile is not opped for an entry that may not stay).
        assert a.channel("#saved").registered.ops == []  # type: ignore[union-attr]
        workers = workers_of(cluster)
        workers[first_commits].answer_next()
        workers[1 - first_commits].answer_next()
        # (Read before `settled`, which drops what the clients have not read.)
        answers = {
            "carol": [m.params[-1] for m in alice.lines() if m.command == "NOTICE"],
            "dave": [m.params[-1] for m in owner.lines() if m.command == "NOTICE"],
        }
        settled(cluster)
        saved = store.get_channel("#saved")
        assert saved is not None and saved.ops == (stays,)
        for node in (a, b):
            assert node.server.registry.known["#saved"].ops == (stays,)
        registration = a.channel("#saved").registered  # type: ignore[union-attr]
        assert registration is not None and registration.ops == [stays]
        assert answers[stays] == [f"{stays} is now an operator of #saved"]
        other = "dave" if stays == "carol" else "carol"
        assert answers[other] == ["The access list of #saved is full"]


def test_a_chanserv_change_the_registry_could_not_commit_is_answered_so_and_changes_nothing() -> (
    None
):
    """Cluster mode: ACCESS DEL (and ADD, SET HISTORY) is answered once the registry
    committed it (hubbub.core.chanserv `committed_then_answered`). While the registry fails
    (PostgreSQL unreachable), the owner is told it is unavailable, and no node's copy of the
    list changes, the DEL's own node's neither (it was answered done and kept in that node's
    memory alone); once it works, the DEL is answered done and every node has it."""
    store, cluster, alice = alice_in_saved(replace(SAVED, ops=("carol",)))
    a, b = cluster.nodes
    alice.lines()
    worker = workers_of(cluster)[0]
    worker.broken = True
    alice.send("PRIVMSG ChanServ :ACCESS #saved DEL carol")
    alice.send("PING :after")
    assert not [m for m in alice.lines() if m.command in ("NOTICE", "PONG")]  # (waiting)
    worker.answer_next()
    got = alice.lines()
    assert [(m.command, m.params[-1]) for m in got if m.command in ("NOTICE", "PONG")] == [
        ("NOTICE", "Channel registration is temporarily unavailable; try again later"),
        ("PONG", "after"),
    ]
    for node in (a, b):
        assert node.server.registry.known["#saved"].ops == ("carol",)
    assert a.channel("#saved").registered.ops == ["carol"]  # type: ignore[union-attr]
    worker.broken = False
    alice.send("PRIVMSG ChanServ :ACCESS #saved DEL carol")
    worker.answer_next()
    notices = [m.params[-1] for m in alice.lines() if m.command == "NOTICE"]
    assert notices == ["carol is no longer an operator of #saved"]
    settled(cluster)
    assert store.get_channel("#saved").ops == ()  # type: ignore[union-attr]
    for node in (a, b):
        assert node.server.registry.known["#saved"].ops == ()
    assert a.channel("#saved").registered.ops == []  # type: ignore[union-attr]
