"""IRCv3 labeled-response: https://ircv3.net/specs/extensions/labeled-response"""

from __future__ import annotations

import pytest
from conformance_helpers import Network, ask

CAPS = ["labeled-response", "batch", "message-tags"]


@pytest.mark.parametrize(
    ("command", "code"), [("NONEXISTENT", "421"), ("PRIVMSG", "411"), ("KICK", "461")]
)
def test_errors_from_the_dispatcher_are_labelled(net: Network, command: str, code: str) -> None:
    """labeled-response: "When a client sends a message with a label tag, the server MUST
    reply with the same label tag on the response(s)" and "Servers MUST include the label
    tag in responses to all messages sent by clients that have negotiated the capability" —
    errors (an unknown command, missing parameters) are responses too."""
    alice = net.user("alice", CAPS)
    got = ask(alice, f"@label=x {command}")
    assert [line.command for line in got] == [code]
    assert got[0].tags.get("label") == "x"


def test_not_registered_error_is_labelled(net: Network) -> None:
    """labeled-response: "the server MUST reply with the same label tag on the response(s)" —
    before registration too, once the capability is negotiated."""
    client = net.raw()
    client.send("CAP LS 302", "CAP REQ :labeled-response batch")
    client.until(lambda line: line.command == "CAP" and line.params[1] == "ACK")
    client.send("@label=early WHO x")
    got = client.expect("451")
    assert got[-1].tags.get("label") == "early"
