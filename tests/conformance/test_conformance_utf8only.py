"""UTF8ONLY (https://ircv3.net/specs/extensions/utf8-only), against a real server."""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import ask, network, numerics


def tokens(lines: list) -> list[str]:  # type: ignore[type-arg]
    return [t for line in numerics(lines, "005") for t in line.params[1:-1]]


def test_utf8only_advertised_when_invalid_utf8_is_rejected(tmp_path: Path) -> None:
    """utf8-only: "Servers publishing this token MUST NOT relay content (such as PRIVMSG or
    NOTICE message data, channel topics, or realnames) containing non-UTF-8 data to clients"
    and "Server handling of such messages is implementation-defined; for example, they MAY
    send the INVALID_UTF8 code\""""
    with network(tmp_path, limits={"invalid_utf8": "reject"}) as net:
        alice = net.raw()
        assert "UTF8ONLY" in tokens(alice.register("alice"))
        bob = net.user("bob")
        alice.join("#room")
        bob.join("#room")
        alice.send_raw(b"PRIVMSG #room :caf\xe9\r\n")
        fail = alice.first(lambda x: x.command == "FAIL")
        assert fail.params[1] == "INVALID_UTF8"
        assert [line.command for line in ask(bob)] == []  # nothing relayed


def test_no_utf8only_when_bad_bytes_are_replaced(tmp_path: Path) -> None:
    """utf8-only: the token says the server refuses non-UTF-8 ("Clients implementing this
    specification MUST NOT send non-UTF-8 data to the server once they have seen this
    token"); hubbub's default repairs such lines instead, so it does not publish it."""
    with network(tmp_path) as net:
        assert "UTF8ONLY" not in tokens(net.raw().register("alice"))
