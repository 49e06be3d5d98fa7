"""After Redis lost its data, against a real redis-server: the SEQUENCE script's marks for
writing a room back (the `^s<seq>` condition of a node's `sync`, hubbub.core.cluster_resync,
its last word on its own members, and the `new` mark of a JOIN that created the room,
hubbub.core.cluster_apply `_creates`), and the nodes that never came back to the new epoch
taken for dead (`Bus._adopt`).
"""

from __future__ import annotations

import json

import pytest
from bus_helpers import running
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from support.waiting import until

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


async def test_a_join_of_the_room_that_is_there_finds_none_and_is_marked_nr(
    redis_url: str,
) -> None:
    """`^r` (a JOIN of a room its node knew): changes nothing if the room has no `room` field,
    and is marked `"nr"`: after Redis lost its data a node's copy of a room nobody wrote back
    cannot tell it is not there, and every node refuses the JOIN from that mark
    (hubbub.core.cluster_apply `_into_no_room`). Once the room is there it joins."""
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        join = b'{"t":"join"}'
        await bus.sequence("#r", join, set_fields={"m:a": "1", "+room": "r"}, delete_fields=["^r"])
        await bus.sequence("#r", join, set_fields={"m:b": "1", "+room": "r"})  # creates it
        await bus.sequence("#r", join, set_fields={"m:c": "1", "+room": "x"}, delete_fields=["^r"])
        payloads = [json.loads(event.payload) for event in await bus.events_after("#r", 0, 10)]
        assert payloads == [{"t": "join", "nr": 1}, {"t": "join", "new": 1}, {"t": "join"}]
        assert (await bus.state("#r"))[1] == {"m:b": "1", "room": "r", "m:c": "1"}


async def test_a_join_into_a_full_room_changes_nothing_and_is_marked_fl(redis_url: str) -> None:
    """`^l<fold>` (hubbub.core.cluster_fields `only_if_room_for`): the bus counts the room's
    member fields against its `mode:l`, not the joiner's own; a JOIN of a full room changes
    no field and is marked `"fl"`, and every node refuses it from that mark, however its copy
    counts the room's members. A JOIN sent twice (its joiner's member field there, as its
    `*m:` field tells) adds nobody: never full, it uses its invitation up as any JOIN."""
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        join = b'{"t":"join"}'
        await bus.sequence("#r", join, set_fields={"m:a": "1", "mode:l": "2", "i:c": "1"})
        await bus.sequence("#r", join, set_fields={"m:b": "1"}, delete_fields=["^lb"])
        # Refused: its invitation is not used up either.
        await bus.sequence("#r", join, set_fields={"m:c": "1"}, delete_fields=["^lc", "i:c"])
        await bus.sequence("#r", join, set_fields={"m:b": "2"}, delete_fields=["^lb"])  # b's own
        await bus.sequence("#r", b'{"t":"mode"}', set_fields={"mode:l": "3"})
        await bus.sequence("#r", join, set_fields={"m:c": "1"}, delete_fields=["^lc"])
        await bus.sequence("#r", b'{"t":"mode"}', set_fields={"mode:l": "2"})
        twice = {"*m:c": '{"id": "c/1"}'}
        await bus.sequence("#r", join, set_fields=twice, delete_fields=["^lc", "i:c"])
        await bus.sequence("#r", join, set_fields={"*m:d": '{"id": "d/1"}'}, delete_fields=["^ld"])
        payloads = [json.loads(event.payload) for event in await bus.events_after("#r", 1, 10)]
        assert payloads == [
            {"t": "join"},
            {"t": "join", "fl": 1},
            {"t": "join"},
            {"t": "mode"},
            {"t": "join"},
            {"t": "mode"},
            {"t": "join"},
            {"t": "join", "fl": 1},
        ]
        fields = (await bus.state("#r"))[1]
        assert fields == {"m:a": "1", "mode:l": "2", "m:b": "2", "m:c": "1"}


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


async def test_a_joins_member_fields_replace_another_users_of_that_nick(redis_url: str) -> None:
    """`*m:<nick>`, `*s:<nick>` (a JOIN's, hubbub.core.cluster_fields `unless_same_user`): set
    unless the member field is the joiner's (its `id`). After Redis lost its data a nick can
    be taken while its old holder is still listed in a room; the new holder's JOIN replaces
    that member, and the old holder's QUIT (`%<nick>%<id>`) then leaves the new one."""
    old = json.dumps({"n": "erin", "id": "n2/1"})
    new = json.dumps({"n": "erin", "id": "n0/2"})
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        await bus.sequence("#r", b'{"t":"join"}', set_fields={"*m:erin": old, "*s:erin": "o"})
        # The same user's JOIN again (a RENAME brought it there meanwhile): nothing changes.
        await bus.sequence("#r", b'{"t":"join"}', set_fields={"*m:erin": old, "*s:erin": ""})
        assert (await bus.state("#r"))[1] == {"m:erin": old, "s:erin": "o"}
        await bus.sequence("#r", b'{"t":"join"}', set_fields={"*m:erin": new, "*s:erin": ""})
        assert (await bus.state("#r"))[1] == {"m:erin": new, "s:erin": ""}
        await bus.sequence("#r", b'{"t":"quit"}', delete_fields=["%erin%n2/1"])
        assert (await bus.state("#r"))[1] == {"m:erin": new, "s:erin": ""}


async def test_a_sync_is_the_last_word_on_its_nodes_members(redis_url: str) -> None:
    """A node's `sync` (hubbub.core.cluster_resync): `@<node>` deletes every member of that
    node before the sync sets those it has (bob's PART, which a lagging node had not read, is
    gone with Redis's data: that node wrote bob back); `~<node>~<name>` sets another node's
    member only where its own node has not written the room back (the lagging node's copy of
    bob cannot come back after b's word)."""
    bob = json.dumps({"n": "bob", "node": "b", "id": "b/1"})
    dave = json.dumps({"n": "dave", "node": "b", "id": "b/2"})
    alice = json.dumps({"n": "alice", "node": "a", "id": "a/1"})
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        lagging = {"room": "r", "m:alice": alice, "~b~m:bob": bob, "~b~s:bob": ""}
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=lagging)
        with_bob = {"room": "r", "m:alice": alice, "m:bob": bob, "s:bob": ""}
        assert (await bus.state("#r"))[1] == with_bob
        own = {"room": "r", "m:dave": dave, "s:dave": "o"}
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=own, delete_fields=["@b"])
        # (`w:b`: read with the state, kept with the room's sequence.)
        after_b = {"room": "r", "m:alice": alice, "m:dave": dave, "s:dave": "o", "w:b": "1"}
        assert (await bus.state("#r"))[1] == after_b
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=lagging)
        assert (await bus.state("#r"))[1] == after_b
        # A node none of whose users is in a room says so: no state, no place in the list.
        await bus.sequence("#gone", b'{"t":"sync"}', delete_fields=["@c"])
        assert (await bus.state("#gone"))[1] == {"w:c": "1"}
        assert "#gone" not in await bus.rooms()
        # A RENAME takes the room's note with it, in place of an earlier room's of that name.
        assert await bus.rename("#r", "#gone", (b"", b""), (b"", b""), {}) == 1
        assert (await bus.state("#gone"))[1] == after_b
        marker = (await bus.events_after("#gone", 0, 10))[-1]
        assert json.loads(marker.payload) == after_b  # (the marker carries them too)


FAST = {"lease_ms": 3_000, "heartbeat_ms": 100, "timeout_ms": 1_000}


async def test_a_node_the_rooms_list_that_never_came_back_is_buried(redis_url: str) -> None:
    """Redis lost its data while node c was dead: c never registers in the new epoch, so no
    lease of its can run out. A live node's sync lists c's user in #r; one lease after the
    new epoch began, the live node takes c for dead and its janitor buries it (its users'
    QUITs, hubbub.cluster.node), as any dead node. It used to stay in the rooms for good."""
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a", **FAST) as node_a:
        await redis.flushall()  # (the node's next call finds the epoch gone)
        await until(lambda: node_a.availability[-2:] == [False, True], what="the new epoch")
        assert node_a.bus.returned.new_epoch
        carol = json.dumps({"n": "carol", "node": "c", "id": "c/1/1"})
        await node_a.bus.sequence("#r", b'{"t":"sync"}', set_fields={"room": "r", "m:carol": carol})
        await until(lambda: node_a.lost, timeout=30, what="node c buried")
        assert node_a.lost == [("c", {})]
        assert not node_a.bus.returned.declared_dead
    await redis.aclose()


async def test_a_node_taken_for_dead_in_a_new_epoch_is_told_when_it_registers(
    redis_url: str,
) -> None:
    """REGISTER of a process that registered before (it is coming back), finding its node id
    among the nodes with no lease: `returned` (it was taken for dead, its users leave), unless
    a janitor is burying it (`stale`: it waits); a new process finding that is a dead
    predecessor's survivor (`stale`: it buries it first)."""
    redis = Redis.from_url(redis_url)
    async with running(redis_url, "a") as node_a:
        register = node_a.bus._scripts["REGISTER"]
        epoch = node_a.bus.epoch
        keys = [
            scripts.EPOCH_KEY,
            scripts.lease_key("c"),
            scripts.NODES_KEY,
            scripts.janitor_key("c"),
            scripts.BEATS_KEY,
        ]
        beat = "1700000000000 3000 100"
        await redis.sadd(scripts.NODES_KEY, "c")
        assert await register(keys=keys, args=[epoch, "c", "t1", 3000, "", beat]) == b"stale"
        await redis.set(scripts.janitor_key("c"), "a")
        assert await register(keys=keys, args=[epoch, "c", "t1", 3000, "1", beat]) == b"stale"
        await redis.delete(scripts.janitor_key("c"))
        assert await register(keys=keys, args=[epoch, "c", "t1", 3000, "1", beat]) == b"returned"
        assert await redis.hget(scripts.BEATS_KEY, "c") == beat.encode()
        assert await redis.get(scripts.lease_key("c")) == b"t1"
    await redis.aclose()


async def test_a_sync_not_ranked_replaces_the_rooms_own_fields(redis_url: str) -> None:
    """`^W` (hubbub.core.cluster_fields `REPLACES_ROOM`): a sync after Redis lost the end of a
    room, the copies' places not known, replaces the room's own fields (an invitation its copy
    lacks, used by a JOIN Redis lost, goes) and leaves the other members' and `w:*` alone."""
    before = {"room": "r", "topic": "old", "i:dave": "7", "m:a": "1", "m:b": "1"}
    copy = {"room": "r", "topic": "new", "mode:m": "1", "m:a": "1"}
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        await bus.sequence("#r", b'{"t":"join"}', set_fields=before)
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=copy, delete_fields=["^W"])
        assert (await bus.state("#r"))[1] == {**copy, "m:b": "1"}


async def test_a_sync_from_a_copy_that_had_read_less_leaves_the_rooms_own_fields(
    redis_url: str,
) -> None:
    """`^w<seq>` (hubbub.core.cluster_fields `read_up_to`): a sync's room fields replace the
    room's (those its copy lacks go) unless a sync from a copy that had read further came
    first; its member fields are written either way. `w:*` says how far, read with the state
    and moved by a RENAME. The invitations (`i:<nick>`) are the room's own: an invitation the
    further copy lacks goes."""
    ahead = {"room": "r", "topic": "after", "mode:m": "1", "i:y": "7", "m:a": "1"}
    behind = {"room": "r", "topic": "before", "mode:m": "0", "list:b:x": "[]", "i:x": "7"}
    behind["m:b"] = "1"
    async with running(redis_url, "a") as node_a:
        bus = node_a.bus
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=behind, delete_fields=["^w5"])
        assert (await bus.state("#r"))[1] == {**behind, "w:*": "5"}
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=ahead, delete_fields=["^w9"])
        assert (await bus.state("#r"))[1] == {**ahead, "m:b": "1", "w:*": "9"}
        await bus.sequence("#r", b'{"t":"sync"}', set_fields=behind, delete_fields=["^w5"])
        assert (await bus.state("#r"))[1] == {**ahead, "m:b": "1", "w:*": "9"}
        assert await bus.rename("#r", "#s", (b"[", b"]"), (b"{", b"}"), {}) == 1
        assert (await bus.state("#s"))[1]["w:*"] == "9"
