"""PRIVMSG, NOTICE and TAGMSG: to channels and nicks, tags by capability, limits, fan-out."""

from __future__ import annotations

import pytest
from core_helpers import Harness, make_config, one, only

from hubbub.protocol.message import parse
from hubbub.protocol.servertime import parse_server_time

ALICE = "alice!~alice@127.0.0.1"


def test_channel_privmsg_goes_to_the_others(h: Harness) -> None:
    a, b, c, d = h.client("alice"), h.client("bob"), h.client("carol"), h.client("dave")
    h.join("#room", a, b, c)
    a.send("PRIVMSG #ROOM :hello there")
    assert a.lines() == []  # no echo-message
    for other in (b, c):
        msg = one(other.lines(), "PRIVMSG")
        assert msg.source == ALICE
        assert msg.params == ("#room", "hello there")
        assert msg.tags == {}
    assert d.lines() == []


def test_private_privmsg_and_notice(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    a.send("PRIVMSG BOB :psst")
    a.send("NOTICE bob :note")
    got = b.lines()
    assert [(m.command, m.params) for m in got] == [
        ("PRIVMSG", ("bob", "psst")),
        ("NOTICE", ("bob", "note")),
    ]
    assert a.lines() == []


def test_several_targets(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    a.send("PRIVMSG #room,carol,nobody :hi all")
    assert one(a.lines(), "401").params[1] == "nobody"
    assert one(b.lines(), "PRIVMSG").params[0] == "#room"
    assert one(c.lines(), "PRIVMSG").params[0] == "carol"


def test_too_many_targets() -> None:
    h = Harness(make_config(limits={"max_targets": 2}))
    a, b = h.client("alice"), h.client("bob")
    a.send("PRIVMSG bob,bob,bob :hi")
    assert one(a.lines(), "407").params[1] == "bob,bob,bob"
    assert b.lines() == []
    a.send("NOTICE bob,bob,bob :hi")
    assert a.lines() == []


def test_no_recipient_no_text_no_such_nick(h: Harness) -> None:
    a = h.client("alice")
    a.send("PRIVMSG")
    a.send("PRIVMSG :")
    a.send("PRIVMSG bob")
    a.send("PRIVMSG bob :")
    a.send("PRIVMSG #nowhere :hi")
    assert a.numerics() == ["411", "411", "412", "412", "401"]


def test_cannot_send_to_channel(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    c.send("PRIVMSG #room :from outside")
    assert one(c.lines(), "404").params[1] == "#room"
    a.send("MODE #room -n")
    c.send("PRIVMSG #room :from outside")
    assert c.lines() == []
    assert one(b.lines(), "PRIVMSG").params[-1] == "from outside"
    a.send("MODE #room +m")
    b.send("PRIVMSG #room :muted")
    assert b.numerics() == ["404"]
    a.send("MODE #room +v bob")
    b.drain()
    b.send("PRIVMSG #room :voiced")
    assert b.lines() == []
    a.send("MODE #room -mv+b bob bob")
    b.send("PRIVMSG #room :banned")
    assert b.numerics() == ["404"]
    a.send("MODE #room +o bob")  # ops are not held back by bans
    b.send("PRIVMSG #room :banned op")
    assert b.numerics() == []


def test_notice_never_answers_with_errors(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", b)
    b.send("MODE #room +m")
    for line in ["NOTICE", "NOTICE bob", "NOTICE bob :", "NOTICE nobody :x", "NOTICE #room :x"]:
        a.send(line)
    assert a.lines() == []


def test_echo_message(h: Harness) -> None:
    a = h.client("alice", caps=["echo-message"])
    b = h.client("bob")
    h.join("#room", a, b)
    a.send("PRIVMSG #room :echoed")
    echo = one(a.lines(), "PRIVMSG")
    assert echo.source == ALICE
    assert echo.params == ("#room", "echoed")
    a.send("PRIVMSG bob :private echo")
    assert one(a.lines(), "PRIVMSG").params == ("bob", "private echo")


def test_tags_only_for_clients_that_asked() -> None:
    h = Harness()
    a = h.client("alice")
    plain = h.client("plain")
    timed = h.client("timed", caps=["server-time"])
    tagged = h.client("tagged", caps=["message-tags"])
    full = h.client("full", caps=["server-time", "message-tags"])
    h.join("#room", a, plain, timed, tagged, full)
    h.tick(0.25)
    a.send("@+draft/reply=abc;+example.com/x=a\\sb;secret=no PRIVMSG #room :tagged")
    assert one(plain.lines(), "PRIVMSG").tags == {}
    t = one(timed.lines(), "PRIVMSG").tags
    assert list(t) == ["time"]
    assert parse_server_time(t["time"]) == int(h.now * 1000)
    tg = one(tagged.lines(), "PRIVMSG").tags
    assert tg == {"msgid": tg["msgid"], "+draft/reply": "abc", "+example.com/x": "a b"}
    f = one(full.lines(), "PRIVMSG").tags
    assert set(f) == {"time", "msgid", "+draft/reply", "+example.com/x"}
    assert f["msgid"] == tg["msgid"]


def test_msgids_are_unique(h: Harness) -> None:
    a = h.client("alice")
    b = h.client("bob", caps=["message-tags"])
    h.join("#room", a, b)
    for i in range(5):
        a.send(f"PRIVMSG #room :{i}")
        a.send(f"PRIVMSG bob :{i}")
    ids = [m.tags["msgid"] for m in b.lines()]
    assert len(ids) == len(set(ids)) == 10


def test_tagmsg_goes_only_to_message_tags_clients(h: Harness) -> None:
    a = h.client("alice", caps=["message-tags", "echo-message"])
    plain = h.client("plain", caps=["echo-message"])
    tagged = h.client("tagged", caps=["message-tags"])
    h.join("#room", a, plain, tagged)
    a.send("@+typing=active TAGMSG #room")
    got = one(tagged.lines(), "TAGMSG")
    assert got.params == ("#room",)
    assert got.tags["+typing"] == "active"
    assert plain.lines() == []
    assert one(a.lines(), "TAGMSG").tags["+typing"] == "active"  # echoed
    a.send("@+typing=paused TAGMSG plain")
    assert plain.lines() == []
    plain.send("@+typing=active TAGMSG #room")
    assert plain.lines() == []  # echo needs message-tags too
    assert one(tagged.lines(), "TAGMSG").source.startswith("plain!")


def test_a_client_only_tag_outside_the_key_grammar_is_not_relayed(h: Harness) -> None:
    # IRCv3 message-tags: "<key_name> ::= <non-empty sequence of ascii letters, digits,
    # hyphens ('-')>". A key with a dot and no vendor ("+0.0") is none: relayed, it would make
    # the receivers' parsers refuse the line (found by the core fuzz machine).
    a = h.client("alice", caps=["message-tags", "echo-message"])
    b = h.client("bob", caps=["message-tags"])
    h.join("#room", a, b)
    a.send("@+0.0;+draft/react=x PRIVMSG #room :hi")
    for client in (a, b):
        got = one(client.lines(), "PRIVMSG")
        assert "+0.0" not in got.tags
        assert got.tags["+draft/react"] == "x"


def test_statusmsg_reaches_only_ops_and_voices(h: Harness) -> None:
    a, b, c, d = h.client("alice"), h.client("bob"), h.client("carol"), h.client("dave")
    h.join("#room", a, b, c, d)
    a.send("MODE #room +o bob")
    a.send("MODE #room +v carol")
    h.drain()
    d.send("PRIVMSG @#room :ops only")
    assert one(a.lines(), "PRIVMSG").params == ("@#room", "ops only")
    assert one(b.lines(), "PRIVMSG").params == ("@#room", "ops only")
    assert c.lines() == []
    d.send("NOTICE +#room :voices too")
    for x in (a, b, c):
        assert one(x.lines(), "NOTICE").params == ("+#room", "voices too")
    assert d.lines() == []


def test_privmsg_to_away_user_answers_301(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    b.send("AWAY :gone to lunch")
    b.drain()
    a.send("PRIVMSG bob :are you there?")
    away = one(a.lines(), "301")
    assert away.params[1:] == ("bob", "gone to lunch")
    assert one(b.lines(), "PRIVMSG")
    a.send("NOTICE bob :no auto-reply for notices")
    assert a.lines() == []


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
@pytest.mark.parametrize("where", ["#room", "#café", "bob"])
def test_long_text_is_cut_to_fit_512_bytes(h: Harness, char: str, where: str) -> None:
    a = h.client("alice", caps=["echo-message"])
    b = h.client("bob")
    h.join(where if where.startswith("#") else "#other", a, b)
    text = char * 500
    a.send(f"PRIVMSG {where} :{text}")
    relayed = b.raw()
    assert len(relayed) == 1
    size = len(relayed[0].encode()) + 2
    assert 512 - len(char.encode()) < size <= 512  # cut at a character boundary, no shorter
    received = parse(relayed[0]).params[-1]
    assert set(received) == {char}
    assert one(a.lines(), "PRIVMSG").params[-1] == received  # the echo is the same text


def test_fanout_formats_once_per_profile() -> None:
    h = Harness()
    a = h.client("alice")
    plain = [h.client(f"p{i}") for i in range(3)]
    timed = [h.client(f"t{i}", caps=["server-time"]) for i in range(3)]
    full = [h.client(f"f{i}", caps=["server-time", "message-tags"]) for i in range(3)]
    h.join("#room", a, *plain, *timed, *full)
    a.send("PRIVMSG #room :once")
    for group in (plain, timed, full):
        written = [c.link.writes[-1] for c in group]
        assert all(w is written[0] for w in written)
    assert plain[0].link.writes[-1] is not timed[0].link.writes[-1]
    assert timed[0].link.writes[-1] is not full[0].link.writes[-1]


def test_private_messages_are_stored_for_the_two_parties(h: Harness) -> None:
    a, _b = h.client("alice"), h.client("bob")
    a.send("PRIVMSG bob :secret")
    stored = h.store.latest("dm:alice bob", 10)
    assert [r.params for r in stored] == [("bob", "secret")]


def test_private_messages_not_stored_when_disabled() -> None:
    h = Harness(make_config(history={"store_private": False}))
    a = h.client("alice")
    h.client("bob")
    a.send("PRIVMSG bob :secret")
    assert len(h.store) == 0


def test_messages_count_as_activity(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.tick(100)
    a.send("PRIVMSG bob :hi")
    h.tick(5)
    b.send("WHOIS alice")
    assert one(b.lines(), "317").params[2] == "5"
    assert only(b.lines(), "317") == []
