"""IRCv3 chathistory (draft): https://ircv3.net/specs/extensions/chathistory

Replies to CHATHISTORY come once the history store answered, so these tests read until the
batch closes rather than until a PING's answer.
"""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import Network, ask, network, numerics

from support.irc_client import IrcClient, Line, read_batch

BASE = ["batch", "server-time", "message-tags", "draft/chathistory"]
EVENTS = [*BASE, "draft/event-playback"]
WINDOW = "timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z"


def history(client: IrcClient, request: str) -> list[Line]:
    client.send(request)
    return read_batch(client)[1]


def history_targets(client: IrcClient, request: str) -> list[Line]:
    client.send(request)
    return read_batch(client, "draft/chathistory-targets")[1]


def say_lines(client: IrcClient, target: str, count: int, prefix: str = "line") -> None:
    ask(client, *(f"PRIVMSG {target} :{prefix} {i}" for i in range(count)))


def msgid_of(client: IrcClient, target: str, text: str) -> str:
    for line in history(client, f"CHATHISTORY LATEST {target} * 100"):
        if line.text == text:
            return line.tags["msgid"]
    raise AssertionError(f"{text!r} not in the history of {target}")


def test_events_only_with_event_playback(tmp_path: Path) -> None:
    """chathistory, Returned message notes: "If the client has not negotiated the
    event-playback capability, the server MUST NOT send any lines other than PRIVMSG and
    NOTICE in the reply batch. If the client has negotiated event-playback, the server SHOULD
    send additional lines relevant to the chat history, including but not limited to TAGMSG,
    JOIN, PART, QUIT, MODE, TOPIC, and NICK." And the limit counts what is returned:
    "Request up to limit number of the most recent messages"."""
    # TAGMSG is stored only when asked for, and only with the tags worth keeping (reactions).
    with network(tmp_path, history={"store_events": True, "store_tagmsg": True}) as net:
        alice = net.user("alice", ["message-tags"])
        alice.join("#room")
        ask(alice, "PRIVMSG #room :one", "TOPIC #room :a topic", "@+draft/react=x TAGMSG #room")
        ask(alice, "PRIVMSG #room :two")
        bob = net.user("bob", BASE)
        bob.join("#room")
        plain = history(bob, "CHATHISTORY LATEST #room * 2")
        assert [(line.command, line.text) for line in plain] == [
            ("PRIVMSG", "one"),
            ("PRIVMSG", "two"),
        ]
        carol = net.user("carol", EVENTS)
        carol.join("#room")
        full = history(carol, "CHATHISTORY LATEST #room * 10")
        commands = [line.command for line in full]
        assert commands[:5] == ["JOIN", "PRIVMSG", "TOPIC", "TAGMSG", "PRIVMSG"]
        assert "JOIN" in commands[5:]  # bob's join, in its place in time


def test_around_centres_on_the_reference(net: Network) -> None:
    """chathistory, AROUND: "Request a number of messages before and after the timestamp or
    msgid with the total number of returned messages not exceeding limit." The selected
    message sits in the middle: as many before it as after it when both sides have them."""
    alice = net.user("alice", BASE)
    alice.join("#room")
    say_lines(alice, "#room", 11)
    centre = msgid_of(alice, "#room", "line 5")
    got = history(alice, f"CHATHISTORY AROUND #room msgid={centre} 5")
    assert [line.text for line in got] == [f"line {i}" for i in (3, 4, 5, 6, 7)]
    assert [line.text for line in history(alice, f"CHATHISTORY AROUND #room msgid={centre} 1")] == [
        "line 5"
    ]
    # A timestamp reference: the message stamped then is the centre.
    stamp = next(
        line.tags["time"]
        for line in history(alice, "CHATHISTORY LATEST #room * 20")
        if line.text == "line 5"
    )
    got = history(alice, f"CHATHISTORY AROUND #room timestamp={stamp} 20")
    assert "line 5" in [line.text for line in got]
    # Near the start, the other side fills up the limit.
    first = msgid_of(alice, "#room", "line 0")
    got = history(alice, f"CHATHISTORY AROUND #room msgid={first} 4")
    assert [line.text for line in got] == [f"line {i}" for i in (0, 1, 2, 3)]


def test_around_counts_only_what_the_client_is_shown(tmp_path: Path) -> None:
    """chathistory: "the server MUST NOT send any lines other than PRIVMSG and NOTICE" without
    event-playback — and AROUND still centres on the reference among what is sent."""
    with network(tmp_path, history={"store_events": True}) as net:
        alice = net.user("alice", BASE)
        alice.join("#room")
        for i in range(7):
            ask(alice, f"PRIVMSG #room :line {i}", f"TOPIC #room :topic {i}")
        centre = msgid_of(alice, "#room", "line 3")
        got = history(alice, f"CHATHISTORY AROUND #room msgid={centre} 5")
        assert [line.text for line in got] == [f"line {i}" for i in (1, 2, 3, 4, 5)]


def test_private_history_of_a_logged_in_user_with_a_guest(net: Network) -> None:
    """chathistory: "If a nickname is given as the target then the server SHOULD include
    history sent between the current user and the target nickname, including outgoing
    messages ("self messages"), so as to give a full conversation." A logged-in user keeps
    its conversation with a user who is not logged in, from a later connection too."""
    alice = net.account("alice", BASE)
    guest = net.user("guest", BASE)
    ask(alice, "PRIVMSG guest :hello guest")
    guest.expect("PRIVMSG")
    ask(guest, "PRIVMSG alice :hello alice")
    alice.expect("PRIVMSG")
    texts = [line.text for line in history(alice, "CHATHISTORY LATEST guest * 10")]
    assert texts == ["hello guest", "hello alice"]
    texts = [line.text for line in history(guest, "CHATHISTORY LATEST alice * 10")]
    assert texts == ["hello guest", "hello alice"]
    # alice again, on a new connection: logged in, she still has the conversation.
    alice.send("QUIT")
    alice.until_closed()
    again = net.raw()
    again.register("alice2", BASE)
    again.send("PRIVMSG NickServ :IDENTIFY alice correct-horse-battery")
    again.expect("900")
    texts = [line.text for line in history(again, "CHATHISTORY LATEST guest * 10")]
    assert texts == ["hello guest", "hello alice"]
    found = history_targets(again, f"CHATHISTORY TARGETS {WINDOW} 10")
    assert [line.params[1] for line in found] == ["guest"]


def test_targets_lists_every_correspondent_and_channel(net: Network) -> None:
    """chathistory, TARGETS: "The TARGETS subcommand requests a list of channels and direct
    message conversations that the client has access to, with activity between the two
    timestamps", each line "CHATHISTORY TARGETS <target> <timestamp>" with "the timestamp of
    the latest message" in that target."""
    alice = net.account("alice", BASE)
    net.user("guest", BASE)
    friend = net.account("friend", BASE)
    alice.join("#room")
    ask(alice, "PRIVMSG #room :room line", "PRIVMSG guest :to guest")
    ask(friend, "PRIVMSG alice :from friend")
    alice.expect("PRIVMSG")
    found = history_targets(alice, f"CHATHISTORY TARGETS {WINDOW} 10")
    names = {line.params[1]: line.params[2] for line in found}
    assert set(names) == {"#room", "guest", "friend"}
    assert all(value.startswith("timestamp=") for value in names.values())
    # Ascending by time of the latest activity (the window runs forwards).
    assert [line.params[1] for line in found] == ["#room", "guest", "friend"]


def test_targets_lists_a_correspondent_once_at_its_latest(net: Network) -> None:
    """chathistory, TARGETS: the reply lists "channels and direct message conversations ...
    with activity between the two timestamps", one line per target with "the timestamp of
    the latest message" — also when the conversation was kept under two keys (before and
    after logging in)."""
    alice = net.user("alice", BASE)
    net.user("guest", BASE)
    ask(alice, "PRIVMSG guest :before logging in")
    # Replies come in the order of the commands: the login (900) is answered before the PONG.
    assert numerics(ask(alice, "REGISTER * * correct-horse-battery"), "900")
    ask(alice, "PRIVMSG guest :after logging in")
    latest = history(alice, "CHATHISTORY LATEST guest * 10")[-1]
    assert latest.text == "after logging in"
    found = history_targets(alice, f"CHATHISTORY TARGETS {WINDOW} 10")
    assert [line.params[1:] for line in found] == [["guest", "timestamp=" + latest.tags["time"]]]


def test_every_subcommand_counts_only_messages_without_event_playback(tmp_path: Path) -> None:
    """chathistory: BEFORE / AFTER / BETWEEN "Request up to limit number of messages", and
    "If the client has not negotiated the event-playback capability, the server MUST NOT send
    any lines other than PRIVMSG and NOTICE in the reply batch" — with TOPIC changes stored
    between the messages, a client without event-playback still gets `limit` messages."""
    with network(tmp_path, history={"store_events": True}) as net:
        alice = net.user("alice", BASE)
        alice.join("#room")
        for i in range(8):
            ask(alice, f"PRIVMSG #room :line {i}", f"TOPIC #room :topic {i}")
        first, last = msgid_of(alice, "#room", "line 0"), msgid_of(alice, "#room", "line 7")
        texts = {
            "BEFORE": [
                line.text for line in history(alice, f"CHATHISTORY BEFORE #room msgid={last} 3")
            ],
            "AFTER": [
                line.text for line in history(alice, f"CHATHISTORY AFTER #room msgid={first} 3")
            ],
            "BETWEEN": [
                line.text
                for line in history(
                    alice, f"CHATHISTORY BETWEEN #room msgid={first} msgid={last} 3"
                )
            ],
            "BACKWARDS": [
                line.text
                for line in history(
                    alice, f"CHATHISTORY BETWEEN #room msgid={last} msgid={first} 3"
                )
            ],
        }
        assert texts == {
            "BEFORE": ["line 4", "line 5", "line 6"],
            "AFTER": ["line 1", "line 2", "line 3"],
            "BETWEEN": ["line 1", "line 2", "line 3"],
            "BACKWARDS": ["line 4", "line 5", "line 6"],
        }


def test_a_reference_the_server_does_not_have_gets_an_empty_batch(net: Network) -> None:
    """chathistory, CHATHISTORY command: "A batch MUST be returned by the server. If no content
    exists to return, an empty batch SHOULD be returned to avoid the client waiting for a reply
    and to indicate that no content is available." A msgid the server does not have (a line
    lost with the last commit window of a server killed with -9, or one from another network)
    selects nothing: an empty batch, not an error and not the latest page. The hubbub clients
    then ask again by time (docs/client.md, docs/web.md)."""
    alice = net.user("alice", BASE)
    alice.join("#room")
    say_lines(alice, "#room", 3)
    assert history(alice, "CHATHISTORY AFTER #room msgid=not-a-stored-msgid 10") == []
    # While a stored msgid selects what follows it.
    first = msgid_of(alice, "#room", "line 0")
    got = history(alice, f"CHATHISTORY AFTER #room msgid={first} 10")
    assert [line.text for line in got] == ["line 1", "line 2"]
