"""`ClientState` alone: parsed lines in, events and queued IRC lines out. No sockets."""

from __future__ import annotations

import pytest

from hubbub.client import commands as cmd
from hubbub.client.model import (
    BuffersChanged,
    Disconnected,
    Event,
    Fatal,
    Joined,
    Kind,
    LinesAdded,
    MembersChanged,
    Registered,
    SwitchTo,
)
from hubbub.client.state import SERVER, ClientState
from hubbub.protocol import parse

NOW = 1_800_000_000_000
ME = "alice!~alice@127.0.0.1"
T1, T2, T3 = "2027-01-15T08:00:00.000Z", "2027-01-15T08:01:00.000Z", "2027-01-15T08:02:00.000Z"


def feed(state: ClientState, *lines: str) -> list[Event]:
    events: list[Event] = []
    for line in lines:
        events += state.receive(parse(line), NOW)
    return events


def registered(
    caps: str = "batch server-time message-tags echo-message draft/chathistory multi-prefix",
    rooms: tuple[str, ...] = ("#lobby",),
) -> ClientState:
    state = ClientState("alice", rooms)
    state.connected(NOW)
    state.take_outgoing()
    feed(
        state,
        f":srv CAP * LS :{caps} setname",
        f":srv CAP alice ACK :{caps}",
        ":srv 001 alice :Welcome",
        ":srv 005 alice CASEMAPPING=rfc1459 PREFIX=(ov)@+ CHANTYPES=# CHATHISTORY=100 :ok",
    )
    state.take_outgoing()
    return state


def joined(
    caps: str = "batch server-time message-tags echo-message draft/chathistory multi-prefix",
) -> ClientState:
    state = registered(caps)
    feed(
        state,
        f":{ME} JOIN #lobby",
        ":srv 353 alice = #lobby :@alice +bob carol",
        ":srv 366 alice #lobby :End",
    )
    state.take_outgoing()
    return state


def msg(
    nick: str, text: str, msgid: str, time: str = T1, target: str = "#lobby", batch: str = ""
) -> str:
    tags = f"time={time};msgid={msgid}" + (f";batch={batch}" if batch else "")
    return f"@{tags} :{nick}!~{nick}@h PRIVMSG {target} :{text}"


def added(events: list[Event], key: str = "#lobby") -> list[str]:
    return [
        ln.text for e in events if isinstance(e, LinesAdded) and e.buffer == key for ln in e.lines
    ]


# -- registration -------------------------------------------------------------------------------


def test_registration_requests_only_offered_caps_then_ends() -> None:
    state = ClientState("alice", ["lobby"], password="sesame")
    assert state.connected(NOW) == []
    assert state.take_outgoing() == [
        "PASS sesame",
        "CAP LS 302",
        "NICK alice",
        "USER alice 0 * :hubbub chat",
    ]
    feed(state, ":srv CAP * LS * :batch server-time sasl=PLAIN", ":srv CAP * LS :echo-message")
    assert state.take_outgoing() == ["CAP REQ :batch server-time echo-message"]
    feed(state, ":srv CAP * ACK :batch server-time echo-message")
    assert state.take_outgoing() == ["CAP END"]
    assert state.caps == {"batch", "server-time", "echo-message"}
    events = feed(state, ":srv 001 alice :Welcome")
    assert Registered("alice") in events
    assert state.take_outgoing() == ["JOIN #lobby"]  # "lobby" became a channel name


def test_a_server_without_capabilities_still_works() -> None:
    state = ClientState("alice", ["#lobby"])
    state.connected(NOW)
    state.take_outgoing()
    feed(state, ":old 421 * CAP :Unknown command")
    assert state.take_outgoing() == ["CAP END"]
    feed(state, ":old 001 alice :hi", f":{ME} JOIN #lobby")
    assert state.take_outgoing() == ["JOIN #lobby"]  # and no CHATHISTORY request
    assert not state.history_supported


def test_nick_in_use_while_registering_tries_underscores_and_says_so() -> None:
    state = ClientState("alice")
    state.connected(NOW)
    state.take_outgoing()
    events = feed(state, ":srv 433 * alice :Nickname is already in use")
    assert state.take_outgoing() == ["NICK alice_"]
    assert "the nick alice is in use; trying alice_" in added(events, SERVER)
    feed(state, ":srv 433 * alice_ :Nickname is already in use")
    assert state.take_outgoing() == ["NICK alice__"]
    events = feed(state, *[":srv 433 * x :in use"] * 5)
    assert any(isinstance(e, Fatal) for e in events)


def test_nick_in_use_after_registration_is_an_error_only() -> None:
    state = registered()
    events = feed(state, ":srv 433 alice bob :Nickname is already in use")
    assert added(events) == ["the nick bob is already in use"]  # in the active window
    assert state.take_outgoing() == []
    assert state.nick == "alice"


def test_ping_is_answered() -> None:
    state = registered()
    feed(state, "PING :abc")
    assert state.take_outgoing() == ["PONG abc"]


def test_bad_password_is_fatal() -> None:
    state = ClientState("alice")
    state.connected(NOW)
    assert any(isinstance(e, Fatal) for e in feed(state, ":srv 464 * :Password incorrect"))


# -- history, dedupe, reconnect -------------------------------------------------------------------


def test_own_join_asks_for_latest_history_which_is_marked_as_history() -> None:
    state = registered()
    events = feed(state, f"@time={T3} :{ME} JOIN #lobby")
    assert Joined("#lobby") in events
    assert state.take_outgoing() == ["CHATHISTORY LATEST #lobby * 50"]
    events = feed(
        state,
        ":srv BATCH +h1 chathistory #lobby",
        msg("bob", "one", "m1", T1, batch="h1"),
        msg("bob", "\x01ACTION waves\x01", "m2", T2, batch="h1"),
        ":srv BATCH -h1",
    )
    lines = state.buffers["#lobby"].lines
    assert [(ln.kind, ln.text) for ln in lines] == [
        (Kind.SEPARATOR, "history: 2 messages"),
        (Kind.MESSAGE, "one"),
        (Kind.ACTION, "waves"),
        (Kind.JOIN, "you joined #lobby"),
    ]
    assert all(ln.history for ln in lines[:3]) and not lines[3].history
    assert lines[1].time_ms < lines[2].time_ms < lines[3].time_ms  # original times
    # inserted before the join line: the front end must redraw
    (insert,) = [e for e in events if isinstance(e, LinesAdded)]
    assert not insert.appended
    assert state.buffers["#lobby"].unread == 0


def test_a_line_seen_live_is_not_shown_again_from_history() -> None:
    state = joined()
    feed(state, msg("bob", "live", "m9", T2))
    events = feed(
        state,
        ":srv BATCH +h chathistory #lobby",
        msg("bob", "older", "m8", T1, batch="h"),
        msg("bob", "live", "m9", T2, batch="h"),
        ":srv BATCH -h",
    )
    assert added(events) == ["history: 1 message", "older"]
    assert [ln.text for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE] == [
        "older",
        "live",
    ]


def test_reconnect_rejoins_fetches_after_last_msgid_and_drops_duplicates() -> None:
    state = joined()
    feed(state, msg("bob", "one", "m1", T1), msg("bob", "two", "m2", T2))
    events = state.disconnected("the server closed the connection", NOW)
    assert Disconnected("the server closed the connection") in events
    assert not state.buffers["#lobby"].joined and state.buffers["#lobby"].members == {}
    assert state.buffers["#lobby"].wanted

    state.connected(NOW)
    state.take_outgoing()
    feed(state, ":srv CAP * LS :batch server-time message-tags echo-message draft/chathistory")
    feed(state, ":srv CAP alice ACK :batch server-time message-tags echo-message draft/chathistory")
    feed(state, ":srv 001 alice :Welcome back")
    assert state.take_outgoing()[-1] == "JOIN #lobby"
    feed(state, f":{ME} JOIN #lobby")
    assert state.take_outgoing() == ["CHATHISTORY AFTER #lobby msgid=m2 100"]
    events = feed(
        state,
        ":srv BATCH +r chathistory #lobby",
        msg("bob", "two", "m2", T2, batch="r"),  # the server may include the reference
        msg("carol", "missed", "m3", T3, batch="r"),
        ":srv BATCH -r",
        msg("carol", "missed", "m3", T3),  # and a stray duplicate live
    )
    texts = [ln.text for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert texts == ["one", "two", "missed"]
    assert "missed while disconnected: 1 message" in added(events)
    assert state.buffers["#lobby"].last_msgid == "m3"


def _rejoined_after(state: ClientState) -> list[str]:
    """Reconnect and re-join #lobby: the lines the state sends on its JOIN."""
    state.disconnected("gone", NOW)
    state.connected(NOW)
    state.take_outgoing()
    caps = "batch server-time message-tags echo-message draft/chathistory"
    feed(state, f":srv CAP * LS :{caps}", f":srv CAP alice ACK :{caps}", ":srv 001 alice :hi")
    state.take_outgoing()
    feed(state, f":{ME} JOIN #lobby")
    return state.take_outgoing()


def test_a_msgid_the_next_server_does_not_know_is_asked_again_by_time() -> None:
    """The last line seen was lost by the server we move to (kill -9 within its commit
    window): it answers AFTER that msgid with an empty batch. The client asks again by time,
    from the millisecond of that line, and shows what it missed once."""
    state = joined()
    feed(state, msg("bob", "one", "m1", T1), msg("bob", "lost", "m2", T2))
    assert _rejoined_after(state) == ["CHATHISTORY AFTER #lobby msgid=m2 100"]
    events = feed(state, ":srv BATCH +r chathistory #lobby", ":srv BATCH -r")
    assert added(events) == []  # nothing shown for the empty answer
    # 2027-01-15T08:01:00.000Z less one millisecond: a line of the same millisecond comes too.
    assert state.take_outgoing() == [
        "CHATHISTORY AFTER #lobby timestamp=2027-01-15T08:00:59.999Z 100"
    ]
    feed(state, msg("carol", "live meanwhile", "m4", "2027-01-15T08:03:00.000Z"))
    events = feed(
        state,
        ":srv BATCH +t chathistory #lobby",
        msg("dave", "same millisecond", "m3a", T2, batch="t"),
        msg("carol", "missed", "m3", T3, batch="t"),
        msg("carol", "live meanwhile", "m4", "2027-01-15T08:03:00.000Z", batch="t"),
        ":srv BATCH -t",
    )
    assert "missed while disconnected: 2 messages" in added(events)
    texts = [ln.text for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert texts == ["one", "lost", "same millisecond", "missed", "live meanwhile"]
    assert state.take_outgoing() == []


def test_an_empty_answer_by_time_is_not_asked_again() -> None:
    """Nothing was missed: the msgid's empty answer is asked once by time, and that answer
    (the line seen, dropped as a duplicate, or nothing) ends it."""
    state = joined()
    feed(state, msg("bob", "two", "m2", T2))
    assert _rejoined_after(state) == ["CHATHISTORY AFTER #lobby msgid=m2 100"]
    feed(state, ":srv BATCH +r chathistory #lobby", ":srv BATCH -r")
    assert len(state.take_outgoing()) == 1
    events = feed(
        state,
        ":srv BATCH +t chathistory #lobby",
        msg("bob", "two", "m2", T2, batch="t"),
        ":srv BATCH -t",
    )
    assert added(events) == []
    assert state.take_outgoing() == []


def test_a_known_msgid_with_missed_lines_is_not_asked_again() -> None:
    state = joined()
    feed(state, msg("bob", "two", "m2", T2))
    assert _rejoined_after(state) == ["CHATHISTORY AFTER #lobby msgid=m2 100"]
    events = feed(
        state,
        ":srv BATCH +r chathistory #lobby",
        msg("carol", "missed", "m3", T3, batch="r"),
        ":srv BATCH -r",
    )
    assert "missed while disconnected: 1 message" in added(events)
    assert state.take_outgoing() == []


def test_a_full_catch_up_page_asks_for_the_next_after_its_own_last_line() -> None:
    """More was missed than one page (CHATHISTORY=100): the next page starts after the last
    line of this one, not after the newest line shown (a live line that came meanwhile)."""
    state = joined()
    feed(state, msg("bob", "seen", "m0", T1))
    assert _rejoined_after(state) == ["CHATHISTORY AFTER #lobby msgid=m0 100"]
    feed(state, msg("carol", "live", "live", "2027-01-15T09:00:00.000Z"))
    page = [msg("bob", f"missed {n}", f"p{n}", T2, batch="r") for n in range(100)]
    feed(state, ":srv BATCH +r chathistory #lobby", *page, ":srv BATCH -r")
    assert state.take_outgoing() == ["CHATHISTORY AFTER #lobby msgid=p99 100"]
    rest = [msg("bob", f"missed {n}", f"p{n}", T3, batch="s") for n in range(100, 103)]
    feed(state, ":srv BATCH +s chathistory #lobby", *rest, ":srv BATCH -s")
    assert state.take_outgoing() == []
    texts = [ln.text for ln in state.buffers["#lobby"].lines if ln.kind is Kind.MESSAGE]
    assert texts == ["seen", *(f"missed {n}" for n in range(103)), "live"]


def test_reconnect_without_msgids_uses_the_last_timestamp() -> None:
    state = joined(caps="batch server-time draft/chathistory")
    feed(state, f"@time={T2} :bob!~b@h PRIVMSG #lobby :no id")
    state.disconnected("gone", NOW)
    state.connected(NOW)
    feed(
        state,
        ":srv CAP * ACK :batch server-time draft/chathistory",
        ":srv 001 alice :hi",
        f":{ME} JOIN #lobby",
    )
    assert state.take_outgoing()[-1] == f"CHATHISTORY AFTER #lobby timestamp={T2} 100"
    feed(state, ":srv BATCH +r chathistory #lobby", ":srv BATCH -r")
    assert state.take_outgoing() == []  # by time already: nothing to ask again


def test_history_command_pages_before_the_oldest_line() -> None:
    state = joined()
    feed(state, msg("bob", "newer", "m5", T3))
    state.take_outgoing()
    state.perform(cmd.History(20), NOW)
    assert state.take_outgoing() == ["CHATHISTORY BEFORE #lobby msgid=m5 20"]
    events = feed(state, ":srv BATCH +p chathistory #lobby", ":srv BATCH -p")
    assert "no earlier messages" in added(events)


def test_history_command_without_chathistory_explains() -> None:
    state = joined(caps="batch server-time")
    events = state.perform(cmd.History(20), NOW)
    assert "does not offer chathistory" in added(events)[0]


# -- unread, mentions, members ------------------------------------------------------------------


def test_unread_and_mentions_count_only_in_other_windows() -> None:
    state = joined()
    feed(state, f":{ME} JOIN #other")
    assert state.active == "#lobby"
    feed(
        state,
        msg("bob", "hello all", "a1", target="#other"),
        msg("bob", "Alice: you there?", "a2", target="#other"),
        msg("bob", "malice is not a mention", "a3", target="#other"),
        msg("bob", "in the active room", "a4"),
        msg("bob", "psst", "a5", target="alice"),
    )
    other = state.buffers["#other"]
    assert (other.unread, other.mentions) == (3, 1)
    assert [ln.mention for ln in other.lines if ln.kind is Kind.MESSAGE] == [False, True, False]
    assert state.buffers["#lobby"].unread == 0
    query = state.buffers["bob"]  # a private message opens a window for its sender
    assert (query.unread, query.mentions) == (1, 1)
    assert state.switch("#other") == [BuffersChanged()]
    assert (other.unread, other.mentions) == (0, 0)


def test_names_modes_and_member_prefixes() -> None:
    state = joined()
    assert [(m.prefix, m.nick) for m in state.members("#lobby")] == [
        ("@", "alice"),
        ("+", "bob"),
        ("", "carol"),
    ]
    events = feed(state, ":alice!a@h MODE #lobby +o-v+k carol bob secret")
    assert MembersChanged("#lobby") in events
    assert [(m.prefixes, m.nick) for m in state.members("#lobby")] == [
        ("@", "alice"),
        ("@", "carol"),
        ("", "bob"),
    ]
    feed(state, ":srv 353 alice = #lobby :@+dave", ":srv 366 alice #lobby :End")
    assert state.members("#lobby")[0].prefixes == "@+"  # multi-prefix; NAMES replaces the list


def test_join_part_quit_kick_nick_update_members() -> None:
    state = joined()
    feed(state, ":dave!d@h JOIN #lobby")
    assert "dave" in state.buffers["#lobby"].members
    events = feed(state, ":dave!d@h PART #lobby :bye")
    assert "dave left #lobby (bye)" in added(events)
    feed(state, ":bob!b@h NICK :robert")
    members = state.buffers["#lobby"].members
    assert (
        "bob" not in members
        and members["robert"].nick == "robert"
        and members["robert"].prefix == "+"
    )
    events = feed(state, ":robert!b@h QUIT :Quit: off")
    assert "robert quit (Quit: off)" in added(events)
    events = feed(state, ":alice!a@h KICK #lobby carol :behave")
    assert "carol was kicked by alice (behave)" in added(events)
    assert list(state.buffers["#lobby"].members) == ["alice"]
    feed(state, ":op!o@h KICK #lobby alice :out")
    assert not state.buffers["#lobby"].joined and not state.buffers["#lobby"].wanted


def test_own_nick_change_and_casemapping() -> None:
    state = joined()
    feed(state, f":{ME} NICK :Alice[m]")
    assert state.nick == "Alice[m]"
    assert state.is_me("alice{M}")  # rfc1459: [] fold to {}
    assert "alice{m}" in state.buffers["#lobby"].members


def test_topic_from_numeric_and_change() -> None:
    state = joined()
    feed(state, ":srv 332 alice #lobby :old news")
    assert state.buffers["#lobby"].topic == "old news"
    events = feed(state, ":bob!b@h TOPIC #lobby :\x02new\x02 news")
    assert state.buffers["#lobby"].topic == "new news"
    assert "bob set the topic: new news" in added(events)


def test_part_command_closes_the_window_after_the_server_confirms() -> None:
    state = joined()
    feed(state, f":{ME} JOIN #other")
    state.switch("#other")
    state.take_outgoing()
    state.perform(cmd.Part(None, "later"), NOW)
    assert state.take_outgoing() == ["PART #other later"]
    events = feed(state, f":{ME} PART #other :later")
    assert "#other" not in state.buffers
    assert SwitchTo("#lobby") in events and state.active == "#lobby"


# -- sending ------------------------------------------------------------------------------------


def test_say_with_echo_message_waits_for_the_echo() -> None:
    state = joined()
    assert added(state.perform(cmd.Say("hi there"), NOW)) == []
    assert state.take_outgoing() == ["PRIVMSG #lobby :hi there"]
    assert state.awaiting_echo == 1
    events = feed(state, msg("alice", "hi there", "e1", T3))
    assert added(events) == ["hi there"] and state.awaiting_echo == 0
    assert state.buffers["#lobby"].lines[-1].own


def test_say_without_echo_message_shows_the_line_at_once() -> None:
    state = joined(caps="batch server-time")
    assert added(state.perform(cmd.Say("/me", action=True), NOW)) == ["/me"]
    assert state.take_outgoing() == ["PRIVMSG #lobby :\x01ACTION /me\x01"]


def test_long_messages_are_split_to_fit_and_very_long_ones_refused() -> None:
    state = joined()
    text = " ".join(["word"] * 200)  # ~1000 bytes
    state.perform(cmd.Say(text), NOW)
    lines = state.take_outgoing()
    assert len(lines) == 3
    source = ME
    for line in lines:
        relayed = f":{source} {line}\r\n".encode()
        assert len(relayed) <= 512
    assert " ".join(line.split(" :", 1)[1] for line in lines) == text
    events = state.perform(cmd.Say("x" * 5000), NOW)
    assert state.take_outgoing() == []
    assert "message too long (5000 bytes" in added(events)[0]


def test_messages_need_a_room_and_a_connection() -> None:
    state = registered(rooms=())
    assert "this is the server window" in added(state.perform(cmd.Say("hi"), NOW), SERVER)[0]
    state.disconnected("gone", NOW)
    assert "not connected" in added(state.perform(cmd.Say("hi", "#x"), NOW), SERVER)[0]


def test_join_and_query_switch_windows() -> None:
    state = registered(rooms=())
    state.perform(cmd.Join(("second",)), NOW)
    assert state.take_outgoing() == ["JOIN #second"]
    events = feed(state, f":{ME} JOIN #second")
    assert SwitchTo("#second") in events and state.active == "#second"
    state.take_outgoing()
    events = state.perform(cmd.Query("Bob", "hey"), NOW)
    assert state.active == "bob" and state.buffers["bob"].name == "Bob"
    assert state.take_outgoing() == ["PRIVMSG Bob hey"]


@pytest.mark.parametrize(
    ("action", "sent"),
    [
        (cmd.Nick("al"), "NICK al"),
        (cmd.Topic(None, "new topic"), "TOPIC #lobby :new topic"),
        (cmd.Topic(None, None), "TOPIC #lobby"),
        (cmd.Names(None), "NAMES #lobby"),
        (cmd.Away("lunch"), "AWAY lunch"),
        (cmd.Away(""), "AWAY"),
        (cmd.Say("psst", "bob"), "PRIVMSG bob psst"),
        (cmd.Raw("WHOIS bob"), "WHOIS bob"),
    ],
)
def test_commands_become_irc_lines(action: cmd.Action, sent: str) -> None:
    state = joined()
    state.perform(action, NOW)
    assert state.take_outgoing() == [sent]


def test_explicit_names_is_listed() -> None:
    state = joined()
    state.perform(cmd.Names(None), NOW)
    events = feed(state, ":srv 353 alice = #lobby :@alice bob", ":srv 366 alice #lobby :End")
    assert "in #lobby: @alice bob" in added(events)


def test_error_numerics_and_fail_are_shown() -> None:
    state = joined()
    events = feed(state, ":srv 404 alice #lobby :Cannot send to channel")
    assert added(events) == ["#lobby: Cannot send to channel"]
    events = feed(state, ":srv FAIL CHATHISTORY INVALID_TARGET #nope :No such target")
    assert added(events) == ["CHATHISTORY: No such target"]


def test_a_fallback_nick_waits_for_ours_with_monitor_and_takes_it_back() -> None:
    """After a move to another node our nick may still be held by our lost connection: the
    client registers as alice_, watches alice (MONITOR) and takes it back once it is free."""
    state = ClientState("alice")
    state.connected(NOW)
    state.take_outgoing()
    feed(state, ":srv 433 * alice :Nickname is already in use", ":srv 001 alice_ :Welcome")
    state.take_outgoing()
    feed(state, ":srv 005 alice_ CASEMAPPING=rfc1459 MONITOR=100 :are supported")
    assert state.take_outgoing() == ["MONITOR + alice"]
    feed(state, ":srv 730 alice_ :alice!~alice@h")  # still there: nothing to do
    assert state.take_outgoing() == []
    feed(state, ":srv 731 alice_ :bob,ALICE")
    assert state.take_outgoing() == ["NICK alice"]
    events = feed(state, ":alice_!~alice@h NICK :alice")
    assert state.nick == "alice" and "you are now known as alice" in added(events, SERVER)
    assert state.take_outgoing() == ["MONITOR - alice"]
    feed(state, ":srv 731 alice_ :alice")  # late news changes nothing
    assert state.take_outgoing() == []


def test_no_monitor_without_a_fallback_nick_or_without_the_token() -> None:
    state = registered()  # registered as alice: nothing to take back
    feed(state, ":srv 005 alice MONITOR=100 :are supported")
    assert state.take_outgoing() == []
    state = ClientState("alice")
    state.connected(NOW)
    feed(state, ":srv 433 * alice :in use", ":srv 001 alice_ :Welcome", ":srv 005 alice_ A=1 :ok")
    assert not any(line.startswith("MONITOR") for line in state.take_outgoing())
    # The user picks another nick instead: the old one is not taken back behind their back.
    feed(state, ":srv 005 alice_ MONITOR=100 :ok")
    assert state.take_outgoing() == ["MONITOR + alice"]
    feed(state, ":alice_!~alice@h NICK :zed")
    assert state.take_outgoing() == ["MONITOR - alice"]
    feed(state, ":srv 731 zed :alice")
    assert state.take_outgoing() == []
