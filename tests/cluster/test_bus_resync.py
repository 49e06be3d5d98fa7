"""The SEQUENCE script's marks for writing a room back after Redis lost it, against a real
redis-server: the `^s<seq>` condition of a node's `sync` (hubbub.core.cluster_resync) and the
`new` mark of a JOIN that created the room (hubbub.core.cluster_apply `_creates`).
"""

from __future__ import annotations

import json

import pytest
from bus_helpers import running

pytestmark = pytest.mark.asyncio


async def test_a_sync_changes_the_fields_only_if_nothing_changed_them_since_its_seq(
    redis_url: str,
) -> None:
    """`^s<seq>`: made from a copy with every change up to `seq` applied. A message after it
    changes no field, so the sync is made; a KICK after it does, so the sync changes nothing
    and is marked `"un"` (its node sends it again once it has applied the KICK)."""
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        await bus.sequence("#r", b'{"t":"join"}', set_fields={"room": "r", "m:a": "1"})  # 1
        await bus.sequence("#r", b'{"t":"msg"}')  # 2: changes no field
        await bus.sequence("#r", b'{"t":"sync"}', set_fields={"m:b": "1"}, delete_fields=["^s1"])
        assert (await bus.state("#r"))[1] == {"room": "r", "m:a": "1", "m:b": "1"}
        await bus.sequence("#r", b'{"t":"kick"}', delete_fields=["m:b"])  # 4
        await bus.sequence("#r", b'{"t":"sync"}', set_fields={"m:b": "1"}, delete_fields=["^s3"])
        await bus.sequence("#r", b'{"t":"sync"}', set_fields={"m:c": "1"}, delete_fields=["^s5"])
        events = await bus.events_after("#r", 2, 10)
        payloads = [json.loads(event.payload) for event in events]
        assert payloads == [{"t": "sync"}, {"t": "kick"}, {"t": "sync", "un": 1}, {"t": "sync"}]
        assert (await bus.state("#r"))[1] == {"room": "r", "m:a": "1", "m:c": "1"}


async def test_a_join_whose_creating_fields_apply_is_marked_new(redis_url: str) -> None:
    """`+` names apply only in a room with no member field; the JOIN that so creates the room
    is marked `"new"`, and every node takes it for the room's creator from that mark."""
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        await bus.sequence("#r", b'{"t":"join"}', set_fields={"m:a": "1", "+s:a": "o"})
        await bus.sequence("#r", b'{"t":"join"}', set_fields={"m:b": "1", "+s:b": "o"})
        await bus.sequence("#r", b'{"t":"msg"}')
        payloads = [json.loads(event.payload) for event in await bus.events_after("#r", 0, 10)]
        assert payloads == [{"t": "join", "new": 1}, {"t": "join"}, {"t": "msg"}]
        assert (await bus.state("#r"))[1] == {"m:a": "1", "s:a": "o", "m:b": "1"}
