"""IRCv3 capability negotiation: https://ircv3.net/specs/extensions/capability-negotiation"""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics

from support.irc_client import Line


def cap_lines(lines: list[Line], sub: str) -> list[Line]:
    return [line for line in lines if line.command == "CAP" and line.params[1] == sub]


def test_ls_suspends_registration_until_end(net: Network) -> None:
    """ "If a server receives an LS subcommand while client registration is in progress, it
    MUST suspend registration until an END subcommand is received from the client.\""""
    client = net.raw()
    got = ask(client, "CAP LS 302", "NICK waiter", "USER waiter 0 * :Waiter")
    assert cap_lines(got, "LS") and not numerics(got, "001")
    got = ask(client, "CAP END")
    assert numerics(got, "001")


def test_req_is_all_or_nothing(net: Network) -> None:
    """ "The capability identifier set must be accepted as a whole, or rejected entirely." and
    "The server MUST NOT make any change to any capabilities if it replies with a NAK
    subcommand.\""""
    client = net.raw()
    client.send("CAP LS 302", "NICK picky", "USER picky 0 * :Picky")
    got = ask(client, "CAP REQ :multi-prefix example.org/nonexistent")
    nak = cap_lines(got, "NAK")
    assert nak and nak[0].params[2] == "multi-prefix example.org/nonexistent"
    listed = cap_lines(ask(client, "CAP LIST"), "LIST")
    assert "multi-prefix" not in listed[-1].params[-1].split()
    ack = cap_lines(ask(client, "CAP REQ :multi-prefix"), "ACK")
    assert ack and ack[0].params[2] == "multi-prefix"


def test_values_and_cap_notify_with_302(net: Network) -> None:
    """ "If the client supports CAP Version 302, the server MAY specify additional data for
    each capability using the <name>=<value> format in CAP LS and CAP NEW replies." and
    cap-notify "MUST be implicitly enabled if the client requests CAP LS with a version of
    302 or newer"; "If a client has not indicated support for CAP LS 302 features, the
    server MUST NOT send these new features to the client.\""""
    modern = net.raw()
    advertised = " ".join(line.params[-1] for line in cap_lines(ask(modern, "CAP LS 302"), "LS"))
    assert "sasl=" in advertised
    assert "cap-notify" in cap_lines(ask(modern, "CAP LIST"), "LIST")[-1].params[-1].split()
    old = net.raw()
    lines = cap_lines(ask(old, "CAP LS"), "LS")
    assert all(len(line.params) == 3 for line in lines)  # no "*" continuation marker
    assert "=" not in " ".join(line.params[-1] for line in lines)


def test_unknown_subcommand_and_client_identifier(net: Network) -> None:
    """ "If a client sends a subcommand which is not in the list above or otherwise issues an
    invalid command, then numeric 410 (ERR_INVALIDCAPCMD) should be sent." and "Replies from
    the server must contain the client identifier name or asterisk if one is not yet
    available.\""""
    client = net.raw()
    got = ask(client, "CAP FOO")
    assert [(line.command, line.params[:2]) for line in got] == [("410", ["*", "FOO"])]
    got = ask(client, "CAP LS")
    assert cap_lines(got, "LS")[0].params[0] == "*"


def test_cap_end_after_registration_is_ignored(net: Network) -> None:
    """ "If the client is already registered, this command MUST be ignored by the server." and
    "The server MUST accept the CAP command at any time, including after registration.\""""
    client = net.user("late")
    assert ask(client, "CAP END") == []
    ack = cap_lines(ask(client, "CAP REQ :server-time"), "ACK")
    assert ack and ack[0].params[0] == "late"
