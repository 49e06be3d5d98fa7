"""Channel operations (Modern IRC, "Channel Operations": KICK, NAMES, INVITE)."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics, sees_join


def test_kick_with_paired_channel_and_user_lists(net: Network) -> None:
    """RFC 2812, 3.2.8 KICK: "<channel> *( "," <channel> ) <user> *( "," <user> ) [<comment>]
    ... For the message to be syntactically correct, there MUST be either one channel
    parameter and multiple user parameter, or as many channel parameters as there are user
    parameters." Each channel/user pair acts; and "The server MUST NOT send KICK messages with
    multiple channels or users to clients."""
    op, bar, baz = net.user("op"), net.user("bar"), net.user("baz")
    op.join("#one")
    op.join("#two")
    bar.join("#one")
    baz.join("#two")
    sees_join(op, "bar", "baz")
    got = ask(op, "KICK #one,#two bar,baz :out")
    kicks = [line.params for line in got if line.command == "KICK"]
    assert kicks == [["#one", "bar", "out"], ["#two", "baz", "out"]]
    assert bar.expect("KICK")[-1].params[:2] == ["#one", "bar"]
    assert baz.expect("KICK")[-1].params[:2] == ["#two", "baz"]


def test_kick_one_channel_several_users(net: Network) -> None:
    """RFC 2812, 3.2.8 KICK: "there MUST be either one channel parameter and multiple user
    parameter" — every user named is kicked from the one channel."""
    op, bar, baz = net.user("op"), net.user("bar"), net.user("baz")
    op.join("#one")
    bar.join("#one")
    baz.join("#one")
    sees_join(op, "bar", "baz")
    got = ask(op, "KICK #one bar,baz")
    assert [line.params[1] for line in got if line.command == "KICK"] == ["bar", "baz"]


def test_names_without_a_parameter_lists_what_is_visible(net: Network) -> None:
    """Modern IRC, NAMES: "If no parameter is given for this command, servers SHOULD return one
    RPL_ENDOFNAMES numeric with the <channel> parameter set to an asterisk character ('*',
    0x2A). Servers MAY also choose to return information about every single channel and
    every single user on the network". hubbub lists the visible channels and the users on no
    channel, and still ends with that one RPL_ENDOFNAMES; and "Channels with the secret
    channel mode set are not shown in channel responses unless the requesting client is also
    joined to that channel" (RPL_NAMREPLY)."""
    alice, bob, carol = net.user("alice"), net.user("bob"), net.user("carol")
    alice.join("#open")
    bob.join("#hidden")
    ask(bob, "MODE #hidden +s")
    got = ask(carol, "NAMES")
    names = {line.params[2]: line.params[3].split() for line in numerics(got, "353")}
    assert names == {"#open": ["@alice"], "*": ["carol"]}
    ends = numerics(got, "366")
    assert len(ends) == 1 and ends[0].params[1] == "*"
    assert got[-1].command == "366"
