"""labeled-response: every command's answer carries the client's label."""

from __future__ import annotations

from core_helpers import Harness, one, only

CAPS = ["labeled-response", "batch"]


def test_ack_when_there_is_no_reply(h: Harness) -> None:
    a = h.client("alice", caps=CAPS)
    h.client("bob")
    a.send("@label=a1 PRIVMSG bob :hi")
    ack = one(a.lines(), "ACK")
    assert ack.tags == {"label": "a1"}
    assert ack.source == "hubbub.local"


def test_label_on_a_single_reply(h: Harness) -> None:
    a = h.client("alice", caps=CAPS)
    a.send("@label=p PING :x")
    (pong,) = a.lines()
    assert pong.command == "PONG"
    assert pong.tags == {"label": "p"}


def test_label_on_an_echo(h: Harness) -> None:
    a = h.client("alice", caps=[*CAPS, "echo-message", "server-time"])
    h.join("#room", a)
    a.send("@label=e PRIVMSG #room :hello")
    (echo,) = a.lines()
    assert echo.command == "PRIVMSG"
    assert echo.tags["label"] == "e"
    assert "time" in echo.tags


def test_batch_around_several_lines(h: Harness) -> None:
    a = h.client("alice", caps=CAPS)
    h.client("bob")
    a.send("@label=w WHOIS bob")
    got = a.lines()
    assert got[0].command == "BATCH"
    assert got[0].tags == {"label": "w"}
    ref = got[0].params[0][1:]
    assert got[0].params == (f"+{ref}", "labeled-response")
    assert got[-1].command == "BATCH"
    assert got[-1].params == (f"-{ref}",)
    inside = got[1:-1]
    assert [m.command for m in inside] == ["311", "312", "317", "318"]
    assert all(m.tags == {"batch": ref} for m in inside)


def test_no_batch_cap_means_plain_lines(h: Harness) -> None:
    a = h.client("alice", caps=["labeled-response"])
    h.client("bob")
    a.send("@label=w WHOIS bob")
    assert all(m.tags == {} for m in a.lines())


def test_no_label_without_the_cap(h: Harness) -> None:
    a = h.client("alice")
    a.send("@label=p PING :x")
    assert one(a.lines(), "PONG").tags == {}
    a.send("@label=q PONG :x")
    assert a.lines() == []


def test_label_with_special_characters_is_escaped(h: Harness) -> None:
    a = h.client("alice", caps=CAPS)
    a.send("@label=a\\sb\\:c\\\\ PING :x")
    assert one(a.lines(), "PONG").tags == {"label": "a b;c\\"}


def test_errors_are_labelled(h: Harness) -> None:
    a = h.client("alice", caps=CAPS)
    a.send("@label=x PRIVMSG nobody :hi")
    assert one(a.lines(), "401").tags == {"label": "x"}
    a.send("@label=y FROB")
    assert one(a.lines(), "421").tags == {"label": "y"}


def test_chathistory_labels_its_batch_and_its_failures(h: Harness) -> None:
    a = h.client("alice", caps=[*CAPS, "server-time", "draft/chathistory"])
    h.join("#room", a)
    a.send("PRIVMSG #room :one")
    a.send("@label=h CHATHISTORY LATEST #room * 10")
    got = a.lines()
    assert got[0].command == "BATCH"
    assert got[0].tags == {"label": "h"}
    assert got[0].params[1:] == ("chathistory", "#room")
    assert [m.params[-1] for m in only(got, "PRIVMSG")] == ["one"]
    a.send("@label=f CHATHISTORY LATEST #elsewhere * 10")
    assert one(a.lines(), "FAIL").tags == {"label": "f"}
    a.send("@label=g CHATHISTORY BEFORE #room bogus 10")
    assert one(a.lines(), "FAIL").tags == {"label": "g"}
