"""Private history without accounts belongs to whoever held the nick at the time (issue 11 #2):
a client that signed on before a conversation, then takes one party's nick after it quits,
reads none of it — neither with CHATHISTORY nor in TARGETS."""

from __future__ import annotations

from core_helpers import Client, Harness

HIST = ("draft/chathistory", "batch", "server-time", "message-tags")
TARGETS = (
    "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 50"
)


def history_texts(c: Client, target: str) -> list[str]:
    c.drain()
    c.send(f"CHATHISTORY LATEST {target} * 100")
    return [m.params[-1] for m in c.lines() if m.command == "PRIVMSG"]


def targets(c: Client) -> list[str]:
    c.drain()
    c.send(TARGETS)
    return [m.params[1] for m in c.lines() if m.command == "CHATHISTORY"]


def test_taking_a_nick_does_not_open_its_private_history(h: Harness) -> None:
    eve = h.client("eve", HIST)  # signed on before the conversation
    h.tick()
    alice = h.client("alice", HIST)
    bob = h.client("bob", HIST)
    h.tick()
    alice.send("PRIVMSG bob :the door code is 4711")
    bob.send("PRIVMSG alice :thanks")
    h.tick()
    assert history_texts(alice, "bob") == ["the door code is 4711", "thanks"]
    alice.send("QUIT :bye")
    h.tick()
    eve.send("NICK alice")
    assert eve.nick == "alice"
    h.tick()
    assert history_texts(eve, "bob") == []
    assert "bob" not in targets(eve)
    # What is said to the new holder from now on is its own to read.
    bob.send("PRIVMSG alice :who are you?")
    h.tick()
    assert history_texts(eve, "bob") == ["who are you?"]
    assert targets(eve) == ["bob"]


def test_the_floor_is_the_nick_change_for_every_nick_change(h: Harness) -> None:
    """Changing away and back again also starts afresh: a nick alone is no identity."""
    someone = h.client("dave", HIST)  # signed on first
    bob = h.client("bob", HIST)
    carol = h.client("carol", HIST)
    h.tick()
    bob.send("PRIVMSG carol :before")
    h.tick()
    carol.send("NICK carol2")
    h.tick()
    someone.send("NICK carol")  # carol is free again; dave takes it
    h.tick()
    assert history_texts(someone, "bob") == []
    assert targets(someone) == []


def test_changing_only_the_case_of_a_nick_keeps_its_history(h: Harness) -> None:
    alice = h.client("alice", HIST)
    bob = h.client("bob", HIST)
    h.tick()
    bob.send("PRIVMSG alice :still yours")
    h.tick()
    alice.send("NICK ALICE")
    h.tick()
    assert history_texts(alice, "bob") == ["still yours"]
