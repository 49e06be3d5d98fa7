"""Capability negotiation details beyond registration: LS versions, LIST, sticky caps."""

from __future__ import annotations

from core_helpers import Harness, one

from hubbub.core.caps import CAPABILITIES


def test_cap_ls_without_version_is_301(h: Harness) -> None:
    c = h.connect()
    c.send("CAP LS")
    ls = one(c.lines(), "CAP")
    assert ls.params[:2] == ("*", "LS")
    assert set(ls.params[-1].split()) == set(CAPABILITIES)
    assert "cap-notify" not in c.session.caps


def test_cap_ls_302_implies_cap_notify_which_sticks(h: Harness) -> None:
    c = h.client("alice", caps=["batch"])
    assert "cap-notify" in c.session.caps
    c.send("CAP REQ :-cap-notify")
    assert one(c.lines(), "CAP").params[1] == "NAK"
    assert "cap-notify" in c.session.caps


def test_cap_req_changes_the_tag_profile(h: Harness) -> None:
    a = h.client("alice")
    b = h.client("bob")
    h.join("#room", a, b)
    b.send("CAP REQ :server-time")
    b.drain()
    a.send("PRIVMSG #room :x")
    assert "time" in one(b.lines(), "PRIVMSG").tags
    b.send("CAP REQ :-server-time")
    b.drain()
    a.send("PRIVMSG #room :y")
    assert one(b.lines(), "PRIVMSG").tags == {}


def test_cap_ls_fits_the_line_limit(h: Harness) -> None:
    # FakeLink checks every line is at most 512 bytes; this also covers the 005 burst.
    c = h.connect()
    c.send("CAP LS 302")
    c.send("CAP LIST")
    subcommands = [m.params[1] for m in c.lines()]
    # CAP LS 302 may take several lines ("CAP * LS * :…" then the last one), each within 512.
    assert subcommands[-1] == "LIST" and set(subcommands[:-1]) == {"LS"}


def test_cap_req_before_nick_uses_star(h: Harness) -> None:
    c = h.connect()
    c.send("CAP REQ :batch")
    assert one(c.lines(), "CAP").params[:2] == ("*", "ACK")
    c.send("NICK alice")
    c.send("USER alice 0 * :A")
    assert c.lines() == []  # CAP REQ also holds registration
    c.send("CAP END")
    assert c.numerics()[0] == "001"
