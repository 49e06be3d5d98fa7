"""`ClientState` and the modern IRCv3 features: read markers, multiline, edits, typing, away and
bot marks — each used only when the server offers it. Pure: parsed lines in, lines out."""

from __future__ import annotations

from hubbub.client import commands as cmd
from hubbub.client.complete import Completion, complete
from hubbub.client.format import plain_line
from hubbub.client.model import BuffersChanged, Event, Kind, Line, LinesChanged, TypingChanged
from hubbub.client.state import MODERN_CAPS, WANTED_CAPS, ClientState
from hubbub.protocol import parse

NOW = 1_800_000_000_000
ME = "alice!~alice@127.0.0.1"
T1, T2, T3 = "2027-01-15T08:00:00.000Z", "2027-01-15T08:01:00.000Z", "2027-01-15T08:02:00.000Z"
BASIC = "batch server-time message-tags echo-message draft/chathistory multi-prefix away-notify"
MODERN = BASIC + " draft/read-marker draft/multiline=max-bytes=4096,max-lines=5 draft/message-edit"


def feed(state: ClientState, *lines: str, now: int = NOW) -> list[Event]:
    events: list[Event] = []
    for line in lines:
        events += state.receive(parse(line), now)
    return events


def joined(offered: str = MODERN, rooms: tuple[str, ...] = ("#lobby",)) -> ClientState:
    """Registered and in the rooms; the server offers `offered` and the client took what it
    wants of it (as a real server's ACK would say)."""
    state = ClientState("alice", rooms)
    state.connected(NOW)
    feed(state, f":srv CAP * LS :{offered}")
    requested = next(ln for ln in state.take_outgoing() if ln.startswith("CAP REQ"))
    feed(
        state,
        f":srv CAP alice ACK :{requested.partition(':')[2]}",
        ":srv 001 alice :Welcome",
        ":srv 005 alice CASEMAPPING=rfc1459 PREFIX=(ov)@+ CHANTYPES=# BOT=B :ok",
    )
    for room in rooms:
        feed(
            state,
            f":{ME} JOIN {room}",
            f":srv 353 alice = {room} :@alice +bob carol",
            f":srv 366 alice {room} :End",
        )
    state.take_outgoing()
    return state


def msg(nick: str, text: str, msgid: str, time: str = T1, target: str = "#lobby") -> str:
    return f"@time={time};msgid={msgid} :{nick}!~{nick}@h PRIVMSG {target} :{text}"


# -- capabilities ---------------------------------------------------------------------------


def test_the_modern_capabilities_are_requested_only_when_offered() -> None:
    state = ClientState("alice", ["#lobby"])
    state.connected(NOW)
    state.take_outgoing()
    feed(state, f":srv CAP * LS :{MODERN}")
    (request,) = [ln for ln in state.take_outgoing() if ln.startswith("CAP REQ")]
    for cap in ("draft/read-marker", "draft/multiline", "draft/message-edit"):
        assert cap in request.split(":")[1].split()
    assert state.cap_values["draft/multiline"] == "max-bytes=4096,max-lines=5"
    old = ClientState("alice", ["#lobby"])
    old.connected(NOW)
    old.take_outgoing()
    feed(old, f":srv CAP * LS :{BASIC}")
    (request,) = [ln for ln in old.take_outgoing() if ln.startswith("CAP REQ")]
    assert "draft/" not in request.replace("draft/chathistory", "")


def test_a_client_wanting_no_modern_capabilities_asks_for_none() -> None:
    # The switch the UI tests use for "a server without them": the client requests none.
    basic = tuple(c for c in WANTED_CAPS if c not in MODERN_CAPS)
    state = ClientState("alice", ["#lobby"], wanted_caps=basic)
    state.connected(NOW)
    state.take_outgoing()
    feed(state, f":srv CAP * LS :{MODERN}")
    (request,) = [ln for ln in state.take_outgoing() if ln.startswith("CAP REQ")]
    assert "read-marker" not in request and "multiline" not in request
    assert "message-edit" not in request


# -- read markers ---------------------------------------------------------------------------


def test_viewing_a_room_sends_markread_for_its_newest_message_once() -> None:
    state = joined(rooms=("#lobby", "#dev"))
    state.switch("#dev")
    state.take_outgoing()
    feed(state, msg("bob", "one", "m1", T1), msg("bob", "two", "m2", T2))
    assert state.take_outgoing() == []  # not looking at #lobby
    assert state.buffers["#lobby"].unread == 2
    state.switch("#lobby")
    assert state.take_outgoing() == [f"MARKREAD #lobby timestamp={T2}"]
    state.switch("#dev")
    state.switch("#lobby")
    assert state.take_outgoing() == []  # the marker is already there
    # Lines arriving in the window being looked at are read at the next tick, together.
    feed(state, msg("bob", "three", "m3", T3), msg("bob", "four", "m4", T3))
    assert state.take_outgoing() == []
    state.tick(NOW)
    assert state.take_outgoing() == [f"MARKREAD #lobby timestamp={T3}"]
    state.tick(NOW + 1000)
    assert state.take_outgoing() == []


def test_markread_from_another_device_lowers_the_unread_counts() -> None:
    state = joined(rooms=("#lobby", "#dev"))
    state.switch("#dev")
    feed(
        state,
        msg("bob", "one", "m1", T1),
        msg("bob", "alice: two", "m2", T2),
        msg("bob", "three", "m3", T3),
    )
    lobby = state.buffers["#lobby"]
    assert (lobby.unread, lobby.mentions) == (3, 1)
    events = feed(state, f":srv MARKREAD #lobby timestamp={T2}")
    assert (lobby.unread, lobby.mentions) == (1, 0)
    assert any(isinstance(e, BuffersChanged) for e in events)
    # Markers never go back.
    feed(state, f":srv MARKREAD #lobby timestamp={T1}")
    assert lobby.unread == 1
    feed(state, f":srv MARKREAD #lobby timestamp={T3}")
    assert lobby.unread == 0


def test_markers_need_an_account_and_the_refusal_is_quiet_until_login() -> None:
    state = joined(rooms=("#lobby", "#dev"))
    feed(state, msg("bob", "one", "m1", T1))
    state.switch("#dev")
    state.take_outgoing()
    events = feed(
        state,
        ":srv FAIL MARKREAD ACCOUNT_REQUIRED #lobby :You must be logged in to use read markers",
    )
    assert events == []  # no error line for a convenience
    feed(state, msg("bob", "two", "m2", T2))
    state.switch("#lobby")
    assert state.take_outgoing() == []  # not asked again
    feed(state, ":srv 900 alice alice!~alice@h alice :You are now logged in as alice")
    assert state.take_outgoing() == [
        "MARKREAD #lobby",  # what the account read elsewhere
        "MARKREAD #dev",
        f"MARKREAD #lobby timestamp={T2}",
    ]


def test_history_after_the_marker_counts_as_unread() -> None:
    state = joined(rooms=("#lobby", "#dev"))
    state.switch("#dev")
    # The server's marker for #lobby (on JOIN, or asked for), then the join's history.
    feed(
        state,
        f":srv MARKREAD #lobby timestamp={T1}",
        ":srv BATCH +h chathistory #lobby",
        f"@batch=h;time={T1};msgid=a :bob!~bob@h PRIVMSG #lobby :read on the phone",
        f"@batch=h;time={T2};msgid=b :bob!~bob@h PRIVMSG #lobby :alice: not yet",
        f"@batch=h;time={T3};msgid=c :alice!~alice@h PRIVMSG #lobby :my own",
        ":srv BATCH -h",
    )
    lobby = state.buffers["#lobby"]
    assert (lobby.unread, lobby.mentions) == (1, 1)
    # Without a marker (never read anywhere), history is not unread.
    feed(
        state,
        ":srv BATCH +h2 chathistory #dev",
        f"@batch=h2;time={T1};msgid=d :bob!~bob@h PRIVMSG #dev :old",
        ":srv BATCH -h2",
    )
    state.switch("#lobby")
    assert state.buffers["#dev"].unread == 0


def test_no_markread_without_the_capability() -> None:
    state = joined(BASIC, rooms=("#lobby", "#dev"))
    state.switch("#dev")
    feed(state, msg("bob", "one", "m1", T1))
    state.switch("#lobby")
    assert not any(ln.startswith("MARKREAD") for ln in state.take_outgoing())


# -- multiline ------------------------------------------------------------------------------


def test_a_received_multiline_batch_is_one_message() -> None:
    state = joined()
    feed(
        state,
        f"@time={T1};msgid=ml1 :bob!~bob@h BATCH +b1 draft/multiline #lobby",
        "@batch=b1 :bob!~bob@h PRIVMSG #lobby :first line",
        "@batch=b1 :bob!~bob@h PRIVMSG #lobby :second ",
        "@batch=b1;draft/multiline-concat :bob!~bob@h PRIVMSG #lobby :line, joined",
        "@batch=b1 :bob!~bob@h PRIVMSG #lobby :",
        "@batch=b1 :bob!~bob@h PRIVMSG #lobby :after a blank",
        ":bob!~bob@h BATCH -b1",
    )
    (line,) = [ln for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert line.text == "first line\nsecond line, joined\n\nafter a blank"
    assert (line.nick, line.msgid) == ("bob", "ml1")


def test_a_multiline_message_in_history_is_one_message() -> None:
    state = joined()
    feed(
        state,
        ":srv BATCH +h chathistory #lobby",
        f"@batch=h;time={T1};msgid=a :bob!~bob@h PRIVMSG #lobby :before",
        f"@batch=h;time={T2};msgid=ml :bob!~bob@h BATCH +m draft/multiline #lobby",
        "@batch=m :bob!~bob@h PRIVMSG #lobby :one",
        "@batch=m :bob!~bob@h PRIVMSG #lobby :two",
        "@batch=h :bob!~bob@h BATCH -m",
        ":srv BATCH -h",
    )
    lines = [ln for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert [(ln.text, ln.history) for ln in lines] == [("before", True), ("one\ntwo", True)]


def test_a_multiline_message_is_sent_as_a_batch_within_the_limits() -> None:
    state = joined()
    state.perform(cmd.Say("first\n\nthird"), NOW)
    assert state.take_outgoing() == [
        "BATCH +hubbub1 draft/multiline #lobby",
        "@batch=hubbub1 PRIVMSG #lobby first",
        "@batch=hubbub1 PRIVMSG #lobby :",
        "@batch=hubbub1 PRIVMSG #lobby third",
        "BATCH -hubbub1",
    ]
    # A long line is cut into pieces joined again with draft/multiline-concat.
    state.perform(cmd.Say("short\n" + "x" * 600), NOW)
    sent = state.take_outgoing()
    assert sent[0] == "BATCH +hubbub2 draft/multiline #lobby"
    assert sum("draft/multiline-concat" in ln for ln in sent) == 1
    joined_text = "".join(parse(ln).params[-1] for ln in sent[2:-1])
    assert joined_text == "x" * 600
    # Cut at a space, the space stays, so the pieces join back to the very text.
    words = " ".join(f"word{n}" for n in range(150))
    state.perform(cmd.Say(f"{words}\nend"), NOW)
    sent = [parse(ln) for ln in state.take_outgoing()[1:-1]]
    assert len(sent) > 3 and all(
        len(f":{ME} PRIVMSG #lobby :{m.params[-1]}\r\n".encode()) <= 512 for m in sent
    )
    assert "".join(m.params[-1] for m in sent[:-1]) == words
    assert sent[-1].params[-1] == "end" and "draft/multiline-concat" not in sent[-1].tags


def test_past_the_advertised_limits_or_without_the_capability_lines_go_separately() -> None:
    state = joined()  # max-lines=5
    state.perform(cmd.Say("1\n2\n3\n4\n5\n6"), NOW)
    assert state.take_outgoing() == [f"PRIVMSG #lobby {n}" for n in range(1, 7)]
    old = joined(BASIC)
    old.perform(cmd.Say("one\n\ntwo"), NOW)
    assert old.take_outgoing() == ["PRIVMSG #lobby one", "PRIVMSG #lobby two"]


# -- edits ----------------------------------------------------------------------------------


def test_edit_sends_edit_for_our_last_message_here() -> None:
    state = joined()
    feed(state, msg("alice", "teh first", "own1"), msg("bob", "hi", "b1"))
    assert state.last_own("#lobby") is not None
    state.take_outgoing()
    state.perform(cmd.parse_input("/edit the first") or cmd.Error(""), NOW)
    assert state.take_outgoing() == [
        r"@draft/target-msgid=own1;draft/edit-text=the\sfirst EDIT #lobby"
    ]


def test_edit_is_refused_clearly_without_the_capability_or_a_message() -> None:
    state = joined()
    events = state.perform(cmd.Edit("nothing yet"), NOW)
    assert state.take_outgoing() == []
    assert "no message of yours to edit here" in state.buffers["#lobby"].lines[-1].text
    old = joined(BASIC)
    feed(old, msg("alice", "mine", "own1"))
    old.perform(cmd.Edit("changed"), NOW)
    assert old.take_outgoing() == []
    assert "does not offer message editing" in old.buffers["#lobby"].lines[-1].text
    assert events


def test_a_received_edit_changes_the_line_and_marks_it_edited() -> None:
    state = joined()
    feed(state, msg("bob", "helo", "b1"), msg("bob", "second", "b2"))
    events = feed(
        state,
        "@msgid=e1;draft/target-msgid=b1;draft/edit-text=hello\\salice :bob!~bob@h EDIT #lobby",
    )
    lines = [ln for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert [(ln.text, ln.edited) for ln in lines] == [("hello alice", True), ("second", False)]
    assert lines[0].mention
    assert LinesChanged("#lobby", lines[0]) in events


def test_history_with_the_edited_tag_is_marked_edited() -> None:
    state = joined()
    feed(
        state,
        ":srv BATCH +h chathistory #lobby",
        f"@batch=h;time={T1};msgid=a;hubbub/edited={T2} :bob!~bob@h PRIVMSG #lobby :fixed",
        ":srv BATCH -h",
    )
    (line,) = [ln for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert line.edited and line.text == "fixed"


# -- typing ---------------------------------------------------------------------------------


def test_typing_is_sent_throttled_then_paused_then_done() -> None:
    state = joined()
    state.composing("h", NOW)
    assert state.take_outgoing() == ["@+typing=active TAGMSG #lobby"]
    state.composing("he", NOW + 1000)
    state.composing("hel", NOW + 2999)
    assert state.take_outgoing() == []  # at most every 3 seconds
    state.composing("hell", NOW + 3000)
    assert state.take_outgoing() == ["@+typing=active TAGMSG #lobby"]
    state.tick(NOW + 7999)
    assert state.take_outgoing() == []
    state.tick(NOW + 8000)  # 5 s without a key
    assert state.take_outgoing() == ["@+typing=paused TAGMSG #lobby"]
    state.composing("", NOW + 9000)  # the input was cleared without sending
    assert state.take_outgoing() == ["@+typing=done TAGMSG #lobby"]
    state.composing("/join #x", NOW + 9500)  # commands are not typing
    assert state.take_outgoing() == []
    # Sending the message implies done: nothing more is sent.
    state.composing("hi", NOW + 10000)
    state.take_outgoing()
    state.perform(cmd.Say("hi"), NOW + 10100)
    state.composing("", NOW + 10100)
    assert state.take_outgoing() == ["PRIVMSG #lobby hi"]


def test_switching_windows_while_typing_says_done_where_we_left() -> None:
    state = joined(rooms=("#lobby", "#dev"))
    state.composing("half", NOW)
    state.switch("#dev")
    assert state.take_outgoing() == [
        "@+typing=active TAGMSG #lobby",
        "@+typing=done TAGMSG #lobby",
    ]
    state.composing("half a", NOW + 100)
    assert state.take_outgoing() == ["@+typing=active TAGMSG #dev"]


def test_no_typing_without_message_tags() -> None:
    state = joined("batch server-time echo-message")
    state.composing("hello", NOW)
    assert state.take_outgoing() == []


def test_received_typing_is_shown_until_done_a_message_or_it_expires() -> None:
    state = joined()
    events = feed(state, "@+typing=active :bob!~bob@h TAGMSG #lobby")
    assert TypingChanged("#lobby") in events
    assert state.typing_nicks("#lobby") == ["bob"]
    feed(state, msg("bob", "done typing", "b1"))
    assert state.typing_nicks("#lobby") == []
    feed(state, "@+typing=active :carol!~carol@h TAGMSG #lobby")
    feed(state, "@+typing=done :carol!~carol@h TAGMSG #lobby")
    assert state.typing_nicks("#lobby") == []
    feed(state, "@+typing=active :carol!~carol@h TAGMSG #lobby")
    assert state.tick(NOW + 5999) == []
    assert state.tick(NOW + 6000) == [TypingChanged("#lobby")]
    assert state.typing_nicks("#lobby") == []
    # Our own notices (echo-message) are not shown.
    feed(state, "@+typing=active :alice!~alice@h TAGMSG #lobby")
    assert state.typing_nicks("#lobby") == []


# -- away and bots --------------------------------------------------------------------------


def test_who_after_join_marks_away_members_and_bots_quietly() -> None:
    state = ClientState("alice", ["#lobby"])
    state.connected(NOW)
    feed(state, f":srv CAP * LS :{MODERN}", f":srv CAP alice ACK :{BASIC}", ":srv 001 alice :Hi")
    feed(state, ":srv 005 alice BOT=B PREFIX=(ov)@+ :ok")
    state.take_outgoing()
    feed(state, f":{ME} JOIN #lobby")
    assert "WHO #lobby" in state.take_outgoing()
    feed(
        state,
        ":srv 353 alice = #lobby :@alice bob helper",
        ":srv 366 alice #lobby :End",
        ":srv 352 alice #lobby ~bob h srv bob G :0 Bob",
        ":srv 352 alice #lobby ~helper h srv helper HB :0 Helper",
        ":srv 352 alice #lobby ~alice h srv alice H@ :0 Alice",
        ":srv 315 alice #lobby :End of WHO",
    )
    members = state.buffers["#lobby"].members
    assert (members["bob"].away, members["bob"].bot) == (True, False)
    assert (members["helper"].away, members["helper"].bot) == (False, True)
    assert not any("End of WHO" in ln.text for ln in state.buffers["*"].lines)
    # away-notify brings them back; the bot tag marks a bot too.
    feed(state, ":bob!~bob@h AWAY")
    assert not members["bob"].away
    feed(state, f"@bot;time={T1};msgid=x :bob!~bob@h PRIVMSG #lobby :beep")
    assert members["bob"].bot


# -- nick completion ------------------------------------------------------------------------


NAMES = ["bob", "Bobby", "carol", "alice"]


def test_tab_at_the_start_of_the_line_completes_a_nick_with_a_colon() -> None:
    done = complete("bo", 2, NAMES, None)
    assert done is not None
    assert (done.value, done.cursor) == ("bob: ", 5)
    again = complete(done.value, done.cursor, NAMES, done)
    assert again is not None and (again.value, again.cursor) == ("Bobby: ", 7)
    wrapped = complete(again.value, again.cursor, NAMES, again)
    assert wrapped is not None and wrapped.value == "bob: "


def test_tab_in_the_middle_completes_with_a_space_and_keeps_the_rest() -> None:
    done = complete("hi car and more", 6, NAMES, None)
    assert done is not None
    assert (done.value, done.cursor) == ("hi carol and more", 8)
    assert complete("hi zed", 6, NAMES, None) is None
    assert complete("hi ", 3, NAMES, None) is None


def test_typing_after_a_completion_starts_a_new_one() -> None:
    done = complete("c", 1, NAMES, None)
    assert isinstance(done, Completion) and done.value == "carol: "
    fresh = complete("carol: b", 8, NAMES, done)
    assert fresh is not None and fresh.value == "carol: bob "


# -- how they read in --plain ---------------------------------------------------------------


def test_plain_lines_indent_continuations_and_mark_edits() -> None:
    line = Line(NOW, Kind.MESSAGE, "first\nsecond", "bob", edited=True)
    shown = plain_line(line, NOW)
    assert shown.endswith("<bob> first\n    second (edited)")
