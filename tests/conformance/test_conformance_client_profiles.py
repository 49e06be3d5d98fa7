"""The capability sets the common clients ask for, end to end: register, join, get the
history replay, chat. IRCv3 server-time (https://ircv3.net/specs/extensions/server-time),
batch, message-ids and chathistory.

The profiles are what each client requests from the capabilities hubbub offers:
irssi 1.4 and WeeChat 3.8 ask for server-time but not batch; a full IRCv3 client (Kiwi IRC's
irc-framework, gamja) asks for batch and draft/chathistory too; ii and sic ask for nothing.
"""

from __future__ import annotations

import calendar
import time

import pytest
from conformance_helpers import Network, ask

from support.irc_client import IrcClient, Line, read_batch

IRSSI = [
    "multi-prefix",
    "extended-join",
    "away-notify",
    "account-notify",
    "server-time",
    "invite-notify",
    "cap-notify",
]
WEECHAT = [
    "account-notify",
    "away-notify",
    "cap-notify",
    "extended-join",
    "invite-notify",
    "message-tags",
    "multi-prefix",
    "server-time",
    "setname",
    "userhost-in-names",
]
FULL = [
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "draft/chathistory",
    "draft/event-playback",
    "echo-message",
    "extended-join",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "server-time",
    "setname",
    "userhost-in-names",
]
PROFILES = {"irssi": IRSSI, "weechat": WEECHAT, "full": FULL, "plain": []}
SAID = ["first line before you came", "\x01ACTION waves\x01"]


def replay(client: IrcClient, caps: list[str]) -> list[Line]:
    """The replayed lines after a JOIN, however this client gets them."""
    if "draft/chathistory" in caps:
        # No automatic replay: a chathistory client asks for exactly what it wants.
        client.send("CHATHISTORY LATEST #room * 10")
        return read_batch(client)[1]
    if "batch" in caps and "server-time" in caps:
        return read_batch(client)[1]
    lines = client.until(lambda line: line.command == "NOTICE" and "End of replay" in line.text)
    start = next(i for i, line in enumerate(lines) if "Replaying" in line.text)
    return lines[start + 1 : -1]


@pytest.mark.parametrize("profile", PROFILES)
def test_register_join_replay_and_chat(net: Network, profile: str) -> None:
    """server-time: "If the time is presented in a message received from a server, a client
    SHOULD treat the message as having occurred at the given time instead of its current
    time" — so every replayed line carries its original `time` whenever server-time is
    negotiated, batch or not; message-ids: "the msgid tag ... MUST be the msgid tag as
    originally sent by the IRC server" (chathistory). A client without server-time gets the
    time as an `[HH:MM]` text prefix (UTC by default) instead."""
    caps = PROFILES[profile]
    alice = net.user("alice", ["server-time", "message-tags", "echo-message"])
    alice.join("#room")
    originals = []
    for text in SAID:
        alice.send(f"PRIVMSG #room :{text}")
        originals.append(alice.expect("PRIVMSG")[-1])  # the echo: time and msgid as stored

    client = net.raw()
    welcome = client.register("visitor", caps)
    assert any(line.command == "001" for line in welcome)
    client.join("#room")
    got = [line for line in replay(client, caps) if line.command == "PRIVMSG"]
    assert len(got) == len(originals)
    for line, original in zip(got, originals, strict=True):
        assert line.nick == "alice"
        if "server-time" in caps:
            assert line.tags.get("time") == original.tags["time"], line.raw
            assert line.text == original.text  # no text prefix when the time is a tag
            if "message-tags" in caps:
                assert line.tags.get("msgid") == original.tags["msgid"], line.raw
            else:
                assert "msgid" not in line.tags
        else:
            stamp = time.strftime("[%H:%M]", time.gmtime(_seconds(original.tags["time"])))
            assert not line.tags
            assert stamp in line.text and original.text.strip("\x01").split()[-1] in line.text

    # And chat both ways.
    ask(client, "PRIVMSG #room :hello from " + profile)
    heard = alice.until(lambda line: line.command == "PRIVMSG" and line.nick == "visitor")
    assert heard[-1].text == "hello from " + profile
    ask(alice, "PRIVMSG #room :welcome")
    answer = client.until(lambda line: line.command == "PRIVMSG" and line.text == "welcome")[-1]
    assert ("time" in answer.tags) == ("server-time" in caps)


def _seconds(stamp: str) -> float:
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
