"""Channel modes (Modern IRC, MODE and ERR_INVALIDMODEPARAM)."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics


def test_invalid_mode_param_names_the_parameter(net: Network) -> None:
    """Modern IRC, ERR_INVALIDMODEPARAM (696): "<client> <target chan/user> <mode char>
    <parameter> :<description>" — "Indicates that there was a problem with a mode parameter.
    Replaces various implementation-specific mode-specific numerics.\""""
    alice = net.user("alice")
    alice.join("#c")
    got = numerics(ask(alice, "MODE #c +l abc"), "696")
    assert len(got) == 1
    assert got[0].params[:4] == ["alice", "#c", "l", "abc"]
    assert got[0].params[4]  # the description


def test_invalid_mode_param_that_was_empty_keeps_the_reply_shape(net: Network) -> None:
    """Modern IRC, ERR_INVALIDMODEPARAM (696): "<client> <target chan/user> <mode char>
    <parameter> :<description>"; and, Parameters: "Parameters (other than the last) MUST NOT
    be empty" — an empty parameter is shown as "*", so the description stays the last one."""
    alice = net.user("alice")
    alice.join("#c")
    got = numerics(ask(alice, "MODE #c +l :"), "696")
    assert len(got) == 1 and len(got[0].params) == 5
    assert got[0].params[:4] == ["alice", "#c", "l", "*"]
