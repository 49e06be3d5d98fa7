"""The input parser, text splitting, plain-line formatting and backoff: pure functions."""

from __future__ import annotations

import time
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.client import commands as cmd
from hubbub.client.connection import Backoff
from hubbub.client.format import NICK_COLOURS, clock, nick_colour, plain_line
from hubbub.client.model import Kind, Line


@pytest.mark.parametrize(
    ("typed", "action"),
    [
        ("hello", cmd.Say("hello")),
        ("//not a command", cmd.Say("/not a command")),
        ("/join #a,#b", cmd.Join(("#a", "#b"))),
        ("/j lobby key", cmd.Join(("lobby",), ("key",))),
        ("/part", cmd.Part(None, "")),
        ("/part #a see you", cmd.Part("#a", "see you")),
        ("/part see you", cmd.Part(None, "see you")),
        ("/msg bob hi there", cmd.Say("hi there", "bob")),
        ("/me waves", cmd.Say("waves", action=True)),
        ("/nick al", cmd.Nick("al")),
        ("/topic", cmd.Topic(None, None)),
        ("/topic new one", cmd.Topic(None, "new one")),
        ("/topic #a new", cmd.Topic("#a", "new")),
        ("/names", cmd.Names(None)),
        ("/away lunch", cmd.Away("lunch")),
        ("/away", cmd.Away("")),
        ("/query bob", cmd.Query("bob")),
        ("/query bob hi", cmd.Query("bob", "hi")),
        ("/history", cmd.History(50)),
        ("/history 10", cmd.History(10)),
        ("/quit", cmd.Quit("")),
        ("/QUIT bye now", cmd.Quit("bye now")),
        ("/help", cmd.Help("")),
        ("/edit the fixed text", cmd.Edit("the fixed text")),
        ("/help /join", cmd.Help("join")),
        ("/quote WHOIS bob", cmd.Raw("WHOIS bob")),
    ],
)
def test_parse_input(typed: str, action: cmd.Action) -> None:
    assert cmd.parse_input(typed) == action


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("/frob", "unknown command /frob (/help lists the commands)"),
        ("/join", "usage: /join #room[,#room…] [key]"),
        ("/msg bob", "usage: /msg NICK|#room TEXT"),
        ("/me", "usage: /me TEXT"),
        ("/edit  ", "usage: /edit TEXT"),
        ("/nick a b", "usage: /nick NEWNICK"),
        ("/query", "usage: /query NICK [TEXT]"),
        ("/history lots", "/history takes a number of messages from 1 to 1000"),
        ("/history 0", "/history takes a number of messages from 1 to 1000"),
    ],
)
def test_bad_input_gets_a_clear_message(typed: str, message: str) -> None:
    assert cmd.parse_input(typed) == cmd.Error(message)


def test_blank_input_does_nothing() -> None:
    assert cmd.parse_input("   ") is None


def test_help_lists_every_command() -> None:
    text = "\n".join(cmd.help_lines())
    for name in (
        "join",
        "part",
        "msg",
        "me",
        "nick",
        "topic",
        "names",
        "away",
        "query",
        "quit",
        "help",
        "history",
        "edit",
    ):
        assert f"/{name} " in text
    assert "Tab completes a nick" in text and "Ctrl+J" in text
    assert cmd.help_lines("j") == [cmd.help_lines("join")[0]]
    assert "no command /zz" in cmd.help_lines("zz")[0]


def test_split_text_prefers_spaces_and_never_cuts_a_character() -> None:
    assert cmd.split_text("short", 100) == ["short"]
    assert cmd.split_text("aaaa bbbb cccc", 10) == ["aaaa bbbb", "cccc"]
    pieces = cmd.split_text("é" * 30, 11)  # 2 bytes each: 5 fit
    assert pieces == ["é" * 5] * 6


@given(st.text(min_size=1, max_size=600), st.integers(min_value=8, max_value=120))
def test_split_text_keeps_everything_within_the_budget(text: str, budget: int) -> None:
    pieces = cmd.split_text(text, budget)
    assert all(len(p.encode()) <= budget for p in pieces)
    # Nothing is lost but the spaces the text was cut at.
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert len(" ".join(pieces)) <= len(text) + len(pieces)


def test_plain_line_forms() -> None:
    now = int(time.time() * 1000)
    hhmm = time.strftime("%H:%M", time.localtime(now / 1000))
    assert plain_line(Line(now, Kind.MESSAGE, "hi", "bob"), now) == f"[{hhmm}] <bob> hi"
    assert plain_line(Line(now, Kind.ACTION, "waves", "bob"), now) == f"[{hhmm}] * bob waves"
    assert (
        plain_line(Line(now, Kind.JOIN, "bob joined #lobby", "bob"), now)
        == f"[{hhmm}] -- bob joined #lobby"
    )
    assert (
        plain_line(Line(now, Kind.MESSAGE, "hi", "bob"), now, "#other")
        == f"[{hhmm}] #other <bob> hi"
    )
    assert (
        plain_line(Line(now, Kind.SEPARATOR, "history: 2 messages"), now)
        == "-- history: 2 messages --"
    )


def test_clock_shows_the_date_for_other_days() -> None:
    now = int(time.time() * 1000)
    assert len(clock(now, now)) == 5
    assert len(clock(now - 3 * 86_400_000, now)) == len("2027-01-01 10:00")


def test_nick_colours_are_stable() -> None:
    assert nick_colour("bob") == nick_colour("bob")
    assert {nick_colour(n) for n in ("alice", "bob", "carol", "dave", "erin", "frank")} <= set(
        NICK_COLOURS
    )
    assert nick_colour("bob") == NICK_COLOURS[zlib.crc32(b"bob") % len(NICK_COLOURS)]


def test_backoff_grows_is_capped_and_jittered() -> None:
    low = Backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    high = Backoff(base=1.0, cap=8.0, rng=lambda: 1.0)
    assert [high.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    high.reset()
    assert high.next_delay() == 1.0
