"""LIST search extensions (ELIST), against a real server. Modern IRC:
https://modern.ircdocs.horse/#elist-parameter."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics


def listed(net_client, param: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(line.params[1] for line in numerics(ask(net_client, f"LIST {param}"), "322"))


def test_elist_token(net: Network) -> None:
    """Modern IRC: "The ELIST parameter indicates that the server supports search extensions
    to the LIST command" with the letters C, M, N, T and U."""
    lines = net.raw().register("alice")
    values = [t for line in numerics(lines, "005") for t in line.params[1:-1]]
    assert "ELIST=CMNTU" in values


def test_mask_and_negated_mask(net: Network) -> None:
    """Modern IRC, ELIST: "M: Searching based on mask." and "N: Searching based on a
    non-matching !mask. i.e. the opposite of M\""""
    alice = net.user("alice")
    for name in ("#cats", "#catnip", "#dogs"):
        alice.join(name)
    assert listed(alice, "#cat*") == ["#catnip", "#cats"]
    assert listed(alice, "!#cat*") == ["#dogs"]
    assert listed(alice, "#dogs") == ["#dogs"]


def test_user_count(net: Network) -> None:
    """Modern IRC, ELIST: "U: Searching based on user count within the channel, via the
    "<val" and ">val" modifiers\""""
    alice, bob = net.user("alice"), net.user("bob")
    alice.join("#big")
    bob.join("#big")
    alice.join("#small")
    assert listed(alice, ">1") == ["#big"]
    assert listed(alice, "<2") == ["#small"]


def test_creation_and_topic_time(net: Network) -> None:
    """Modern IRC, ELIST: "C: Searching based on channel creation time, via the "C<val" and
    "C>val" modifiers" and "T: Searching based on topic time, via the "T<val" and "T>val"
    modifiers" (val in minutes ago: C<60 created less than an hour ago)."""
    alice = net.user("alice")
    alice.join("#new")
    alice.join("#topical")
    ask(alice, "TOPIC #topical :hello")
    assert listed(alice, "C<60") == ["#new", "#topical"]
    assert listed(alice, "C>60") == []
    assert listed(alice, "T<60") == ["#topical"]
    assert listed(alice, "T>60") == []
