"""User-level actions network-wide, on real nodes (a real redis-server bus, a real PostgreSQL).

Issue 14: "modes, topics, bans, KICK, INVITE, KILL, K-/D-lines, AWAY and NICK changes act
network-wide". Here: AWAY (away-notify, 301) and user modes (+B, +i) of users of other nodes in
WHO and WHOIS; INVITE of a user of another node, who then joins the +i room; KILL of a user of
another node; K-lines and D-lines set on one node applied on every node, removed on every node,
kept across a node's restart and learnt by a node that starts later (hubbub.core.cluster_users).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from argon2 import PasswordHasher
from node_helpers import client, node_config

from hubbub.config import Config, Operator
from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

OPER_PASSWORD = "root-password-1"


def oper_config(tmp_path: Path, redis_url: str, store_url: str, index: int) -> Config:
    """Node `index`'s config, with an operator `root` (cheaply hashed)."""
    config = node_config(tmp_path / f"node{index}", redis_url, store_url, f"node{index}")
    hashed = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(OPER_PASSWORD)
    return dataclasses.replace(config, operators=(Operator("root", hashed),))


@contextlib.contextmanager
def oper_nodes(
    tmp_path: Path, redis_url: str, store_url: str, count: int = 2
) -> Iterator[list[ThreadedServer]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(ThreadedServer(oper_config(tmp_path, redis_url, store_url, i)))
            for i in range(count)
        ]


def become_oper(irc: IrcClient) -> None:
    irc.send(f"OPER root {OPER_PASSWORD}")
    irc.expect("381")


def joined(irc: IrcClient, nick: str, channel: str) -> None:
    irc.first(lambda line: line.command == "JOIN" and line.nick == nick, what=f"{nick} joins")


def numeric(lines: list[Line], code: str) -> list[Line]:
    return [line for line in lines if line.command == code]


def refused_at_registration(node: ThreadedServer, nick: str, username: str) -> Line:
    """A new client of `node` as `nick` with this user name: the line it was refused with
    (465 or ERROR). (Each attempt its own nick: a refused one's is free a moment later.)"""
    irc = IrcClient(node.address)
    try:
        irc.send("CAP LS 302", f"NICK {nick}", f"USER {username} 0 * :the tester", "CAP END")
        lines = irc.until_closed()
    finally:
        irc.close()
    found = [line for line in lines if line.command in ("465", "ERROR")]
    assert found, [line.raw for line in lines]
    return found[0]


def welcomed(node: ThreadedServer, nick: str) -> bool:
    try:
        with client(node, nick):
            return True
    except (EOFError, TimeoutError, OSError):
        return False


def test_away_and_user_modes_are_seen_on_the_other_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """away-notify: "clients will be sent an AWAY message when a user sharing a channel with
    them sets, changes or removes their away state"; Modern IRC, RPL_AWAY (301) in WHOIS and
    for a PRIVMSG to an away user; bot-mode: RPL_WHOISBOT (335) and the BOT flag in WHO."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob", ("away-notify",)) as bob,
    ):
        alice.join("#lobby")
        alice.join("#other")
        bob.join("#lobby")
        bob.join("#other")
        joined(alice, "bob", "#other")
        alice.send("AWAY :lunch")
        alice.expect("306")
        away = bob.first(lambda line: line.command == "AWAY")
        assert away.nick == "alice" and away.params == ["lunch"]
        bob.send("WHOIS alice")
        assert numeric(bob.expect("318"), "301")[0].params[1:] == ["alice", "lunch"]
        bob.send("PRIVMSG alice :are you there?")
        bob.send("PING :after")
        got = bob.until(lambda line: line.command == "PONG")
        assert numeric(got, "301")[0].params[1:] == ["alice", "lunch"]
        assert not [line for line in got if line.command == "AWAY"]  # told once, not per room
        alice.send("MODE alice +Bi")
        alice.first(lambda line: line.command == "MODE")

        def shown() -> bool:
            bob.send("WHO #lobby")
            flags = {line.params[5]: line.params[6] for line in numeric(bob.expect("315"), "352")}
            return flags["alice"].startswith("G") and "B" in flags["alice"]

        wait_for(shown, 10.0, "alice's +B and away state in WHO on the other node")
        bob.send("WHOIS alice")
        assert numeric(bob.expect("318"), "335")[0].params[1] == "alice"
        alice.send("AWAY")
        back = bob.first(lambda line: line.command == "AWAY")
        assert back.nick == "alice" and back.params == []
        # A node that opens the room afterwards has her state from the room's fields.
        with (
            ThreadedServer(oper_config(tmp_path, redis_url, fresh_postgres_url, 2)) as c,
            client(c, "carol") as carol,
        ):
            carol.join("#lobby")
            carol.send("WHOIS alice")
            assert numeric(carol.expect("318"), "335")[0].params[1] == "alice"


def test_invite_reaches_a_user_of_another_node_who_then_joins(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, INVITE: "the server MUST send a RPL_INVITING numeric to the command issuer,
    and an INVITE message, with the issuer as <source>, to the target user"; "When the
    channel has invite-only mode set, only channel operators may issue INVITE command";
    invite-notify: ops with the capability are told."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "op") as op,
        client(b, "watcher", ("invite-notify",)) as watcher,
        client(b, "guest") as guest,
    ):
        op.join("#secret")
        watcher.join("#secret")
        joined(op, "watcher", "#secret")
        op.send("MODE #secret +io watcher")
        watcher.first(lambda line: line.command == "MODE" and "+io" in line.params[1])
        guest.send("JOIN #secret")
        assert guest.expect("473")
        op.send("INVITE guest #secret")  # guest shares no room with node a
        assert op.expect("341")[-1].params[1:] == ["guest", "#secret"]
        invite = guest.first(lambda line: line.command == "INVITE")
        assert invite.nick == "op" and invite.params == ["guest", "#secret"]
        notified = watcher.first(lambda line: line.command == "INVITE")
        assert notified.nick == "op" and notified.params == ["guest", "#secret"]
        guest.send("INVITE")
        listed = guest.expect("337")
        assert [line.params[1] for line in numeric(listed, "336")] == ["#secret"]
        guest.send("JOIN #secret")
        assert guest.expect("366")
        joined(op, "guest", "#secret")


def test_kill_of_a_user_of_another_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, KILL: "The KILL command is used to close the connection between a given
    client and the server they are connected to"; its neighbours see it QUIT."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "root") as root,
        client(a, "witness") as witness,
        client(b, "victim") as victim,
    ):
        become_oper(root)
        witness.join("#lobby")
        witness.join("#other")
        victim.join("#lobby")
        victim.join("#other")
        joined(witness, "victim", "#other")
        root.send("KILL victim :spamming")
        notice = root.first(lambda line: line.command == "NOTICE" and "Killed" in line.text)
        assert notice.text == "Killed victim (spamming)"
        end = victim.until_closed()
        assert [line.params for line in end if line.command == "KILL"] == [["victim", "spamming"]]
        quit_line = witness.first(lambda line: line.command == "QUIT")
        assert quit_line.nick == "victim" and quit_line.text == "Killed by root (spamming)"
        witness.send("PING :after")
        rest = witness.until(lambda line: line.command == "PONG")
        assert not [line for line in rest if line.command == "QUIT"]  # once, not per room


def test_klines_and_dlines_act_on_every_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """K-/D-lines set on one node: users they cover on the other nodes are disconnected (465),
    new connections refused there too; kept (in the shared store) across a node's restart and
    found by a node that starts later; removed on every node."""
    b_config = oper_config(tmp_path, redis_url, fresh_postgres_url, 1)
    with (
        ThreadedServer(oper_config(tmp_path, redis_url, fresh_postgres_url, 0)) as a,
        ThreadedServer(b_config) as b,
        client(a, "root") as root,
        client(b, "victim") as victim,
        client(b, "bystander") as bystander,
    ):
        become_oper(root)
        root.send("KLINE victim@* :go away")
        root.first(lambda line: line.command == "NOTICE" and "K-line added" in line.text)
        end = victim.until_closed()
        assert "go away" in numeric(end, "465")[0].text
        assert "go away" in refused_at_registration(b, "victim1", "victim").raw
        bystander.send("PING :still here")
        bystander.first(lambda line: line.command == "PONG")
    # Node b restarts: the ban is still in force there (the shared store), and node c, which
    # starts now, has it too.
    with (
        ThreadedServer(b_config) as b,
        ThreadedServer(oper_config(tmp_path, redis_url, fresh_postgres_url, 2)) as c,
    ):
        assert "go away" in refused_at_registration(b, "victim2", "victim").raw
        assert "go away" in refused_at_registration(c, "victim3", "victim").raw
        with client(c, "root") as root:
            become_oper(root)
            root.send("UNKLINE victim@*")
            root.first(lambda line: line.command == "NOTICE" and "removed" in line.text)
            wait_for(lambda: welcomed(b, "victim"), 10.0, "the K-line removed on the other node")
            # A D-line on the loopback address: everyone else on node b goes.
            with client(b, "loopy") as loopy:
                root.send("DLINE 127.0.0.1 :no loopback")
                root.first(lambda line: line.command == "NOTICE" and "D-line added" in line.text)
                assert "no loopback" in numeric(loopy.until_closed(), "465")[0].text
            assert "no loopback" in refused_at_registration(b, "other", "other").raw
            root.send("UNDLINE 127.0.0.1")
            root.first(lambda line: line.command == "NOTICE" and "removed" in line.text)
            wait_for(lambda: welcomed(b, "other"), 10.0, "the D-line removed on the other node")
