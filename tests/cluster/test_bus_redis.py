"""Redis stopped, restarted, hung or absent: the bus refuses at once, never hangs, recovers.

Real redis-server processes (support.redis_server): SIGTERM then start on the same port, with
and without persistence; SIGSTOP for a Redis that keeps its connections and answers nothing.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from bus_helpers import Node, running
from redis._parsers import _AsyncHiredisParser
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.cluster.bus import Bus, BusUnavailable, Renamed, Return
from support.redis_server import RedisServer
from support.servers import free_port
from support.waiting import until

pytestmark = pytest.mark.asyncio

# Short lease and timeouts so that failures show within a test; never asserted as durations.
FAST = {"lease_ms": 3_000, "heartbeat_ms": 100, "timeout_ms": 1_000}


async def test_redis_restarted_empty_starts_a_new_epoch(redis_server: RedisServer) -> None:
    async with running(redis_server.url, "a", **FAST) as node_a:
        await node_a.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"one", set_fields={"topic": "t"})
        await node_a.bus.sequence("#r", b"two")
        assert await node_a.bus.claim("nick:alice", "alice")
        await until(lambda: node_a.seqs("#r") == [1, 2], what="both events")
        old_epoch = node_a.bus.epoch

        redis_server.stop()
        await until(lambda: node_a.availability == [True, False], what="Redis reported lost")
        assert not node_a.bus.available
        with pytest.raises(BusUnavailable):
            await node_a.bus.sequence("#r", b"refused")
        with pytest.raises(BusUnavailable):
            await node_a.bus.subscribe("#elsewhere")
        with pytest.raises(BusUnavailable):
            await node_a.bus.claim("nick:bob", "bob")

        redis_server.start()
        await until(lambda: node_a.availability == [True, False, True], what="Redis back")
        # The data set is gone: a new epoch, no claims, no state; the node re-asserts its own.
        assert node_a.bus.epoch not in (None, old_epoch)
        # ...which the node is told, so that it writes its rooms' state again.
        assert node_a.bus.returned == Return(new_epoch=True)
        assert await node_a.bus.claimed("nick:alice") is None
        assert await node_a.bus.state("#r") == (0, {})
        # Still subscribed; the room's sequence starts again within the new epoch.
        after = await node_a.bus.sequence("#r", b"after")
        assert after.seq == 1
        await until(lambda: node_a.events["#r"][-1:] == [after], what="the new epoch's event")
        assert node_a.seqs("#r") == [1, 2, 1]
        assert await node_a.bus.claim("nick:alice", "alice")


async def test_two_nodes_agree_again_after_redis_lost_its_data(
    redis_server: RedisServer,
) -> None:
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "b", **FAST) as node_b,
    ):
        for node in (node_a, node_b):
            await node.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"old")
        for node in (node_a, node_b):
            await until(lambda node=node: node.seqs("#r") == [1], what="the old epoch's event")
        redis_server.restart()
        # Whichever node is back first sequences at once; the other must still deliver it
        # after its own on_available(True), in the new epoch's order.
        sent = 0
        while sent < 20:
            for node in (node_a, node_b):
                if sent < 20 and node.bus.available and len(node.availability) == 3:
                    try:
                        await node.bus.sequence("#r", b"new")
                        sent += 1
                    except BusUnavailable:
                        pass  # its reconnection is still settling
            await asyncio.sleep(0.01)  # not synchronisation: the loop's pace while both return
        for node in (node_a, node_b):
            await until(
                lambda node=node: node.seqs("#r")[1:] == list(range(1, 21)),
                what="the new epoch's events, in order",
            )
            back = node.log.index(("available", True), 1)
            assert node.log[back + 1 :] == [("event", "#r", seq) for seq in range(1, 21)]
        assert node_a.bus.epoch == node_b.bus.epoch
        assert node_a.events["#r"] == node_b.events["#r"]


async def test_redis_restarted_with_its_data_continues_the_sequence() -> None:
    with RedisServer(persistent=True) as server:
        async with (
            running(server.url, "a", **FAST) as node_a,
            running(server.url, "b", **FAST) as node_b,
        ):
            for node in (node_a, node_b):
                await node.bus.subscribe("#r")
            for number in range(3):
                await node_a.bus.sequence("#r", str(number).encode())
            assert await node_b.bus.claim("nick:bob", "bob")
            epoch = node_a.bus.epoch
            await until(lambda: node_b.seqs("#r") == [1, 2, 3], what="first events on b")

            server.restart()
            for node in (node_a, node_b):
                await until(lambda node=node: node.availability == [True, False, True], what="back")
            assert node_a.bus.epoch == node_b.bus.epoch == epoch
            # Nothing lost: neither node is to write its copy of the rooms back; b's claim
            # is still b's.
            assert node_a.bus.returned == Return()
            assert node_b.bus.returned == Return(claims=frozenset({"nick:bob"}))
            # b sequences as soon as it is back; a fills whatever it missed meanwhile.
            for number in range(3, 6):
                await node_b.bus.sequence("#r", str(number).encode())
            for node in (node_a, node_b):
                await until(
                    lambda node=node: node.seqs("#r") == [1, 2, 3, 4, 5, 6], what="all, in order"
                )
            assert node_a.events["#r"] == node_b.events["#r"]
            assert await node_a.bus.claimed("nick:bob") == "bob"
            assert node_a.lost == node_b.lost == []


async def test_a_hung_redis_fails_commands_instead_of_hanging(redis_server: RedisServer) -> None:
    async with running(redis_server.url, "a", **FAST) as node_a:
        await node_a.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"one")
        redis_server.pause()
        try:
            # Either the heartbeat noticed first (refused at once) or this call times out.
            with pytest.raises(BusUnavailable):
                await node_a.bus.sequence("#r", b"into the void")
            await until(lambda: node_a.availability == [True, False], what="Redis reported lost")
        finally:
            redis_server.resume()
        await until(lambda: node_a.availability == [True, False, True], what="Redis back")
        later = await node_a.bus.sequence("#r", b"two")
        await until(lambda: node_a.events["#r"][-1:] == [later], what="delivery again")
        # Nothing was acknowledged and lost: the refused event was never sequenced...
        history = [event.payload for event in await node_a.bus.events_after("#r", 0, 10)]
        # ...unless Redis ran the script just before it froze, and then it is in order, once.
        assert history in ([b"one", b"two"], [b"one", b"into the void", b"two"])
        assert node_a.seqs("#r") == list(range(1, len(history) + 1))


async def test_start_without_redis_fails_at_once() -> None:
    bus = Bus(
        f"redis://127.0.0.1:{free_port()}/0",
        "a",
        on_event=lambda event: None,
        on_node_lost=lambda node, claims: None,
        on_available=lambda available: None,
        timeout_ms=500,
    )
    with pytest.raises(BusUnavailable):
        await bus.start()
    assert not bus.available
    with pytest.raises(BusUnavailable):
        await bus.sequence("#r", b"refused")
    await bus.close()


async def test_a_redis_that_lost_its_last_writes_never_reuses_a_seq(
    redis_server: RedisServer,
) -> None:
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await node_a.bus.subscribe("#r")
        for number in range(3):
            await node_a.bus.sequence("#r", str(number).encode())
        await until(lambda: node_a.seqs("#r") == [1, 2, 3], what="three events")
        # As if Redis came back from an append-only file that missed the last two writes...
        await redis.hset(scripts.seq_key("#r"), "seq", "1")
        # ...and the node's connection broke with the restart.
        [reader] = [
            client
            for client in await redis.client_list()
            if client["name"] == "hubbub-bus:a:events"
        ]
        await redis.client_kill_filter(_id=reader["id"])
        await until(lambda: node_a.availability == [True, False, True], what="reconnected")
        # The room's end was lost: the node is told to write its state there again.
        # (What it read after seq 1 may be what Redis lost.)
        assert node_a.bus.returned == Return(
            behind=frozenset({"#r"}), written_back={"#r": {}}, after={"#r": 3}, lost_from={"#r": 1}
        )
        later = await node_a.bus.sequence("#r", b"after")
        assert later.seq == 4
        await until(lambda: node_a.seqs("#r") == [1, 2, 3, 4], what="no seq delivered twice")
    await redis.aclose()


async def three_events_read(sender: Node, *readers: Node) -> None:
    """`sender` sequences three events in #r; each of `readers` subscribes first and reads
    them."""
    for node in readers:
        await node.bus.subscribe("#r")
    for number in range(3):
        await sender.bus.sequence("#r", str(number).encode())
    for node in readers:
        await until(lambda node=node: node.seqs("#r") == [1, 2, 3], what="three events")


async def kill_event_readers(redis: Redis, *nodes: str) -> None:
    """Break these nodes' event connections, as a Redis restart does."""
    names = {f"hubbub-bus:{node}:events" for node in nodes}
    for client in await redis.client_list():
        if client["name"] in names:
            await redis.client_kill_filter(_id=client["id"])


async def back_again(redis: Redis, *nodes: Node) -> None:
    """Break the nodes' event connections, as a Redis restart does, and wait until each is
    back (unavailable, then available again)."""
    returns = [len(node.availability) for node in nodes]
    await kill_event_readers(redis, *(node.bus.node_id for node in nodes))
    for node, before in zip(nodes, returns, strict=True):
        await until(
            lambda node=node, before=before: (
                len(node.availability) >= before + 2 and node.availability[-2:] == [False, True]
            ),
            what=f"{node.bus.node_id} back again",
        )


async def lose_end(redis: Redis, room: str, seq: int, time_ms: int = 0) -> None:
    """Redis as if back from an append-only file that missed the room's writes after `seq`:
    its seq and its stream end there. `time_ms`: the room's time then (Redis back a second
    after the last event it had, as its clock has it: the room's time is never below it)."""
    await redis.hset(scripts.seq_key(room), "seq", str(seq))
    if time_ms:
        await redis.hset(scripts.seq_key(room), "time", str(time_ms))
    stream = scripts.stream_key(room)
    kept = await redis.xrange(stream, "-", f"{seq}-0")
    await redis.delete(stream)  # (its last id with it: the seqs after `seq` can be reused)
    for entry_id, fields in kept:
        await redis.xadd(stream, fields, id=entry_id)


async def back_without_last_writes(redis: Redis, *nodes: Node) -> None:
    """Redis as if back from an append-only file that missed #r's last two writes (its seq at
    1, its stream without them): the nodes' event connections break, and they reconnect."""
    await lose_end(redis, "#r", 1)
    await back_again(redis, *nodes)


async def test_every_node_that_read_what_redis_lost_is_told_whoever_comes_back_first(
    redis_server: RedisServer,
) -> None:
    """The first node back raises the room's seq over what Redis lost; the second finds the
    seq at or above its own, yet it had read those events too: it is told all the same."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "b", **FAST) as node_b,
    ):
        await three_events_read(node_a, node_a, node_b)
        # As if Redis came back from an append-only file that missed the last two writes; it
        # has b as having written the room back (after an earlier loss).
        await redis.hset(scripts.seq_key("#r"), mapping={"seq": "1", "w:b": "1"})
        await back_again(redis, node_a, node_b)
        for node in (node_a, node_b):
            # Told which nodes have written the room back as Redis has it now.
            assert node.bus.returned == Return(
                behind=frozenset({"#r"}),
                written_back={"#r": {"w:b": "1"}},
                after={"#r": 3},
                lost_from={"#r": 1},
            )
    await redis.aclose()


async def test_a_node_told_of_a_lost_end_learns_which_nodes_have_members_there(
    redis_server: RedisServer,
) -> None:
    """With the loss, the nodes the room's member fields name as homes, each once: a node
    whose user a lost KICK took out, that had not read it, still lists her, as the bus does,
    and is not told; the nodes told ask it to speak (hubbub.core.cluster_resync
    `_ask_silent`). A field that is not a member's facts names nobody."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await three_events_read(node_a, node_a)
        await redis.hset(
            scripts.state_key("#r"),
            mapping={
                "m:alice": json.dumps({"n": "alice", "node": "c"}),
                "s:alice": "o",
                "m:bob": json.dumps({"n": "bob", "node": "a"}),
                "m:carol": json.dumps({"n": "carol", "node": "c"}),
                "m:dave": "not facts",
                "topic": json.dumps({"text": "t", "setter": "x", "at": 1}),
            },
        )
        await back_without_last_writes(redis, node_a)
        assert node_a.bus.returned == Return(
            behind=frozenset({"#r"}),
            written_back={"#r": {"h:a": "1", "h:c": "1"}},
            after={"#r": 3},
            lost_from={"#r": 1},
        )
    await redis.aclose()


async def test_a_node_whose_own_event_redis_lost_before_it_read_it_back_is_told(
    redis_server: RedisServer,
) -> None:
    """A lagging node had not read its own last events back when Redis lost them, and no node
    had read them: the room's seq is not below what it delivered, but its events are gone."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await three_events_read(node_a, node_a)
        # As if it had read only the first (its reader slow) when Redis came back from an
        # append-only file that missed the last two writes.
        feed = node_a.bus._feeds["#r"]
        feed.delivered, feed.delivered_time = 1, 0
        await back_without_last_writes(redis, node_a)
        # (It had read no further than what Redis kept.)
        assert node_a.bus.returned == Return(
            behind=frozenset({"#r"}), written_back={"#r": {}}, after={"#r": 3}, lost_from={"#r": 1}
        )
        later = await node_a.bus.sequence("#r", b"after")
        assert later.seq == 4  # (no seq handed out twice)
    await redis.aclose()


async def test_a_lagging_nodes_own_event_that_redis_kept_is_not_taken_for_lost(
    redis_server: RedisServer,
) -> None:
    """A lagging node had read only the first of its three events when Redis lost the last
    one: the room's end was lost for it, but its second event is still in the stream, and
    comes back (`Return.unread_own`); only the third is lost. (Taken for lost, a NICK's claim
    was released while its event, read later, renamed the user: a cluster fuzz finding.)"""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await three_events_read(node_a, node_a)
        second = node_a.events["#r"][1]
        feed = node_a.bus._feeds["#r"]
        feed.delivered, feed.delivered_time = 1, 0  # (its reader slow)
        await lose_end(redis, "#r", 2)
        await back_again(redis, node_a)
        assert node_a.bus.returned == Return(
            behind=frozenset({"#r"}),
            written_back={"#r": {}},
            after={"#r": 3},
            lost_from={"#r": 2},
            unread_own={"#r": {2: second.time_ms}},
        )
    await redis.aclose()


async def test_a_node_back_after_another_reused_the_seqs_redis_lost_is_told(
    redis_server: RedisServer,
) -> None:
    """Redis lost a room's last events; a node that had not read them sequenced there before
    the nodes that had were back: the seq is no longer below theirs, but their last event is
    not the one the stream has at that seq any more. The events new to them are those later
    than it (the room's time never goes back), and they are delivered those: a node that
    went on after its seq missed the sync a node back first made at a seq it had read
    (a cluster fuzz finding)."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "b", **FAST) as node_b,
        running(redis_server.url, "c", **FAST) as node_c,
    ):
        await three_events_read(node_a, node_a, node_b)
        # As if Redis came back from an append-only file that missed the last two writes...
        last_time = node_a.events["#r"][-1].time_ms
        # ...a second later, as its clock has it.
        await lose_end(redis, "#r", 1, last_time + 1000)
        for number in range(2):  # (c was back first)
            assert (await node_c.bus.sequence("#r", b"again")).seq == 2 + number
        await back_again(redis, node_a, node_b)
        # (Both had read it; a had sent it.)
        for node in (node_a, node_b):
            assert node.bus.returned.behind == frozenset({"#r"})
            assert node.bus.returned.after == {"#r": 1}
            await until(
                lambda node=node: (
                    [event.payload for event in node.events["#r"]][-2:] == [b"again", b"again"]
                ),
                what="the events sequenced since delivered",
            )
            assert node.seqs("#r") == [1, 2, 3, 2, 3]
    await redis.aclose()


async def test_a_node_back_after_another_reused_some_of_the_seqs_redis_lost_is_delivered_them(
    redis_server: RedisServer,
) -> None:
    """Redis lost a room's last two events; a node that had not read them sequenced one there
    before the nodes that had were back, so the seq is still below theirs: the first of them
    back raises it over the seq nobody reused, and both are delivered the event at the seq
    that was (a node told only of the range raised over never applied it: a cluster fuzz
    finding)."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "b", **FAST) as node_b,
        running(redis_server.url, "c", **FAST) as node_c,
    ):
        await three_events_read(node_a, node_a, node_b)
        last_time = node_a.events["#r"][-1].time_ms
        await lose_end(redis, "#r", 1, last_time + 1000)  # (a second later, as its clock has it)
        assert (await node_c.bus.sequence("#r", b"again")).seq == 2  # (c was back first)
        await back_again(redis, node_a, node_b)
        for node in (node_a, node_b):
            assert node.bus.returned.behind == frozenset({"#r"})
            assert node.bus.returned.after == {"#r": 1}
            await until(
                lambda node=node: [event.payload for event in node.events["#r"]][-1] == b"again",
                what="the event at the reused seq delivered",
            )
            assert node.seqs("#r") == [1, 2, 3, 2]
    await redis.aclose()


async def test_a_node_that_only_subscribed_is_told_when_another_reused_its_seq(
    redis_server: RedisServer,
) -> None:
    """A node that subscribed to a room and read no event there since has the snapshot's seq
    and its last event's time for its place (STATE): a node back first that sequenced at that
    seq after Redis lost it is found so (a cluster fuzz finding: a node whose JOIN was refused
    had opened the room and left it, its place then not known, and was never told)."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "c", **FAST) as node_c,
    ):
        sent = [await node_c.bus.sequence("#r", str(number).encode()) for number in range(3)]
        await node_a.bus.subscribe("#r")
        feed = node_a.bus._feeds["#r"]
        assert (feed.delivered, feed.delivered_time) == (3, sent[-1].time_ms)
        # As if Redis came back from an append-only file that missed the last two writes, a
        # second later as its clock has it; c, back first, sequences there again.
        await lose_end(redis, "#r", 1, sent[-1].time_ms + 1000)
        for number in range(2):
            assert (await node_c.bus.sequence("#r", b"again")).seq == 2 + number
        await back_again(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        assert node_a.bus.returned.after == {"#r": 1}
    await redis.aclose()


async def test_a_node_back_after_two_others_raised_the_seq_around_a_new_event_is_told(
    redis_server: RedisServer,
) -> None:
    """Redis lost #r's seqs 2 to 5. Node a (read up to 3) is back first and raises the seq to
    3, then sequences a new event (4); node c (read up to 5) raises it to 5. Node b had read
    up to 2, within the first raise: it is told, though the last raise began after its seq
    (every range is kept, not only the last: a cluster fuzz finding)."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "b", **FAST) as node_b,
        running(redis_server.url, "c", **FAST) as node_c,
    ):
        for node in (node_a, node_b, node_c):
            await node.bus.subscribe("#r")
        for number in range(5):
            await node_c.bus.sequence("#r", str(number).encode())
        for node in (node_a, node_b, node_c):
            await until(lambda node=node: node.seqs("#r")[-1:] == [5], what="five events")
        for node, read in ((node_a, 3), (node_b, 2)):  # (as if their readers were slow)
            feed = node.bus._feeds["#r"]
            feed.delivered, feed.delivered_time, feed.delivered_node = read, 0, ""
        # (b hears nothing more there before it is back, as after Redis's restart.)
        await node_b.bus.unsubscribe("#r")
        # As if Redis came back from an append-only file that missed seqs 2 to 5.
        await lose_end(redis, "#r", 1)
        await back_again(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        assert (await node_a.bus.sequence("#r", b"new")).seq == 4
        for node in (node_c, node_b):
            await back_again(redis, node)
            assert node.bus.returned.behind == frozenset({"#r"})
        assert (await node_b.bus.sequence("#r", b"after")).seq == 6
    await redis.aclose()


async def test_a_node_that_sent_past_a_range_another_raised_over_is_told_it_read_there(
    redis_server: RedisServer,
) -> None:
    """Redis lost #r's seqs 2 to 5. Node a (read up to 3) is back first, raises the seq to 3
    and sequences a new event (4). Node b had read up to 3 too, and sent 4 and 5 (not read
    back: it lagged): back, it raises the seq to 5, past a's new event. What it read at 2 and
    3 is lost too, in a's range: it is told its loss begins after 1, not after 3, or it takes
    its copy's word over the bus's on who has written the room back (`Return.lost_from`; a
    cluster fuzz finding, seed 6032049)."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", **FAST) as node_a,
        running(redis_server.url, "b", **FAST) as node_b,
        running(redis_server.url, "c", **FAST) as node_c,
    ):
        await three_events_read(node_c, node_a, node_b)
        third = node_b.events["#r"][-1]
        for number in range(2):
            await node_b.bus.sequence("#r", f"b{number}".encode())
        for node in (node_a, node_b):
            await until(lambda node=node: node.seqs("#r")[-1:] == [5], what="b's events read")
            feed = node.bus._feeds["#r"]  # (as if their readers were slow: read up to 3)
            feed.delivered, feed.delivered_time, feed.delivered_node = 3, third.time_ms, "c"
        await node_b.bus.unsubscribe("#r")  # (it hears nothing more there before it is back)
        # As if Redis came back from an append-only file that missed seqs 2 to 5, a second
        # later as its clock has it.
        await lose_end(redis, "#r", 1, node_b.bus._left["#r"][1] + 1000)
        await back_again(redis, node_a)
        assert node_a.bus.returned.lost_from == {"#r": 1}
        assert (await node_a.bus.sequence("#r", b"new")).seq == 4
        await back_again(redis, node_b)
        assert node_b.bus.returned.behind == frozenset({"#r"})
        assert node_b.bus.returned.lost_from == {"#r": 1}
        assert node_b.bus.returned.after == {"#r": 1}
    await redis.aclose()


async def test_a_node_told_of_a_loss_is_not_told_of_it_again_but_of_a_new_one(
    redis_server: RedisServer,
) -> None:
    """Back again in a quiet room, a node finds the loss it was told of (its seq within the
    seqs raised over): not news, or its events on their way there would be taken as lost.
    Redis restarted again from before the raise, after the node read another event, is a
    new loss (another range)."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await three_events_read(node_a, node_a)
        await back_without_last_writes(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})

        await back_again(redis, node_a)
        assert node_a.bus.returned.behind == frozenset()
        assert (await node_a.bus.sequence("#r", b"after")).seq == 4
        await until(lambda: node_a.seqs("#r")[-1:] == [4], what="read")
        await redis.hset(scripts.seq_key("#r"), "seq", "1")
        await back_again(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        assert node_a.bus.returned.after == {"#r": 4}
        assert (await node_a.bus.sequence("#r", b"again")).seq == 5
    await redis.aclose()


async def test_a_node_is_told_of_a_lost_end_in_a_room_it_has_left(
    redis_server: RedisServer,
) -> None:
    """Its last event in a room (its last user's QUIT) was lost after it left the room: the
    room is checked all the same, so the node can say that it has nobody there."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await three_events_read(node_a, node_a)
        await node_a.bus.unsubscribe("#r")
        await back_without_last_writes(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        # Told once: back again, the same loss is not news.
        await back_again(redis, node_a)
        assert node_a.bus.returned.behind == frozenset()
        later = await node_a.bus.sequence("#r", b"after")
        assert later.seq == 4  # (no seq handed out twice)
    await redis.aclose()


async def test_a_node_is_told_of_a_rename_it_applied_that_redis_lost(
    redis_server: RedisServer,
) -> None:
    """Each rename a node applied is checked in its old room when the node is back: Redis
    restarted from a file that missed it has the room under its old name, while the node's
    copy is under the new one (docs/cluster.md, the failure model). A rename Redis kept is
    not reported, though events after it were lost."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        await node_a.bus.subscribe("#r")
        sent = [await node_a.bus.sequence("#r", str(number).encode()) for number in range(3)]
        await until(lambda: node_a.seqs("#r") == [1, 2, 3], what="three events")
        await node_a.bus.unsubscribe("#r")
        kept = Renamed("#k", "#r", "#R", 1, sent[0].time_ms, "a")
        lost = Renamed("#n", "#r", "#R", 3, sent[2].time_ms, "a")
        node_a.bus.note_renamed(kept)
        node_a.bus.note_renamed(lost)
        await back_without_last_writes(redis, node_a)  # (the events from seq 2 on lost)
        assert node_a.bus.returned.unrenamed == (lost._replace(after=3),)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        # Reported once: checked again at the next return, the kept one is still there.
        await back_again(redis, node_a)
        assert node_a.bus.returned.unrenamed == ()
    await redis.aclose()


async def test_a_node_never_reuses_the_seq_of_its_own_event_in_a_room_it_does_not_follow(
    redis_server: RedisServer,
) -> None:
    """A node sequences in rooms it does not follow (a dead node's burial): if Redis loses
    those events, the node back first raises the room's seq over them all the same."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        for number in range(3):
            await node_a.bus.sequence("#r", str(number).encode())
        await back_without_last_writes(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        assert (await node_a.bus.sequence("#r", b"after")).seq == 4
    await redis.aclose()


async def test_a_node_back_is_told_the_claims_redis_has_for_it(
    redis_server: RedisServer,
) -> None:
    """A Redis restarted from a file missing its last writes may hold a claim the node had
    released: the node, back, is told which claims are its own now, to give back the rest."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", **FAST) as node_a:
        assert await node_a.bus.claim("nick:alice", "a")
        assert await node_a.bus.claim("nick:bob", "a")
        await node_a.bus.release("nick:bob")
        # As if Redis came back from an append-only file that missed the release.
        await redis.hset(scripts.claim_key("nick:bob"), mapping={"o": "a", "v": "a"})
        await redis.hset(scripts.node_claims_key("a"), "nick:bob", "a")
        await back_again(redis, node_a)
        assert node_a.bus.returned.claims == frozenset({"nick:alice", "nick:bob"})
    await redis.aclose()


async def test_close_while_the_supervisor_is_ending_a_session_returns(
    redis_server: RedisServer,
) -> None:
    node = Node(redis_server.url, "a", **FAST)
    await node.bus.start()
    await node.bus.subscribe("#r")
    # The session fails (as on a dropped connection); one loop turn later the supervisor is in
    # the middle of ending it, waiting for the session's tasks: close() now must not hang.
    node.bus._trouble("test: the connection dropped")
    await asyncio.sleep(0)
    await asyncio.wait_for(node.bus.close(), timeout=30)
    assert not node.bus.available
    assert node.bus._supervisor is not None and node.bus._supervisor.done()


async def test_replies_are_parsed_by_hiredis() -> None:
    """The `redis[hiredis]` dependency: the bus's connections parse Redis's replies and every
    pub/sub event with hiredis, not redis-py's pure-Python parser (per event, on the loop)."""
    bus = Bus(
        f"redis://127.0.0.1:{free_port()}/0",
        "a",
        on_event=lambda event: None,
        on_node_lost=lambda node, claims: None,
        on_available=lambda available: None,
    )
    connection = bus._redis.connection_pool.make_connection()
    assert isinstance(connection._parser, _AsyncHiredisParser)


async def test_the_seq_hash_keeps_the_configured_number_of_lost_ranges(
    redis_server: RedisServer,
) -> None:
    """`cluster.lost_ranges`: each raise over seqs Redis lost notes a range in the seq hash's
    `lost`; beyond the configured number the oldest are forgotten."""
    redis = Redis.from_url(redis_server.url)
    async with running(redis_server.url, "a", lost_ranges=2, **FAST) as node_a:
        await three_events_read(node_a, node_a)
        await back_without_last_writes(redis, node_a)  # (seqs 2 and 3 lost: "1:3")
        for seq in (4, 5):
            assert (await node_a.bus.sequence("#r", b"more")).seq == seq
            await until(lambda seq=seq: node_a.seqs("#r")[-1:] == [seq], what="read")
            # Redis back without the last two writes again: a range of its own each time.
            await redis.hset(scripts.seq_key("#r"), "seq", str(seq - 2))
            await back_again(redis, node_a)
            assert node_a.bus.returned.behind == frozenset({"#r"})
        assert await redis.hget(scripts.seq_key("#r"), "lost") == b"2:4 3:5"
    await redis.aclose()


@pytest.mark.parametrize(("reused_scan", "after"), [(scripts.REUSED_SCAN, 1), (2, 2)])
async def test_a_node_compares_at_most_the_configured_number_of_reused_events(
    redis_server: RedisServer, reused_scan: int, after: int
) -> None:
    """`cluster.reused_scan`: node a had read up to seq 5 when Redis lost seqs 2 to 5; node c,
    back first, sequenced four events there. Going back from seq 5, a compares the events
    before it: later than its last, they are new to it, as far back as it compares."""
    redis = Redis.from_url(redis_server.url)
    async with (
        running(redis_server.url, "a", reused_scan=reused_scan, **FAST) as node_a,
        running(redis_server.url, "c", **FAST) as node_c,
    ):
        await node_a.bus.subscribe("#r")
        for number in range(5):
            await node_a.bus.sequence("#r", str(number).encode())
        await until(lambda: node_a.seqs("#r") == [1, 2, 3, 4, 5], what="five events")
        last_time = node_a.events["#r"][-1].time_ms
        await lose_end(redis, "#r", 1, last_time + 1000)  # (a second later, as its clock has it)
        for number in range(4):
            assert (await node_c.bus.sequence("#r", b"again")).seq == 2 + number
        await back_again(redis, node_a)
        assert node_a.bus.returned.behind == frozenset({"#r"})
        assert node_a.bus.returned.after == {"#r": after}
    await redis.aclose()


async def test_the_lost_end_bounds_must_be_positive() -> None:
    for bounds in ({"lost_ranges": 0}, {"reused_scan": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            Bus(
                "redis://127.0.0.1:1/0",
                "a",
                on_event=lambda event: None,
                on_node_lost=lambda node, claims: None,
                on_available=lambda available: None,
                **bounds,
            )
