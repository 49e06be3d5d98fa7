"""LIST amplification (issue 11 #5): channels are capped per address and in total, LIST and WHO
answers are capped per command, and big answers cost flood tokens in proportion to their size."""

from __future__ import annotations

from core_helpers import Client, Harness, make_config

from hubbub.core.budget import take_output_cost


def client_from(h: Harness, nick: str, host: str) -> Client:
    c = h.connect(host=host)
    c.send(f"NICK {nick}")
    c.send(f"USER {nick} 0 * :{nick}")
    assert "001" in c.numerics()
    return c


def test_channels_per_address() -> None:
    h = Harness(make_config(limits={"channels_per_address": 3}))
    a1 = client_from(h, "a1", "192.0.2.1")
    a2 = client_from(h, "a2", "192.0.2.1")
    b = client_from(h, "b", "198.51.100.7")
    for name in ("#r1", "#r2", "#r3"):
        a1.send(f"JOIN {name}")
    a1.drain()
    a2.send("JOIN #r4")  # the same address, another connection
    (refused,) = a2.lines()
    assert refused.command == "405" and "your address" in refused.params[-1]
    a2.send("JOIN #r1")  # an existing room is fine
    assert "JOIN" in [m.command for m in a2.lines()]
    b.send("JOIN #r4")  # another address
    assert "JOIN" in [m.command for m in b.lines()]
    a1.send("PART #r2")  # #r2 disappears: the address may create one more
    a1.drain()
    a2.send("JOIN #r5")
    assert "JOIN" in [m.command for m in a2.lines()]
    # Rooms count against their creator's address as long as they exist, whoever stays.
    a1.send("PART #r1")
    h.drain()
    a2.send("JOIN #r6")
    assert [m.command for m in a2.lines()] == ["405"]


def test_channels_in_total() -> None:
    h = Harness(make_config(limits={"max_channels": 2}))
    a = client_from(h, "a", "192.0.2.1")
    b = client_from(h, "b", "198.51.100.7")
    a.send("JOIN #one,#two")
    a.drain()
    b.send("JOIN #three")
    (refused,) = b.lines()
    assert refused.command == "405" and "too many channels" in refused.params[-1]
    b.send("JOIN #two")
    assert "JOIN" in [m.command for m in b.lines()]


def test_list_is_cut_at_list_replies() -> None:
    h = Harness(make_config(limits={"list_replies": 5}))
    maker = h.client("maker")
    for i in range(8):
        maker.send(f"JOIN #room{i}")
    maker.drain()
    maker.send("LIST")
    codes = maker.numerics()
    assert codes == ["321"] + ["322"] * 5 + ["416", "323"]
    maker.send("LIST #room7")
    assert maker.numerics() == ["321", "322", "323"]


def test_who_is_cut_at_who_replies() -> None:
    h = Harness(make_config(limits={"who_replies": 3}))
    for i in range(5):
        h.client(f"user{i}")
    asker = h.client("asker")
    asker.send("WHO user*")
    assert asker.numerics() == ["352"] * 3 + ["416", "315"]


def test_big_answers_cost_flood_tokens_in_proportion() -> None:
    h = Harness(
        make_config(
            limits={"channels_per_user": 200},
            flood={"free_reply_lines": 20, "reply_lines_per_token": 10},
        )
    )
    maker = h.client("maker")
    for i in range(200):
        maker.send(f"JOIN #room{i}")
    maker.drain()
    take_output_cost(h.server, maker.session)  # the joins' answers are not what this is about
    asker = h.client("asker")
    take_output_cost(h.server, asker.session)  # the welcome burst
    asker.send("PING :x")
    assert take_output_cost(h.server, asker.session) == 0.0
    asker.drain()
    asker.send("LIST")
    lines = len(asker.raw())
    assert lines == 202
    assert take_output_cost(h.server, asker.session) == (lines - 20) / 10
    assert take_output_cost(h.server, asker.session) == 0.0  # taken once


def test_chathistory_answers_are_counted() -> None:
    h = Harness()
    alice = h.client("alice", ("draft/chathistory", "batch", "server-time"))
    h.join("#room", alice)
    for i in range(30):
        alice.send(f"PRIVMSG #room :line {i}")
    take_output_cost(h.server, alice.session)
    alice.send("CHATHISTORY LATEST #room * 30")
    assert len(alice.raw()) == 32  # the batch around 30 messages
    assert take_output_cost(h.server, alice.session) == (32 - 20) / 10


def test_who_of_a_channel_is_cut_at_who_replies() -> None:
    """A huge room's WHO would otherwise be built whole and cut off by the send queue."""
    h = Harness(make_config(limits={"who_replies": 3}))
    members = [h.client(f"user{i}") for i in range(5)]
    h.join("#big", *members)
    asker = h.client("asker")
    asker.send("WHO #big")
    assert asker.numerics() == ["352"] * 3 + ["416", "315"]


def test_names_without_arguments_is_cut_at_list_replies() -> None:
    h = Harness(make_config(limits={"list_replies": 3}))
    maker = h.client("maker")
    for i in range(5):
        maker.send(f"JOIN #room{i}")
    maker.drain()
    asker = h.client("asker")
    asker.send("NAMES")
    assert asker.numerics() == ["353"] * 3 + ["416", "353", "366"]  # then the loners, the end


def test_names_of_a_list_answers_each_channel_once_up_to_max_targets() -> None:
    """`NAMES #big,#big,…` must not multiply one room's names by the line's length."""
    h = Harness(make_config(limits={"max_targets": 2}))
    alice = h.client("alice")
    h.join("#a", alice)
    h.join("#b", alice)
    h.join("#c", alice)
    alice.send("NAMES #a,#A,#a,#b")
    assert alice.numerics() == ["353", "366", "353", "366"]
    alice.send("NAMES #a,#b,#c")
    assert alice.numerics() == ["353", "366", "353", "366", "407"]
