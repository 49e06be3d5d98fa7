"""IRCv3 labeled-response: https://ircv3.net/specs/extensions/labeled-response"""

from __future__ import annotations

import pytest
from conformance_helpers import Network, ask

CAPS = ["labeled-response", "batch", "message-tags"]


@pytest.mark.parametrize(
    ("command", "code"), [("NONEXISTENT", "421"), ("PRIVMSG", "411"), ("KICK", "461")]
)
def test_errors_from_the_dispatcher_are_labelled(net: Network, command: str, code: str) -> None:
    """labeled-response: "For any message received from a client that includes this tag, the
    server MUST include the same tag and value in any response produced from this message,
    in the absence of exceptional conditions that prevent it from doing so." Errors from the
    dispatcher (an unknown command, missing parameters) are responses too; the spec's own
    example is "@label=dc11f13f11 :irc.example.com 401 * nick :No such nick/channel"."""
    alice = net.user("alice", CAPS)
    got = ask(alice, f"@label=x {command}")
    assert [line.command for line in got] == [code]
    assert got[0].tags.get("label") == "x"


def test_not_registered_error_is_labelled(net: Network) -> None:
    """labeled-response: "the server MUST include the same tag and value in any response
    produced from this message" — before registration too, once the capability is
    negotiated."""
    client = net.raw()
    client.send("CAP LS 302", "CAP REQ :labeled-response batch")
    client.until(lambda line: line.command == "CAP" and line.params[1] == "ACK")
    client.send("@label=early WHO x")
    got = client.expect("451")
    assert got[-1].tags.get("label") == "early"


def test_a_command_without_a_response_gets_an_ack(net: Network) -> None:
    """labeled-response: "Servers MUST respond with a labeled ACK message when a client sends
    a labeled command that normally produces no response.\""""
    alice = net.user("alice", CAPS)
    got = ask(alice, "@label=quiet PONG :nothing")
    assert [(line.command, line.tags.get("label")) for line in got] == [("ACK", "quiet")]


def test_several_lines_come_in_one_labelled_batch(net: Network) -> None:
    """labeled-response: "If a response consists of more than one message, a batch MUST be
    used to group them into a single logical response. The start of the batch MUST be tagged
    with the label tag.\""""
    alice = net.user("alice", CAPS)
    got = ask(alice, "@label=who WHOIS alice")
    assert got[0].command == "BATCH" and got[0].tags.get("label") == "who"
    ref = got[0].params[0][1:]
    assert got[0].params[1] == "labeled-response"
    assert all(line.tags.get("batch") == ref for line in got[1:-1])
    assert got[-1].params == ["-" + ref]
    assert sum("label" in line.tags for line in got) == 1
