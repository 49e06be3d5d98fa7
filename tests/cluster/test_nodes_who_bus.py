"""The bus's reads behind WHO with a mask across nodes (hubbub.cluster.bus `directory_keys`,
`get_many`; hubbub.cluster.directory `Directory.users`), against a real redis-server."""

from __future__ import annotations

import json

import pytest
from bus_helpers import running

from hubbub.cluster import directory as directory_module
from hubbub.cluster.directory import Directory
from support.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]  # fixtures used below

pytestmark = pytest.mark.asyncio


async def test_directory_keys_and_entries_of_every_node(redis_url: str) -> None:
    async with running(redis_url, "node-a") as node_a, running(redis_url, "node-b") as node_b:
        assert await node_a.bus.directory_keys() == []
        await node_a.bus.put("user:alice", "A", "nick:alice")
        await node_b.bus.put("user:bob", "B", "nick:bob")
        await node_b.bus.put("user:bea", "B2", "nick:bea")
        keys = await node_a.bus.directory_keys()
        assert keys == ["user:alice", "user:bea", "user:bob"]
        assert await node_b.bus.get_many([*keys, "user:nobody"]) == ["A", "B2", "B", None]
        assert await node_b.bus.get_many([]) == []
        await node_b.bus.drop("user:bea")
        assert await node_a.bus.directory_keys() == ["user:alice", "user:bob"]
    # A node that leaves takes its entries with it.
    async with running(redis_url, "node-c") as node_c:
        assert await node_c.bus.directory_keys() == []


async def test_users_reads_page_by_page_and_stops_once_it_has_enough(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory_module, "USER_PAGE", 2)
    async with running(redis_url, "node-a") as node:
        for index in range(7):
            facts = {"n": f"user{index}", "i": index % 2 == 0}
            await node.bus.put(f"user:user{index}", json.dumps(facts), f"nick:user{index}")
        await node.bus.put("room:ignored", json.dumps({"n": "not a user"}), "nick:ignored")
        reads: list[int] = []
        get_many = node.bus.get_many

        async def counted(keys: list[str]) -> list[str | None]:
            reads.append(len(keys))
            return await get_many(keys)

        monkeypatch.setattr(node.bus, "get_many", counted)
        directory = Directory(node.bus)

        def even(entry: str) -> bool:
            return bool(json.loads(entry)["i"])

        found = await directory.users(even, 10)
        assert sorted(json.loads(entry)["n"] for entry in found) == [
            "user0",
            "user2",
            "user4",
            "user6",
        ]
        assert reads == [2, 2, 2, 1]  # every user's entry, two per round trip, no room's
        reads.clear()
        found = await directory.users(even, 2)
        assert len(found) == 2
        assert sum(reads) < 7  # no further than needed
