"""Smaller IRCv3 extensions: echo-message, extended-join, server-time, message-tags (TAGMSG),
multi-prefix. Each test quotes its specification (https://ircv3.net/irc/)."""

from __future__ import annotations

import re

from conformance_helpers import Network, ask, numerics, sees_join

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_echo_message(net: Network) -> None:
    """echo-message: "If enabled, servers MUST send PRIVMSG and NOTICE messages back to the
    client that sent them." and "When the message-tags capability has been enabled, the same
    rules apply to TAGMSG messages.\""""
    alice = net.user("alice", ["echo-message", "message-tags"])
    plain = net.user("plain", ["echo-message"])
    net.user("bob")
    got = ask(alice, "PRIVMSG bob :hi", "NOTICE bob :note", "@+typing=active TAGMSG bob")
    assert [(line.command, line.nick) for line in got] == [
        ("PRIVMSG", "alice"),
        ("NOTICE", "alice"),
        ("TAGMSG", "alice"),
    ]
    assert got[2].tags.get("+typing") == "active"
    got = ask(plain, "PRIVMSG bob :hi", "TAGMSG bob")
    assert [line.command for line in got] == ["PRIVMSG"]  # no TAGMSG without message-tags


def test_extended_join(net: Network) -> None:
    """extended-join: ":nick!user@host JOIN #channelname accountname :Real Name" for a user
    logged in, and ":nick!user@host JOIN #channelname * :Real Name" when "the user has not
    logged in to an account prior to channel ingress.\""""
    watcher = net.user("watcher", ["extended-join"])
    watcher.join("#room")
    guest = net.user("guest")
    guest.join("#room")
    joined = watcher.until(lambda line: line.command == "JOIN" and line.nick == "guest")[-1]
    assert joined.params == ["#room", "*", "guest the tester"]
    member = net.account("member")
    member.join("#room")
    joined = watcher.until(lambda line: line.command == "JOIN" and line.nick == "member")[-1]
    assert joined.params == ["#room", "member", "member the tester"]


def test_server_time(net: Network) -> None:
    """server-time: "The value of the tag MUST have the following syntax: <value> ::=
    YYYY-MM-DDThh:mm:ss.sssZ" and "Servers MAY include the timestamp in messages when they
    see fit but MUST NOT do so before acknowledging the client capability using CAP ACK.\""""
    timed = net.user("timed", ["server-time"])
    untimed = net.user("untimed")
    timed.join("#room")
    untimed.join("#room")
    ask(untimed, "PRIVMSG #room :tick")
    line = timed.until(lambda item: item.command == "PRIVMSG")[-1]
    assert TIME.match(line.tags["time"]), line.raw
    ask(timed, "PRIVMSG #room :tock")
    line = untimed.until(lambda item: item.command == "PRIVMSG")[-1]
    assert "time" not in line.tags


def test_tagmsg_only_to_message_tags_clients(net: Network) -> None:
    """message-tags: "Servers MUST NOT deliver TAGMSG to clients that haven't negotiated the
    message tags capability." and "Tags without the client-only prefix MUST be removed by the
    server before being relayed with any message to another client.\""""
    sender = net.user("sender", ["message-tags"])
    tagged = net.user("tagged", ["message-tags"])
    untagged = net.user("untagged")
    for client in (sender, tagged, untagged):
        client.join("#room")
    ask(sender, "@+react=yes;unknown-tag=1 TAGMSG #room", "PRIVMSG #room :after")
    got = tagged.until(lambda line: line.text == "after")
    tagmsg = [line for line in got if line.command == "TAGMSG"]
    assert len(tagmsg) == 1 and tagmsg[0].tags.get("+react") == "yes"
    assert "unknown-tag" not in tagmsg[0].tags
    got = untagged.until(lambda line: line.text == "after")
    assert not [line for line in got if line.command == "TAGMSG"]


def test_multi_prefix(net: Network) -> None:
    """multi-prefix: "When requested, the multi-prefix client capability will cause the IRC
    server to send all possible prefixes which apply to a user in NAMES, WHO and WHOIS
    output.\""""
    op = net.user("op", ["multi-prefix"])
    op.join("#room")
    ask(op, "MODE #room +v op")
    names = numerics(ask(op, "NAMES #room"), "353")
    assert names[0].params[-1].split() == ["@+op"]
    who = numerics(ask(op, "WHO #room"), "352")
    assert who[0].params[6] == "H@+"
    whois = numerics(ask(op, "WHOIS op"), "319")
    assert whois[0].params[-1].split() == ["@+#room"]


def test_away_notify(net: Network) -> None:
    """away-notify: "When this capability is enabled, clients will be sent an AWAY message
    when a user sharing a channel with them sets, changes or removes their away state, as
    well as when a user joins and has an away message set. (Note that AWAY will not be sent
    for joining users with no away message set.)" Format: ":nick!user@host AWAY [:message]"."""
    watcher = net.user("watcher", ["away-notify"])
    watcher.join("#room")
    mover = net.user("mover")
    ask(mover, "AWAY :lunch")
    mover.join("#room")  # joins while away: the watcher learns it
    got = watcher.until(lambda line: line.command == "AWAY")
    assert got[-1].nick == "mover" and got[-1].params == ["lunch"]
    ask(mover, "AWAY")
    back = watcher.until(lambda line: line.command == "AWAY")[-1]
    assert back.nick == "mover" and back.params == []
    plain = net.user("plain")
    plain.join("#room")  # not away: no AWAY for this join
    ask(plain, "PRIVMSG #room :marker")
    got = watcher.until(lambda line: line.text == "marker")
    assert not [line for line in got if line.command == "AWAY"]


def test_invite_notify(net: Network) -> None:
    """invite-notify: "The invite-notify client capability allows a client to specify that it
    would like to be notified when users are invited to channels." Format: ":<inviter> INVITE
    <target> <channel>"; "a server may choose to only send the message to clients having
    channel op" (hubbub does)."""
    op = net.user("op")
    op.join("#room")
    watcher = net.user("watcher", ["invite-notify"])
    watcher.join("#room")
    sees_join(op, "watcher")
    ask(op, "MODE #room +o watcher", "MODE #room +i")
    net.user("guest")
    ask(op, "INVITE guest #room")
    invite = watcher.until(lambda line: line.command == "INVITE")[-1]
    assert invite.nick == "op" and invite.params == ["guest", "#room"]
