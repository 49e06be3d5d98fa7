"""Pub/sub may lose events; the bus may not: gaps are filled from the room's stream.

Drops are injected for real: an event written to Redis without its publish (the key layout of
hubbub.cluster.bus_scripts), and a subscription connection killed with CLIENT KILL.
"""

from __future__ import annotations

import pytest
from bus_helpers import Node, running
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from support.waiting import until

pytestmark = pytest.mark.asyncio

# Short enough that the heartbeat's sweep runs often in a test.
FAST = {"lease_ms": 3_000, "heartbeat_ms": 100}


async def sequence_silently(redis: Redis, room: str, payload: bytes) -> int:
    """What the SEQUENCE script does, minus the PUBLISH: a pub/sub drop of that event."""
    seq = int(await redis.hincrby(scripts.seq_key(room), "seq", 1))
    await redis.xadd(
        scripts.stream_key(room), {"t": "1", "n": "ghost", "p": payload}, id=f"{seq}-0"
    )
    return seq


async def test_a_dropped_event_is_filled_when_the_next_one_arrives(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    # A heartbeat far away: only the live gap can reveal the drop here.
    async with running(redis_url, "a", lease_ms=60_000, heartbeat_ms=30_000) as node_a:
        await node_a.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"one")
        await sequence_silently(redis, "#r", b"two")
        await sequence_silently(redis, "#r", b"three")
        await node_a.bus.sequence("#r", b"four")
        await until(lambda: node_a.seqs("#r") == [1, 2, 3, 4], what="gap filled in order")
        assert [event.payload for event in node_a.events["#r"]] == [
            b"one",
            b"two",
            b"three",
            b"four",
        ]
        assert node_a.availability == [True]
    await redis.aclose()


async def test_a_dropped_last_event_is_found_by_the_heartbeat(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a:
        await node_a.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"one")
        await sequence_silently(redis, "#r", b"two")
        await until(lambda: node_a.seqs("#r") == [1, 2], what="the silent last event")
    await redis.aclose()


async def test_a_killed_subscription_reconnects_and_fills_the_window(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a, running(redis_url, "b", **FAST) as node_b:
        await node_b.bus.subscribe("#r")
        await node_a.bus.sequence("#r", b"one")
        await until(lambda: node_b.seqs("#r") == [1], what="first event on b")
        clients = await redis.client_list()
        [reader] = [client for client in clients if client["name"] == "hubbub-bus:b:events"]
        await redis.client_kill_filter(_id=reader["id"])
        # a keeps sequencing while b is (briefly) without its subscription.
        sent = 1
        while node_b.availability.count(True) < 2 and sent < 500:
            await node_a.bus.sequence("#r", b"more")
            sent += 1
        await until(lambda: node_b.availability[-1:] == [True], what="b back")
        await node_a.bus.sequence("#r", b"last")
        sent += 1
        await until(lambda: len(node_b.events["#r"]) == sent, what="every event on b")
        assert node_b.seqs("#r") == list(range(1, sent + 1))
        assert node_b.availability == [True, False, True]
    await redis.aclose()


async def test_the_stream_is_capped(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    node = Node(redis_url, "a", stream_length=10)
    await node.bus.start()
    try:
        for number in range(400):
            await node.bus.sequence("#r", str(number).encode())
        length = await redis.xlen(scripts.stream_key("#r"))
        # MAXLEN ~ trims whole stream nodes (100 entries by default): about, never below, 10.
        assert 10 <= length < 400
        newest = await node.bus.events_after("#r", 390, 100)
        assert [event.seq for event in newest] == list(range(391, 401))
    finally:
        await node.bus.close()
        await redis.aclose()


async def test_time_never_goes_backwards_in_a_room(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a") as node_a:
        first = await node_a.bus.sequence("#r", b"one")
        # As if Redis's clock had stepped back an hour after the last event.
        ahead = first.time_ms + 3_600_000
        await redis.hset(scripts.seq_key("#r"), "time", str(ahead))
        second = await node_a.bus.sequence("#r", b"two")
        assert second.time_ms == ahead
        other = await node_a.bus.sequence("#other", b"elsewhere")
        assert other.time_ms < ahead  # rooms keep their own clocks
    await redis.aclose()
