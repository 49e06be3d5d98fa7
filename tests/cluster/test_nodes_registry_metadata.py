"""A registered room's metadata changed on two nodes at once (two hubbub nodes on a real
redis-server bus and a real PostgreSQL): the registry and every node keep both changes.
hubbub.core.metadata, hubbub.core.registered (`changed`), hubbub.registry (`save_state`).

A change of a registered room's metadata is sequenced, answered, and applied on every node;
the node it was made on saves the room's state with its metadata whole, with its place in
the room's sequence, and the registry keeps the newest. Here the room is registered on node
A, and node A's save of alice's change is held while bob's change of another key (node B)
is made, applied and saved: node A's save, older, commits last and changes nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from node_helpers import client, node_config

from hubbub.app import App
from hubbub.registry.postgres import PostgresRegistryStore
from hubbub.registry.store import RegistryStore
from support.irc_client import IrcClient
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

CAPS = ("draft/metadata-2", "batch", "message-tags")
ACCOUNTS = {"hash_time_cost": 1, "hash_memory_kib": 64}
PASSWORD = "correct-horse-battery"
#: Seconds a held registry write waits at most (a failing test must not hang the run).
GATE_LIMIT = 30.0
#: The registry's call the gate holds: a save of the room's state (with its metadata).
GATED = "save_state"


class GatedRegistry:
    """A registry store whose metadata writes wait for `gate` (on the registry thread);
    `holding` is set while one waits there."""

    def __init__(self, inner: RegistryStore, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate
        self.holding = threading.Event()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name != GATED:
            return found

        def held(*args: Any) -> Any:
            if not self.gate.is_set():
                self.holding.set()
                if not self.gate.wait(GATE_LIMIT):
                    raise AssertionError("the test never let the registry write go")
            return found(*args)

        return held


def identified(irc: IrcClient) -> None:
    """`irc` registers its nick as an account (and is logged in to it)."""
    irc.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    irc.expect("900")


def get(irc: IrcClient, key: str) -> str | None:
    """The value `METADATA #lobby GET <key>` answers (None: not set, or no such room)."""
    irc.send(f"METADATA #lobby GET {key}")
    for line in irc.fence():
        if line.command == "761":
            return line.params[-1]
    return None


def test_two_nodes_changing_other_keys_of_a_registered_room_at_once_keep_both(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """IRCv3 metadata (https://ircv3.net/specs/extensions/metadata): "SET ... sets the key to
    the given value" and answers with RPL_KEYVALUE; a key set by one operator is not undone
    by another operator's change of another key. alice (node A) sets a key of the registered
    room and node A's save of it is held; meanwhile bob (node B) sets another key, and node B
    saves the room with both. Then node A's save goes, older: the registry (what a node
    starting later reads) and both nodes (and a node started afterwards) have both keys."""
    gate = threading.Event()
    gate.set()
    held: list[GatedRegistry] = []

    class GatedApp(App):
        def open_registry_store(self) -> RegistryStore:
            store = GatedRegistry(super().open_registry_store(), gate)
            held.append(store)
            return store  # type: ignore[return-value]

    config_a = node_config(tmp_path / "a", redis_url, fresh_postgres_url, "a", accounts=ACCOUNTS)
    config_b = node_config(tmp_path / "b", redis_url, fresh_postgres_url, "b", accounts=ACCOUNTS)
    with (
        ThreadedServer(config_a, app_class=GatedApp) as a,
        ThreadedServer(config_b) as b,
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        identified(alice)
        alice.join("#lobby")
        alice.send("PRIVMSG ChanServ :REGISTER #lobby")
        alice.first(lambda line: line.command == "NOTICE" and "registered" in line.text)
        bob.join("#lobby")
        # (Node A has his JOIN: else it has nobody of that nick there to op, 441.)
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        alice.send("MODE #lobby +o bob")
        bob.first(lambda line: line.command == "MODE")
        for irc in (alice, bob):
            irc.send("METADATA * SUB color homepage")
            irc.expect("770")
        try:
            gate.clear()
            alice.send("METADATA #lobby SET color :teal")
            assert alice.expect("761")[-1].params[-3:] == ["color", "*", "teal"]
            wait_for(held[0].holding.is_set, 10, "node A's registry write held")
            bob.send("METADATA #lobby SET homepage :https://lobby.example")
            bob.expect("761")
            heard = alice.first(lambda line: line.command == "METADATA", what="bob's change")
            assert heard.params == ["#lobby", "homepage", "*", "https://lobby.example"]
        finally:
            gate.set()
        both = {"color": "teal", "homepage": "https://lobby.example"}

        def registered() -> dict[str, dict[str, str]]:
            registry = PostgresRegistryStore(fresh_postgres_url)
            try:
                return registry.channel_metadata()
            finally:
                registry.close()

        wait_for(lambda: registered() == {"#lobby": both}, 10, "both keys in the registry")
        for irc in (alice, bob):
            for key, value in both.items():
                wait_for(
                    lambda irc=irc, key=key, value=value: get(irc, key) == value,
                    10,
                    f"{key} on both nodes",
                )
    # A node started afterwards has the registered room with both keys (joined there: a node
    # holds the rooms its users are in).
    config_c = node_config(tmp_path / "c", redis_url, fresh_postgres_url, "c", accounts=ACCOUNTS)
    with ThreadedServer(config_c) as later, client(later, "carol", CAPS) as carol:
        carol.join("#lobby")
        assert {key: get(carol, key) for key in both} == both
