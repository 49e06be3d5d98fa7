"""draft/channel-rename (https://ircv3.net/specs/extensions/channel-rename), against a real
server: RENAME, the fallback for clients without the capability, errors, and the history
following the room."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics

CAP = "draft/channel-rename"


def test_rename_with_the_capability(net: Network) -> None:
    """channel-rename: "A channel rename preserves all channel state, such as membership, mode
    and topic." and "The server to client command MUST always include the third parameter, an
    empty string MAY be used if no reason is provided.\""""
    op = net.user("op", [CAP])
    member = net.user("member", [CAP])
    op.join("#boaring")
    member.join("#boaring")
    ask(op, "TOPIC #boaring :about boredom", "MODE #boaring +m")
    got = ask(op, "RENAME #boaring #boring")
    line = next(x for x in got if x.command == "RENAME")
    assert line.params == ["#boaring", "#boring", ""]
    seen = member.first(lambda x: x.command == "RENAME")
    assert seen.nick == "op" and seen.params == ["#boaring", "#boring", ""]
    assert numerics(ask(member, "TOPIC #boring"), "332")[0].text == "about boredom"
    assert "m" in numerics(ask(member, "MODE #boring"), "324")[0].params[2]
    names = numerics(ask(member, "NAMES #boring"), "353")[0].text.split()
    assert sorted(names) == ["@op", "member"]
    assert numerics(ask(member, "NAMES #boaring"), "353") == []


def test_fallback_without_the_capability(net: Network) -> None:
    """channel-rename: "Send the client a PART message for the old channel name, with part
    message matching the rename reason if given" and "Send the client a JOIN message followed
    by the usual messages that would be sent if the client had joined the new channel
    normally (RPL_TOPIC, RPL_TOPICWHOTIME, RPL_NAMREPLY, RPL_ENDOFNAMES etc)." Also "If a
    client sends a valid RENAME command without having negotiated the capability, the server
    SHOULD rename the channel, but use the fallback mechanism\""""
    op = net.user("op")
    old = net.user("oldclient")
    op.join("#foo")
    old.join("#foo")
    ask(op, "TOPIC #foo :a topic")
    got = ask(op, "RENAME #foo #bar :Changing the channel name")
    assert [x.command for x in got if x.command in ("PART", "JOIN", "RENAME")] == ["PART", "JOIN"]
    seen = old.until(lambda x: x.command == "366")
    kinds = [x.command for x in seen if x.command in ("PART", "JOIN", "332", "333", "353")]
    assert kinds == ["PART", "JOIN", "332", "333", "353"]
    part = next(x for x in seen if x.command == "PART")
    assert part.nick == "oldclient" and part.params == ["#foo", "Changing the channel name"]
    join = next(x for x in seen if x.command == "JOIN")
    assert join.nick == "oldclient" and join.params == ["#bar"]


def test_errors(net: Network) -> None:
    """channel-rename: "FAIL RENAME CHANNEL_NAME_IN_USE <old-channel> <new-channel>" and "If
    existing error numerics (such as ERR_CHANOPRIVSNEEDED, ERR_NOTONCHANNEL,
    ERR_NEEDMOREPARAMS) are more appropriate, they SHOULD be used instead.\""""
    op = net.user("op", [CAP])
    other = net.user("other", [CAP])
    op.join("#evil")
    op.join("#good")
    other.join("#evil")
    got = ask(op, "RENAME #evil #good :Don't be evil")
    fail = next(x for x in got if x.command == "FAIL")
    assert fail.params[:4] == ["RENAME", "CHANNEL_NAME_IN_USE", "#evil", "#good"]
    assert numerics(ask(other, "RENAME #evil #nice"), "482")
    assert numerics(ask(net.user("outsider"), "RENAME #evil #nice"), "442")
    assert numerics(ask(op, "RENAME #evil"), "461")


def test_case_only_rename(net: Network) -> None:
    """channel-rename: "Implementations MUST allow channels to be renamed while only changing
    the casing of a channel name." and the fallback "SHOULD NOT be used if the rename only
    changes the case of the channel name\""""
    op = net.user("op", [CAP])
    plain = net.user("plain")
    op.join("#room")
    plain.join("#room")
    got = ask(op, "RENAME #room #ROOM")
    assert [x.params[:2] for x in got if x.command == "RENAME"] == [["#room", "#ROOM"]]
    assert [x for x in ask(plain) if x.command in ("PART", "JOIN")] == []
    assert numerics(ask(plain, "LIST #room"), "322")[0].params[1] == "#ROOM"


def test_history_follows_the_room(net: Network) -> None:
    """channel-rename exists to avoid "issues with client-side logging where history is split
    across multiple channel names": CHATHISTORY of the new name returns what was said under
    the old one."""
    caps = [CAP, "batch", "server-time", "message-tags", "draft/chathistory"]
    op = net.user("op", caps)
    op.join("#before")
    ask(op, "PRIVMSG #before :said before", "RENAME #before #after")
    ask(op, "PRIVMSG #after :said after")
    got = ask(op, "CHATHISTORY LATEST #after * 10")
    texts = [x.params[-1] for x in got if x.command == "PRIVMSG"]
    assert texts == ["said before", "said after"]
