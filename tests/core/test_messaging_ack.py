"""The core asks for the acknowledgement of a stored message to wait for its commit
(`HistoryService.acknowledge_after_commit`) exactly when its sender is acknowledged anything:
echo-message, or a label with labeled-response. Others are not held for it."""

from __future__ import annotations

from core_helpers import DeferredHistory, Harness


def harness() -> tuple[Harness, DeferredHistory]:
    history = DeferredHistory()
    return Harness(history=history), history


def test_an_echoed_room_message_waits_for_its_record() -> None:
    h, history = harness()
    alice = h.client("alice", caps=["echo-message"])
    bob = h.client("bob")
    h.join("#room", alice, bob)
    history.complete()  # the joins' replays
    alice.send("PRIVMSG #room :hello")
    assert history.last_msgid  # stored, then acknowledged after its commit
    assert history.acknowledged == [(alice.link, history.last_msgid)]


def test_a_labelled_private_message_waits_for_its_record() -> None:
    h, history = harness()
    alice = h.client("alice", caps=["labeled-response"])
    h.client("bob")
    alice.send("@label=x PRIVMSG bob :hi")
    assert [link for link, _ in history.acknowledged] == [alice.link]


def test_a_sender_acknowledged_nothing_is_not_held() -> None:
    h, history = harness()
    alice = h.client("alice")  # no echo-message
    carol = h.client("carol", caps=["labeled-response"])
    bob = h.client("bob")
    h.join("#room", alice, carol, bob)
    history.complete()  # the joins' replays
    alice.send("PRIVMSG #room :hello")
    carol.send("PRIVMSG #room :no label")  # the cap alone acknowledges nothing
    alice.send("@label=y PRIVMSG bob :a label without labeled-response")
    assert history.last_msgid  # they were stored
    assert history.acknowledged == []


def test_a_message_not_stored_is_not_held() -> None:
    h, history = harness()
    alice = h.client("alice", caps=["echo-message", "message-tags"])
    bob = h.client("bob")
    h.join("#room", alice, bob)
    history.complete()  # the joins' replays
    alice.send("@+typing=active TAGMSG #room")  # typing notifications are not stored
    alice.send("PRIVMSG @#room :to the ops only")  # STATUSMSG is never stored
    assert history.acknowledged == []
