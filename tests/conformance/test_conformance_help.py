"""HELP / HELPOP, LINKS and INFO (Modern IRC: https://modern.ircdocs.horse/#help-message,
#links-message, #info-message), against a real server."""

from __future__ import annotations

import pytest
from conformance_helpers import Network, ask


@pytest.mark.parametrize("verb", ["HELP", "HELPOP"])
def test_help_on_a_command(net: Network, verb: str) -> None:
    """Modern IRC, HELP: RPL_HELPSTART "<client> <subject> :<first line of help section>",
    RPL_HELPTXT "<client> <subject> :<line of help text>", RPL_ENDOFHELP "<client> <subject>
    :<last line of help text>"."""
    alice = net.user("alice")
    got = ask(alice, f"{verb} privmsg")
    assert got[0].command == "704" and got[-1].command == "706"
    assert {line.command for line in got[1:-1]} <= {"705"}
    assert all(line.params[1] == "PRIVMSG" for line in got)
    assert got[0].text.startswith("PRIVMSG <target>")


def test_help_without_a_subject_lists_commands(net: Network) -> None:
    """Modern IRC, HELP: "If <subject> is not given, the server SHOULD send a generic help
    message": the index names the commands."""
    got = ask(net.user("alice"), "HELP")
    assert got[0].command == "704" and got[-1].command == "706"
    words = " ".join(line.text for line in got).split()
    assert {"JOIN", "MONITOR", "WHOIS", "HELP"} <= set(words)


def test_help_on_an_unknown_subject(net: Network) -> None:
    """Modern IRC: ERR_HELPNOTFOUND (524) "<client> <subject> :No help available on this
    topic" is returned "when a client requests help on an unknown subject"."""
    got = ask(net.user("alice"), "HELP frobnicate")
    assert [line.command for line in got] == ["524"]
    assert got[0].params[1] == "frobnicate"


def test_links_names_this_server(net: Network) -> None:
    """Modern IRC: RPL_LINKS (364) "<client> * <server> :<hopcount> <server info>" and
    RPL_ENDOFLINKS (365) "<client> * :End of /LINKS list"."""
    got = ask(net.user("alice"), "LINKS")
    assert [line.command for line in got] == ["364", "365"]
    assert got[0].params[2] == net.server.config.server.name
    assert got[0].text.split()[0] == "0"


def test_info(net: Network) -> None:
    """Modern IRC, INFO: "The INFO command is used to return information which describes the
    server" with RPL_INFO (371) lines and "a final RPL_ENDOFINFO (374)"."""
    got = ask(net.user("alice"), "INFO")
    assert got[-1].command == "374"
    assert got[:-1] and {line.command for line in got[:-1]} == {"371"}
    assert "hubbub" in got[0].text
