"""What LUSERS and LINKS know of the network, against a real redis-server: each node's users
and server, written by its heartbeat and read back with the other live nodes' (`Bus.counted`),
and the channels with members, a set the SEQUENCE and RENAME scripts keep
(bus_scripts.CHANNELS_KEY)."""

from __future__ import annotations

import pytest
from bus_helpers import running, until_heartbeats
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.cluster.bus import Headcount
from support.waiting import until


@pytest.mark.asyncio
async def test_the_channels_set_holds_the_channels_with_members(redis_url: str) -> None:
    """A channel keeps its `room` field after its last member left: it has state (ROOMS_KEY)
    but is not formed any more. The nodes' own rooms are never channels. A RENAME moves the
    channel with its members."""
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus

        async def channels() -> set[bytes]:
            return set(await redis.smembers(scripts.CHANNELS_KEY))

        await bus.sequence("#r", b'{"t":"join"}', set_fields={"room": "r", "m:a": "1"})
        await bus.sequence("#q", b'{"t":"join"}', set_fields={"room": "q", "m:a": "1"})
        await bus.sequence("~node:a", b'{"t":"x"}', set_fields={"m:a": "1"})
        assert await channels() == {b"#r", b"#q"}
        await bus.sequence("#r", b'{"t":"msg"}')
        await bus.sequence("#q", b'{"t":"join"}', set_fields={"m:b": "1", "s:b": "o"})
        await bus.sequence("#q", b'{"t":"part"}', delete_fields=["m:a"])
        assert await channels() == {b"#r", b"#q"}
        await bus.sequence("#q", b'{"t":"part"}', delete_fields=["m:b", "s:b"])
        assert await channels() == {b"#r"}
        assert b"#q" in await redis.smembers(scripts.ROOMS_KEY)
        assert await bus.rename("#r", "#s", (b"[", b"]"), (b"{", b"}"), {}) == 1
        assert await channels() == {b"#s"}
    await redis.aclose()


@pytest.mark.asyncio
async def test_each_node_reads_the_others_counts_until_they_leave(redis_url: str) -> None:
    counts = {"a": Headcount(3, 1, "a.example"), "b": Headcount(5, 2, "b.example", "node b")}
    async with running(redis_url, "a", lambda: counts["a"], heartbeat_ms=50) as node_a:
        async with running(redis_url, "b", lambda: counts["b"], heartbeat_ms=50) as node_b:
            await node_b.bus.sequence("#r", b'{"t":"join"}', set_fields={"m:b": "1"})
            await until(
                lambda: node_a.bus.counted is not None and "b" in node_a.bus.counted.others,
                what="node a has read node b's count",
            )
            counted = node_a.bus.counted
            assert counted is not None
            assert dict(counted.others) == {"b": Headcount(5, 2, "b.example", "node b")}
            assert counted.channels == 1
            counts["b"] = Headcount(4, 0, "b.example", "node b, its users gone")
            await until(
                lambda: (
                    node_a.bus.counted is not None
                    and node_a.bus.counted.others.get("b")
                    == Headcount(4, 0, "b.example", "node b, its users gone")
                ),
                what="node a has read node b's new count",
            )
        # Node b left: its count goes with it (node a drops it from the census).
        await until_heartbeats(node_a.bus, 2)
        assert node_a.bus.counted is not None and dict(node_a.bus.counted.others) == {}
        redis = Redis.from_url(redis_url)
        assert await redis.hkeys(scripts.CENSUS_KEY) == [b"a"]
        await redis.aclose()


def test_a_headcount_reads_back_as_written_and_an_older_one_without_its_server() -> None:
    """The census value is one line: the server's name has no space, its description (last)
    may have some, and only its first line is kept. A node that wrote only its counts is read
    with no server (LINKS leaves it out)."""
    written = Headcount(7, 2, "b.example", "the second node\nof two")
    assert written.encode() == "7 2 b.example the second node"
    assert Headcount.decode(written.encode()) == Headcount(7, 2, "b.example", "the second node")
    assert Headcount.decode(Headcount(1, 0, "c.example").encode()) == Headcount(1, 0, "c.example")
    assert Headcount.decode("3 1") == Headcount(3, 1)
