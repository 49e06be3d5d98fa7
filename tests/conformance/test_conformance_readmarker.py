"""draft/read-marker (MARKREAD) against a real server: https://ircv3.net/specs/extensions/read-marker

hubbub keeps read markers per account (in the account store), so they survive a restart.
"""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import PASSWORD, Network, ask, network

from support.irc_client import IrcClient, Line

CAPS = ("draft/read-marker", "server-time", "message-tags", "batch")
T1 = "2026-01-02T03:04:05.678Z"
T2 = "2026-01-02T03:04:06.000Z"


def markreads(lines: list[Line]) -> list[list[str]]:
    return [x.params for x in lines if x.command == "MARKREAD"]


def identify(client: IrcClient, nick: str) -> None:
    client.send(f"PRIVMSG NickServ :IDENTIFY {nick} {PASSWORD}")
    client.expect("900")


def test_set_is_answered_and_get_returns_it(net: Network) -> None:
    """ "The server MUST reply to a successful `MARKREAD` client set command using a `MARKREAD`
    server command" and "If there is no known last message read timestamp, the `timestamp`
    parameter is a literal `*`."
    """
    alice = net.account("alice", CAPS)
    assert markreads(ask(alice, "MARKREAD #room")) == [["#room", "*"]]
    assert markreads(ask(alice, f"MARKREAD #room timestamp={T1}")) == [["#room", f"timestamp={T1}"]]
    assert markreads(ask(alice, "MARKREAD #ROOM")) == [["#ROOM", f"timestamp={T1}"]]


def test_marker_only_moves_forward(net: Network) -> None:
    """ "If the provided timestamp is older than the server's stored value, the server MUST
    reply to the client with a `MARKREAD` command carrying the server's stored value."
    """
    alice = net.account("alice", CAPS)
    ask(alice, f"MARKREAD bob timestamp={T2}")
    assert markreads(ask(alice, f"MARKREAD bob timestamp={T1}")) == [["bob", f"timestamp={T2}"]]


def test_marker_goes_to_every_connection_of_the_account(net: Network) -> None:
    """ "after the last read timestamp of a target changes, the server SHOULD send a `MARKREAD`
    command for that target to all the clients of the user", and "The read markers sent by a
    user MUST NOT be disclosed to other users by the server without an explicit opt-in."
    """
    phone = net.account("alice", CAPS)
    laptop = net.user("alice_", CAPS)
    identify(laptop, "alice")
    stranger = net.account("carol", CAPS)
    ask(phone, f"MARKREAD #room timestamp={T1}")
    got = laptop.first(lambda x: x.command == "MARKREAD")
    assert got.params == ["#room", f"timestamp={T1}"]
    assert markreads(ask(stranger, "PING :x")) == []


def test_join_sends_the_marker_before_end_of_names(net: Network) -> None:
    """ "after the server sends a server `JOIN` command to the client for a corresponding
    channel, the server MUST send a `MARKREAD` command for that channel. The command MUST be sent
    before the `RPL_ENDOFNAMES` reply for that channel following the `JOIN`."
    """
    alice = net.account("alice", CAPS)
    ask(alice, f"MARKREAD #one timestamp={T1}")
    alice.send("JOIN #one,#two")
    lines = alice.until(lambda x: x.command == "366" and x.params[1] == "#two")
    order = [(x.command, x.params[0] if x.command == "MARKREAD" else "") for x in lines]
    commands = [c for c, _ in order if c in ("JOIN", "MARKREAD", "366")]
    assert commands == ["JOIN", "MARKREAD", "366", "JOIN", "MARKREAD", "366"]
    assert markreads(lines) == [["#one", f"timestamp={T1}"], ["#two", "*"]]


def test_guests_and_bad_parameters_are_refused(net: Network) -> None:
    """ "If the server receives a `MARKREAD` command with missing parameters, the
    `NEED_MORE_PARAMS` error code MUST be returned." / "If the selectors were invalid, the
    `INVALID_PARAMS` error code SHOULD be returned." (A connection without an account gets
    hubbub's ACCOUNT_REQUIRED: markers are kept per account.)"""
    guest = net.user("guest", CAPS)
    fails = [x.params[:2] for x in ask(guest, "MARKREAD #room") if x.command == "FAIL"]
    assert fails == [["MARKREAD", "ACCOUNT_REQUIRED"]]
    alice = net.account("alice", CAPS)
    lines = ask(alice, "MARKREAD", "MARKREAD #room yesterday", "MARKREAD #room timestamp=x")
    codes = [x.params[1] for x in lines if x.command == "FAIL"]
    assert codes == ["NEED_MORE_PARAMS", "INVALID_PARAMS", "INVALID_PARAMS"]


def test_marker_survives_a_restart(tmp_path: Path) -> None:
    """Markers are kept for the account: after a restart, MARKREAD get returns the last one."""
    with network(tmp_path) as net:
        alice = net.account("alice", CAPS)
        ask(alice, f"MARKREAD #room timestamp={T2}")
    with network(tmp_path) as net:
        alice = net.user("alice", CAPS)
        identify(alice, "alice")
        assert markreads(ask(alice, "MARKREAD #room")) == [["#room", f"timestamp={T2}"]]
