"""Room history in the core: storage, replay on join, CHATHISTORY."""

from __future__ import annotations

import time

import pytest
from core_helpers import START, Client, DeferredHistory, Harness, make_config, one, only

from hubbub.protocol.message import Message
from hubbub.protocol.servertime import format_server_time

ALICE = "alice!~alice@127.0.0.1"
BATCH_CAPS = ["batch", "server-time", "message-tags"]
CHATHISTORY_CAPS = ["batch", "server-time", "message-tags", "draft/chathistory"]


def say(h: Harness, who: Client, target: str, *texts: str) -> None:
    """Each text as a PRIVMSG, one second apart."""
    for text in texts:
        who.send(f"PRIVMSG {target} :{text}")
        h.tick(1)


def chat_texts(messages: list[Message], command: str = "PRIVMSG") -> list[str]:
    return [m.params[-1] for m in messages if m.command == command]


def batch_body(messages: list[Message]) -> tuple[Message, list[Message], Message]:
    """The BATCH start, the lines inside it and the BATCH end (exactly one batch)."""
    starts = [i for i, m in enumerate(messages) if m.command == "BATCH"]
    assert len(starts) == 2, messages
    start, end = messages[starts[0]], messages[starts[1]]
    ref = start.params[0][1:]
    assert start.params[0] == f"+{ref}"
    assert end.params == (f"-{ref}",)
    inside = messages[starts[0] + 1 : starts[1]]
    assert all(m.tags.get("batch") == ref for m in inside)
    return start, inside, end


# ---------------------------------------------------------------------- replay on join


def test_replay_in_batch_form(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one", "two")
    b = h.client("bob", caps=BATCH_CAPS)
    b.send("JOIN #room")
    got = b.lines()
    assert [m.command for m in got[:3]] == ["JOIN", "353", "366"]
    start, inside, _ = batch_body(got[3:])
    assert start.params[1:] == ("chathistory", "#room")
    assert chat_texts(inside) == ["one", "two"]
    assert [m.tags["time"] for m in inside] == [
        format_server_time(int(START * 1000)),
        format_server_time(int(START * 1000) + 1000),
    ]
    assert all(m.tags["msgid"] and m.source == ALICE for m in inside)
    assert inside[0].params == ("#room", "one")


def test_replay_without_message_tags_has_no_msgid(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")
    b = h.client("bob", caps=["batch", "server-time"])
    b.send("JOIN #room")
    _, inside, _ = batch_body(b.lines())
    assert set(inside[0].tags) == {"batch", "time"}


def test_replay_in_plain_form(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one", "\x01ACTION waves\x01")
    a.send("NOTICE #room :a notice")
    h.tick(3600)
    b = h.client("bob")  # neither batch nor server-time: the time goes into the text, in UTC
    b.send("JOIN #room")
    got = b.lines()[3:]
    assert got[0].command == "NOTICE"
    assert got[0].source == "hubbub.local"
    assert got[0].params == ("#room", "Replaying 3 messages from before you joined")
    assert got[-1].params == ("#room", "End of replay")
    stamp = time.strftime("[%H:%M]", time.gmtime(START))
    stamp2 = time.strftime("[%H:%M]", time.gmtime(START + 2))
    body = got[1:-1]
    assert [(m.command, m.source, m.params) for m in body] == [
        ("PRIVMSG", ALICE, ("#room", f"{stamp} one")),
        ("PRIVMSG", ALICE, ("#room", f"\x01ACTION {stamp} waves\x01")),
        ("NOTICE", ALICE, ("#room", f"{stamp2} a notice")),
    ]


def test_replay_with_server_time_but_no_batch_is_tagged(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")
    h.tick(3600)
    # irssi 1.4 and WeeChat 3.8: server-time (and message-tags) without batch.
    b = h.client("bob", caps=["server-time", "message-tags"])
    b.send("JOIN #room")
    got = b.lines()[3:]
    assert got[0].params == ("#room", "Replaying 1 messages from before you joined")
    line = got[1]
    assert (line.command, line.params) == ("PRIVMSG", ("#room", "one"))
    assert line.tags["time"] == "2023-11-14T22:13:20.000Z"
    assert line.tags["msgid"]
    assert "batch" not in line.tags


def test_plain_replay_keeps_the_msgid_for_message_tags_clients(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")
    h.tick(60)
    b = h.client("bob", caps=["message-tags"])  # no server-time: the time stays in the text
    b.send("JOIN #room")
    (line,) = [m for m in b.lines() if m.command == "PRIVMSG"]
    assert line.params[1] == time.strftime("[%H:%M] one", time.gmtime(START))
    assert line.tags["msgid"] and "time" not in line.tags


def test_plain_replay_in_the_configured_zone() -> None:
    h = Harness(make_config(history={"replay_time_zone": "Asia/Tokyo"}))
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")  # 22:13 UTC is 07:13 the next day in Tokyo
    h.tick(60)
    b = h.client("bob")
    b.send("JOIN #room")
    assert chat_texts(b.lines()) == ["[07:13] one"]


def test_old_messages_get_a_date_in_plain_replay(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "old")
    h.tick(3 * 86_400)
    b = h.client("bob")
    b.send("JOIN #room")
    stamp = time.strftime("[%Y-%m-%d %H:%M]", time.gmtime(START))
    assert chat_texts(b.lines()) == [f"{stamp} old"]


def test_plain_replay_as_notice() -> None:
    h = Harness(make_config(history={"replay_plain_command": "NOTICE"}))
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")
    b = h.client("bob")
    b.send("JOIN #room")
    got = b.lines()
    assert only(got, "PRIVMSG") == []
    assert [m.params[-1][-3:] for m in only(got, "NOTICE")] == ["ned", "one", "lay"]


def test_plain_replay_of_a_longest_message_still_fits(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    a.send("PRIVMSG #room :" + "é" * 400)
    h.tick(5 * 86_400)  # the dated prefix is the longest
    b = h.client("bob")
    b.send("JOIN #room")  # FakeLink checks every line is at most 512 bytes
    (replayed,) = chat_texts(b.lines())
    assert replayed.startswith(time.strftime("[%Y-%m-%d %H:%M] é", time.gmtime(START)))


def test_replay_count_is_limited() -> None:
    h = Harness(make_config(history={"replay_on_join": 3}))
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", *[str(i) for i in range(10)])
    b = h.client("bob", caps=BATCH_CAPS)
    b.send("JOIN #room")
    _, inside, _ = batch_body(b.lines())
    assert chat_texts(inside) == ["7", "8", "9"]


def test_no_replay_when_turned_off() -> None:
    h = Harness(make_config(history={"replay_on_join": 0}))
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")
    b = h.client("bob")
    b.send("JOIN #room")
    assert [m.command for m in b.lines()] == ["JOIN", "353", "366"]


def test_no_replay_for_chathistory_clients_or_empty_rooms(h: Harness) -> None:
    a = h.client("alice", caps=BATCH_CAPS)
    a.send("JOIN #room")
    assert [m.command for m in a.lines()] == ["JOIN", "353", "366"]
    say(h, a, "#room", "one")
    b = h.client("bob", caps=CHATHISTORY_CAPS)
    b.send("JOIN #room")
    assert [m.command for m in b.lines()] == ["JOIN", "353", "366"]


def test_newcomer_does_not_get_its_own_join_replayed() -> None:
    h = Harness(make_config(history={"store_events": True}))
    a = h.client("alice")
    h.join("#room", a)
    say(h, a, "#room", "one")
    b = h.client("bob", caps=[*BATCH_CAPS, "draft/event-playback"])
    b.send("JOIN #room")
    got = b.lines()
    assert only(got, "JOIN")[0].source.startswith("bob!")
    _, inside, _ = batch_body(got[3:])
    assert [(m.command, m.nick) for m in inside] == [("JOIN", "alice"), ("PRIVMSG", "alice")]


def test_events_are_stored_when_asked() -> None:
    h = Harness(make_config(history={"store_events": True}))
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b, c)
    a.send("TOPIC #room :topic")
    a.send("KICK #room carol :bye")
    b.send("NICK bobby")
    b.send("PART #room :later")
    h.join("#room", b)
    b.send("QUIT :done")
    stored = [(r.command, r.params) for r in h.store.latest("#room", 100)]
    assert stored == [
        ("JOIN", ("#room",)),
        ("JOIN", ("#room",)),
        ("JOIN", ("#room",)),
        ("TOPIC", ("#room", "topic")),
        ("KICK", ("#room", "carol", "bye")),
        ("NICK", ("bobby",)),
        ("PART", ("#room", "later")),
        ("JOIN", ("#room",)),
        ("QUIT", ("Quit: done",)),
    ]
    assert h.store.latest("#room", 100)[5].source == "bob!~bob@127.0.0.1"


def test_events_are_not_stored_by_default(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    a.send("TOPIC #room :topic")
    say(h, a, "#room", "one")
    assert [r.command for r in h.store.latest("#room", 100)] == ["PRIVMSG"]


# ---------------------------------------------------------------------- CHATHISTORY


@pytest.fixture
def room() -> tuple[Harness, Client, list[str]]:
    """alice said m0..m9 in #room, one second apart; returns the msgids too."""
    h = Harness()
    a = h.client("alice", caps=CHATHISTORY_CAPS)
    h.join("#room", a)
    say(h, a, "#room", *[f"m{i}" for i in range(10)])
    ids = [r.msgid for r in h.store.latest("#room", 100)]
    return h, a, ids


def history(c: Client, line: str) -> list[str]:
    c.send(line)
    _, inside, _ = batch_body(c.lines())
    return chat_texts(inside)


def test_chathistory_latest(room: tuple[Harness, Client, list[str]]) -> None:
    _h, a, ids = room
    a.send("CHATHISTORY LATEST #room * 3")
    start, inside, _ = batch_body(a.lines())
    assert start.params[1:] == ("chathistory", "#room")
    assert chat_texts(inside) == ["m7", "m8", "m9"]
    assert [m.tags["msgid"] for m in inside] == ids[7:]
    assert history(a, f"CHATHISTORY LATEST #room msgid={ids[6]} 10") == ["m7", "m8", "m9"]


def test_chathistory_before_after_around_between(room: tuple[Harness, Client, list[str]]) -> None:
    _h, a, ids = room
    ts = [format_server_time(int(START * 1000) + 1000 * i) for i in range(10)]
    assert history(a, f"CHATHISTORY BEFORE #room msgid={ids[5]} 2") == ["m3", "m4"]
    assert history(a, f"CHATHISTORY BEFORE #room timestamp={ts[5]} 2") == ["m3", "m4"]
    assert history(a, f"CHATHISTORY AFTER #room msgid={ids[5]} 2") == ["m6", "m7"]
    assert history(a, f"CHATHISTORY AFTER #ROOM timestamp={ts[5]} 2") == ["m6", "m7"]
    assert history(a, f"CHATHISTORY AROUND #room msgid={ids[5]} 3") == ["m4", "m5", "m6"]
    # A timestamp names the message stamped then: it is the centre, as a msgid's message is.
    assert history(a, f"CHATHISTORY AROUND #room timestamp={ts[5]} 3") == ["m4", "m5", "m6"]
    assert history(a, f"CHATHISTORY BETWEEN #room msgid={ids[2]} msgid={ids[6]} 10") == [
        "m3", "m4", "m5"
    ]  # fmt: skip
    assert history(a, f"CHATHISTORY BETWEEN #room timestamp={ts[2]} timestamp={ts[6]} 2") == [
        "m3", "m4"
    ]  # fmt: skip
    assert history(a, "CHATHISTORY BEFORE #room msgid=unknown 5") == []


def test_chathistory_limit_is_clamped() -> None:
    h = Harness(make_config(history={"chathistory_max": 4}))
    a = h.client("alice", caps=CHATHISTORY_CAPS)
    h.join("#room", a)
    say(h, a, "#room", *[f"m{i}" for i in range(10)])
    assert history(a, "CHATHISTORY LATEST #room * 1000") == ["m6", "m7", "m8", "m9"]


def test_chathistory_without_batch_cap(h: Harness) -> None:
    a = h.client("alice", caps=["server-time", "draft/chathistory"])
    h.join("#room", a)
    say(h, a, "#room", "one", "two")
    a.send("CHATHISTORY LATEST #room * 10")
    got = a.lines()
    assert chat_texts(got) == ["one", "two"]
    assert only(got, "BATCH") == []


def test_chathistory_errors(room: tuple[Harness, Client, list[str]]) -> None:
    h, a, _ids = room
    b = h.client("bob", caps=CHATHISTORY_CAPS)

    def fail(c: Client, line: str) -> tuple[str, ...]:
        c.send(line)
        return one(c.lines(), "FAIL").params

    assert fail(b, "CHATHISTORY LATEST #room * 10")[:4] == (
        "CHATHISTORY", "INVALID_TARGET", "LATEST", "#room"
    )  # fmt: skip
    assert fail(b, "CHATHISTORY LATEST #nowhere * 10")[1] == "INVALID_TARGET"
    assert fail(a, "CHATHISTORY LATEST #room * ten")[1] == "INVALID_PARAMS"
    assert fail(a, "CHATHISTORY LATEST #room * ²")[1] == "INVALID_PARAMS"
    assert fail(a, "CHATHISTORY BEFORE #room bogus 10")[1] == "INVALID_PARAMS"
    assert fail(a, "CHATHISTORY BEFORE #room * 10")[1] == "INVALID_PARAMS"
    assert fail(a, "CHATHISTORY FROB #room * 10")[1] == "INVALID_PARAMS"
    assert fail(a, "CHATHISTORY BETWEEN #room * 10")[1] == "NEED_MORE_PARAMS"
    assert fail(a, "CHATHISTORY TARGETS * * 10")[1] == "INVALID_PARAMS"
    a.send("CHATHISTORY")
    assert a.numerics() == ["461"]


def test_private_history_is_for_the_two_parties(h: Harness) -> None:
    a = h.client("alice", caps=CHATHISTORY_CAPS)
    b = h.client("bob", caps=CHATHISTORY_CAPS)
    c = h.client("carol", caps=CHATHISTORY_CAPS)
    say(h, a, "bob", "hi bob")
    say(h, b, "alice", "hi alice")
    assert history(a, "CHATHISTORY LATEST bob * 10") == ["hi bob", "hi alice"]
    assert history(b, "CHATHISTORY LATEST ALICE * 10") == ["hi bob", "hi alice"]
    assert history(c, "CHATHISTORY LATEST bob * 10") == []
    assert history(c, "CHATHISTORY LATEST alice * 10") == []
    c.send("CHATHISTORY LATEST #no,pe * 10")
    assert one(c.lines(), "FAIL").params[1] == "INVALID_TARGET"


def test_a_later_holder_of_a_nick_cannot_read_its_private_history(h: Harness) -> None:
    a = h.client("alice", caps=CHATHISTORY_CAPS)
    b = h.client("bob", caps=CHATHISTORY_CAPS)
    say(h, a, "bob", "secret for bob")
    b.send("QUIT")
    h.tick(5)
    impostor = h.client("bob", caps=CHATHISTORY_CAPS)
    assert history(impostor, "CHATHISTORY LATEST alice * 10") == []
    say(h, a, "bob", "after you connected")
    assert history(impostor, "CHATHISTORY LATEST alice * 10") == ["after you connected"]
    # alice, connected all along, still sees the whole conversation.
    assert history(a, "CHATHISTORY LATEST bob * 10") == ["secret for bob", "after you connected"]


def test_chathistory_targets(h: Harness) -> None:
    a = h.client("alice", caps=CHATHISTORY_CAPS)
    b = h.client("bob")
    h.join("#room", a, b)
    say(h, b, "#room", "in the room")
    say(h, b, "alice", "private")
    say(h, b, "carol", "not alice's")
    a.drain()
    start = format_server_time(int(START * 1000) - 1)
    end = format_server_time(int(h.now * 1000) + 1)
    a.send(f"CHATHISTORY TARGETS timestamp={start} timestamp={end} 10")
    got = a.lines()
    assert got[0].params[1] == "draft/chathistory-targets"
    rows = [m.params[1:] for m in only(got, "CHATHISTORY")]
    assert rows == [
        ("#room", f"timestamp={format_server_time(int(START * 1000))}"),
        ("bob", f"timestamp={format_server_time(int(START * 1000) + 1000)}"),
    ]


# ---------------------------------------------------------------------- a slow store


def test_live_lines_wait_for_a_slow_replay() -> None:
    slow = DeferredHistory()
    h = Harness(history=slow)
    a, b = h.client("alice"), h.client("bob", caps=BATCH_CAPS)
    h.join("#room", a)
    slow.complete()  # alice's own (empty) replay: her next lines wait for it
    say(h, a, "#room", "before 1", "before 2")
    b.send("JOIN #room")
    assert [m.command for m in b.lines()] == ["JOIN", "353", "366"]
    say(h, a, "#room", "during 1", "during 2")
    a.send("MODE #room +v bob")
    assert b.lines() == []  # held until the replay is in
    slow.complete()
    got = b.lines()
    split = len(got) - 3  # the replay batch, then the three held lines
    _, inside, _ = batch_body(got[:split])
    assert chat_texts(inside) == ["before 1", "before 2"]
    after = got[split:]
    assert [(m.command, m.params[-1]) for m in after] == [
        ("PRIVMSG", "during 1"),
        ("PRIVMSG", "during 2"),
        ("MODE", "bob"),
    ]
    say(h, a, "#room", "after")
    assert chat_texts(b.lines()) == ["after"]
    assert h.channel("#room").replaying == {}


def test_slow_plain_replay_keeps_the_order() -> None:
    slow = DeferredHistory()
    h = Harness(history=slow)
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a)
    say(h, a, "#room", "old")
    b.send("JOIN #room")
    b.drain()
    say(h, a, "#room", "new")
    slow.complete()
    texts = chat_texts(b.lines(), "PRIVMSG")
    assert [t.split("] ")[-1] for t in texts] == ["old", "new"]


def test_everything_said_during_a_slow_replay_keeps_its_order() -> None:
    """Held behind bob's replay of #room: alice's line there, then her NICK, AWAY and a line
    in #other, in that order. (Only the room's lines were held: her NICK overtook her line,
    which then came from a nick bob's client no longer knew; a cluster fuzz finding.)"""
    slow = DeferredHistory()
    h = Harness(history=slow)
    a, b = h.client("alice"), h.client("bob")
    a.send("CAP REQ away-notify")
    b.send("CAP REQ away-notify")
    h.join("#room", a)
    h.join("#other", a)
    b.send("JOIN #other")
    slow.complete()
    h.drain()
    b.send("JOIN #room")  # its replay is read slowly
    b.drain()  # (the JOIN's answer)
    say(h, a, "#room", "in room")
    a.send("NICK alicia")
    a.send("AWAY :lunch")
    say(h, a, "#other", "in other")
    assert b.lines() == []  # all of it waits behind the replay
    slow.complete()
    got = [(m.source.split("!")[0] if m.source else "", m.command) for m in b.lines()]
    assert got[-4:] == [
        ("alice", "PRIVMSG"),
        ("alice", "NICK"),
        ("alicia", "AWAY"),
        ("alicia", "PRIVMSG"),
    ]
    say(h, a, "#other", "after")  # and then straight through again
    assert chat_texts(b.lines()) == ["after"]


def test_killed_during_a_slow_replay_is_told_first() -> None:
    """bob is killed while his join replay is read: what was held for him (alice's line, the
    KILL) is written before the ERROR that closes the link, not dropped with the replay's
    answer."""
    slow = DeferredHistory()
    h = Harness(history=slow)
    a, b = h.client("alice"), h.client("bob")
    a.user.oper = "root"
    h.join("#room", a)
    slow.complete()
    b.send("JOIN #room")
    b.drain()  # (the JOIN's answer)
    say(h, a, "#room", "live")
    a.send("KILL bob :spamming")
    assert [m.command for m in b.lines()] == ["PRIVMSG", "KILL", "ERROR"]


def test_leaving_before_a_slow_replay_arrives() -> None:
    """Kicked before its join replay arrives: a member gets what the room said meanwhile at
    once, ending with the KICK. Its own PART waits behind its replay (per-client order)."""
    slow = DeferredHistory()
    h = Harness(history=slow)
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a)
    slow.complete()  # alice's own replay: her next lines wait for it
    say(h, a, "#room", "old")
    b.send("JOIN #room")
    c.send("JOIN #room")
    h.drain()
    say(h, a, "#room", "live")
    b.send("PART #room")
    a.send("KICK #room carol :out")
    assert b.lines() == []  # the replay comes first
    assert [(m.command, m.params[-1]) for m in c.lines()] == [
        ("PRIVMSG", "live"),
        ("KICK", "out"),
    ]
    slow.complete()  # carol's stale replay is dropped; bob's comes, then his PART runs
    assert [m.command for m in b.lines()] == [
        "NOTICE",  # Replaying 1 messages
        "PRIVMSG",  # old
        "NOTICE",  # End of replay
        "JOIN",  # carol's, held
        "PRIVMSG",  # live, held
        "KICK",  # carol's, held
        "PART",  # his own
    ]
    assert c.lines() == []
    assert h.channel("#room").replaying == {}


def test_quitting_before_a_slow_replay_arrives() -> None:
    slow = DeferredHistory()
    h = Harness(history=slow)
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a)
    say(h, a, "#room", "old")
    b.send("JOIN #room")
    b.send("QUIT")
    slow.complete()  # FakeLink refuses writes after close
    assert b.link.closed
