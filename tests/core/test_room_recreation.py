"""A re-created room has no past (issue 11 #3).

A +s+i+k room's modes lived only in memory while its history is durable and keyed by name: once
everyone left, or after a restart, anyone could JOIN without the key, be op, read the whole
history and REDACT other people's messages. Now an unregistered room shows nothing from before
its (re-)creation, to anyone, and its ops cannot redact it; a registered room (ChanServ) is never
re-created and keeps its history across restarts.
"""

from __future__ import annotations

import pytest
from account_helpers import PASSWORD, registered
from core_helpers import Client, Harness, one
from oper_helpers import oper_config

from support.core_services import SyncService

HIST = ("draft/chathistory", "batch", "server-time", "message-tags", "echo-message")
RED = (*HIST, "draft/message-redaction")
TARGETS = (
    "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 50"
)


@pytest.fixture
def h() -> Harness:
    return Harness(oper_config())


def history_texts(c: Client, target: str) -> list[str]:
    c.drain()
    c.send(f"CHATHISTORY LATEST {target} * 100")
    return [m.params[-1] for m in c.lines() if m.command == "PRIVMSG"]


def secret_conversation(h: Harness) -> str:
    """alice and bob talk in a +sik room, then both leave it; the msgid of alice's message."""
    alice = h.client("alice", RED)
    bob = h.client("bob", HIST)
    alice.send("JOIN #hidden")
    alice.send("MODE #hidden +sik sesame")
    alice.send("INVITE bob #hidden")
    bob.send("JOIN #hidden sesame")
    h.drain()
    h.tick()
    alice.send("PRIVMSG #hidden :the plan is in the blue folder")
    msgid = one(alice.lines(), "PRIVMSG").tags["msgid"]
    bob.send("PRIVMSG #hidden :got it")
    h.tick()
    assert history_texts(bob, "#hidden") == ["the plan is in the blue folder", "got it"]
    return msgid


def check_no_past(h: Harness, old_msgid: str) -> None:
    h.tick()
    eve = h.client("eve", RED)
    eve.send("JOIN #hidden")  # no key, no invite: the room is new, and eve is its op
    joined = eve.lines()
    assert any(m.command == "JOIN" for m in joined)
    assert h.channel("#hidden").members[eve.user].op
    assert history_texts(eve, "#hidden") == []
    eve.drain()
    eve.send(TARGETS)
    assert [m.params[1] for m in eve.lines() if m.command == "CHATHISTORY"] == []
    eve.send(f"REDACT #hidden {old_msgid} :mine now")
    fail = one(eve.lines(), "FAIL")
    assert fail.params[:2] == ("REDACT", "REDACT_FORBIDDEN")
    assert any(r.msgid == old_msgid for r in h.store.latest("#hidden", 10))
    # The join replay (clients without chathistory) shows nothing of it either.
    mallory = h.client("mallory")
    mallory.send("JOIN #hidden")
    assert "blue folder" not in " ".join(mallory.raw())
    # What the new room says is its own.
    eve.send("PRIVMSG #hidden :fresh start")
    h.tick()
    assert history_texts(eve, "#hidden") == ["fresh start"]


def test_room_emptied_and_recreated_shows_no_past(h: Harness) -> None:
    msgid = secret_conversation(h)
    for c in list(h.clients):
        c.send("PART #hidden")
    assert h.server.find_channel("#hidden") is None
    check_no_past(h, msgid)


def test_room_recreated_after_a_restart_shows_no_past(h: Harness) -> None:
    msgid = secret_conversation(h)
    h.tick()
    h.server.shutdown("restart")
    h.clients.clear()
    h.rebuild(instance_id="t2")  # same history store
    check_no_past(h, msgid)


def test_ops_of_the_room_as_it_was_still_redact(h: Harness) -> None:
    msgid = secret_conversation(h)
    alice, bob = h.clients[0], h.clients[1]
    alice.send("MODE #hidden +o bob")  # an op of the room the message was said in
    h.drain()
    bob.send(f"REDACT #hidden {msgid}")
    assert not [m for m in bob.lines() if m.command == "FAIL"]


def test_a_registered_room_keeps_its_history_across_a_restart(h: Harness) -> None:
    alice = registered(h, "alice", caps=HIST)
    h.join("#keep", alice)
    alice.send("PRIVMSG ChanServ :REGISTER #keep")
    assert "registered" in " ".join(alice.raw())
    h.tick()
    alice.send("PRIVMSG #keep :kept")
    h.tick()
    accounts = h.server.accounts.service
    registry = SyncService(h.server.registry.service.store)  # type: ignore[attr-defined]
    h.server.shutdown("restart")
    h.clients.clear()
    h.rebuild(accounts, registry, instance_id="t2")
    h.tick()
    again = h.client("alice2", HIST)
    again.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    again.send("JOIN #keep")
    assert history_texts(again, "#keep") == ["kept"]


def test_registering_a_recreated_room_does_not_open_its_past(h: Harness) -> None:
    secret_conversation(h)
    for c in list(h.clients):
        c.send("PART #hidden")
    h.tick()
    eve = registered(h, "eve", caps=HIST)
    h.join("#hidden", eve)
    eve.send("PRIVMSG ChanServ :REGISTER #hidden")
    assert "registered" in " ".join(eve.raw())
    assert history_texts(eve, "#hidden") == []
