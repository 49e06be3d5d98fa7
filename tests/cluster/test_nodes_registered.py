"""ChanServ-registered rooms network-wide: two hubbub nodes on a real redis-server bus and a
real PostgreSQL. hubbub.core.cluster_registry.

Issue 14: "accounts, SASL, NickServ, ChanServ and HistServ work on any node". A registered room
behaves the same on every node, at any time, as on one server where it never vanishes: its
owner is opped when joining on any node (also one started before or after the registration),
its saved topic and modes are its state when it is created afresh, and a node whose last
member left it still knows it is registered.
"""

from __future__ import annotations

from pathlib import Path

import redis
from node_helpers import client, running_nodes

from hubbub.cluster import bus_scripts as scripts
from hubbub.core.cluster_fields import REGISTERED_FIELD
from hubbub.registry.model import RegisteredChannel
from hubbub.registry.postgres import PostgresRegistryStore
from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

PASSWORD = "correct-horse-battery"
ACCOUNTS = {"hash_time_cost": 1, "hash_memory_kib": 64}


def register_account(irc: IrcClient) -> None:
    irc.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    irc.expect("900")


def identify(irc: IrcClient, account: str) -> None:
    irc.send(f"PRIVMSG NickServ :IDENTIFY {account} {PASSWORD}")
    irc.expect("900")


def names_of(lines: list[Line]) -> list[str]:
    """The nicks (with their prefix) of the NAMES replies among `lines`."""
    return [nick for line in lines if line.command == "353" for nick in line.text.split()]


def topic_of(lines: list[Line]) -> str | None:
    topics = [line.text for line in lines if line.command == "332"]
    return topics[0] if topics else None


def chanserv(irc: IrcClient, text: str) -> list[str]:
    """ChanServ's notices answering `text` (read up to the fence after it)."""
    irc.send(f"PRIVMSG ChanServ :{text}")
    return [
        line.text for line in irc.fence() if line.command == "NOTICE" and line.nick == "ChanServ"
    ]


def modes_of(irc: IrcClient, room: str) -> str:
    irc.send(f"MODE {room}")
    return irc.expect("324")[-1].params[2]


def register_lobby_known_on_b(alice: IrcClient, other: IrcClient) -> None:
    """alice (logged in, on node A) registers #lobby; `other`, on node B, logs in to her
    account, and waits until node B knows the registration (ChanServ INFO there answers it,
    from the registry, nobody being in the room there)."""
    alice.join("#lobby")
    alice.send("PRIVMSG ChanServ :REGISTER #lobby")
    alice.first(lambda line: line.command == "NOTICE" and "now registered" in line.text)
    identify(other, "alice")
    wait_for(
        lambda: any("registered to alice" in text for text in chanserv(other, "INFO #lobby")),
        10,
        "the registration known on node B",
    )


def test_a_node_started_with_a_registered_room_answers_a_join_and_ops_its_owner(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """ChanServ keeps a registered room's topic and modes, and ops its owner on join. The room
    is in the registry before any node starts (and the bus has never seen it): a JOIN of it on
    either node is answered (then the client's next command too), its owner is opped, and its
    saved topic and key are the room's on both nodes."""
    registry = PostgresRegistryStore(fresh_postgres_url)
    try:
        saved = RegisteredChannel(
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
        assert registry.create_channel(saved)
    finally:
        registry.close()
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=ACCOUNTS) as (a, b),
        client(b, "alice") as alice,
        client(a, "bob") as bob,
    ):
        register_account(alice)
        joined = alice.join("#saved")
        alice.fence()  # and what it says after its JOIN is answered too
        assert "@alice" in names_of(joined)
        assert topic_of(joined) == "what was saved"
        alice.send("MODE #saved")
        creation = alice.expect("329")
        assert creation[-1].params[2] == "1600000000"
        # The other node has the saved state too: the key is asked of bob.
        bob.send("JOIN #saved")
        assert bob.expect("475")[-1].params[1] == "#saved"
        joined = bob.join("#saved sesame")
        assert topic_of(joined) == "what was saved"
        assert set(names_of(joined)) == {"@alice", "bob"}
        assert "k" in modes_of(bob, "#saved")


def test_a_registration_and_a_drop_on_one_node_reach_a_running_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """ChanServ REGISTER makes the owner opped on join and INFO show the owner; DROP undoes
    it. Registered on node A, ChanServ INFO on node B (running all along) names the owner,
    before anyone is in the room there and after, and the owner's other connection is opped
    joining there; dropped on node A, node B forgets it (INFO, and no op on join)."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=ACCOUNTS) as (a, b),
        client(a, "alice") as alice,
        client(b, "other") as other,
    ):
        register_account(alice)
        # Node B, where nobody is in the room, answers about it (from the registry) ...
        register_lobby_known_on_b(alice, other)
        # ... and ops the owner joining there.
        assert "@other" in names_of(other.join("#lobby"))
        info = chanserv(other, "INFO #lobby")
        assert any("registered to alice" in text for text in info), info
        alice.send("PRIVMSG ChanServ :DROP #lobby")
        alice.first(lambda line: line.command == "NOTICE" and "no longer registered" in line.text)
        wait_for(
            lambda: any("is not registered" in text for text in chanserv(other, "INFO #lobby")),
            10,
            "the registration forgotten on node B",
        )
        other.send("PART #lobby")
        other.first(lambda line: line.command == "PART")
        assert "other" in names_of(other.join("#lobby"))  # not opped: alice (A) is there


def test_an_access_add_on_a_node_without_the_room_is_answered_once_committed(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """`limits.list_modes` 1. The owner adds carol to the access list on node B, where
    nobody is in the room: the answer comes once the registry (PostgreSQL) committed it, and
    carol joining on node A, once it learned the list, is opped. A second ADD finds the list
    full, as the registry's transaction checks it (hubbub.core.registered
    `with_operator`)."""
    with (
        running_nodes(
            tmp_path,
            redis_url,
            fresh_postgres_url,
            accounts=ACCOUNTS,
            limits={"list_modes": 1},
        ) as (a, b),
        client(a, "alice") as alice,
        client(a, "carol") as carol,
        client(b, "dave") as dave,
        client(b, "other") as other,
    ):
        for irc in (alice, carol, dave):
            register_account(irc)
        register_lobby_known_on_b(alice, other)
        wait_for(
            lambda: (
                chanserv(other, "ACCESS #lobby ADD carol") == ["carol is now an operator of #lobby"]
            ),
            10,
            "carol's account known on node B",
        )
        # Node A learns the list from B's announcement (a moment later: not with the answer).
        wait_for(
            lambda: "Operators: carol" in chanserv(alice, "INFO #lobby"),
            10,
            "the access list known on node A",
        )
        assert "@carol" in names_of(carol.join("#lobby"))
        assert chanserv(other, "ACCESS #lobby ADD dave") == ["The access list of #lobby is full"]


def test_the_bus_marks_a_registered_room_until_it_is_dropped(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """A REGISTER's announcement marks the room on the bus (its state field `registered`,
    hubbub.core.cluster_fields `REGISTERED_FIELD`), a DROP's takes the mark away: what keeps a
    JOIN from a node that has not learned the registration yet from making the emptied room
    anew."""
    bus = redis.Redis.from_url(redis_url)
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=ACCOUNTS) as (a, _b),
        client(a, "alice") as alice,
    ):

        def mark() -> bytes | None:
            return bus.hget(scripts.state_key("#lobby"), REGISTERED_FIELD)

        register_account(alice)
        alice.join("#lobby")
        assert mark() is None
        alice.send("PRIVMSG ChanServ :REGISTER #lobby")
        alice.first(lambda line: line.command == "NOTICE" and "now registered" in line.text)
        wait_for(lambda: mark() == b"1", 10, "the room marked registered on the bus")
        alice.send("PRIVMSG ChanServ :DROP #lobby")
        alice.first(lambda line: line.command == "NOTICE" and "no longer registered" in line.text)
        wait_for(lambda: mark() is None, 10, "the mark gone")
    bus.close()


def test_a_registered_room_emptied_keeps_its_registration_and_saved_state(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """A registered room never vanishes: emptied on one node (its members elsewhere), its
    owner rejoining there is opped; emptied on every node, whoever joins it finds its topic
    and modes, and the owner is opped, as they were."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=ACCOUNTS) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        register_account(alice)
        alice.join("#keep")
        alice.send("TOPIC #keep :kept topic", "MODE #keep +ik sesame")
        alice.first(lambda line: line.command == "MODE")
        alice.send("PRIVMSG ChanServ :REGISTER #keep")
        alice.first(lambda line: line.command == "NOTICE" and "now registered" in line.text)
        alice.send("INVITE bob #keep")
        alice.expect("341")
        bob.join("#keep sesame")
        # Emptied on node A (bob stays on node B): node A still knows it is registered.
        alice.send("PART #keep")
        alice.first(lambda line: line.command == "PART")
        assert "@alice" in names_of(alice.join("#keep"))
        # Emptied on every node: its state is as it was.
        for irc in (alice, bob):
            irc.send("PART #keep")
            irc.first(lambda line: line.command == "PART")
        bob.send("JOIN #keep sesame")
        assert bob.expect("473")[-1].params[1] == "#keep"  # +i still, on node B
        joined = alice.join("#keep")  # on node A, without the key: its owner
        assert "@alice" in names_of(joined)
        assert topic_of(joined) == "kept topic"
        assert {"i", "k"} <= set(modes_of(alice, "#keep"))
        bob.send("JOIN #keep sesame")
        assert bob.expect("473")[-1].params[1] == "#keep"
