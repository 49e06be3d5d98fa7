"""Secret channels stay hidden from non-members in WHO and MODE too (issue 11 #12), as they
already were in WHOIS, LIST and NAMES.

Modern IRC, Secret Channel Mode (https://modern.ircdocs.horse/#secret-channel-mode): "A channel
that is set to secret will not show up in responses to the LIST or NAMES command unless the
client sending the command is joined to the channel. Likewise, secret channels will not show up
in the RPL_WHOISCHANNELS (319) numeric unless the user the numeric is being sent to is joined to
that channel." hubbub applies the same rule to every reply that would name the channel.
"""

from __future__ import annotations

from core_helpers import Client, Harness, one


def hidden_room(h: Harness) -> tuple[Client, Client]:
    alice = h.client("alice")
    alice.send("JOIN #hidden")
    alice.send("MODE #hidden +s")
    alice.send("MODE #hidden +b troll!*@*")
    outsider = h.client("eve")
    h.drain()
    return alice, outsider


def test_who_nick_does_not_name_a_secret_channel(h: Harness) -> None:
    """352: "<client> <channel> <username> <host> <server> <nick> <flags> :<hopcount> <realname>"
    — the channel shown must be one the asker may see."""
    alice, eve = hidden_room(h)
    eve.send("WHO alice")
    reply = one(eve.lines(), "352")
    assert reply.params[1] == "*"
    eve.send("WHO alice %cn")
    assert one(eve.lines(), "354").params[1:] == ("*", "alice")
    # A visible channel of the same user is shown instead.
    h.join("#public", alice, eve)
    eve.send("WHO alice")
    assert one(eve.lines(), "352").params[1] == "#public"
    # Members still see it.
    bob = h.client("bob")
    bob.send("JOIN #hidden")
    bob.drain()
    bob.send("WHO alice %c")
    assert one(bob.lines(), "354").params[1] in ("#hidden", "#public")


def test_mode_of_a_secret_channel_is_no_such_channel_for_non_members(h: Harness) -> None:
    alice, eve = hidden_room(h)
    for query in ("MODE #hidden", "MODE #hidden b", "MODE #hidden +b", "MODE #hidden +o eve"):
        eve.send(query)
        got = eve.lines()
        assert [m.command for m in got] == ["403"], (query, got)
        assert "troll" not in " ".join(str(m.params) for m in got)
    alice.send("MODE #hidden")
    assert [m.command for m in alice.lines()] == ["324", "329"]
    alice.send("MODE #hidden b")
    assert [m.command for m in alice.lines()] == ["367", "368"]


def test_a_public_channel_still_answers_mode_to_anyone(h: Harness) -> None:
    alice = h.client("alice")
    h.join("#open", alice)
    eve = h.client("eve")
    eve.send("MODE #open")
    assert [m.command for m in eve.lines()] == ["324", "329"]
