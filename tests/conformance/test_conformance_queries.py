"""User queries (Modern IRC, WHO, WHOIS and WHOWAS) and how errors echo what was sent."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conformance_helpers import Network, ask, network, numerics

from support.waiting import wait_for


@pytest.mark.parametrize("mask", ["dot", "d*", "*"])
def test_who_flags_carry_the_status_in_the_channel_shown(net: Network, mask: str) -> None:
    """Modern IRC, RPL_WHOREPLY (352): "<flags> contains the following characters, in this
    order: Away status: the letter H ('H', 0x48) to indicate that the user is here ...
    Optionally, the highest channel membership prefix that the client has in <channel>, if
    the client has one." That holds whichever way the WHO was asked."""
    dot, other = net.user("dot"), net.user("other")
    dot.join("#c")
    other.join("#c")
    got = ask(other, f"WHO {mask}")
    replies = {line.params[5]: line for line in numerics(got, "352")}
    assert replies["dot"].params[1] == "#c"
    assert replies["dot"].params[6] == "H@"
    if "other" in replies:
        assert replies["other"].params[6] == "H"


def test_who_by_channel_flags(net: Network) -> None:
    """Modern IRC, RPL_WHOREPLY (352): "Optionally, the highest channel membership prefix that
    the client has in <channel>, if the client has one.\""""
    dot, other = net.user("dot"), net.user("other")
    dot.join("#c")
    other.join("#c")
    flags = {line.params[5]: line.params[6] for line in numerics(ask(other, "WHO #c"), "352")}
    assert flags == {"dot": "H@", "other": "H"}


def test_whowas_knows_a_nick_left_by_a_nick_change_and_by_a_quit(net: Network) -> None:
    """RFC 2812, 3.6.3 (and Modern IRC, WHOWAS): "Whowas asks for information about a
    nickname which no longer exists. This may either be due to a nickname change or the user
    leaving IRC. ... The history is searched backward, returning the most recent entry
    first." (On a network of several nodes another node's departure reaches the asker's a
    moment later: wait for it.)"""
    dot, other = net.user("dot"), net.user("other")
    dot.join("#c")
    other.join("#c")
    ask(dot, "NICK dotty")
    other.first(lambda line: line.command == "NICK" and line.nick == "dot")

    def whowas(nick: str) -> list[list[str]]:
        """The entries (314) for `nick`; each must be followed by its server (312)."""
        got = [line for line in ask(other, f"WHOWAS {nick}") if line.command in ("314", "312")]
        assert [line.command for line in got] == ["314", "312"] * (len(got) // 2), got
        return [list(line.params[1:]) for line in got if line.command == "314"]

    entries = wait_for(lambda: whowas("dot"), what="WHOWAS dot after the nick change")
    assert entries == [["dot", "~dot", "127.0.0.1", "*", "dot the tester"]]
    dot.send("QUIT :later")
    other.first(lambda line: line.command == "QUIT" and line.nick == "dotty")
    entries = wait_for(lambda: whowas("DOTTY"), what="WHOWAS dotty after the quit")
    assert [entry[0] for entry in entries] == ["dotty"]
    # The nick taken again, then left again: both who had it.
    net.user("dot").send("QUIT")
    entries = wait_for(lambda: len(whowas("dot")) == 2 and whowas("dot"), what="both dots")
    assert [entry[0] for entry in entries] == ["dot", "dot"]


def test_errors_never_echo_an_impossible_parameter(net: Network) -> None:
    """Modern IRC, Parameters: "Parameters (other than the last) MUST NOT be empty, MUST NOT
    begin with a colon and MUST NOT contain a space" — so an error reply cannot echo a value
    that could never have been a parameter: a nick with a space, or a subcommand beginning
    with ':'. ERR_NOSUCHNICK (401): "<client> <nickname> :No such nick/channel"; IRCv3
    standard replies: "FAIL <command> <code> [<context>...] <description>"."""
    alice = net.user("alice")
    got = ask(alice, "WHOIS :foo bar", "CHATHISTORY ::evil x")
    for line in got:
        assert "foo bar" not in line.params[:-1], line.raw
        assert not any(param.startswith(":") for param in line.params[:-1]), line.raw
        assert "EVIL X" not in line.raw and ":EVIL" not in line.raw, line.raw
    no_such = numerics(got, "401")
    assert no_such and len(no_such[0].params) == 3
    fail = [line for line in got if line.command == "FAIL"]
    assert fail and fail[0].params[:2] == ["CHATHISTORY", "INVALID_PARAMS"]


def test_an_ipv6_host_starting_with_a_colon_keeps_replies_well_formed(tmp_path: Path) -> None:
    """Modern IRC, Parameters: "Parameters (other than the last) MUST NOT be empty, MUST NOT
    begin with a colon" — a client on ::1 is shown as 0::1 in RPL_WHOISUSER (311) "<client>
    <nick> <username> <host> * :<realname>" and RPL_WHOREPLY (352), never as a parameter
    that would read as the trailing one."""
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with network(tmp_path, listen={"hosts": ("::1",)}) as net:
        six = net.user("six")
        (whois,) = numerics(ask(six, "WHOIS six"), "311")
        assert whois.params[:4] == ["six", "six", "~six", "0::1"] and len(whois.params) == 6
        (who,) = numerics(ask(six, "WHO six"), "352")
        assert who.params[3] == "0::1" and len(who.params) == 8
