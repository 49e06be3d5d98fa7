"""Accounts network-wide: two hubbub nodes on a real redis-server bus and a real PostgreSQL.

Issue 14: "accounts, SASL, NickServ, ChanServ and HistServ work on any node". An account
registered (or dropped) on one node is known on every node at once (nick ownership), and a
login or logout reaches the nodes that share a room with the user (account-notify, WHOIS 330,
WHOX, the member fields a node reads when it opens a room later). hubbub.core.cluster_accounts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from node_helpers import client, running_nodes

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

PASSWORD = "correct-horse-battery"
# Cheap hashing (the production defaults take a while on purpose); registered nicks refused
# (433) to anyone not logged in to them, so a test can see that a node knows the account.
ACCOUNTS = {"hash_time_cost": 1, "hash_memory_kib": 64, "nick_enforcement": "reject"}


@contextlib.contextmanager
def nodes(tmp_path: Path, redis_url: str, store_url: str) -> Iterator[list[Any]]:
    with running_nodes(tmp_path, redis_url, store_url, accounts=ACCOUNTS) as running:
        yield running


def nick_refused_as_registered(node: Any, nick: str) -> bool:
    """Whether `node` refuses `nick` to a new connection because an account owns it."""
    irc = IrcClient(node.address)
    try:
        irc.send(f"NICK {nick}", "USER probe 0 * :probe")
        answer = irc.first(lambda line: line.command in ("001", "433"))
        return answer.command == "433" and "registered" in answer.text
    finally:
        irc.close()


def register_account(irc: IrcClient) -> None:
    irc.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    irc.expect("900")


def test_an_account_registered_on_one_node_owns_its_nick_on_the_other(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b):
        with client(a, "alice") as alice:
            register_account(alice)
            alice.send("QUIT")
            alice.until_closed()
        # Node b heard of the account: the nick is refused there to anyone not logged in.
        wait_for(lambda: nick_refused_as_registered(b, "alice"), what="alice owned on node b")
        # and the account works there (the store is shared).
        with client(b, "someone") as someone:
            someone.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
            someone.expect("900")
            someone.send("NICK alice")
            assert someone.first(lambda line: line.command in ("NICK", "433")).command == "NICK"


def test_an_account_dropped_on_one_node_frees_its_nick_on_the_other(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b), client(a, "alice") as alice:
        register_account(alice)
        alice.send("NICK alice_")  # still logged in; the nick alice is free to ask for
        alice.first(lambda line: line.command == "NICK")
        wait_for(lambda: nick_refused_as_registered(b, "alice"), what="alice owned on b")
        alice.send(f"PRIVMSG NickServ :DROP {PASSWORD}")
        alice.first(lambda line: line.command == "NOTICE" and "deleted" in line.text)
        wait_for(lambda: not nick_refused_as_registered(b, "alice"), what="alice free on b")


def test_a_user_dropped_on_another_node_is_logged_out_at_home(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Two connections of one account on two nodes: a DROP on one logs the other out."""
    with (
        nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "alice2") as other,
    ):
        register_account(alice)
        other.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
        other.expect("900")
        alice.send(f"PRIVMSG NickServ :DROP {PASSWORD}")
        alice.first(lambda line: line.command == "NOTICE" and "deleted" in line.text)
        assert other.first(lambda line: line.command in ("901", "900")).command == "901"


def account_of(irc: IrcClient, nick: str) -> str:
    """The account WHOIS shows for `nick` (330), "" for none."""
    irc.send(f"WHOIS {nick}")
    lines = irc.expect("318")
    return next((line.params[2] for line in lines if line.command == "330"), "")


def whox_account(irc: IrcClient, channel: str, nick: str) -> str:
    irc.send(f"WHO {channel} %na")
    lines = irc.expect("315")
    return next(
        line.params[2] for line in lines if line.command == "354" and line.params[1] == nick
    )


def account_notices(lines: list[Line], nick: str) -> list[str]:
    return [line.params[0] for line in lines if line.command == "ACCOUNT" and line.nick == nick]


def test_login_and_logout_reach_the_nodes_sharing_a_room(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with (
        nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob", ("account-notify", "extended-join")) as bob,
    ):
        register_account(alice)
        alice.send("PRIVMSG NickServ :LOGOUT")
        alice.expect("901")
        alice.join("#lobby")
        alice.join("#other")
        bob.join("#lobby")
        bob.join("#other")
        assert account_of(bob, "alice") == ""
        alice.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
        alice.expect("900")
        # account-notify once (alice shares two rooms with bob), then WHOIS, WHOX agree.
        got = bob.until(lambda line: line.command == "ACCOUNT", what="ACCOUNT alice")
        bob.fence()
        assert account_notices(got, "alice") == ["alice"]
        assert account_of(bob, "alice") == "alice"
        assert whox_account(bob, "#lobby", "alice") == "alice"
        # A node that opens the room afresh reads the account from alice's member field.
        bob.send("PART #lobby", "PART #other")
        bob.fence()
        with client(b, "carol", ("extended-join",)) as carol:
            carol.send("JOIN #lobby")
            names = carol.until(lambda line: line.command == "366")
            assert any(line.command == "353" and "alice" in line.text for line in names)
            assert account_of(carol, "alice") == "alice"
            # And a logout reaches it too.
            alice.send("PRIVMSG NickServ :LOGOUT")
            alice.expect("901")
            wait_for(lambda: account_of(carol, "alice") == "", what="alice logged out on b")


def test_register_refuses_the_nick_of_a_user_of_another_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """As on one server (hubbub.core.register), an account named like someone else's nick is
    refused with `FAIL REGISTER BAD_ACCOUNT_NAME`, also when that someone is on another node
    and shares no room with this one (the nick's claim on the bus says so)."""
    with (
        nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(b, "alice"),
        client(a, "mallory", ("draft/account-registration",)) as mallory,
    ):
        mallory.send(f"REGISTER alice * {PASSWORD}")
        fail = mallory.first(lambda line: line.command in ("FAIL", "REGISTER"))
        assert fail.command == "FAIL" and fail.params[:3] == [
            "REGISTER",
            "BAD_ACCOUNT_NAME",
            "alice",
        ]
        # A free name registers as usual.
        mallory.send(f"REGISTER mallory * {PASSWORD}")
        assert (
            mallory.first(lambda line: line.command in ("FAIL", "REGISTER")).command == "REGISTER"
        )
