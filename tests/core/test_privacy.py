"""History privacy in the core: REDACT (draft/message-redaction), room history access
(since_join, registered) for the join replay and CHATHISTORY, private history kept by account,
and HistServ EXPORT / DELETE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from account_helpers import PASSWORD, account_config, registered
from core_helpers import Client, Harness, one, only

from hubbub.history.memory import MemoryStore
from hubbub.history.store import HistoryStore
from hubbub.protocol.message import Message
from support.core_services import SyncHistoryService

RED = ("draft/message-redaction", "message-tags", "echo-message", "batch", "server-time")
HIST = ("draft/chathistory", "batch", "server-time", "message-tags")


@pytest.fixture
def h() -> Harness:
    return Harness(account_config())


def sent_msgid(c: Client, text: str, target: str = "#room") -> str:
    """Send a PRIVMSG (the client has echo-message) and return its msgid."""
    c.send(f"PRIVMSG {target} :{text}")
    echo = one(c.lines(), "PRIVMSG")
    return echo.tags["msgid"]


def texts(messages: list[Message]) -> list[str]:
    return [m.params[-1] for m in messages if m.command == "PRIVMSG"]


def chathistory(c: Client, target: str, limit: int = 50) -> list[str]:
    c.drain()  # live lines are not history
    c.send(f"CHATHISTORY LATEST {target} * {limit}")
    return texts(c.lines())


def cs(c: Client, text: str) -> None:
    c.send(f"PRIVMSG ChanServ :{text}")
    c.drain()


# -- REDACT -------------------------------------------------------------------------------------


def test_author_redacts_and_history_forgets(h: Harness) -> None:
    alice = h.client("alice", RED)
    bob = h.client("bob", RED)
    plain = h.client("carol")
    h.join("#room", alice, bob, plain)
    keep = sent_msgid(alice, "keep me")
    oops = sent_msgid(alice, "oops, my password")
    h.drain()
    alice.send(f"REDACT #room {oops} :typo")
    mine = one(alice.lines(), "REDACT")
    assert mine.params == ("#room", oops, "typo") and "msgid" in mine.tags
    theirs = one(bob.lines(), "REDACT")
    assert theirs.params == ("#room", oops, "typo") and theirs.source.startswith("alice!")
    assert plain.raw() == []  # no cap: no REDACT
    assert [r.msgid for r in h.store.latest("#room", 10) if r.command == "PRIVMSG"] == [keep]
    reader = h.client("dave", HIST)
    h.join("#room", reader)
    assert chathistory(reader, "#room") == ["keep me"]
    replayed = h.client("erin")  # join replay (no chathistory cap)
    replayed.send("JOIN #room")
    got = " ".join(replayed.raw())
    assert "keep me" in got and "oops" not in got


def test_who_may_redact(h: Harness) -> None:
    op = h.client("oper", RED)  # first in: channel operator
    alice = h.client("alice", RED)
    bob = h.client("bob", RED)
    h.join("#room", op, alice, bob)
    first = sent_msgid(alice, "one")
    second = sent_msgid(alice, "two")
    h.drain()
    bob.send(f"REDACT #room {first}")
    fail = one(bob.lines(), "FAIL")
    assert fail.params[:4] == ("REDACT", "REDACT_FORBIDDEN", "#room", first)
    op.send(f"REDACT #room {first} :moderation")  # an op may redact anyone's message
    assert one(op.lines(), "REDACT").params[1] == first
    op.send(f"REDACT #room {first}")
    assert one(op.lines(), "FAIL").params[1:4] == ("UNKNOWN_MSGID", "#room", first)
    outsider = h.client("zed", RED)
    outsider.send(f"REDACT #room {second}")
    assert one(outsider.lines(), "FAIL").params[1:3] == ("INVALID_TARGET", "#room")
    # A new connection on the same nick (no account) is not the author.
    alice.send("QUIT")
    again = h.client("alice", RED)
    h.join("#room", again)
    again.send(f"REDACT #room {second}")
    assert one(again.lines(), "FAIL").params[1] == "REDACT_FORBIDDEN"


def test_same_account_redacts_from_another_connection(h: Harness) -> None:
    alice = registered(h, "alice", caps=RED)
    h.join("#room", alice)
    msgid = sent_msgid(alice, "from my phone")
    alice.send("QUIT")
    laptop = h.client("alice2", RED)
    laptop.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    h.join("#room", laptop)
    laptop.send(f"REDACT #room {msgid}")
    assert one(laptop.lines(), "REDACT").params[1] == msgid


def test_redact_a_private_message(h: Harness) -> None:
    alice, bob = h.client("alice", RED), h.client("bob", RED)
    msgid = sent_msgid(alice, "psst", target="bob")
    bob.drain()
    bob.send(f"REDACT alice {msgid}")  # not bob's message
    assert one(bob.lines(), "FAIL").params[1] == "REDACT_FORBIDDEN"
    alice.send(f"REDACT bob {msgid}")
    assert one(bob.lines(), "REDACT").params[:2] == ("bob", msgid)
    assert h.store.latest("dm:alice bob", 5) == []
    alice.send(f"REDACT NickServ {msgid}")
    assert one(alice.lines(), "FAIL").params[1] == "INVALID_TARGET"


def test_redaction_cap_is_advertised(h: Harness) -> None:
    c = h.connect()
    c.send("CAP LS 302")
    assert "draft/message-redaction" in " ".join(c.raw())


# -- room history access ------------------------------------------------------------------------


def test_since_join(h: Harness) -> None:
    alice = h.client("alice")
    h.join("#room", alice)
    cs(alice, "SET #room HISTORY since_join")
    alice.send("PRIVMSG #room :before you came")
    h.tick()
    late = h.client("late", HIST)
    replayed = h.client("replayed")
    h.join("#room", late, replayed)
    h.tick()
    alice.send("PRIVMSG #room :after you came")
    assert chathistory(late, "#room") == ["after you came"]
    late.send("CHATHISTORY BEFORE #room timestamp=2099-01-01T00:00:00.000Z 50")
    assert texts(late.lines()) == ["after you came"]
    assert "before you came" not in " ".join(replayed.raw())
    assert chathistory(h.client("old", HIST), "#room") == []  # not a member: refused
    # everyone (the default) again
    cs(alice, "SET #room HISTORY everyone")
    assert chathistory(late, "#room") == ["before you came", "after you came"]


def test_registered_only(h: Harness) -> None:
    alice = h.client("alice")
    h.join("#room", alice)
    cs(alice, "SET #room HISTORY registered")
    alice.send("PRIVMSG #room :members only")
    anon = h.client("anon", HIST)
    h.join("#room", anon)
    anon.send("CHATHISTORY LATEST #room * 10")
    assert one(anon.lines(), "FAIL").params[:2] == ("CHATHISTORY", "INVALID_TARGET")
    plain = h.client("plain")
    plain.send("JOIN #room")
    assert "members only" not in " ".join(plain.raw())
    member = registered(h, "member", caps=HIST)
    h.join("#room", member)
    assert chathistory(member, "#room") == ["members only"]
    viewer = registered(h, "viewer")
    viewer.send("JOIN #room")
    assert "members only" in " ".join(viewer.raw())


def test_default_access_from_the_config() -> None:
    h = Harness(_config_with_access("registered"))
    alice = h.client("alice")
    h.join("#room", alice)
    alice.send("PRIVMSG #room :hello")
    anon = h.client("anon", HIST)
    h.join("#room", anon)
    anon.send("CHATHISTORY LATEST #room * 10")
    assert one(anon.lines(), "FAIL").params[1] == "INVALID_TARGET"


def _config_with_access(access: str):  # type: ignore[no-untyped-def]
    import dataclasses

    config = account_config()
    return dataclasses.replace(
        config, history=dataclasses.replace(config.history, default_access=access)
    )


# -- private history by account -----------------------------------------------------------------


def test_private_history_by_account_survives_reconnects(h: Harness) -> None:
    alice = registered(h, "alice", caps=HIST)
    bob = registered(h, "bob", caps=HIST)
    alice.send("PRIVMSG bob :for your eyes only")
    bob.send("PRIVMSG alice :got it")
    alice.send("QUIT")
    bob.send("QUIT")
    h.tick(60)
    # A stranger takes bob's nick (not logged in): sees nothing of it.
    impostor = h.client("bob", HIST)
    assert chathistory(impostor, "alice") == []
    impostor.send("QUIT")
    # bob comes back under another nick, logs in: the conversation is there.
    back = h.client("robert", HIST)
    back.send(f"PRIVMSG NickServ :IDENTIFY bob {PASSWORD}")
    back.drain()
    assert chathistory(back, "alice") == ["for your eyes only", "got it"]  # alice is offline
    carol = registered(h, "carol", caps=HIST)
    assert chathistory(carol, "alice") == []
    assert chathistory(carol, "bob") == []
    again = h.client("alice", HIST)
    again.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    again.drain()
    assert chathistory(again, "robert") == ["for your eyes only", "got it"]  # online, logged in
    again.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
               "timestamp=2099-01-01T00:00:00.000Z 10")  # fmt: skip
    names = [m.params[1] for m in again.lines() if m.command == "CHATHISTORY"]
    assert names == ["robert"]


def test_private_history_without_accounts_stays_per_connection(h: Harness) -> None:
    alice, bob = h.client("alice", HIST), h.client("bob", HIST)
    alice.send("PRIVMSG bob :hi")
    assert chathistory(bob, "alice") == ["hi"]
    bob.send("QUIT")
    h.tick(5)
    assert chathistory(h.client("bob", HIST), "alice") == []


# -- HistServ -----------------------------------------------------------------------------------


def hs(c: Client, text: str) -> list[str]:
    c.send(f"PRIVMSG HistServ :{text}")
    return [m.params[-1] for m in c.lines() if m.command == "NOTICE"]


def test_histserv_export(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = registered(h, "bob")
    h.join("#room", alice, bob)
    alice.send("PRIVMSG #room :first")
    bob.send("PRIVMSG #room :not mine")
    alice.send("PRIVMSG bob :second")
    alice.send("NOTICE #room :third")
    h.drain()
    got = hs(alice, "EXPORT")
    assert got[0] == "Your 3 newest messages, oldest first (UTC):"
    assert got[1].endswith("] #room: first") and got[2].endswith("] to bob: second")
    assert got[3].endswith("] #room NOTICE: third") and got[-1] == "End of export"
    assert len(hs(alice, "EXPORT 1")) == 3
    assert "logged in" in hs(h.client("anon"), "EXPORT")[0]
    assert "Syntax" in hs(alice, "EXPORT lots")[0]


def test_histserv_delete_needs_confirmation(h: Harness) -> None:
    alice = registered(h, "alice")
    bob = registered(h, "bob")
    h.join("#room", alice, bob)
    alice.send("PRIVMSG #room :mine")
    bob.send("PRIVMSG #room :bob's")
    alice.send("PRIVMSG bob :private")
    h.drain()
    assert "DELETE first" in hs(alice, "DELETE CONFIRM abc")[0]
    warning = hs(alice, "DELETE")
    code = warning[1].rsplit(" ", 1)[1]
    assert "for good" in warning[0]
    assert "not the confirmation code" in hs(alice, "DELETE CONFIRM nope")[0]
    assert hs(alice, f"DELETE CONFIRM {code}") == ["Deleted 2 messages"]
    assert [r.params[-1] for r in h.store.latest("#room", 10)] == ["bob's"]
    assert hs(alice, "EXPORT")[0].startswith("Your 0 newest")
    # An expired confirmation does not count.
    code = hs(bob, "DELETE")[1].rsplit(" ", 1)[1]
    h.tick(301)
    assert "DELETE first" in hs(bob, f"DELETE CONFIRM {code}")[0]
    assert only(h.store.latest("#room", 10), "PRIVMSG")


class FailingChanges(SyncHistoryService):
    """A history service whose changes fail as the worker's do when the store does (the
    answer is an empty list, the failure logged)."""

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        done([])


def test_histserv_delete_says_so_when_the_store_failed() -> None:
    """A deletion the store did not make is never reported as done."""
    store = MemoryStore()
    h = Harness(account_config(), history=FailingChanges(store))
    h.store = store
    alice = registered(h, "alice")
    h.join("#room", alice)
    alice.send("PRIVMSG #room :mine")
    code = hs(alice, "DELETE")[1].rsplit(" ", 1)[1]
    assert hs(alice, f"DELETE CONFIRM {code}") == [
        "History is unavailable right now; nothing was deleted"
    ]
    assert [r.params[-1] for r in store.latest("#room", 10)] == ["mine"]
