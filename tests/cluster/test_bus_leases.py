"""Claims, the directory, node leases and the janitor, against a real redis-server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from bus_helpers import running, until_heartbeats
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.cluster.bus import Bus, BusUnavailable, Return
from support.waiting import until, until_awaited

pytestmark = pytest.mark.asyncio

# A short lease so that a dead node is noticed within a test; the heartbeat well inside it.
FAST = {"lease_ms": 3_000, "heartbeat_ms": 100}


async def test_a_claim_is_exclusive_until_released(redis_url: str) -> None:
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        assert await node_a.bus.claim("nick:alice", "alice!a@host")
        assert not await node_b.bus.claim("nick:alice", "alice!b@host")
        assert await node_b.bus.claimed("nick:alice") == "alice!a@host"
        # The owner may claim again (idempotent), updating the value.
        assert await node_a.bus.claim("nick:alice", "alice!renamed@host")
        assert await node_a.bus.claimed("nick:alice") == "alice!renamed@host"
        await node_b.bus.release("nick:alice")  # not b's: nothing happens
        assert await node_b.bus.claimed("nick:alice") == "alice!renamed@host"
        await node_a.bus.release("nick:alice")
        assert await node_a.bus.claimed("nick:alice") is None
        assert await node_b.bus.claim("nick:alice", "alice!b@host")
        assert await node_a.bus.claimed("nick:nobody") is None


async def test_claims_are_numbered_in_the_order_the_bus_takes_them(redis_url: str) -> None:
    """A claim's number (MONITOR tells an earlier holder's late `online` by it) grows with
    each claim taken, also when Redis lost the last number given; one held again keeps its
    number."""
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        first = await node_a.bus.claim("nick:frank", "frank")
        assert first > 0
        assert await node_a.bus.claim("nick:frank", "frank") == first  # (held again)
        assert await node_b.bus.claim("nick:frank", "frank") == 0
        await node_a.bus.release("nick:frank")
        second = await node_b.bus.claim("nick:frank", "frank")
        assert second > first
        redis = Redis.from_url(redis_url)
        await redis.delete(scripts.CLAIMED_KEY)  # (lost: the number is the clock's)
        await redis.aclose()
        assert await node_a.bus.claim("nick:other", "other") > second


async def test_the_directory_is_per_node_and_readable_everywhere(redis_url: str) -> None:
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        await node_a.bus.put("user:alice", '{"host": "a"}', "nick:alice")
        assert await node_b.bus.get("user:alice") == '{"host": "a"}'
        await node_b.bus.drop("user:alice")  # not b's entry
        assert await node_b.bus.get("user:alice") == '{"host": "a"}'
        await node_a.bus.drop("user:alice")
        assert await node_b.bus.get("user:alice") is None


async def test_a_directory_entry_is_not_written_over_the_nick_holders(redis_url: str) -> None:
    # After Redis lost events two nodes may each have taken one nick; the one that has not
    # learnt yet that it lost must not write over the holder's entry (and drop it later).
    async with running(redis_url, "a") as node_a, running(redis_url, "b") as node_b:
        assert await node_a.bus.claim("nick:bob", "bob")
        assert await node_a.bus.put("user:bob", '{"host": "a"}', "nick:bob")
        assert not await node_b.bus.put("user:bob", '{"host": "b"}', "nick:bob")
        await node_b.bus.drop("user:bob")
        assert await node_b.bus.get("user:bob") == '{"host": "a"}'
        # Nobody's claim (Redis lost it, and the node's claim again is on its way): written.
        assert await node_b.bus.put("user:carol", '{"host": "b"}', "nick:carol")
        assert await node_a.bus.get("user:carol") == '{"host": "b"}'


async def test_close_releases_the_nodes_claims_and_directory_without_a_janitor(
    redis_url: str,
) -> None:
    async with running(redis_url, "b", **FAST) as node_b:
        async with running(redis_url, "a", **FAST) as node_a:
            assert await node_a.bus.claim("nick:alice", "alice")
            await node_a.bus.put("user:alice", "{}", "nick:alice")
        assert await node_b.bus.claimed("nick:alice") is None
        assert await node_b.bus.get("user:alice") is None
        assert node_b.lost == []


async def test_a_second_live_node_with_the_same_id_is_refused(redis_url: str) -> None:
    async with running(redis_url, "a"):
        twin = Bus(
            redis_url,
            "a",
            on_event=lambda event: None,
            on_node_lost=lambda node, claims: None,
            on_available=lambda available: None,
            lease_ms=1000,  # (it waits three of its leases for the live node's to lapse)
            heartbeat_ms=100,
        )
        with pytest.raises(ValueError, match="in use"):
            await twin.start()
        await twin.close()


# A node in its own process, killed with SIGKILL: it never says goodbye.
DOOMED_NODE = textwrap.dedent(
    """
    import asyncio, sys
    from hubbub.cluster.bus import Bus

    async def main() -> None:
        quiet = lambda *args: None
        bus = Bus(sys.argv[1], "doomed", on_event=quiet, on_node_lost=quiet,
                  on_available=quiet, lease_ms=3000, heartbeat_ms=100)
        await bus.start()
        assert await bus.claim("nick:carol", "carol!c@doomed")
        assert await bus.claim("nick:dave", "dave!d@doomed")
        await bus.put("user:carol", "{}", "nick:carol")
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@asynccontextmanager
async def doomed_node(redis_url: str) -> AsyncIterator[None]:
    """The doomed node started (its claims made), then killed with SIGKILL on the way out."""
    doomed = subprocess.Popen(
        [sys.executable, "-c", DOOMED_NODE, redis_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert doomed.stdout is not None
        # Read in a thread: the survivors' heartbeats go on meanwhile.
        assert await asyncio.to_thread(doomed.stdout.readline) == "ready\n"
        yield
    finally:
        doomed.kill()
        doomed.wait()


async def test_a_killed_node_is_lost_on_exactly_one_survivor(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a, running(redis_url, "b", **FAST) as node_b:
        async with doomed_node(redis_url):
            assert not await node_a.bus.claim("nick:carol", "carol!c@a")
        # Buried: no longer a registered node, its janitor key gone.
        await until(
            lambda: len(node_a.lost) + len(node_b.lost) == 1,
            timeout=30,
            what="on_node_lost on a survivor",
        )
        [(dead, claims)] = node_a.lost + node_b.lost
        assert dead == "doomed"
        assert claims == {"nick:carol": "carol!c@doomed", "nick:dave": "dave!d@doomed"}

        async def buried() -> bool:
            return not await redis.sismember(scripts.NODES_KEY, "doomed")

        await until_awaited(buried, what="the dead node's records deleted")
        assert await node_a.bus.claimed("nick:carol") is None
        assert await node_a.bus.get("user:carol") is None
        assert await node_b.bus.claim("nick:carol", "carol!c@b")
        # Several heartbeats later, still exactly one.
        await until_heartbeats(node_a.bus, 5)
        assert len(node_a.lost) + len(node_b.lost) == 1
        assert node_a.availability == [True] and node_b.availability == [True]
    await redis.aclose()


async def test_a_dead_nodes_claims_go_once_its_burial_is_over(redis_url: str) -> None:
    """The survivor burying a dead node (on_node_lost: its users' QUITs in every room) may
    take a while; its nicks stay claimed until then, so nobody takes one while a room still
    lists the dead user under it (whose QUIT would then delete the new holder's fields)."""
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a, running(redis_url, "b", **FAST) as node_b:
        over = asyncio.Event()
        node_a.burying = node_b.burying = over
        async with doomed_node(redis_url):
            pass
        await until(lambda: node_a.lost or node_b.lost, timeout=30, what="on_node_lost")
        await until_heartbeats(node_a.bus, 3)
        assert not await node_a.bus.claim("nick:carol", "carol!c@a")  # still the dead node's
        assert await redis.sismember(scripts.NODES_KEY, "doomed")
        over.set()

        async def buried() -> bool:
            return not await redis.sismember(scripts.NODES_KEY, "doomed")

        await until_awaited(buried, what="the dead node buried once its burial was over")
        assert await node_a.bus.claim("nick:carol", "carol!c@a")
        assert len(node_a.lost) + len(node_b.lost) == 1
    await redis.aclose()


async def test_a_burial_unlists_the_dead_nodes_entries_before_its_claims_go(
    redis_url: str,
) -> None:
    """The burier drops the dead node's directory entries first (hubbub.cluster.node `_bury`:
    before its users are announced offline), its claims staying until the burial is over."""
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a, running(redis_url, "b", **FAST) as node_b:
        over = asyncio.Event()
        node_a.burying = node_b.burying = over
        async with doomed_node(redis_url):
            assert await node_a.bus.get("user:carol") == "{}"
        await until(lambda: node_a.lost or node_b.lost, timeout=30, what="on_node_lost")
        burier, other = (node_a, node_b) if node_a.lost else (node_b, node_a)
        await other.bus.unlist("doomed")  # not its burial: nothing happens
        assert await burier.bus.get("user:carol") == "{}"
        await burier.bus.unlist("doomed")
        assert await burier.bus.get("user:carol") is None
        assert not await redis.exists(scripts.node_directory_key("doomed"))
        assert await burier.bus.claimed("nick:carol") == "carol!c@doomed"
        over.set()
        await until_awaited(
            lambda: burier.bus.claim("nick:carol", "carol!c@a"), what="its claims gone"
        )
    await redis.aclose()


async def test_a_node_declared_dead_reports_it_and_registers_again(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    # a renews rarely: its lease can lapse (here: is taken away) and be buried before it notices.
    slow = {"lease_ms": 60_000, "heartbeat_ms": 30_000}
    async with running(redis_url, "a", **slow) as node_a, running(redis_url, "b", **FAST) as node_b:
        assert await node_a.bus.claim("nick:alice", "alice")
        await redis.delete(scripts.lease_key("a"))  # as if a had been partitioned too long
        await until(
            lambda: node_b.lost == [("a", {"nick:alice": "alice"})], timeout=30, what="a buried"
        )
        # Whatever a does next on its lost lease fails, and makes it register anew.
        with pytest.raises(BusUnavailable):
            await node_a.bus.claim("nick:alice2", "alice")
        await until(lambda: node_a.availability == [True, False, True], what="a back")
        assert await node_a.bus.claimed("nick:alice") is None  # the node re-claims after True
        assert await node_a.bus.claim("nick:alice", "alice")
        assert await redis.sismember(scripts.NODES_KEY, "a")
    await redis.aclose()


async def test_a_lapsed_lease_nobody_buried_is_simply_renewed(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    # Only a is here: nobody buries it, and its next heartbeat finds its lease gone.
    async with running(redis_url, "a", **FAST) as node_a:
        assert await node_a.bus.claim("nick:alice", "alice")
        await redis.delete(scripts.lease_key("a"))
        await until_awaited(lambda: redis.exists(scripts.lease_key("a")), what="lease renewed")
        assert await node_a.bus.claimed("nick:alice") == "alice"
        assert node_a.availability == [True]
    await redis.aclose()


async def test_a_node_declared_dead_while_away_is_told_when_it_is_back(redis_url: str) -> None:
    """Its users were QUIT everywhere by whoever buried it; the node must know, to let them go
    too (hubbub.cluster.node) rather than write them back into the rooms."""
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a:
        # What a survivor's BURY leaves of a node: no lease, not a registered node.
        await redis.delete(scripts.lease_key("a"))
        await redis.srem(scripts.NODES_KEY, "a")
        await until(lambda: node_a.availability == [True, False, True], what="registered anew")
        assert node_a.bus.returned == Return(declared_dead=True)
        assert await redis.sismember(scripts.NODES_KEY, "a")
    await redis.aclose()
