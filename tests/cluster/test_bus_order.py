"""The bus sequences room events once, network-wide: every node sees the same order.

Against a real redis-server (support.redis_server); two Bus instances are two nodes.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from bus_helpers import running

from support.waiting import until

pytestmark = pytest.mark.asyncio


async def test_sequence_numbers_events_and_delivers_them_to_subscribers(redis_url: str) -> None:
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        assert node_a.bus.available and node_a.availability == [True]
        assert await node_a.bus.subscribe("#lobby") == (0, {})
        assert await node_b.bus.subscribe("#lobby") == (0, {})
        first = await node_a.bus.sequence("#lobby", b"hello there", set_fields={"m:a": "1"})
        second = await node_b.bus.sequence("#lobby", b"\x00binary \xff", delete_fields=["m:a"])
        assert (first.seq, first.node, first.room) == (1, "a", "#lobby")
        assert (second.seq, second.node, second.payload) == (2, "b", b"\x00binary \xff")
        for node in (node_a, node_b):
            await until(lambda node=node: len(node.events["#lobby"]) == 2, what="both events")
            assert node.events["#lobby"] == [first, second]
        # The state changed with the sequence, atomically.
        assert await node_a.bus.state("#lobby") == (2, {})
        assert await node_b.bus.rooms() == []


async def test_subscribe_returns_the_snapshot_and_delivers_only_what_follows(
    redis_url: str,
) -> None:
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_a.bus.sequence("#r", b"one", set_fields={"topic": "old", "m:a": "o"})
        await node_a.bus.sequence("#r", b"two", set_fields={"topic": "new"})
        assert await node_b.bus.subscribe("#r") == (2, {"topic": "new", "m:a": "o"})
        assert await node_b.bus.rooms() == ["#r"]
        third = await node_a.bus.sequence("#r", b"three")
        await until(lambda: node_b.events["#r"] == [third], what="the event after the snapshot")
        history = await node_b.bus.events_after("#r", 0, 10)
        assert [event.payload for event in history] == [b"one", b"two", b"three"]
        assert [event.seq for event in await node_b.bus.events_after("#r", 1, 1)] == [2]


async def test_a_deleted_name_ending_in_a_star_deletes_every_field_with_that_prefix(
    redis_url: str,
) -> None:
    async with running(redis_url, "a") as node_a:
        fields = {"meta:color": "teal", "meta:url": "https://x", "m:a": "o", "metal": "kept"}
        await node_a.bus.sequence("#r", b"one", set_fields=fields)
        await node_a.bus.sequence("#r", b"two", delete_fields=["meta:*", "topic"])
        assert await node_a.bus.state("#r") == (2, {"m:a": "o", "metal": "kept"})


async def test_names_starting_with_a_plus_change_only_a_room_nobody_is_in(redis_url: str) -> None:
    """A creating JOIN's fields (hubbub.core.cluster_fields.if_creating): of two sequenced at
    once for one room, the first creates it; the second only adds its own member fields."""
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        # What the room had before it emptied: a creator resets it, nobody else.
        await node_a.bus.sequence("#r", b"old", set_fields={"topic": "old", "meta:x": "1"})
        creating = {"room": "first", "s:a": "o"}
        await node_a.bus.sequence(
            "#r",
            b"a creates",
            set_fields={"m:a": "{}", "s:a": "", **{"+" + k: v for k, v in creating.items()}},
            delete_fields=["+topic", "+meta:*"],
        )
        await node_b.bus.sequence(
            "#r",
            b"b would create",
            set_fields={"m:b": "{}", "s:b": "", "+room": "second", "+s:b": "o"},
            delete_fields=["+topic", "+meta:*", "i:b"],
        )
        _, fields = await node_a.bus.state("#r")
        assert fields == {"m:a": "{}", "s:a": "o", "room": "first", "m:b": "{}", "s:b": ""}
        # A value starting with a plus is only a value.
        await node_a.bus.sequence("#r", b"plain", set_fields={"topic": "+1"})
        assert (await node_a.bus.state("#r"))[1]["topic"] == "+1"


async def test_a_registered_rooms_mark_keeps_its_emptied_state_from_a_creating_join(
    redis_url: str,
) -> None:
    """A `chanreg` in another room marks the room registered (`#<room>`, hubbub.core.
    cluster_fields.registration_mark): emptied, its state is not reset by a creating JOIN
    from a node that did not know it registered yet, which joins it as it is (a cluster fuzz
    finding, seed 100016). A `chandrop` takes the mark away: then the JOIN makes it anew."""
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_a.bus.sequence(
            "#r", b"made", set_fields={"room": "kept", "topic": "t", "m:a": "{}", "s:a": "o"}
        )
        await node_a.bus.sequence("~accounts", b"chanreg", set_fields={"#" + "#r": "1"})
        await node_a.bus.sequence("#r", b"part", delete_fields=["m:a", "s:a"])
        creating = {"m:b": "{}", "s:b": "", "+room": "anew", "+s:b": "o"}
        resets = ["+topic", "+mode:*"]
        await node_b.bus.sequence("#r", b"b joins", set_fields=creating, delete_fields=resets)
        _, fields = await node_a.bus.state("#r")
        assert fields == {"room": "kept", "topic": "t", "registered": "1", "m:b": "{}", "s:b": ""}
        # Dropped, and emptied again: the next JOIN makes the room anew.
        await node_a.bus.sequence("~accounts", b"chandrop", delete_fields=["#" + "#r"])
        await node_b.bus.sequence("#r", b"part", delete_fields=["m:b", "s:b"])
        await node_b.bus.sequence("#r", b"b joins", set_fields=creating, delete_fields=resets)
        _, fields = await node_a.bus.state("#r")
        assert fields == {"room": "anew", "m:b": "{}", "s:b": "o"}
        # A registered room the bus has no state of yet: a JOIN creates it (with its saved
        # state, `rs`), the mark there before it.
        await node_a.bus.sequence("~accounts", b"chanreg", set_fields={"#" + "#s": "1"})
        await node_b.bus.sequence("#s", b"b joins", set_fields=creating, delete_fields=resets)
        _, fields = await node_a.bus.state("#s")
        assert fields == {"room": "anew", "registered": "1", "m:b": "{}", "s:b": "o"}


async def test_a_modes_standing_changes_apply_to_the_standing_the_room_has_then(
    redis_url: str,
) -> None:
    """A MODE's `><nick>` (hubbub.core.cluster_fields.standing_change): its +o/-o/+v/-v are
    applied in order to the standing as the bus has it at the MODE's place, so a -o and a +v of
    one member made on two nodes from the same copy keep both; nothing for a non-member."""
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_a.bus.sequence("#r", b"join", set_fields={"m:alice": "{}", "s:alice": "o"})
        await node_a.bus.sequence("#r", b"mode -o", set_fields={">alice": "-o"})
        await node_b.bus.sequence("#r", b"mode +v", set_fields={">alice": "+v"})
        assert (await node_a.bus.state("#r"))[1] == {"m:alice": "{}", "s:alice": "v"}
        await node_b.bus.sequence("#r", b"mode +o-v+v", set_fields={">alice": "+o-v+v"})
        assert (await node_a.bus.state("#r"))[1]["s:alice"] == "ov"
        await node_b.bus.sequence("#r", b"mode -v-o", set_fields={">alice": "-v-o"})
        assert (await node_a.bus.state("#r"))[1]["s:alice"] == ""
        await node_a.bus.sequence("#r", b"mode +o gone", set_fields={">gone": "+o"})
        assert set((await node_a.bus.state("#r"))[1]) == {"m:alice", "s:alice"}


async def test_conditional_names_read_the_fields_as_they_were_before_the_event(
    redis_url: str,
) -> None:
    """A NICK's member fields (hubbub.core.cluster_fields.renamed_member_fields): the new
    member field only if the old one was there, the standing moved with its value then; and a
    claim released with the event (`!`), only if it is this node's."""
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_a.bus.sequence("#r", b"join", set_fields={"m:old": "{}", "s:old": "o"})
        await node_a.bus.sequence(
            "#r",
            b"nick",
            set_fields={"&m:old&m:new": '{"n": "new"}', "=s:old=s:new": ""},
            delete_fields=["m:old", "s:old"],
        )
        assert (await node_a.bus.state("#r"))[1] == {"m:new": '{"n": "new"}', "s:new": "o"}
        # Not a member (kicked just before): nothing is set.
        await node_a.bus.sequence(
            "#r",
            b"nick of someone gone",
            set_fields={"&m:gone&m:later": "{}", "=s:gone=s:later": ""},
            delete_fields=["m:gone", "s:gone"],
        )
        assert set((await node_a.bus.state("#r"))[1]) == {"m:new", "s:new"}
        # A member field set only if the one there is the same user's (an away state sent on
        # after a RENAME, its user KILLed and the nick another's since): not another user's.
        await node_a.bus.sequence("#r", b"join", set_fields={"m:eve": '{"id": "b/1"}'})
        await node_a.bus.sequence("#r", b"away", set_fields={"&m:eve&m:eve": '{"id": "a/1"}'})
        assert (await node_a.bus.state("#r"))[1]["m:eve"] == '{"id": "b/1"}'
        await node_a.bus.sequence(
            "#r", b"away", set_fields={"&m:eve&m:eve": '{"id": "b/1", "x": 1}'}
        )
        assert (await node_a.bus.state("#r"))[1]["m:eve"] == '{"id": "b/1", "x": 1}'
        await node_a.bus.sequence("#r", b"part", delete_fields=["m:eve"])
        # A claim goes with the event that names it, if it is the caller's.
        assert await node_a.bus.claim("nick:new", "a")
        await node_b.bus.sequence("#r", b"not b's", delete_fields=["!nick:new"])
        assert await node_b.bus.claimed("nick:new") == "a"
        await node_a.bus.sequence("#r", b"quit", delete_fields=["m:new", "s:new", "!nick:new"])
        assert await node_b.bus.claimed("nick:new") is None
        assert await node_b.bus.claim("nick:new", "b")
        # A member leaving by network id: not another user who has the nick by then.
        await node_b.bus.sequence("#r", b"join", set_fields={"m:new": '{"id": "b/1"}', "s:new": ""})
        await node_a.bus.sequence("#r", b"late quit", delete_fields=["%new%a/7"])
        assert set((await node_a.bus.state("#r"))[1]) == {"m:new", "s:new"}
        await node_b.bus.sequence("#r", b"its quit", delete_fields=["%new%b/1"])
        assert (await node_a.bus.state("#r"))[1] == {}


async def test_a_nick_moves_only_its_own_users_fields(redis_url: str) -> None:
    """A NICK of a user whose old nick another user holds in the room by then (a lagging
    node's NICK, sent after Redis lost its data, a cluster fuzz finding): the holder's member
    and standing fields stay, and the new nick gets neither (the standing's value names the
    user: hubbub.core.cluster_fields.renamed_member_fields)."""
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        holder = '{"id": "a/1", "n": "yan"}'
        await node_a.bus.sequence("#r", b"join", set_fields={"m:yan": holder, "s:yan": "o"})
        nick = {"&m:yan&m:dave": '{"id": "b/2", "n": "dave"}', "=s:yan=s:dave": "b/2"}
        await node_b.bus.sequence("#r", b"nick", set_fields=nick, delete_fields=["%yan%b/2"])
        assert (await node_a.bus.state("#r"))[1] == {"m:yan": holder, "s:yan": "o"}
        # The user's own: moved, its standing with it.
        mine = {"&m:yan&m:zed": '{"id": "a/1", "n": "zed"}', "=s:yan=s:zed": "a/1"}
        await node_a.bus.sequence("#r", b"nick", set_fields=mine, delete_fields=["%yan%a/1"])
        assert (await node_a.bus.state("#r"))[1] == {
            "m:zed": '{"id": "a/1", "n": "zed"}',
            "s:zed": "o",
        }


async def test_a_guarded_event_changes_fields_only_if_its_sender_may(redis_url: str) -> None:
    """A KICK, MODE, TOPIC or INVITE (hubbub.core.cluster_fields.only_if_operator): its
    changes are made only if the sender is an operator just before it (for a TOPIC, also a
    member of a room whose mode:t is "0"; for an INVITE, one of a room whose mode:i is not
    "1"); otherwise it is sequenced all the same, changes nothing and is marked `"np"`,
    which every node decides from (`NOT_PERMITTED`)."""

    def event(kind: str) -> bytes:
        return json.dumps({"t": kind}).encode()

    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        joins = {"m:op": "{}", "s:op": "ov", "s:m": "v"}
        await bus.sequence("#r", event("join"), set_fields=joins)
        await bus.sequence("#r", event("mode"), set_fields={"mode:m": "1"}, delete_fields=["^oop"])
        await bus.sequence("#r", event("kick"), delete_fields=["^om", "s:op", "m:op"])
        fields = (await bus.state("#r"))[1]
        assert (fields["mode:m"], fields["s:op"]) == ("1", "ov")  # the member's KICK: nothing
        await bus.sequence("#r", event("topic"), set_fields={"topic": "t"}, delete_fields=["^tm"])
        assert "topic" not in (await bus.state("#r"))[1]  # +t (mode:t absent): operators only
        await bus.sequence("#r", event("mode"), set_fields={"mode:t": "0"}, delete_fields=["^oop"])
        await bus.sequence("#r", event("topic"), set_fields={"topic": "t"}, delete_fields=["^tm"])
        await bus.sequence("#r", event("topic"), set_fields={"topic": "x"}, delete_fields=["^tz"])
        seq, fields = await bus.state("#r")
        assert (seq, fields["topic"]) == (7, "t")
        # An INVITE (`^i`): a member may, unless the room is +i (mode:i "1").
        await bus.sequence("#r", event("invite"), set_fields={"i:x": "1"}, delete_fields=["^im"])
        await bus.sequence("#r", event("mode"), set_fields={"mode:i": "1"}, delete_fields=["^oop"])
        await bus.sequence("#r", event("invite"), set_fields={"i:y": "1"}, delete_fields=["^im"])
        fields = (await bus.state("#r"))[1]
        assert "i:x" in fields and "i:y" not in fields
        marked = [
            (payload["t"], "np" in payload)
            for payload in (json.loads(e.payload) for e in await bus.events_after("#r", 0, 20))
        ]
        assert marked == [
            ("join", False),
            ("mode", False),
            ("kick", True),
            ("topic", True),
            ("mode", False),
            ("topic", False),
            ("topic", True),  # (by no member)
            ("invite", False),
            ("mode", False),
            ("invite", True),
        ]


async def test_unsubscribe_stops_delivery(redis_url: str) -> None:
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_b.bus.subscribe("#r")
        await node_a.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"one")
        await until(lambda: node_b.seqs("#r") == [1], what="first event on b")
        await node_b.bus.unsubscribe("#r")
        await node_a.bus.sequence("#r", b"two")
        await node_a.bus.subscribe("#other")
        marker = await node_b.bus.sequence("#other", b"fence")
        # Redis publishes in script order: once a has the later event, b had its chance.
        await until(lambda: node_a.events["#other"] == [marker], what="the fence on a")
        await until(lambda: node_a.seqs("#r") == [1, 2], what="both on a")
        assert node_b.seqs("#r") == [1]


async def test_concurrent_sequencers_on_two_nodes_agree_on_one_order(redis_url: str) -> None:
    rooms = ["#one", "#two", "#three"]
    per_node = 150
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        for room in rooms:
            await node_a.bus.subscribe(room)
            await node_b.bus.subscribe(room)

        async def send(node_name: str, bus_index: int) -> None:
            bus = (node_a, node_b)[bus_index].bus
            await asyncio.gather(
                *(
                    bus.sequence(rooms[number % len(rooms)], f"{node_name}{number}".encode())
                    for number in range(per_node)
                )
            )

        await asyncio.gather(send("a", 0), send("b", 1))
        total = 2 * per_node
        await until(
            lambda: all(
                sum(len(node.events[room]) for room in rooms) == total for node in (node_a, node_b)
            ),
            what="every event on both nodes",
        )
        for room in rooms:
            seqs = node_a.seqs(room)
            assert seqs == list(range(1, len(seqs) + 1))
            assert node_a.events[room] == node_b.events[room]
            times = [event.time_ms for event in node_a.events[room]]
            assert times == sorted(times)
            # The stream (what CHATHISTORY-style reads see) has that same order.
            assert await node_b.bus.events_after(room, 0, 1000) == node_a.events[room]
        sent = {f"{name}{number}".encode() for name in "ab" for number in range(per_node)}
        delivered = [event.payload for room in rooms for event in node_b.events[room]]
        assert sorted(delivered) == sorted(sent)


async def test_resubscribing_at_once_keeps_the_subscription(redis_url: str) -> None:
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_b.bus.subscribe("#r")
        await node_b.bus.unsubscribe("#r")
        assert await node_b.bus.subscribe("#r") == (0, {})
        with pytest.raises(ValueError, match="already subscribed"):
            await node_b.bus.subscribe("#r")
        event = await node_a.bus.sequence("#r", b"one")
        await until(lambda: node_b.events["#r"] == [event], what="delivered after resubscribing")


async def test_one_nodes_calls_are_sequenced_in_call_order(redis_url: str) -> None:
    async with running(redis_url, "a") as node_a:
        calls = [node_a.bus.sequence("#r", str(number).encode()) for number in range(300)]
        results = await asyncio.gather(*calls)
        assert [event.seq for event in results] == list(range(1, 301))
        assert [event.payload for event in results] == [str(n).encode() for n in range(300)]
        # Concurrent calls share pipelines: far fewer round trips than calls.
        assert node_a.bus.sequencer.batches < node_a.bus.sequencer.calls
