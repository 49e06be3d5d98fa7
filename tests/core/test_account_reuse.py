"""Issue 11 #4: a dropped account's name registered again by someone else inherits nothing of
the old owner's history — neither private conversations (CHATHISTORY, TARGETS), nor its own
messages (HistServ EXPORT / DELETE), nor the right to REDACT them.

History is attributed to an account's stable id (hubbub.accounts.model), which a new account of
the same name does not share."""

from __future__ import annotations

from account_helpers import PASSWORD, account_config, registered
from core_helpers import Client, Harness, one

from hubbub.history.record import dm_key

HIST = (
    "draft/chathistory",
    "batch",
    "server-time",
    "message-tags",
    "echo-message",
    "draft/message-redaction",
)
TARGETS = (
    "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 50"
)
NEW_PASSWORD = "a-different-owner-99"


def texts(c: Client) -> list[str]:
    return [m.params[-1] for m in c.lines() if m.command in ("PRIVMSG", "NOTICE")]


def test_a_reregistered_name_reads_and_redacts_nothing_of_its_predecessor() -> None:
    h = Harness(account_config())
    alice = registered(h, "alice", caps=HIST)
    bob = registered(h, "bob", caps=HIST)
    h.join("#room", alice, bob)
    alice.send("PRIVMSG bob :my secret plans")
    secret = one(alice.lines(), "PRIVMSG").tags["msgid"]
    bob.send("PRIVMSG alice :noted, old friend")
    alice.drain()
    alice.send("PRIVMSG #room :said in the room")
    said = one(alice.lines(), "PRIVMSG").tags["msgid"]
    h.drain()
    # (getattr: so that, on a core without ids, the test fails on the leak itself below)
    old_id: str = getattr(alice.user, "account_id", "alice")

    alice.send(f"PRIVMSG NickServ :DROP {PASSWORD}")
    assert "deleted" in " ".join(alice.raw())
    alice.send("QUIT")
    h.tick(5)

    # Someone else registers the name.
    mallory = registered(h, "alice", NEW_PASSWORD, caps=HIST)
    assert mallory.user.account == "alice"
    h.join("#room", mallory)
    mallory.send("CHATHISTORY LATEST bob * 50")
    assert texts(mallory) == []
    mallory.send(TARGETS)
    listed = [m.params[1] for m in mallory.lines() if m.command == "CHATHISTORY"]
    assert listed == ["#room"]  # the room is hers to read (she is in it), bob is not
    mallory.send("PRIVMSG HistServ :EXPORT")
    exported = " ".join(texts(mallory))
    assert "secret plans" not in exported and "said in the room" not in exported
    mallory.send(f"REDACT bob {secret}")  # not in her conversation with bob: unknown
    assert one(mallory.lines(), "FAIL").params[:2] == ("REDACT", "UNKNOWN_MSGID")
    mallory.send(f"REDACT #room {said}")
    assert one(mallory.lines(), "FAIL").params[1] == "REDACT_FORBIDDEN"
    assert h.store.find("#room", said) is not None
    mallory.send("PRIVMSG HistServ :DELETE")
    code = texts(mallory)[-1].split()[-1]
    mallory.send(f"PRIVMSG HistServ :DELETE CONFIRM {code}")
    assert "Deleted 0 messages" in " ".join(texts(mallory))

    assert mallory.user.account_id != old_id
    old_key = dm_key("~" + old_id.lower(), "~" + bob.user.account_id.lower())
    assert h.store.find(old_key, secret) is not None

    # Bob still has his side of the old conversation: it is his too.
    bob.send(TARGETS)
    assert "alice" in [m.params[1] for m in bob.lines() if m.command == "CHATHISTORY"]


def test_an_account_keeps_its_history_across_logins() -> None:
    """The id changes nothing for the owner: a new connection logged in to the same account
    reads its private conversation and redacts its own messages."""
    h = Harness(account_config())
    alice = registered(h, "alice", caps=HIST)
    bob = registered(h, "bob", caps=HIST)
    alice.send("PRIVMSG bob :kept for me")
    msgid = one(alice.lines(), "PRIVMSG").tags["msgid"]
    alice.send("QUIT")
    again = h.client("alice2", HIST)
    again.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    again.drain()
    again.send("CHATHISTORY LATEST bob * 50")
    assert texts(again) == ["kept for me"]
    again.send("PRIVMSG HistServ :EXPORT")
    assert any("kept for me" in text for text in texts(again))
    again.send(f"REDACT bob {msgid}")
    assert one(again.lines(), "REDACT").params[1] == msgid
    bob.drain()
