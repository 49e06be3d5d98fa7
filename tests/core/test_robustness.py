"""Whatever a client sends, the core answers within the protocol and never raises."""

from __future__ import annotations

import pytest
from core_helpers import Harness, make_config, one, only

from hubbub.core.model import Phase

MALFORMED = [
    "",
    " ",
    "\r\n",
    "@",
    "@a=b",
    "@a=b ",
    ":",
    ":source",
    ":source ",
    "@a :source",
    "PRIVMSG\0 #a :x",
    "PRIVMSG #a :x\0y",
    "\0",
    "12",
    "1234",
    "PRIV-MSG x",
    "ÄÖÜ x",
    ":: ::",
    "PRIVMSG #a :\r\nQUIT",
]


@pytest.mark.parametrize("line", MALFORMED)
def test_malformed_lines_are_dropped(h: Harness, line: str) -> None:
    registered = h.client("alice")
    h.join("#a", registered)
    fresh = h.connect()
    for c in (registered, fresh):
        c.send(line)
        assert c.lines() == []
        assert not c.link.closed


def test_line_too_long(h: Harness) -> None:
    fresh = h.connect()
    h.server.line_too_long(fresh.session)
    assert one(fresh.lines(), "417").params[0] == "*"
    a = h.client("alice")
    h.server.line_too_long(a.session)
    assert one(a.lines(), "417").params[0] == "alice"
    assert not a.link.closed


def test_invalid_utf8(h: Harness) -> None:
    a = h.client("alice")
    h.server.invalid_utf8(a.session)
    fail = one(a.lines(), "FAIL")
    assert fail.params[:2] == ("*", "INVALID_UTF8")


def test_disconnect_is_idempotent(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a, b)
    h.server.disconnect(a.session, "Connection reset by peer", h.now)
    h.server.disconnect(a.session, "again", h.now)  # FakeLink refuses a second close
    assert one(b.lines(), "QUIT").params == ("Connection reset by peer",)
    assert a.session.phase is Phase.CLOSED
    assert a.link.closed
    assert h.server.find_user("alice") is None
    # After the end, lines and events for the connection are ignored.
    a.send("PRIVMSG #room :ghost")
    a.send("JOIN #other")
    h.server.line_too_long(a.session)
    h.server.invalid_utf8(a.session)
    assert b.lines() == []
    assert "#other" not in h.server.channels


def test_lines_after_quit_are_ignored(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    a.send("QUIT")
    a.send("PRIVMSG bob :too late")  # FakeLink refuses writes after close
    h.server.disconnect(a.session, "closed", h.now)
    assert b.lines() == []


def test_shutdown_tells_everyone_and_closes(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    fresh = h.connect()
    h.join("#room", a, b)
    h.server.shutdown("Server shutting down")
    for c in (a, b, fresh):
        (error,) = c.lines()
        assert error.command == "ERROR"
        assert error.params == ("Server shutting down",)
        assert c.link.closed
        assert c.session.closed
    assert h.server.sessions == set()
    assert h.server.users == {}
    assert h.server.channels == {}
    a.send("PRIVMSG bob :after")
    h.server.disconnect(b.session, "gone", h.now)


LONG_HOST = "2001:db8:85a3:1234:5678:8a2e:370:7334"


def test_long_reasons_never_make_over_long_lines() -> None:
    """Free text in QUIT, PART, KICK, TOPIC and AWAY, relayed with a long prefix and a long
    channel name, still fits 512 bytes (FakeLink checks every line)."""
    h = Harness(make_config(history={"store_events": True}))
    nick = "n" * 30
    chan = "#" + "c" * 63
    a = h.connect(host=LONG_HOST)
    a.send(f"NICK {nick}")
    a.send(f"USER {'u' * 20} 0 * :x")
    b = h.client("bob", caps=["away-notify", "batch", "server-time", "draft/event-playback"])
    h.join(chan, a, b)
    a.send(f"MODE {chan} +o bob")
    text = "é" * 240  # 480 bytes: as long as a client line can carry
    a.send(f"TOPIC {chan} :{text}")
    a.send(f"AWAY :{text}")
    b.send(f"TOPIC {chan}")
    b.send(f"KICK {chan} {nick} :{text}")
    a.send(f"JOIN {chan}")
    a.send(f"PART {chan} :{text}")
    a.send(f"JOIN {chan}")
    a.send(f"QUIT :{text}")
    got = b.lines()
    assert {"TOPIC", "AWAY", "332", "KICK", "PART", "QUIT"} <= {m.command for m in got}
    assert all(m.params[-1].strip("é") in ("", "Quit: ") for m in only(got, "QUIT"))
    c = h.client("carol", caps=["batch", "server-time", "draft/event-playback"])
    c.send(f"JOIN {chan}")  # the stored events are replayed within the limit too
    assert len(c.lines()) > 3
