"""MODE: the user mode +i and the channel modes +o +v +b +i +k +l +m +n +t +s."""

from __future__ import annotations

import pytest
from core_helpers import START, Harness, make_config, one, only

ALICE = "alice!~alice@127.0.0.1"


def test_user_mode_invisible(h: Harness) -> None:
    a = h.client("alice")
    h.client("bob")
    a.send("MODE alice")
    assert one(a.lines(), "221").params[1] == "+"
    a.send("MODE alice +i")
    change = one(a.lines(), "MODE")
    assert change.params == ("alice", "+i")
    assert a.user.invisible
    a.send("MODE alice +i")  # no change, no echo
    assert a.lines() == []
    a.send("MODE ALICE")
    assert one(a.lines(), "221").params[1] == "+i"
    a.send("MODE alice -i+x")
    got = a.lines()
    assert one(got, "501")
    assert one(got, "MODE").params == ("alice", "-i")
    a.send("MODE bob +i")
    assert a.numerics() == ["502"]
    a.send("MODE nobody")
    assert a.numerics() == ["401"]


def test_channel_mode_query(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a)
    a.send("MODE #room +kl key 10")
    a.drain()
    a.send("MODE #room")
    got = a.lines()
    assert one(got, "324").params[1:] == ("#room", "+klnt", "key", "10")
    assert one(got, "329").params[1:] == ("#room", str(int(START)))
    b.send("MODE #room")  # outsiders do not see the key
    assert one(b.lines(), "324").params[1:] == ("#room", "+klnt", "*", "10")
    b.send("MODE #nowhere")
    assert b.numerics() == ["403"]


@pytest.mark.parametrize(
    ("flag", "attr"),
    [("i", "invite_only"), ("m", "moderated"), ("n", "no_external"), ("s", "secret"),
     ("t", "topic_locked")],
)  # fmt: skip
def test_flag_modes_set_and_unset(h: Harness, flag: str, attr: str) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a, b)
    channel = h.channel("#room")
    start = getattr(channel, attr)
    sign, undo = ("-", "+") if start else ("+", "-")
    a.send(f"MODE #room {sign}{flag}")
    assert one(a.lines(), "MODE").params == ("#room", f"{sign}{flag}")
    assert one(b.lines(), "MODE").source == ALICE
    assert getattr(channel, attr) is not start
    a.send(f"MODE #room {sign}{flag}")  # already so: nothing to echo
    assert a.lines() == []
    assert b.lines() == []
    a.send(f"MODE #room {undo}{flag}")
    assert one(b.lines(), "MODE").params == ("#room", f"{undo}{flag}")
    assert getattr(channel, attr) is start


def test_op_and_voice(h: Harness) -> None:
    a, b, c = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", a, b)
    channel = h.channel("#room")
    a.send("MODE #room +ov bob bob")
    a.drain()
    assert one(b.lines(), "MODE").params == ("#room", "+ov", "bob", "bob")
    assert channel.members[b.user].op and channel.members[b.user].voice
    b.send("MODE #room -o+v alice alice")
    assert one(a.lines(), "MODE").params == ("#room", "-o+v", "alice", "alice")
    assert not channel.members[a.user].op
    a.send("MODE #room +o alice")
    assert one(a.lines(), "482").params[1] == "#room"
    b.send("MODE #room +o nobody")
    assert one(b.lines(), "401").params[1] == "nobody"
    b.send("MODE #room +o carol")
    assert one(b.lines(), "441").params[1:3] == ("carol", "#room")
    c.send("MODE #room +m")
    assert c.numerics() == ["482"]


def test_unknown_mode_and_missing_argument(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    a.send("MODE #room +zm")
    got = a.lines()
    assert one(got, "472").params[1] == "z"
    assert one(got, "MODE").params == ("#room", "+m")
    a.send("MODE #room +o")
    assert a.numerics() == ["461"]


def test_key_and_limit(h: Harness) -> None:
    a = h.client("alice")
    h.join("#room", a)
    channel = h.channel("#room")
    a.send("MODE #room +k sesame")
    assert one(a.lines(), "MODE").params == ("#room", "+k", "sesame")
    assert channel.key == "sesame"
    a.send("MODE #room -k whatever")
    assert one(a.lines(), "MODE").params == ("#room", "-k", "*")
    assert channel.key == ""
    a.send("MODE #room +l 5")
    assert one(a.lines(), "MODE").params == ("#room", "+l", "5")
    assert channel.limit == 5
    a.send("MODE #room +l many")
    assert a.numerics() == ["696"]
    a.send("MODE #room -l")
    assert one(a.lines(), "MODE").params == ("#room", "-l")
    assert channel.limit == 0


def test_bans_list_and_normalisation(h: Harness) -> None:
    a, b = h.client("alice"), h.client("bob")
    h.join("#room", a, b)
    a.send("MODE #room +bb bob *@10.0.0.*")
    assert one(a.lines(), "MODE").params == ("#room", "+bb", "bob!*@*", "*!*@10.0.0.*")
    a.send("MODE #room +b BOB")  # already there (casemapped)
    assert a.lines() == []
    b.send("MODE #room +b")  # anyone may list
    got = b.lines()
    assert [m.params[2] for m in only(got, "367")] == ["bob!*@*", "*!*@10.0.0.*"]
    assert {m.params[3] for m in only(got, "367")} == {ALICE}
    assert got[-1].command == "368"
    a.send("MODE #room -b bob!*@*")
    assert one(a.lines(), "MODE").params == ("#room", "-b", "bob!*@*")
    a.send("MODE #room b")
    assert [m.params[2] for m in only(a.lines(), "367")] == ["*!*@10.0.0.*"]


def test_ban_list_is_limited() -> None:
    h = Harness(make_config(limits={"list_modes": 2}))
    a = h.client("alice")
    h.join("#room", a)
    a.send("MODE #room +bbb x y z")
    got = a.lines()
    assert one(got, "478").params[1:3] == ("#room", "z!*@*")
    assert one(got, "MODE").params == ("#room", "+bb", "x!*@*", "y!*@*")


def test_modes_per_command_limit() -> None:
    h = Harness(make_config(limits={"modes_per_command": 3}))
    a = h.client("alice")
    others = [h.client(f"u{i}") for i in range(5)]
    h.join("#room", a, *others)
    a.send("MODE #room +vvvvv u0 u1 u2 u3 u4")
    change = one(a.lines(), "MODE")
    assert change.params == ("#room", "+vvv", "u0", "u1", "u2")
