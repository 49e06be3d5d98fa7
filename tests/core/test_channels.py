"""Channel membership and state: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE."""

from __future__ import annotations

import pytest
from core_helpers import START, Harness, make_config, one, only


def test_join_creates_the_channel_with_the_joiner_as_operator(h: Harness) -> None:
    a = h.client("alice")
    a.send("JOIN #Room")
    got = a.lines()
    assert [m.command for m in got] == ["JOIN", "353", "366"]
    assert got[0].source == "alice!~alice@127.0.0.1"
    assert got[0].params == ("#Room",)
    assert got[1].params[1:] == ("=", "#Room", "@alice")
    channel = h.channel("#room")
    assert channel.name == "#Room"
    assert channel.members[a.user].op
    assert a.user.channels == {"#room": channel}


def test_join_is_seen_by_members_and_shows_topic_and_names(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a)
    a.send("TOPIC #room :hello world")
    a.drain()
    h.tick(5)
    b.send("JOIN #ROOM")
    got = b.lines()
    assert [m.command for m in got] == ["JOIN", "332", "333", "353", "366"]
    assert got[0].params == ("#room",)
    assert got[1].params[-1] == "hello world"
    assert got[2].params[2:] == ("alice!~alice@127.0.0.1", str(int(START)))
    assert got[3].params[-1] == "@alice bob"
    seen = one(a.lines(), "JOIN")
    assert seen.source == "bob!~bob@127.0.0.1"


def test_join_several_channels_with_keys(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    a.send("JOIN #a,#b,#c")
    a.send("MODE #a +k ka")
    a.send("MODE #b +k kb")
    b.send("JOIN #a,#b,#c ka,wrong")
    got = b.lines()
    assert [m.params[0] for m in only(got, "JOIN")] == ["#a", "#c"]
    assert one(got, "475").params[1] == "#b"


def test_joining_twice_is_silent(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    a.send("JOIN #room")
    assert a.lines() == []


def test_join_0_parts_everything(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#a,#b", a, b)
    a.send("JOIN 0")
    parts = only(a.lines(), "PART")
    assert sorted(m.params[0] for m in parts) == ["#a", "#b"]
    assert len(only(b.lines(), "PART")) == 2
    assert a.user.channels == {}


@pytest.mark.parametrize("name", ["room", "#", "#a\x07", "&local", "#" + "x" * 64])
def test_bad_channel_names(h: Harness, name: str) -> None:
    a = h.client("alice")
    a.send(f"JOIN {name}")
    assert a.numerics() == ["403"]
    assert h.server.channels == {}


def test_too_many_channels() -> None:
    h = Harness(make_config(limits={"channels_per_user": 2}))
    a = h.client("alice")
    a.send("JOIN #a,#b,#c")
    got = a.lines()
    assert len(only(got, "JOIN")) == 2
    assert one(got, "405").params[1] == "#c"


def test_limit_invite_ban_and_key(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a)
    a.send("MODE #room +l 1")
    b.send("JOIN #room")
    assert b.numerics() == ["471"]
    a.send("MODE #room -l+i")
    b.send("JOIN #room")
    assert b.numerics() == ["473"]
    a.send("INVITE bob #room")
    assert one(a.lines(), "341").params[1:3] == ("bob", "#room")
    invite = one(b.lines(), "INVITE")
    assert invite.params == ("bob", "#room")
    b.send("JOIN #room")
    assert one(b.lines(), "JOIN")
    b.send("PART #room")
    b.send("JOIN #room")  # the invitation was used up
    assert b.numerics() == ["473"]
    a.send("MODE #room -i+b carol")
    c.send("JOIN #room")
    assert c.numerics() == ["474"]
    a.send("MODE #room -b+k carol!*@*")
    a.send("MODE #room +k secret")
    c.send("JOIN #room")
    assert c.numerics() == ["475"]
    c.send("JOIN #room secret")
    assert one(c.lines(), "JOIN")


def test_part(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a, b)
    a.send("PART #room :see you")
    mine = one(a.lines(), "PART")
    assert mine.params == ("#room", "see you")
    assert one(b.lines(), "PART").source == "alice!~alice@127.0.0.1"
    a.send("PART #room")
    assert a.numerics() == ["442"]
    a.send("PART #nowhere")
    assert a.numerics() == ["403"]
    b.send("PART #room")
    assert one(b.lines(), "PART").params == ("#room",)
    assert h.server.channels == {}


def test_topic(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    a.send("TOPIC #room")
    assert one(a.lines(), "331").params[1] == "#room"
    b.send("TOPIC #room :mine now")
    assert one(b.lines(), "482").params[1] == "#room"
    c.send("TOPIC #room :outsider")
    assert c.numerics() == ["442"]
    a.send("TOPIC #room :the topic")
    assert one(a.lines(), "TOPIC").params == ("#room", "the topic")
    assert one(b.lines(), "TOPIC").source == "alice!~alice@127.0.0.1"
    c.send("TOPIC #room")  # anyone may read the topic of a public channel
    got = c.lines()
    assert one(got, "332").params[-1] == "the topic"
    assert one(got, "333").params[2] == "alice!~alice@127.0.0.1"
    a.send("MODE #room -t")
    b.send("TOPIC #room :bob's")
    assert one(b.lines(), "TOPIC").params[-1] == "bob's"
    b.send("TOPIC #room :")
    b.drain()
    assert h.channel("#room").topic is None
    a.send("TOPIC #nowhere")
    assert a.numerics() == ["403"]


def test_topic_is_cut_to_topiclen() -> None:
    h = Harness(make_config(limits={"topic_length": 5}))
    a = h.client("alice")
    h.join("#room", a)
    a.send("TOPIC #room :abcdefgh")
    assert one(a.lines(), "TOPIC").params[-1] == "abcde"


def test_names_prefixes_and_caps(h: Harness) -> None:
    a = h.client("alice")
    b = h.client("bob", caps=["multi-prefix"])
    c = h.client("carol", caps=["userhost-in-names"])
    h.join("#room", a, b, c)
    a.send("MODE #room +v alice")
    a.send("NAMES #room")
    names = one(a.lines(), "353")
    assert names.params[1:3] == ("=", "#room")
    assert names.params[-1].split() == ["@alice", "bob", "carol"]
    b.send("NAMES #room")
    assert one(b.lines(), "353").params[-1].split()[0] == "@+alice"
    c.send("NAMES #room")
    assert one(c.lines(), "353").params[-1].split()[0] == "@alice!~alice@127.0.0.1"


def test_names_of_secret_channels_and_invisible_users(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    b.send("MODE bob +i")
    h.join("#room", a, b)
    c.send("NAMES #room")
    assert one(c.lines(), "353").params[-1] == "@alice"  # invisible bob hidden from outsiders
    a.send("MODE #room +s")
    a.send("NAMES #room")
    assert one(a.lines(), "353").params[1] == "@"
    c.send("NAMES #room")
    assert c.numerics() == ["366"]
    c.send("NAMES")  # every visible channel, then users on none: the secret room is not shown
    listed = c.lines()
    assert [line.command for line in listed] == ["353", "366"]
    assert one(listed, "353").params[-2:] == ("*", "carol")


def test_list_hides_secret_channels_and_filters(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#big", a, b, c)
    h.join("#small", a)
    h.join("#hidden", a)
    a.send("TOPIC #big :lots of people")
    a.send("MODE #hidden +s")
    h.drain()
    c.send("LIST")
    got = c.lines()
    assert got[0].command == "321"
    assert got[-1].command == "323"
    rows = {m.params[1]: m.params[2:] for m in only(got, "322")}
    assert rows == {"#big": ("3", "lots of people"), "#small": ("1", "")}
    a.send("LIST")
    assert len(only(a.lines(), "322")) == 3
    c.send("LIST >1")
    assert [m.params[1] for m in only(c.lines(), "322")] == ["#big"]
    c.send("LIST <2")
    assert [m.params[1] for m in only(c.lines(), "322")] == ["#small"]
    c.send("LIST #SMALL,#hidden")
    assert [m.params[1] for m in only(c.lines(), "322")] == ["#small"]


def test_kick(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    b.send("KICK #room alice")
    assert b.numerics() == ["482"]
    c.send("KICK #room bob")
    assert c.numerics() == ["442"]
    a.send("KICK #room carol")
    assert one(a.lines(), "441").params[1:3] == ("carol", "#room")
    a.send("KICK #room nobody")
    assert one(a.lines(), "401").params[1] == "nobody"
    a.send("KICK #nowhere bob")
    assert a.numerics() == ["403"]
    a.send("KICK #room bob :behave")
    kick = one(a.lines(), "KICK")
    assert kick.params == ("#room", "bob", "behave")
    assert one(b.lines(), "KICK").params == ("#room", "bob", "behave")
    assert b.user.channels == {}
    assert list(h.channel("#room").members) == [a.user]
    h.join("#room", b)
    a.send("KICK #room bob")
    assert one(a.lines(), "KICK").params[-1] == "alice"  # default reason


def test_kicking_yourself_empties_the_channel(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    a.send("KICK #room alice,alice")
    assert len(only(a.lines(), "KICK")) == 1
    assert h.server.channels == {}


def test_invite_errors_and_notify(h: Harness) -> None:
    a = h.client("alice", caps=["invite-notify"])
    b = h.client("bob", caps=["invite-notify"])
    c, d = h.client("carol"), h.client("dave")
    h.join("#room", a, b, c)
    d.send("INVITE bob #room")
    assert d.numerics() == ["442"]
    a.send("INVITE bob #room")
    assert one(a.lines(), "443").params[1:3] == ("bob", "#room")
    a.send("INVITE nobody #room")
    assert a.numerics() == ["401"]
    a.send("INVITE dave #nowhere")
    assert a.numerics() == ["403"]
    a.send("MODE #room +o bob")
    a.send("MODE #room +i")
    c.send("INVITE dave #room")
    assert c.numerics() == ["482"]
    a.drain()
    b.drain()
    d.send("AWAY :lunch")
    a.send("INVITE dave #room")
    got = a.lines()
    assert [m.command for m in got] == ["341", "301"]
    assert one(d.lines(), "INVITE").params == ("dave", "#room")
    notified = one(b.lines(), "INVITE")  # an operator with invite-notify
    assert notified.source == "alice!~alice@127.0.0.1"
    assert c.lines() == []  # no cap
