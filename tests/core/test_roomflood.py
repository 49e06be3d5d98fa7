"""Channel mode +f <messages>:<seconds>: per-member message limits, in the sans-IO core."""

from __future__ import annotations

from core_helpers import Client, Harness, only

from hubbub.core.roomflood import parse_limit


def room() -> tuple[Harness, Client, Client, Client]:
    h = Harness()
    op, alice, bob = h.client("op"), h.client("alice"), h.client("bob")
    h.join("#busy", op, alice, bob)
    op.send("MODE #busy +f 3:10")
    h.drain()
    return h, op, alice, bob


def test_parse_limit_bounds() -> None:
    assert parse_limit("5:10") == (5, 10)
    for bad in ("", "5", "5:", ":10", "0:10", "5:0", "101:10", "5:86401", "a:b", "-1:5", "٣:5"):
        assert parse_limit(bad) is None, bad


def test_a_member_over_the_limit_is_refused_and_nothing_is_relayed() -> None:
    h, _op, alice, bob = room()
    for index in range(3):
        alice.send(f"PRIVMSG #busy :message {index}")
    assert [m.params[1] for m in only(bob.lines(), "PRIVMSG")] == [
        "message 0",
        "message 1",
        "message 2",
    ]
    alice.send("PRIVMSG #busy :one too many")
    refused = [m for m in alice.lines() if m.command == "404"]
    assert len(refused) == 1
    assert "+f: at most 3 messages in 10 seconds" in refused[0].params[-1]
    assert only(bob.lines(), "PRIVMSG") == []
    assert h.server.counters.room_flood_throttles == 1
    # Nothing of the refused message was stored.
    texts = [r.params[-1] for r in h.store.latest("#busy", 100)]
    assert "one too many" not in texts


def test_the_window_slides_with_now() -> None:
    h, _op, alice, bob = room()
    for index in range(3):
        alice.send(f"PRIVMSG #busy :m{index}")
        h.tick(4)  # at 0, 4 and 8 seconds
    alice.send("PRIVMSG #busy :at 12")  # 12 - 0 >= 10: allowed
    alice.send("PRIVMSG #busy :at 12 again")  # 12 - 4 < 10
    h.drain()
    h.tick(2)  # 14: 14 - 4 >= 10
    alice.send("PRIVMSG #busy :at 14")
    texts = [m.params[1] for m in only(bob.lines(), "PRIVMSG")]
    assert texts == ["at 14"]
    assert h.server.counters.room_flood_throttles == 1


def test_the_limit_is_per_member_and_operators_are_exempt() -> None:
    h, op, alice, bob = room()
    for index in range(3):
        alice.send(f"PRIVMSG #busy :a{index}")
    bob.send("PRIVMSG #busy :bob is not alice")
    for index in range(10):
        op.send(f"PRIVMSG #busy :op {index}")
    texts = [m.params[1] for m in only(alice.lines(), "PRIVMSG")]
    assert texts == ["bob is not alice"] + [f"op {index}" for index in range(10)]
    assert h.server.counters.room_flood_throttles == 0


def test_notice_over_the_limit_is_dropped_without_a_reply() -> None:
    _h, _op, alice, bob = room()
    for index in range(4):
        alice.send(f"NOTICE #busy :n{index}")
    assert [m for m in alice.lines() if m.command == "404"] == []
    assert len(only(bob.lines(), "NOTICE")) == 3


def test_mode_f_is_shown_changed_and_removed() -> None:
    h, op, alice, bob = room()
    op.send("MODE #busy")
    (shown,) = [m for m in op.lines() if m.command == "324"]
    assert "f" in shown.params[2] and "3:10" in shown.params[3:]
    op.send("MODE #busy +f 5:60")
    (change,) = only(alice.lines(), "MODE")
    assert list(change.params[1:]) == ["+f", "5:60"]
    op.send("MODE #busy +f 5:60")  # no change: nothing said
    assert only(alice.lines(), "MODE") == []
    op.send("MODE #busy -f")
    (change,) = only(alice.lines(), "MODE")
    assert list(change.params[1:]) == ["-f"]
    assert h.channel("#busy").flood_limit is None
    for index in range(10):
        alice.send(f"PRIVMSG #busy :{index}")
    assert len(only(bob.lines(), "PRIVMSG")) == 10


def test_bad_parameters_and_non_operators() -> None:
    h, op, alice, _bob = room()
    op.send("MODE #busy +f 1000:1")
    (bad,) = [m for m in op.lines() if m.command == "696"]
    assert list(bad.params[2:4]) == ["f", "1000:1"]
    alice.send("MODE #busy -f")
    assert "482" in alice.numerics()
    assert h.channel("#busy").flood_limit == (3, 10)


def test_isupport_lists_f_as_a_mode_with_a_parameter_when_set() -> None:
    h = Harness()
    tokens = " ".join(h.server.isupport)
    assert "CHANMODES=beI,k,fl,imnst" in tokens


def test_departed_members_are_forgotten() -> None:
    h, _op, alice, _bob = room()
    channel = h.channel("#busy")
    guests = [h.client(f"guest{index}") for index in range(20)]
    for guest in guests:
        guest.send("JOIN #busy")
        guest.send("PRIVMSG #busy :hi")
        guest.send("PART #busy")
    alice.send("PRIVMSG #busy :still here")
    assert channel.flood_seen is not None
    assert len(channel.flood_seen) <= 2 * len(channel.members) + 8
