"""The MONITOR index (hubbub.core.monitor): events reach only a nick's own watchers, and
nothing of a watcher stays behind once it leaves."""

from __future__ import annotations

from core_helpers import Harness, only


def test_an_event_reaches_only_the_nick_s_watchers(h: Harness) -> None:
    alice, carol = h.client("alice"), h.client("carol")
    alice.send("MONITOR + bob")
    carol.send("MONITOR + dave")
    h.drain()
    h.client("bob")
    assert [m.params[1].split("!")[0] for m in only(alice.lines(), "730")] == ["bob"]
    assert carol.lines() == []


def test_a_watcher_that_quits_leaves_nothing_in_the_index(h: Harness) -> None:
    alice = h.client("alice")
    alice.send("MONITOR + bob,carol")
    index = h.server.monitor
    assert set(index.watchers) == {"bob", "carol"}
    alice.send("QUIT")
    assert index.watchers == {} and index.lists == {}


def test_removing_the_last_watcher_drops_the_nick(h: Harness) -> None:
    alice, dave = h.client("alice"), h.client("dave")
    alice.send("MONITOR + bob")
    dave.send("MONITOR + Bob")
    alice.send("MONITOR - BOB")
    assert h.server.monitor.watchers == {"bob": {dave.user}}
    dave.send("MONITOR C")
    assert h.server.monitor.watchers == {}


def test_a_case_change_is_neither_offline_nor_online(h: Harness) -> None:
    alice, bob = h.client("alice"), h.client("bob")
    alice.send("MONITOR + bob")
    h.drain()
    bob.send("NICK Bob")
    got = alice.lines()
    assert only(got, "731") == [] and only(got, "730") == []
