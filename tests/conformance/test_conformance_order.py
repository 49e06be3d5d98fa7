"""Per client, replies come in the order of its commands — even for the commands hubbub answers
after a worker thread (password hashing, SASL, account registration, history reads and writes).

The rule (issue 10, "The design gap: replies out of order"): "Clients, bots and test harnesses
rely on in-order replies (a PING/PONG round trip is the standard way to know that a command has
been answered). Rule: per client, replies come in the order of its commands." Modern IRC
(https://modern.ircdocs.horse/#ping-message) defines PING as what a client sends "to check the
other side of the connection is still connected and/or to check for connection latency, at the
application layer", answered with a PONG carrying the same token — the fence that only works if
the server answers in order.

Each test pipelines one asynchronous command and `PING x` in a single write on a real server,
and checks that the command's whole answer came before the PONG, and nothing of it after.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from conformance_helpers import PASSWORD, Network, ask, network

from hubbub.config import Operator
from support.config import server_config
from support.irc_client import IrcClient, Line
from support.servers import ThreadedServer

OPER_PASSWORD = "oper-secret-password"
Check = Callable[[Line], bool]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    """A server with an operator block (cheap hashing) besides the conformance defaults."""
    config = server_config(tmp_path, accounts={"hash_time_cost": 1, "hash_memory_kib": 64})
    operator = Operator(
        "root", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(OPER_PASSWORD)
    )
    config = dataclasses.replace(config, operators=(operator,))
    with ThreadedServer(config) as server:
        running = Network(server)
        try:
            yield running
        finally:
            running.close()


def before_pong(client: IrcClient, *lines: str, token: str = "x") -> list[Line]:
    """Send `lines` and `PING :token` in one write; the lines up to (without) the PONG."""
    client.send(*lines, f"PING :{token}")
    got = client.until(lambda line: line.command == "PONG" and line.text == token)
    return got[:-1]


def in_order(client: IrcClient, lines: list[str], answer: Check, end: Check) -> list[Line]:
    """The answer (every line matching `answer`, the last one matching `end`) came before the
    PONG of a PING pipelined behind `lines`; a second fence shows nothing of it came late."""
    got = before_pong(client, *lines)
    assert any(end(line) for line in got), "\n".join(line.raw for line in got)
    late = ask(client, token="late")
    assert not [line.raw for line in late if answer(line)]
    return got


def numeric(*codes: str) -> Check:
    return lambda line: line.command in codes


def notice_from(service: str) -> Check:
    return lambda line: line.command == "NOTICE" and line.nick == service


def test_oper(net: Network) -> None:
    """OPER hashes the password on the account worker: 381 (or 464) before the PONG."""
    alice = net.user("alice")
    in_order(alice, [f"OPER root {OPER_PASSWORD}"], numeric("381", "MODE"), numeric("381"))
    bob = net.user("bob")
    in_order(bob, ["OPER root wrong"], numeric("464"), numeric("464"))


def test_nickserv_identify(net: Network) -> None:
    owner = net.account("owner")
    owner.send("QUIT")
    again = net.user("again")
    got = in_order(
        again,
        [f"PRIVMSG NickServ :IDENTIFY owner {PASSWORD}"],
        numeric("900"),
        numeric("900"),
    )
    assert [line.command for line in got if line.command == "900"] == ["900"]


def test_register(net: Network) -> None:
    """draft/account-registration: `REGISTER * * pass` answered before the PONG."""
    alice = net.user("alice", ["draft/account-registration"])
    in_order(
        alice,
        [f"REGISTER * * {PASSWORD}"],
        lambda line: line.command in ("REGISTER", "900", "FAIL"),
        lambda line: line.command == "REGISTER" and line.params[:1] == ["SUCCESS"],
    )


def test_authenticate(net: Network) -> None:
    """SASL PLAIN before registration: 900 and 903 before the PONG."""
    net.account("carol").send("QUIT")
    client = net.raw()
    client.send("CAP LS 302", "NICK dave", "USER dave 0 * :dave")
    client.until(lambda line: line.command == "CAP")
    client.send("CAP REQ :sasl")
    client.until(lambda line: line.command == "CAP" and line.params[1] == "ACK")
    before_pong(client, "AUTHENTICATE PLAIN", token="plain")
    payload = base64.b64encode(f"\0carol\0{PASSWORD}".encode()).decode()
    in_order(client, [f"AUTHENTICATE {payload}"], numeric("900", "903"), numeric("903"))


@pytest.fixture
def room(net: Network) -> tuple[Network, IrcClient]:
    """A logged-in operator of #room (full IRCv3 caps) who said two things there."""
    caps = [
        "batch",
        "server-time",
        "message-tags",
        "echo-message",
        "draft/chathistory",
        "draft/message-redaction",
    ]
    op = net.account("op", caps)
    op.join("#room")
    ask(op, "PRIVMSG #room :one", "PRIVMSG #room :two")
    return net, op


def test_chathistory(room: tuple[Network, IrcClient]) -> None:
    _, op = room
    in_order(
        op,
        ["CHATHISTORY LATEST #room * 10"],
        numeric("BATCH", "PRIVMSG"),
        lambda line: line.command == "BATCH" and line.params[0].startswith("-"),
    )


def test_redact(room: tuple[Network, IrcClient]) -> None:
    _, op = room
    msgid = next(x for x in ask(op, "PRIVMSG #room :oops") if x.command == "PRIVMSG").tags["msgid"]
    in_order(op, [f"REDACT #room {msgid}"], numeric("REDACT"), numeric("REDACT"))


def test_histserv(room: tuple[Network, IrcClient]) -> None:
    _, op = room
    got = in_order(
        op, ["PRIVMSG HistServ :EXPORT"], notice_from("HistServ"), notice_from("HistServ")
    )
    assert any("two" in line.text for line in got)


def test_chanserv_register(room: tuple[Network, IrcClient]) -> None:
    _, op = room
    in_order(
        op, ["PRIVMSG ChanServ :REGISTER #room"], notice_from("ChanServ"), notice_from("ChanServ")
    )


def test_join_with_replay(room: tuple[Network, IrcClient]) -> None:
    """The join replay (history read on the worker) is part of the JOIN's answer."""
    net, _ = room
    late = net.user("late", ["server-time"])
    got = in_order(
        late,
        ["JOIN #room"],
        lambda line: line.command == "PRIVMSG" or line.command == "366",
        lambda line: line.command == "NOTICE" and "End of replay" in line.text,
    )
    assert [line.text for line in got if line.command == "PRIVMSG"] == ["one", "two"]


def test_everything_pipelined_at_once(room: tuple[Network, IrcClient]) -> None:
    """All of them in one write, a PING behind each: every PONG comes after its command's
    answer, and the PONGs come in order."""
    _, op = room
    op.send(
        f"OPER root {OPER_PASSWORD}",
        "PING :1",
        "CHATHISTORY LATEST #room * 10",
        "PING :2",
        "PRIVMSG HistServ :EXPORT",
        "PING :3",
        "PRIVMSG ChanServ :REGISTER #room",
        "PING :4",
        f"PRIVMSG NickServ :IDENTIFY op {PASSWORD}",
        "PING :5",
    )
    got = op.until(lambda line: line.command == "PONG" and line.text == "5")
    order = [
        "381"
        if line.command == "381"
        else "batch-end"
        if line.command == "BATCH" and line.params[0].startswith("-")
        else line.nick
        if line.command == "NOTICE" and line.nick.endswith("Serv")
        else f"pong{line.text}"
        if line.command == "PONG"
        else ""
        for line in got
    ]
    order = [step for i, step in enumerate(order) if step and (i == 0 or step != order[i - 1])]
    assert order == [
        "381", "pong1", "batch-end", "pong2", "HistServ", "pong3", "ChanServ", "pong4", "NickServ",
        "pong5",
    ]  # fmt: skip


def test_network_helper_is_ordered(tmp_path: Path) -> None:
    """The shared conformance helper `ask` relies on the same rule for a plain command."""
    with network(tmp_path) as plain:
        alice = plain.user("alice")
        assert [line.command for line in ask(alice, "TIME")] == ["391"]
