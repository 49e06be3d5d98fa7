"""Bot mode (https://ircv3.net/specs/extensions/bot-mode), against a real server."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics


def test_bot_token_and_mode(net: Network) -> None:
    """bot-mode: "The value of the BOT token is the mode character which is used to enable bot
    mode" (e.g. BOT=B), and a client sets it on itself with MODE."""
    lines = net.raw().register("robot")
    tokens = [t for line in numerics(lines, "005") for t in line.params[1:-1]]
    assert "BOT=B" in tokens
    robot = net.clients[-1]
    got = ask(robot, "MODE robot +B", "MODE robot")
    assert got[0].command == "MODE" and got[0].params == ["robot", "+B"]
    assert "B" in numerics(got, "221")[0].params[1]


def test_whois_and_who_show_the_bot(net: Network) -> None:
    """bot-mode: "When a client is marked as a bot, they are given a special numeric as part
    of their WHOIS response" (RPL_WHOISBOT 335), and "When a RPL_WHOREPLY (352) numeric is
    returned for a bot, the character used as the value of the ISUPPORT BOT token is returned
    in the flags (alongside H|G).\""""
    robot = net.user("robot")
    alice = net.user("alice")
    ask(robot, "MODE robot +B")
    got = ask(alice, "WHOIS robot")
    bot = numerics(got, "335")
    assert [line.params[1] for line in bot] == ["robot"]
    who = numerics(ask(alice, "WHO robot"), "352")
    assert "B" in who[0].params[6] and who[0].params[6].startswith("H")
    assert numerics(ask(robot, "WHOIS alice"), "335") == []


def test_bot_tag_only_for_message_tags_clients(net: Network) -> None:
    """bot-mode: "The bot tag indicates that the given user is a bot. This tag SHOULD be added
    by the server to all commands sent by a bot" ... "This tag MUST only be sent to users who
    have requested the message-tags capability. Servers MUST NOT send this tag with a value\""""
    robot = net.user("robot")
    tagged = net.user("tagged", ["message-tags"])
    plain = net.user("plain")
    for client in (robot, tagged, plain):
        client.join("#room")
    ask(robot, "MODE robot +B", "PRIVMSG #room :beep", "@+typing=active TAGMSG #room")
    line = tagged.first(lambda x: x.command == "PRIVMSG")
    assert "bot" in line.tags and line.tags["bot"] in ("", None)
    assert "bot=" not in line.raw.partition(" ")[0]
    typing = tagged.first(lambda x: x.command == "TAGMSG")
    assert "bot" in typing.tags and typing.tags["+typing"] == "active"
    line = plain.first(lambda x: x.command == "PRIVMSG")
    assert not line.raw.startswith("@")
    # A human's messages carry no bot tag.
    ask(plain, "PRIVMSG #room :hello")
    line = tagged.first(lambda x: x.command == "PRIVMSG")
    assert "bot" not in line.tags
