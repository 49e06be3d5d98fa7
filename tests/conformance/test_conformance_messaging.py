"""Sending messages (Modern IRC, PRIVMSG / NOTICE; IRCv3 message-tags)."""

from __future__ import annotations

from conformance_helpers import Network, ask


def test_one_delivery_per_distinct_target(net: Network) -> None:
    """Modern IRC, PRIVMSG: "<target> is the nickname of a client or the name of a channel" and
    nicknames are compared under the server's casemapping ("CASEMAPPING" parameter). Naming
    the same user three times in a target list is one target: one delivery."""
    alice, bob = net.user("alice", ["message-tags"]), net.user("bob")
    ask(alice, "PRIVMSG bob,bob,BOB :just once")
    ask(alice, "PRIVMSG bob :marker")
    got = bob.until(lambda line: line.text == "marker")
    assert [line.text for line in got if line.command == "PRIVMSG"] == ["just once", "marker"]


def test_client_tags_over_the_limit_are_refused(net: Network) -> None:
    """IRCv3 message-tags, Size limit: "Clients MUST NOT send messages with tag data exceeding
    4094 bytes, this includes tags with or without the client-only prefix." and "Servers MUST
    reply with the ERR_INPUTTOOLONG (417) error numeric if a client sends a message with more
    tag data than the allowed limit. Servers MUST NOT truncate tags and MUST always reject
    lines that exceed this limit.\""""
    alice = net.user("alice", ["message-tags"])
    bob = net.user("bob", ["message-tags"])
    alice.join("#room")
    bob.join("#room")
    alice.until(lambda line: line.command == "JOIN" and line.nick == "bob")
    big = "+example.com/big=" + "x" * 4100
    got = ask(alice, f"@{big} PRIVMSG #room :too much")
    assert [line.command for line in got] == ["417"]
    # Right at the limit is fine, and nothing of the refused line was relayed.
    fits = "+example.com/fits=" + "y" * (4094 - len("+example.com/fits="))
    ask(alice, f"@{fits} PRIVMSG #room :fits")
    relayed = bob.until(lambda line: line.command == "PRIVMSG")
    assert relayed[-1].text == "fits"
    assert relayed[-1].tags["+example.com/fits"] == "y" * (4094 - len("+example.com/fits="))
