"""Account registration (IRCv3 draft/account-registration,
https://ircv3.net/specs/extensions/account-registration), and the order of the answers to every
command that waits on the account worker (AUTHENTICATE, NickServ IDENTIFY, REGISTER, OPER),
against a real server over loopback."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from argon2 import PasswordHasher
from conformance_helpers import FAST_HASHING, PASSWORD, Network, ask, network

from hubbub.config import Operator
from support.config import server_config
from support.irc_client import IrcClient, Line
from support.servers import ThreadedServer

OPER_PASSWORD = "oper-secret-31337"


def cap_value(client: IrcClient, name: str) -> str | None:
    got = ask(client, "CAP LS 302")
    items = " ".join(line.params[-1] for line in got if line.command == "CAP").split()
    for item in items:
        key, _, value = item.partition("=")
        if key == name:
            return value
    return None


def fails(lines: list[Line]) -> list[tuple[str, ...]]:
    return [tuple(line.params[:3]) for line in lines if line.command == "FAIL"]


def test_register_before_connect_then_welcome(net: Network) -> None:
    """account-registration: "before-connect: Indicates that clients MAY use the REGISTER
    command before completing connection registration." REGISTER * uses the nick: "If the
    <account> parameter is *, the account name is the client's current nickname"."""
    client = net.raw()
    assert cap_value(client, "draft/account-registration") == "before-connect,custom-account-name"
    got = ask(client, "NICK early", f"REGISTER * * {PASSWORD}")
    assert any(
        line.command == "REGISTER" and line.params[:2] == ["SUCCESS", "early"] for line in got
    )
    got = ask(client, "USER early 0 * :early", "CAP END")
    assert any(line.command == "001" for line in got)


def test_register_star_star_pass_is_answered_before_the_pong(net: Network) -> None:
    """account-registration: "REGISTER <account> {<email> | "*"} <password>" — here
    `REGISTER * * pass` right after connecting; the client's PING behind it is answered after
    the REGISTER reply (a PING/PONG round trip is how clients know a command was answered)."""
    client = net.user("piper")
    client.send(f"REGISTER * * {PASSWORD}", "PING :after-register")
    got = client.until(lambda line: line.command == "PONG")
    commands = [line.command for line in got]
    assert "REGISTER" in commands and commands.index("REGISTER") < commands.index("PONG")


def test_an_existing_account_before_connect_is_account_exists(net: Network) -> None:
    """account-registration: "ACCOUNT_EXISTS: the account already exists" — also before
    connection registration completes (before-connect), whether the name is given or is the
    nick (REGISTER *), and when the nick was refused because the account's owner is online
    with it (not NEED_NICK: the client did choose a nick, and its account exists)."""
    owner = net.account("taken")
    client = net.raw()
    assert fails(ask(client, "CAP LS 302", f"REGISTER taken * {PASSWORD}")) == [
        ("REGISTER", "ACCOUNT_EXISTS", "taken")
    ]
    other = net.raw()
    got = ask(other, "CAP LS 302", "NICK taken", f"REGISTER * * {PASSWORD}")
    assert [line.command for line in got if line.command.isdigit()] == ["433"]
    assert fails(got) == [("REGISTER", "ACCOUNT_EXISTS", "taken")]
    owner.send("QUIT")
    offline = net.raw()
    assert fails(ask(offline, "CAP LS 302", "NICK taken", f"REGISTER * * {PASSWORD}")) == [
        ("REGISTER", "ACCOUNT_EXISTS", "taken")
    ]


def test_need_nick_without_a_nick(net: Network) -> None:
    """account-registration: "NEED_NICK: the client must set a nickname before registering"
    (REGISTER * before any NICK)."""
    client = net.raw()
    assert fails(ask(client, "CAP LS 302", f"REGISTER * * {PASSWORD}")) == [
        ("REGISTER", "NEED_NICK", "*")
    ]


def test_the_capability_value_follows_the_configuration(tmp_path: Path) -> None:
    """account-registration: "before-connect ... email-required: Indicates that clients MUST
    provide an email address in the REGISTER command"; a server that does not allow REGISTER
    before connecting does not advertise before-connect and answers
    COMPLETE_CONNECTION_REQUIRED."""
    accounts = {**FAST_HASHING, "register_before_connect": False, "email_required": True}
    with network(tmp_path, accounts=accounts) as net:
        client = net.raw()
        assert cap_value(client, "draft/account-registration") == (
            "email-required,custom-account-name"
        )
        assert fails(ask(client, f"REGISTER someone me@example.org {PASSWORD}")) == [
            ("REGISTER", "COMPLETE_CONNECTION_REQUIRED", "someone")
        ]
        ask(client, "NICK someone", "USER s 0 * :s", "CAP END")
        assert fails(ask(client, f"REGISTER * * {PASSWORD}")) == [
            ("REGISTER", "INVALID_EMAIL", "someone")
        ]
        got = ask(client, f"REGISTER * me@example.org {PASSWORD}")
        assert any(line.command == "REGISTER" and line.params[0] == "SUCCESS" for line in got)


def test_registrations_from_one_address_are_limited(tmp_path: Path) -> None:
    """Issue 11 #8 over the wire: REGISTER is rate-limited per address; past the limit the
    answer is account-registration's "TEMPORARILY_UNAVAILABLE: the server is temporarily
    unable to register accounts"."""
    accounts = {**FAST_HASHING, "registration": "approval", "register_attempts": 2}
    with network(tmp_path, accounts=accounts) as net:
        client = net.raw()
        lines = [f"REGISTER acct{number} * {PASSWORD}" for number in range(5)]
        got = ask(client, "CAP LS 302", *lines)
        created = [line for line in got if line.command == "REGISTER"]
        assert len(created) == 2
        assert [f[1] for f in fails(got)] == ["TEMPORARILY_UNAVAILABLE"] * 3


def test_every_command_that_waits_on_the_account_worker_answers_in_order(
    tmp_path: Path,
) -> None:
    """Replies come in the order of the commands: AUTHENTICATE, NickServ IDENTIFY, REGISTER
    and OPER each followed by `PING x` get their answer before the PONG (issue 10: the PONG
    used to overtake them)."""
    phc = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(OPER_PASSWORD)
    config = dataclasses.replace(
        server_config(tmp_path, accounts=FAST_HASHING), operators=(Operator("root", phc),)
    )
    with ThreadedServer(config) as server:
        net = Network(server)
        try:
            net.account("owner").send("QUIT")

            def answered_first(client: IrcClient, line: str, wanted: set[str]) -> None:
                client.send(line, "PING :x")
                got = client.until(lambda reply: reply.command == "PONG")
                commands = [reply.command for reply in got]
                assert wanted & set(commands[:-1]), (line, commands)

            sasl = net.raw()
            ask(sasl, "CAP LS 302", "NICK s1", "USER s 0 * :s", "CAP REQ :sasl")
            answered_first(sasl, "AUTHENTICATE PLAIN", {"AUTHENTICATE"})
            payload = "AUTHENTICATE AG93bmVyAGNvcnJlY3QtaG9yc2UtYmF0dGVyeQ=="  # \0owner\0PASSWORD
            answered_first(sasl, payload, {"903"})
            ident = net.user("i1")
            answered_first(ident, f"PRIVMSG NickServ :IDENTIFY owner {PASSWORD}", {"900"})
            fresh = net.user("r1")
            answered_first(fresh, f"REGISTER * * {PASSWORD}", {"REGISTER"})
            oper = net.user("o1")
            answered_first(oper, f"OPER root {OPER_PASSWORD}", {"381"})
            wrong = net.user("o2")
            answered_first(wrong, "OPER root wrong", {"464"})
        finally:
            net.close()
