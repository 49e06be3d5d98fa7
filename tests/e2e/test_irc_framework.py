"""hubbub through irc-framework, the IRC library Kiwi IRC and many bots are built on, run under
Node.js (support.irc_framework): a full IRCv3 client, where irssi and WeeChat take server-time
but not batch.

A raw-socket client (alice) says two lines in #lobby. irc-framework then connects with the
capabilities it asks for by itself (batch, server-time and message-tags among them), joins,
and must get those lines as a `chathistory` batch, each with its original time and msgid, then
talk with alice both ways, see her in the names list and in WHOIS. A client that also asks for
draft/chathistory gets nothing on join and fetches the same lines itself with CHATHISTORY.

IRCv3 batch (https://ircv3.net/specs/extensions/batch): "Messages that are part of a batch
MUST have a batch tag"; chathistory
(https://ircv3.net/specs/extensions/chathistory): "the server MUST reply with a batch of type
chathistory"; server-time (https://ircv3.net/specs/extensions/server-time): "the time when
the message was received by the server, not the time when the message is sent".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from support.irc_client import IrcClient
from support.irc_framework import Event, IrcFramework, require_irc_framework
from support.programs import diagnosed, received
from support.servers import ServerProcess

pytestmark = pytest.mark.e2e

CHANNEL = "#lobby"


@pytest.fixture
def kiwi(server: ServerProcess) -> Iterator[list[IrcFramework]]:
    """The irc-framework clients a test starts, stopped on the way out."""
    require_irc_framework()
    started: list[IrcFramework] = []
    try:
        yield started
    finally:
        for client in started:
            client.stop()


def said(event: Event, text: str) -> bool:
    return event["type"] == "privmsg" and event["message"] == text


def history_before(alice: IrcClient, token: str) -> tuple[list[str], float, float]:
    """alice says two lines in #lobby: their texts, and the moments (ms) around them."""
    alice.register("alice")
    alice.join(CHANNEL)
    history = [f"first line before irc-framework {token}", f"second line {token}"]
    before = time.time() * 1000
    alice.say(CHANNEL, *history)
    alice.fence()  # the server has handled both lines once it answers the PING
    return history, before, time.time() * 1000


def test_irc_framework_gets_the_join_replay_as_a_batch_and_talks(
    server: ServerProcess, alice: IrcClient, kiwi: list[IrcFramework]
) -> None:
    token = uuid.uuid4().hex[:8]
    client = IrcFramework(server.address, "kiwi")
    kiwi.append(client)
    with diagnosed(client.diagnostics, received("alice", alice), server.diagnostics):
        history, before, after = history_before(alice, token)
        registered = client.first(lambda e: e["type"] == "registered", "the registration")
        assert {"batch", "server-time", "message-tags"} <= set(registered["caps"])

        client.send(do="join", channel=CHANNEL)
        joined = client.until(lambda e: e["type"] == "batch end", "the end of the replay batch")
        assert joined[0]["type"] == "join" and joined[0]["nick"] == "kiwi"
        starts = [e for e in joined if e["type"] == "batch start"]
        assert [(e["batch_type"], e["params"]) for e in starts] == [("chathistory", [CHANNEL])]
        replayed = [e for e in joined if e["type"] == "privmsg"]
        assert [e["message"] for e in replayed] == history
        for event in replayed:
            assert event["nick"] == "alice" and event["target"] == CHANNEL
            assert event["batch"] == {"type": "chathistory", "params": [CHANNEL]}
            # Their own time, not the join's: between alice's first line and her PONG.
            assert before - 1000 < event["time"] <= after + 1000, event
            assert event["msgid"]
        assert replayed[0]["time"] <= replayed[1]["time"]
        assert replayed[0]["msgid"] != replayed[1]["msgid"]
        # The names list came before the replay (after RPL_ENDOFNAMES, as on any join).
        (names,) = [e for e in joined if e["type"] == "userlist"]
        assert sorted(names["users"]) == [["alice", ["o"]], ["kiwi", []]]

        client.send(do="say", target=CHANNEL, text=f"hello from irc-framework {token}")
        line = alice.first(lambda x: x.command == "PRIVMSG" and x.nick == "kiwi")
        assert line.params == [CHANNEL, f"hello from irc-framework {token}"]
        alice.say(CHANNEL, f"live answer {token}")
        live = client.first(lambda e: said(e, f"live answer {token}"), "alice's live line")
        assert live["batch"] is None and live["nick"] == "alice" and live["msgid"]

        client.send(do="whois", nick="alice")
        whois = client.first(lambda e: e["type"] == "whois", "WHOIS alice")
        assert (whois["nick"], whois["ident"]) == ("alice", "~alice")
        assert whois["server"] == "hubbub.local"
        assert whois["channels"] == f"@{CHANNEL}"

        client.send(do="quit", text="done")
        gone = alice.first(lambda x: x.command == "QUIT")
        assert (gone.nick, gone.params) == ("kiwi", ["Quit: done"])
        client.first(lambda e: e["type"] == "close", "the connection's end")


def test_irc_framework_with_chathistory_fetches_the_history_itself(
    server: ServerProcess, alice: IrcClient, kiwi: list[IrcFramework]
) -> None:
    """IRCv3 chathistory: a client that negotiated draft/chathistory asks for what it wants
    (docs/protocol.md, "History on join"): nothing on join; CHATHISTORY LATEST gives the lines
    with their times and msgids, as the replay would have."""
    token = uuid.uuid4().hex[:8]
    client = IrcFramework(server.address, "kiwi", ["draft/chathistory"])
    kiwi.append(client)
    with diagnosed(client.diagnostics, received("alice", alice), server.diagnostics):
        history, _, _ = history_before(alice, token)
        registered = client.first(lambda e: e["type"] == "registered", "the registration")
        assert "draft/chathistory" in registered["caps"]

        client.send(do="join", channel=CHANNEL)
        client.send(do="raw", line=f"CHATHISTORY LATEST {CHANNEL} * 10")
        events = client.until(lambda e: e["type"] == "batch end", "the CHATHISTORY batch")
        # The names list came before it, and no replay: the one batch is the one asked for.
        assert [e["type"] for e in events if e["type"] in ("userlist", "batch start")] == [
            "userlist",
            "batch start",
        ]
        fetched = [e for e in events if e["type"] == "privmsg"]
        assert [e["message"] for e in fetched] == history
        assert all(e["batch"] == {"type": "chathistory", "params": [CHANNEL]} for e in fetched)
        assert all(e["msgid"] and e["time"] for e in fetched)
