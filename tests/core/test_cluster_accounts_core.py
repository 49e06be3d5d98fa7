"""Accounts and metadata network-wide in the core (hubbub.core.cluster_accounts and
cluster_messages), several cores on the in-memory bus of tests/core/test_cluster_core.py.

The order questions the live tests cannot force: a user's login/logout (or metadata) events
arrive room by room, and a node may apply the events of two quick changes in either room's
order; the change numbers keep the newest one last.
"""

from __future__ import annotations

import json

from core_helpers import only
from test_cluster_core import Cluster

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.model import Account, Credentials
from hubbub.core.cluster_accounts import ACCOUNTS_ROOM
from support.core_services import HeldService


def login_event(fold: str, account: str, version: int) -> bytes:
    event = {"t": "login", "f": fold, "a": account, "ai": account, "v": version, "k": "x"}
    return json.dumps(event).encode()


def test_an_older_login_applied_after_a_newer_one_changes_nothing() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob", ["account-notify"])
    for room in ("#one", "#two"):
        alice.send(f"JOIN {room}")
        cluster.drain()
        bob.send(f"JOIN {room}")
        cluster.drain()
    server = b.server
    remote = server.users["alice"]
    assert remote.session.remote and remote.account == ""
    # The login (change 1) and logout (change 2) of alice, as node a sequences them in each of
    # her rooms, applied here #one first, then #two: #two's events are older than #one's last.
    server.apply_sequenced("#one", 90, 1, "n0", login_event("alice", "alice", 1))
    server.apply_sequenced("#one", 91, 2, "n0", login_event("alice", "", 2))
    server.apply_sequenced("#two", 90, 3, "n0", login_event("alice", "alice", 1))
    server.apply_sequenced("#two", 91, 4, "n0", login_event("alice", "", 2))
    assert remote.account == ""
    assert [list(m.params) for m in only(bob.lines(), "ACCOUNT")] == [["alice"], ["*"]]


def test_a_login_reaches_the_other_node_once_and_a_newer_metadata_map_wins() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob", ["account-notify", "draft/metadata-2"])
    bob.send("METADATA * SUB avatar")
    for room in ("#one", "#two"):
        alice.send(f"JOIN {room}")
        cluster.drain()
        bob.send(f"JOIN {room}")
        cluster.drain()
    # alice's login on node a, as hubbub.core.login does it there.
    user = a.server.users["alice"]
    user.account = user.account_id = "alice"
    cluster_state = a.server.cluster
    assert cluster_state is not None
    cluster_state.account_changed(user)
    assert [list(m.params) for m in only(bob.lines(), "ACCOUNT")] == [["alice"]]
    assert b.server.users["alice"].account == "alice"
    # Metadata: two maps, the newer one delivered first through #two.
    server = b.server
    newer = {"t": "umeta", "f": "alice", "v": 2, "md": {"avatar": "new"}, "k": "y"}
    older = {"t": "umeta", "f": "alice", "v": 1, "md": {"avatar": "old"}, "k": "z"}
    server.apply_sequenced("#two", 95, 5, "n0", json.dumps(newer).encode())
    server.apply_sequenced("#one", 95, 6, "n0", json.dumps(older).encode())
    assert server.users["alice"].metadata == {"avatar": "new"}
    assert [list(m.params) for m in only(bob.lines(), "METADATA")] == [
        ["alice", "avatar", "*", "new"]
    ]


def test_every_node_follows_the_accounts_room_and_learns_names() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    assert ACCOUNTS_ROOM in b.network.rooms
    cluster_state = a.server.cluster
    assert cluster_state is not None
    cluster_state.account_registered("carol", "carol-1")
    assert "carol" in b.server.accounts.names and b.server.accounts.ids["carol"] == "carol-1"
    cluster_state.account_dropped("carol")
    assert "carol" not in b.server.accounts.names and "carol" not in b.server.accounts.ids


def test_a_reload_of_the_names_keeps_what_was_announced_while_it_was_read() -> None:
    """After the bus comes back each node reads the names from the store again (a restarted
    Redis may have lost announcements); one announced while that read is on its way is kept,
    and a name the store no longer has goes."""
    cluster = Cluster()
    a, b = cluster.nodes
    accounts = b.server.accounts
    store = MemoryAccountStore()
    store.create(Account("erin", "erin", Credentials("", b"", 1, b"", b""), id="erin-1"))
    held = HeldService(store)  # answers when told: the store is read before the announcements
    accounts.service = held
    accounts.names.add("stale")  # dropped while this node missed the announcement
    b_state, a_state = b.server.cluster, a.server.cluster
    assert b_state is not None and a_state is not None
    b_state.reload_account_names()
    a_state.account_registered("dave", "dave-1")  # announced while the store is being read
    a_state.account_dropped("erin")
    held.complete()
    assert accounts.names == {"dave"} and accounts.ids == {"dave": "dave-1"}


def test_room_metadata_set_on_two_nodes_in_the_same_instant_keeps_both_keys() -> None:
    """Two operators on two nodes set different keys of one room before either change is
    sequenced: a node that opens the room afterwards reads both from the room's state (each
    key is its own state field; one field holding the map kept only the last writer's map)."""
    cluster = Cluster(3)
    a, b, c = cluster.nodes
    alice = a.client("alice")
    bob = b.client("bob")
    alice.send("JOIN #lobby")
    cluster.drain()
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("MODE #lobby +o bob")
    cluster.drain()
    cluster.bus.held = True
    alice.send("METADATA #lobby SET color :teal")
    bob.send("METADATA #lobby SET homepage :https://lobby.example")
    cluster.bus.release()
    cluster.drain()
    both = {"color": "teal", "homepage": "https://lobby.example"}
    assert a.channel("#lobby").metadata == both
    assert b.channel("#lobby").metadata == both
    carol = c.client("carol")
    carol.send("JOIN #lobby")
    cluster.drain()
    assert c.channel("#lobby").metadata == both
    # A key removed on one node is gone for a node that opens the room later, too.
    bob.send("METADATA #lobby SET homepage")
    cluster.drain()
    carol.send("PART #lobby")
    cluster.drain()
    carol.send("JOIN #lobby")
    cluster.drain()
    assert c.channel("#lobby").metadata == {"color": "teal"}


def test_a_new_room_of_an_old_name_has_none_of_its_metadata() -> None:
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice")
    alice.send("JOIN #lobby")
    alice.send("METADATA #lobby SET color :teal")
    alice.send("PART #lobby")
    cluster.drain()
    bob = b.client("bob")
    bob.send("JOIN #lobby")
    cluster.drain()
    assert b.channel("#lobby").metadata is None
    assert not [name for name in cluster.bus.fields["#lobby"] if name.startswith("meta:")]


RED = ["draft/message-redaction", "message-tags", "echo-message", "server-time"]


def test_a_private_redact_the_bus_refused_reaches_the_other_node_when_it_is_back() -> None:
    """A REDACT of a private message is done where it is asked (the store is shared); the
    other party's node, which also relays it and deletes its own copy of the message, is
    told through the bus. Refused (unavailable), it is told once the bus is back."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice = a.client("alice", RED)
    bob = b.client("bob", RED)
    alice.send("JOIN #lobby")
    cluster.drain()
    bob.send("JOIN #lobby")
    cluster.drain()
    alice.send("PRIVMSG bob :my password")
    msgid = only(alice.lines(), "PRIVMSG")[0].tags["msgid"]
    assert [m.params[-1] for m in only(bob.lines(), "PRIVMSG")] == ["my password"]
    cluster.bus.available = False
    alice.send(f"REDACT bob {msgid} :oops")
    assert [m.params for m in only(alice.lines(), "REDACT")] == [("bob", msgid, "oops")]
    assert bob.raw() == []
    cluster.bus.available = True
    a.server.network_available(True)
    assert [m.params for m in only(bob.lines(), "REDACT")] == [("bob", msgid, "oops")]
