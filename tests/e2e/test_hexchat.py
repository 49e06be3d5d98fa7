"""hubbub through HexChat, the GTK IRC client, on a virtual X display (support.hexchat): what
it shows its user, read from its print events through a plugin.

A raw-socket client (alice) says two lines in #lobby. HexChat then connects with the
capabilities it asks for by itself (server-time among them, not batch), joins #lobby from its
network's autojoin list, and must show those lines between the server's replay notices, each
dated by its original time; then talk with alice both ways, list her as an operator, show her
WHOIS, and quit with its reason. A second HexChat logs in with SASL PLAIN from its network
settings, as a user sets it up, and is known by its account to the others.

IRCv3 server-time (https://ircv3.net/specs/extensions/server-time): "the time when the message
was received by the server, not the time when the message is sent". extended-join
(https://ircv3.net/specs/extensions/extended-join): "the JOIN message MUST include the account
name and realname". SASL (https://ircv3.net/specs/extensions/sasl-3.1): "If authentication
is successful, the server sends RPL_LOGGEDIN (900) and RPL_SASLSUCCESS (903)" (as
tests/conformance/test_conformance_sasl.py quotes it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from support.hexchat import Event, HexChat, require_hexchat
from support.irc_client import IrcClient
from support.programs import diagnosed, received
from support.servers import ServerProcess

pytestmark = pytest.mark.e2e

CHANNEL = "#lobby"
PASSWORD = "hexchat-sasl-pass-1"


@pytest.fixture
def hexchats() -> Iterator[list[HexChat]]:
    """The HexChats a test starts, stopped and removed on the way out."""
    require_hexchat()
    started: list[HexChat] = []
    try:
        yield started
    finally:
        for client in started:
            client.stop()
            client.remove()


def start(hexchats: list[HexChat], port: int, nick: str, password: str = "") -> HexChat:
    client = HexChat(port, nick, (CHANNEL,), password)
    hexchats.append(client)
    client.start()
    return client


def test_hexchat_shows_history_with_its_time_and_talks(
    server: ServerProcess, alice: IrcClient, hexchats: list[HexChat]
) -> None:
    token = uuid.uuid4().hex[:8]
    history = [f"first line before hexchat {token}", f"second line {token}"]
    alice.register("alice")
    alice.join(CHANNEL)
    before = time.time()
    alice.say(CHANNEL, *history)
    alice.fence()  # the server has handled both lines once it answers the PING
    after = time.time()

    hexchat = start(hexchats, server.port, "hexy")
    with diagnosed(hexchat.diagnostics, received("alice", alice), server.diagnostics):
        acknowledged = hexchat.first(
            lambda e: e["type"] == "Capability Acknowledgement" and "server-time" in e["caps"],
            "server-time acknowledged",
        )
        assert "batch" not in acknowledged["caps"]  # so the replay comes as plain lines
        joined = hexchat.first(lambda e: e["type"] == "You Join", "the JOIN of #lobby")
        assert (joined["nick"], joined["channel"]) == ("hexy", CHANNEL)
        alice.first(lambda x: x.command == "JOIN" and x.nick == "hexy")

        # The server's notices to the channel, which HexChat shows in the channel's tab.
        shown = hexchat.until(
            lambda e: e["type"] == "Server Notice" and e["text"] == "End of replay",
            "the end of the replay",
        )
        notices = [(e["text"], e["tab"]) for e in shown if e["type"] == "Server Notice"]
        assert notices == [
            ("Replaying 2 messages from before you joined", CHANNEL),
            ("End of replay", CHANNEL),
        ]
        replayed = [e for e in shown if e["type"] == "Channel Message"]
        assert [(e["nick"], e["text"], e["tab"]) for e in replayed] == [
            ("alice", text, CHANNEL) for text in history
        ]
        for event in replayed:
            # Dated by its own time (whole seconds in HexChat), not by when HexChat got it.
            assert int(before) <= event["time"] <= int(after) + 1, event

        hexchat.send(do="users", channel=CHANNEL)
        users = hexchat.first(lambda e: e["type"] == "users", "the user list")
        assert [user[:2] for user in users["users"]] == [["alice", "@"], ["hexy", ""]]

        hexchat.send(do="command", channel=CHANNEL, line=f"say hello from hexchat {token}")
        line = alice.first(lambda x: x.command == "PRIVMSG" and x.nick == "hexy")
        assert line.params == [CHANNEL, f"hello from hexchat {token}"]
        said = time.time()
        alice.say(CHANNEL, f"live answer {token}")
        live = hexchat.first(
            lambda e: e["type"] == "Channel Message" and e["text"] == f"live answer {token}",
            "alice's live line",
        )
        assert (live["nick"], live["tab"]) == ("alice", CHANNEL)
        assert int(said) <= live["time"] <= time.time() + 1

        hexchat.send(do="command", line="whois alice")
        whois = hexchat.until(lambda e: e["type"] == "WhoIs End", "the end of WHOIS alice")
        by_type: dict[str, Event] = {e["type"]: e for e in whois}
        assert by_type["WhoIs Name Line"]["user"] == "~alice"
        assert by_type["WhoIs Server Line"]["server"].startswith("hubbub.local")
        assert by_type["WhoIs Channel/Oper Line"]["channels"] == f"@{CHANNEL}"

        hexchat.send(do="command", line=f"quit leaving {token}")
        gone = alice.first(lambda x: x.command == "QUIT")
        assert (gone.nick, gone.params) == ("hexy", [f"Quit: leaving {token}"])
        hexchat.first(lambda e: e["type"] == "Disconnected", "the disconnection")


def test_hexchat_logs_in_with_sasl_plain(
    server: ServerProcess, alice: IrcClient, hexchats: list[HexChat]
) -> None:
    """The account is registered first (draft/account-registration's REGISTER, by a raw
    client under the nick); HexChat then logs in with SASL PLAIN, its network's login method."""
    owner = IrcClient(server.address)
    try:
        owner.register("hexy")
        owner.send(f"REGISTER * * {PASSWORD}")
        owner.expect("900")
        owner.send("QUIT")
        owner.until_closed()
    finally:
        owner.close()
    alice.register("alice", caps=["extended-join"])
    alice.join(CHANNEL)

    hexchat = start(hexchats, server.port, "hexy", PASSWORD)
    with diagnosed(hexchat.diagnostics, received("alice", alice), server.diagnostics):
        started = hexchat.first(lambda e: e["type"] == "SASL Authenticating", "SASL")
        assert (started["account"], started["mechanism"]) == ("hexy", "PLAIN")
        result = hexchat.first(lambda e: e["type"] == "SASL Response", "the SASL result")
        assert result["numeric"] == "903", result
        hexchat.first(lambda e: e["type"] == "You Join", "the JOIN of #lobby")

        joined = alice.first(lambda x: x.command == "JOIN" and x.nick == "hexy")
        assert joined.params == [CHANNEL, "hexy", "HexChat under test"]
        # HexChat itself knows its account (extended-join and WHO on join tell it).
        hexchat.send(do="users", channel=CHANNEL)
        users = hexchat.first(lambda e: e["type"] == "users", "the user list")
        assert ["hexy", "", "hexy"] in users["users"], users
