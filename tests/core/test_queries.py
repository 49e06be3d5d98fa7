"""WHO, WHOIS, WHOWAS, ISON, USERHOST, VERSION, TIME, AWAY, SETNAME."""

from __future__ import annotations

from core_helpers import START, Harness, one, only

from hubbub.core.model import Phase


def test_who_channel(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    b.send("AWAY :out")
    b.send("MODE bob +i")
    h.drain()
    a.send("WHO #room")
    got = a.lines()
    rows = {m.params[5]: m for m in only(got, "352")}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"].params[1:7] == (
        "#room", "~alice", "127.0.0.1", "hubbub.local", "alice", "H@"
    )  # fmt: skip
    assert rows["alice"].params[-1] == "0 alice Example"
    assert rows["bob"].params[6] == "G"
    assert got[-1].command == "315"
    assert got[-1].params[1] == "#room"
    c.send("WHO #room")  # an outsider does not see the invisible member
    assert [m.params[5] for m in only(c.lines(), "352")] == ["alice"]


def test_who_nick_and_mask(h: Harness) -> None:
    a, c = h.client("alice"), h.client("carol")
    h.client("bob")
    c.send("MODE carol +i")
    c.drain()
    a.send("WHO bob")
    got = a.lines()
    assert [m.params[5] for m in only(got, "352")] == ["bob"]
    assert one(got, "352").params[1] == "*"
    a.send("WHO *")
    assert sorted(m.params[5] for m in only(a.lines(), "352")) == ["alice", "bob"]
    h.join("#room", a, c)  # sharing a channel reveals invisible users
    a.send("WHO *")
    assert sorted(m.params[5] for m in only(a.lines(), "352")) == ["alice", "bob", "carol"]
    a.send("WHO ~b*")
    assert [m.params[5] for m in only(a.lines(), "352")] == ["bob"]
    a.send("WHO nobody")
    assert a.numerics() == ["315"]


def test_whois(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#pub", b)
    h.join("#sec", b)
    b.send("MODE #sec +s")
    b.send("AWAY :lunch")
    h.tick(30)
    b.send("PRIVMSG #pub :hi")
    h.tick(7)
    h.drain()
    a.send("WHOIS Bob")
    got = a.lines()
    assert [m.command for m in got] == ["311", "319", "312", "301", "317", "318"]
    assert got[0].params[1:] == ("bob", "~bob", "127.0.0.1", "*", "bob Example")
    assert got[1].params[-1] == "@#pub"  # the secret channel is hidden
    assert got[2].params[2] == "hubbub.local"
    assert got[3].params[-1] == "lunch"
    assert got[4].params[2:4] == ("7", str(int(START)))
    h.join("#sec", c)
    b.send("WHOIS bob")
    assert sorted(one(b.lines(), "319").params[-1].split()) == ["@#pub", "@#sec"]
    a.send("WHOIS nobody")
    assert a.numerics() == ["401", "318"]
    a.send("WHOIS hubbub.local bob")  # WHOIS <server> <nick>
    assert a.numerics()[0] == "311"


def test_whowas(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    b.send("QUIT")
    a.send("WHOWAS BOB")
    got = a.lines()
    assert [m.command for m in got] == ["314", "312", "369"]
    assert got[0].params[1:] == ("bob", "~bob", "127.0.0.1", "*", "bob Example")
    a.send("WHOWAS nobody")
    assert a.numerics() == ["406", "369"]
    for _ in range(3):
        c = h.client("bob")
        c.send("QUIT")
    a.send("WHOWAS bob 2")
    assert a.numerics() == ["314", "312", "314", "312", "369"]


def test_ison_and_userhost(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    b.send("AWAY :x")
    unregistered = h.connect()
    unregistered.send("NICK carol")
    a.send("ISON BOB carol nobody alice")
    assert one(a.lines(), "303").params[-1] == "bob alice"
    a.send("USERHOST alice bob nobody")
    assert one(a.lines(), "302").params[-1] == "alice=+~alice@127.0.0.1 bob=-~bob@127.0.0.1"


def test_version_and_time(h: Harness) -> None:
    a = h.client("alice")
    a.send("VERSION")
    got = a.lines()
    assert got[0].command == "351"
    assert got[0].params[1] == h.server.version
    assert only(got, "005")
    a.send("TIME")
    got_time = one(a.lines(), "391")
    assert got_time.params[1] == "hubbub.local"
    assert "2023" in got_time.params[-1]


def test_away_and_away_notify(h: Harness) -> None:
    a = h.client("alice")
    watcher = h.client("bob", caps=["away-notify"])
    plain = h.client("carol")
    stranger = h.client("dave", caps=["away-notify"])
    h.join("#room", a, watcher, plain)
    a.send("AWAY :brb")
    assert a.numerics() == ["306"]
    note = one(watcher.lines(), "AWAY")
    assert note.source == "alice!~alice@127.0.0.1"
    assert note.params == ("brb",)
    assert plain.lines() == []
    assert stranger.lines() == []
    a.send("AWAY")
    assert a.numerics() == ["305"]
    assert one(watcher.lines(), "AWAY").params == ()
    a.send("AWAY")
    assert a.numerics() == ["305"]
    assert watcher.lines() == []


def test_an_away_user_joining_is_announced_as_away(h: Harness) -> None:
    watcher = h.client("bob", caps=["away-notify"])
    plain = h.client("carol")
    h.join("#room", watcher, plain)
    a = h.client("alice")
    a.send("AWAY :lunch")
    a.drain()
    a.send("JOIN #room")
    got = watcher.lines()
    assert [m.command for m in got] == ["JOIN", "AWAY"]
    assert got[1].source == "alice!~alice@127.0.0.1" and got[1].params == ("lunch",)
    assert [m.command for m in plain.lines()] == ["JOIN"]


def test_setname(h: Harness) -> None:
    a = h.client("alice", caps=["setname"])
    watcher = h.client("bob", caps=["setname"])
    plain = h.client("carol")
    h.join("#room", a, watcher, plain)
    a.send("SETNAME :Alice Liddell")
    assert one(a.lines(), "SETNAME").params == ("Alice Liddell",)
    assert one(watcher.lines(), "SETNAME").source == "alice!~alice@127.0.0.1"
    assert plain.lines() == []
    assert a.user.realname == "Alice Liddell"
    a.send("SETNAME :" + "x" * 300)
    fail = one(a.lines(), "FAIL")
    assert fail.params[:2] == ("SETNAME", "INVALID_REALNAME")
    a.send("SETNAME :")
    assert one(a.lines(), "FAIL")
    assert a.user.realname == "Alice Liddell"
    assert a.session.phase is Phase.REGISTERED
