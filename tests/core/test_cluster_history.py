"""Which node writes which room message to the shared history (hubbub.core.cluster_history).

Several cores on one in-memory bus, each with its own history service over one shared store
(support.core_services.NodeHistory), whose commits the test holds and releases, and which logs
which node wrote which record.
"""

from __future__ import annotations

from collections import Counter

from core_helpers import Client, only
from test_cluster_core import Cluster
from test_cluster_registered import logged_in
from test_cluster_resync import back_in_new_epoch, restarted_empty

from hubbub.core.cluster_accounts import ACCOUNTS_ROOM
from hubbub.core.network import NODE_LOST_REASON, member_field, quit_payload
from support.config import changed
from support.core_services import NodeHistory


class SharedStoreCluster(Cluster):
    """Nodes with one history service each over `store`; `written`: (node, msgid) appended."""

    def __init__(self, count: int = 2, held_messages: int | None = None) -> None:
        super().__init__(count)
        self.written: list[tuple[str, str]] = []
        self.histories: list[NodeHistory] = []
        for node in self.nodes:
            history = NodeHistory(self.store, node.network.node_id, self.written)
            self.histories.append(history)
            node.history = history
            if held_messages is not None:
                node.config = changed(node.config, cluster={"held_messages": held_messages})
            node.rebuild()

    def writers(self, msgid: str) -> list[str]:
        return [node for node, written in self.written if written == msgid]

    def stored(self, room: str = "#lobby") -> list[str]:
        return [r.params[-1] for r in self.store.latest(room, 100) if r.command == "PRIVMSG"]


def in_lobby(cluster: Cluster) -> tuple[Client, Client]:
    a, b = cluster.nodes[:2]
    alice = a.client("alice", ["echo-message", "message-tags"])
    bob = b.client("bob", ["message-tags", "server-time", "batch", "draft/chathistory"])
    alice.send("JOIN #lobby")
    bob.send("JOIN #lobby")
    cluster.drain()
    return alice, bob


def say(alice: Client, text: str) -> str:
    """alice says `text` in #lobby: its msgid (from her echo)."""
    alice.send(f"PRIVMSG #lobby :{text}")
    (echo,) = only(alice.lines(), "PRIVMSG")
    return echo.tags["msgid"]


def test_a_room_message_is_written_once_by_its_senders_node() -> None:
    """The sender's node writes its message; the other node, told in the sender's next
    message that it is committed, never writes it."""
    cluster = SharedStoreCluster()
    alice, _bob = in_lobby(cluster)
    sent = [say(alice, text) for text in ("one", "two", "three")]
    for msgid in sent:
        assert cluster.writers(msgid) == ["n0"]
    assert cluster.stored() == ["one", "two", "three"]
    writes = cluster.nodes[1].server.cluster.writes  # type: ignore[union-attr]
    assert writes.let_go == 2  # "one" and "two", by the watermarks of "two" and "three"
    assert writes.written_for_others == 0


def test_held_messages_are_let_go_only_up_to_what_the_sender_committed() -> None:
    """While the sender's node has not committed, the other node keeps its messages; the
    watermark of a later message lets go exactly of those committed."""
    cluster = SharedStoreCluster()
    alice, _bob = in_lobby(cluster)
    history_a = cluster.histories[0]
    history_a.holding = True
    first = say(alice, "one")
    second = say(alice, "two")
    writes = cluster.nodes[1].server.cluster.writes  # type: ignore[union-attr]
    assert [entry.record.msgid for entry in writes.held["#lobby"]] == [first, second]
    history_a.commit()
    say(alice, "three")  # carries node n0's watermark: "one" and "two" are committed
    assert [entry.record.msgid for entry in writes.held["#lobby"]][:-1] == []
    assert cluster.writers(first) == ["n0"] and cluster.writers(second) == ["n0"]


def test_a_dead_nodes_uncommitted_messages_are_written_by_the_others_when_its_users_quit() -> None:
    """A node killed before its commit: the messages its users saw acknowledged are written by
    the node that held them, when the janitor's QUIT for its users is applied, before it."""
    cluster = SharedStoreCluster()
    alice, bob = in_lobby(cluster)
    say(alice, "before")
    history_a = cluster.histories[0]
    history_a.holding = True
    lost = [say(alice, text) for text in ("acknowledged", "then killed")]
    history_a.lose()  # kill -9: its history thread never committed them
    cluster.bus.lose_node("n0")
    b = cluster.nodes[1]
    payload = quit_payload("alice", "alice!~alice@127.0.0.1", NODE_LOST_REASON, "lost-1")
    b.network.sequence("#lobby", payload, {}, (member_field("alice"),), lambda _time_ms, _seq: None)
    assert [m.command for m in bob.lines()][-1] == "QUIT"
    for msgid in lost:
        assert cluster.writers(msgid) == ["n0", "n1"]
    assert cluster.stored() == ["before", "acknowledged", "then killed"]


def test_a_node_writes_what_it_holds_before_its_own_message_so_the_order_is_the_rooms() -> None:
    """Messages sent on two nodes in turn: each node writes the other's uncommitted ones before
    its own, so the store's order is the room's sequence order whoever commits first."""
    cluster = SharedStoreCluster()
    alice, bob = in_lobby(cluster)
    history_a = cluster.histories[0]
    history_a.holding = True  # node n0 commits late: its message must still come first
    first = say(alice, "first, from n0")
    bob.send("PRIVMSG #lobby :second, from n1")
    cluster.drain()
    assert cluster.stored() == ["first, from n0", "second, from n1"]
    history_a.commit()  # n0's own write of it comes late and does nothing
    assert cluster.stored() == ["first, from n0", "second, from n1"]
    assert Counter(cluster.writers(first)) == {"n0": 1, "n1": 1}


def test_a_history_read_on_a_node_sees_what_it_holds() -> None:
    """CHATHISTORY on the other node right after the live line: what bob was shown live is in
    what he reads back, though its sender's node has not committed it yet."""
    cluster = SharedStoreCluster()
    alice, bob = in_lobby(cluster)
    cluster.histories[0].holding = True
    msgid = say(alice, "just said")
    assert [m.params[-1] for m in only(bob.lines(), "PRIVMSG")] == ["just said"]
    # (BEFORE: LATEST would merge the bus's stream of the room, hubbub.core.cluster_replay.)
    bob.send("CHATHISTORY BEFORE #lobby timestamp=2100-01-01T00:00:00.000Z 10")
    got = [m for m in only(bob.lines(), "PRIVMSG")]
    assert [m.tags["msgid"] for m in got] == [msgid]


def test_beyond_held_messages_a_node_writes_the_oldest_itself() -> None:
    """`cluster.held_messages` bounds what a node holds per room: beyond it, it writes the
    oldest itself."""
    cluster = SharedStoreCluster(held_messages=2)
    alice, _bob = in_lobby(cluster)
    cluster.histories[0].holding = True
    sent = [say(alice, str(number)) for number in range(4)]
    assert [cluster.writers(msgid) for msgid in sent] == [
        ["n0", "n1"],
        ["n0", "n1"],
        ["n0"],
        ["n0"],
    ]
    writes = cluster.nodes[1].server.cluster.writes  # type: ignore[union-attr]
    assert [entry.record.msgid for entry in writes.held["#lobby"]] == sent[2:]


def test_a_membership_event_writes_what_is_held_first() -> None:
    """A JOIN (stored as an event with history.store_events) comes after the messages before
    it in the store, on the node that holds them too."""
    cluster = SharedStoreCluster()
    for node in cluster.nodes:
        node.config = changed(node.config, history={"store_events": True})
        node.rebuild()
    alice, _bob = in_lobby(cluster)
    cluster.histories[0].holding = True
    msgid = say(alice, "hello")
    carol = cluster.nodes[1].client("carol")
    carol.send("JOIN #lobby")
    cluster.drain()
    assert cluster.writers(msgid) == ["n0", "n1"]
    commands = [r.command for r in cluster.store.latest("#lobby", 100)]
    assert commands[-2:] == ["PRIVMSG", "JOIN"]


def test_a_node_opening_a_room_holds_the_earlier_messages_not_yet_committed() -> None:
    """Node n1 opens the room (bob joins) after alice's messages whose node has not committed
    the last of them: it holds that one, read from the room's stream, and writes it before
    anything it writes there, so the store's order is the room's. (Without it, bob's message
    was stored first: a cluster fuzz finding, seed 7063431.)"""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message", "message-tags"])
    alice.send("JOIN #lobby")
    cluster.drain()
    history_a = cluster.histories[0]
    committed = say(alice, "one")
    history_a.holding = True  # node n0 commits late from here
    late = say(alice, "two")  # carries the watermark that says "one" is committed
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    writes = b.server.cluster.writes  # type: ignore[union-attr]
    assert [entry.record.msgid for entry in writes.earlier["#lobby"]] == [late]
    assert cluster.stored() == ["one"]  # (not written on a JOIN: it would wait for n0's commit)
    bob.send("PRIVMSG #lobby :three, from n1")
    cluster.drain()
    assert cluster.stored() == ["one", "two", "three, from n1"]
    history_a.commit()
    assert cluster.stored() == ["one", "two", "three, from n1"]
    assert cluster.writers(committed) == ["n0"]
    assert Counter(cluster.writers(late)) == {"n0": 1, "n1": 1}


def test_a_refused_read_of_the_earlier_messages_is_made_again_once_the_bus_is_back() -> None:
    """As above, but node n1's read of the room's stream is refused: it loses Redis for a
    moment, and bob's JOIN with it, so it closes the room again. The TOPIC it applied
    meanwhile (whose record every node writes) waits; the read is made again once the bus is
    back, and the record goes into the store after alice's message that node n0 has not
    committed yet. (Written without waiting, it went in before that message: a cluster fuzz
    finding, seed 7284831.)"""
    cluster = SharedStoreCluster()
    for node in cluster.nodes:  # (TOPIC records stored)
        node.config = changed(node.config, history={"store_events": True})
        node.rebuild()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message", "message-tags"])
    alice.send("JOIN #lobby")
    cluster.drain()
    history_a = cluster.histories[0]
    say(alice, "one")
    history_a.holding = True
    say(alice, "two")
    bus = cluster.bus
    writes = b.server.cluster.writes  # type: ignore[union-attr]
    bob = b.client("bob")
    bus.held = True
    bob.send("JOIN #lobby")
    while "#lobby" not in writes.deferred:  # its state read: the room opened, its read asked
        bus.answer_from("n1")
    alice.send("TOPIC #lobby :news")
    bus.answer_from("n0")  # node n1 applies it, its record waiting for the read
    bus.cut_off("n1")
    b.server.network_available(False)
    assert "#lobby" not in b.server.channels  # (closed: bob's JOIN refused)
    bus.reconnect("n1")
    b.server.network_available(True)
    bus.release()
    bus.catch_up("n1")
    assert "#lobby" not in writes.deferred
    history_a.commit()
    records = cluster.store.latest("#lobby", 100)
    stored = [(r.command, r.params[-1]) for r in records if r.command in ("PRIVMSG", "TOPIC")]
    assert stored == [("PRIVMSG", "one"), ("PRIVMSG", "two"), ("TOPIC", "news")]


def test_a_node_making_a_room_anew_holds_the_emptied_rooms_messages_not_yet_committed() -> None:
    """Alice's node has not committed her last message when she leaves and the room empties;
    bob's node makes the room anew (his JOIN) and holds that message, read from the room's
    stream, so that his first message goes into the store after it. (Left to alice's node,
    it went into the store after bob's: a cluster fuzz finding, seed 7287855.)"""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = a.client("alice", ["echo-message", "message-tags"])
    alice.send("JOIN #Lobby")
    cluster.drain()
    history_a = cluster.histories[0]
    say(alice, "one")
    history_a.holding = True  # node n0 commits late from here
    late = say(alice, "two")
    alice.send("PART #lobby")
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    assert b.server.channels["#lobby"].name == "#lobby"  # (made anew, as bob wrote it)
    bob.send("PRIVMSG #lobby :three, from n1")
    cluster.drain()
    history_a.commit()
    assert cluster.stored() == ["one", "two", "three, from n1"]
    assert Counter(cluster.writers(late)) == {"n0": 1, "n1": 1}
    (record,) = [r for r in cluster.store.latest("#lobby", 100) if r.msgid == late]
    assert record.params[0] == "#Lobby"  # as its sender's node stores it: where it was said


def delete_history(client: Client) -> list[str]:
    """`client` deletes its account's history with HistServ: its notices."""
    client.send("PRIVMSG HistServ :DELETE")
    code = [m.params[-1] for m in only(client.lines(), "NOTICE")][-1].split()[-1]
    client.send(f"PRIVMSG HistServ :DELETE CONFIRM {code}")
    return [m.params[-1] for m in only(client.lines(), "NOTICE")]


def test_a_deleted_accounts_messages_are_not_merged_back_from_the_rooms_stream() -> None:
    """HistServ DELETE takes an account's messages out of the store; a node that opened the
    room while one was not committed yet merges the room's stream into its join replays and
    CHATHISTORY LATEST, and leaves out what the store took away (the stream keeps it)."""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    alice.send("JOIN #lobby")
    cluster.histories[0].holding = True
    alice.send("PRIVMSG #lobby :mine")
    bob = b.client("bob", ["batch", "draft/chathistory", "message-tags", "server-time"])
    bob.send("JOIN #lobby")  # the store has not "mine" yet: b's copy stays fresh
    cluster.histories[0].holding = False
    cluster.histories[0].commit()
    assert cluster.stored() == ["mine"]
    assert delete_history(alice) == ["Deleted 1 messages"]
    assert cluster.stored() == []
    bob.lines()
    bob.send("CHATHISTORY LATEST #lobby * 10")
    assert only(bob.lines(), "PRIVMSG") == []
    carol = b.client("carol")
    carol.send("JOIN #lobby")
    assert only(carol.lines(), "PRIVMSG") == []


def test_a_deleted_accounts_message_not_committed_on_another_node_is_deleted_there() -> None:
    """A message of the account that its sender's node had not committed when another node,
    which does not follow the room, deleted the account's history: the sender's node deletes
    it too, once it is in."""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    other = logged_in(b, "alice2", "alice")  # the same account on the other node
    other.send("JOIN #lobby")
    cluster.histories[1].holding = True
    other.send("PRIVMSG #lobby :not committed yet")
    assert cluster.stored() == []
    cluster.now += 0.001  # (the deletion a millisecond later: "sequenced before" it, by time)
    assert delete_history(alice) == ["Deleted 0 messages"]
    cluster.histories[1].holding = False
    cluster.histories[1].commit()
    assert cluster.stored() == []
    other.send("PRIVMSG #lobby :after")  # what the account says later stays
    assert cluster.stored() == ["after"]


def test_what_the_account_says_after_its_deletion_stays_though_a_node_applies_it_first() -> None:
    """HistServ DELETE on one node; the other applies the account's next message before the
    deletion's announcement (its feed of the accounts room lagging behind the room's): it
    deletes again only what was sequenced before the announcement, and the message its sender
    saw echoed after "Deleted" stays ("never a message acknowledged and then lost")."""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    alice.send("CAP REQ :echo-message message-tags")
    alice.send("JOIN #lobby")
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.lines()
    say(alice, "before")
    cluster.now += 0.001
    cluster.bus.hold_feed("n1", ACCOUNTS_ROOM)
    assert delete_history(alice) == ["Deleted 1 messages"]
    say(alice, "after")  # (the same millisecond as the announcement: sequenced after it)
    cluster.bus.release_feed("n1", ACCOUNTS_ROOM)
    cluster.drain()
    assert cluster.stored() == ["after"]


def test_a_deletion_announced_late_keeps_what_the_account_said_on_another_node_meanwhile() -> None:
    """The deleting node lost the bus: the deletion is announced when it is back, and the
    other nodes delete again only what is older than the deletion itself (by its node's
    clock), not what the account said on another node meanwhile, seen echoed there."""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    other = logged_in(b, "alice2", "alice")  # the same account on the other node
    other.send("CAP REQ :echo-message message-tags")
    other.send("JOIN #lobby")
    cluster.drain()
    other.lines()
    say(other, "before")
    cluster.now = a.now = b.now = cluster.now + 0.001
    cluster.bus.cut_off("n0")
    a.server.network_available(False)
    assert delete_history(alice) == ["Deleted 1 messages"]
    cluster.now = a.now = b.now = cluster.now + 0.001
    say(other, "meanwhile")
    cluster.now = a.now = b.now = cluster.now + 0.001
    cluster.bus.reconnect("n0")
    a.server.network_available(True)
    cluster.bus.catch_up("n0")
    cluster.drain()
    assert cluster.stored() == ["meanwhile"]


def test_a_deletion_redis_lost_before_another_node_read_it_holds_there_too() -> None:
    """Redis lost its data (a new epoch) after it sequenced a deletion's announcement and
    before the other node read it: that node never deletes again. Its message of the account
    not committed at the deletion stays out all the same: the deleting node, reading its
    announcement back, had the store remember the bound, and the store ignores the account's
    records older than it, whoever writes them. What the account says after it stays."""
    cluster = SharedStoreCluster()
    a, b = cluster.nodes
    alice = logged_in(a, "alice", "alice")
    other = logged_in(b, "alice2", "alice")  # the same account on the other node
    other.send("JOIN #lobby")
    cluster.drain()
    cluster.histories[1].holding = True
    other.send("PRIVMSG #lobby :not committed yet")
    cluster.now = a.now = b.now = cluster.now + 0.001
    cluster.bus.hold_feed("n1", ACCOUNTS_ROOM)
    assert delete_history(alice) == ["Deleted 0 messages"]
    cluster.drain()  # (node a reads its announcement back; node b does not)
    cluster.bus.queue.clear()  # (lost with Redis's data before node b read it)
    restarted_empty(cluster)
    cluster.bus.release_feed("n1", ACCOUNTS_ROOM)
    cluster.histories[1].holding = False
    cluster.histories[1].commit()
    assert cluster.stored() == []
    cluster.now = a.now = b.now = cluster.now + 0.001
    back_in_new_epoch(cluster, 0)
    back_in_new_epoch(cluster, 1)
    cluster.drain()
    other.send("PRIVMSG #lobby :after")
    cluster.drain()
    assert cluster.stored() == ["after"]
