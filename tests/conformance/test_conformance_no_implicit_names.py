"""no-implicit-names (https://ircv3.net/specs/extensions/no-implicit-names), against a real
server."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics


def test_no_names_after_join(net: Network) -> None:
    """no-implicit-names: "When negotiated, servers MUST NOT send an implicit NAMES reply
    after sending a JOIN message. Servers MUST reply to explicit NAMES commands sent by the
    client as usual.\""""
    net.user("bob").join("#room")
    alice = net.user("alice", ["no-implicit-names"])
    got = ask(alice, "JOIN #room")
    assert got[0].command == "JOIN"
    assert numerics(got, "353", "366") == []
    got = ask(alice, "NAMES #room")
    assert sorted(numerics(got, "353")[0].text.split()) == ["@bob", "alice"]
    assert numerics(got, "366")


def test_names_still_implicit_without_the_cap(net: Network) -> None:
    """no-implicit-names is opt-in: "This allows clients to opt-out from the implicit NAMES
    reply servers send after JOIN messages.\""""
    alice = net.user("alice")
    got = ask(alice, "JOIN #room")
    assert numerics(got, "353") and numerics(got, "366")
