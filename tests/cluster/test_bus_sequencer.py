"""The Sequencer: sequence() calls batched in call order; cancelled calls unsent; bounded; each
call bounded in time from when it was made. sequence_soon(): the same, answered by callback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bus_helpers import running
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.cluster import sequencer
from hubbub.cluster.bus import BusUnavailable, Sequenced
from support.redis_server import RedisServer
from support.waiting import WAIT, until

pytestmark = pytest.mark.asyncio


async def test_a_call_cancelled_before_its_batch_leaves_is_never_sequenced(
    redis_url: str,
) -> None:
    async with running(redis_url, "a") as node_a:
        await node_a.bus.subscribe("#r")
        tasks = [
            asyncio.create_task(node_a.bus.sequence("#r", str(number).encode()))
            for number in range(10)
        ]
        # One loop turn: every call is queued; the sender (created by the first) has not run.
        await asyncio.sleep(0)
        tasks[5].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[5], asyncio.CancelledError)
        sent = [result for result in results if not isinstance(result, BaseException)]
        assert [event.seq for event in sent] == list(range(1, 10))
        stored = await node_a.bus.events_after("#r", 0, 100)
        assert [event.payload for event in stored] == [
            str(number).encode() for number in range(10) if number != 5
        ]


async def test_too_many_waiting_calls_are_refused(
    redis_url: str,
) -> None:
    async with running(redis_url, "a", queue_limit=4) as node_a:
        calls = [node_a.bus.sequence("#r", str(number).encode()) for number in range(6)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = [result for result in results if isinstance(result, BusUnavailable)]
        assert len(refused) == 2
        # Refusing is not an outage: the bus stays available and the others went through.
        assert node_a.bus.available and node_a.availability == [True]
        assert [event.seq for event in await node_a.bus.events_after("#r", 0, 10)] == [1, 2, 3, 4]


async def test_sequence_soon_answers_by_callback_in_call_order(redis_url: str) -> None:
    """The node's path (no task per event): each callback gets its own event, seqs in call
    order, and never before sequence_soon() has returned."""
    async with running(redis_url, "a") as node_a:
        answers: list[Sequenced | BusUnavailable] = []
        pending = [
            node_a.bus.sequence_soon("#r", str(number).encode(), answers.append)
            for number in range(20)
        ]
        assert answers == []  # answered on later turns of the loop, not from inside the call
        await asyncio.gather(*pending)
        await until(lambda: len(answers) == 20, WAIT, "20 answers")
        assert all(isinstance(answer, Sequenced) for answer in answers)
        events = [answer for answer in answers if isinstance(answer, Sequenced)]
        assert [event.seq for event in events] == list(range(1, 21))
        assert [event.payload for event in events] == [str(n).encode() for n in range(20)]


async def test_sequence_soon_refuses_by_callback(
    redis_url: str,
) -> None:
    """A full queue refuses with BusUnavailable through the callback (on a later turn), and
    the bus stays available; the calls that fit are sequenced."""
    async with running(redis_url, "a", queue_limit=4) as node_a:
        answers: list[Sequenced | BusUnavailable] = []
        for number in range(6):
            node_a.bus.sequence_soon("#r", str(number).encode(), answers.append)
        assert answers == []
        await until(lambda: len(answers) == 6, WAIT, "6 answers")
        assert sum(isinstance(answer, BusUnavailable) for answer in answers) == 2
        assert node_a.bus.available
        assert [event.seq for event in await node_a.bus.events_after("#r", 0, 10)] == [1, 2, 3, 4]


async def test_a_call_past_its_deadline_while_queued_is_refused_unsent(redis_url: str) -> None:
    """Each call is bounded from the moment it is made (one deadline per batch, the oldest
    call's): one still queued when its time is up fails with TimeoutError and never reaches
    Redis (its outcome is known: not sequenced). A zero timeout makes every call late."""
    client = Redis.from_url(redis_url)
    try:
        late = sequencer.Sequencer(client, scripts.SEQUENCE, timeout=0.0)
        keys = scripts.sequence_keys("#r")
        with pytest.raises(TimeoutError):
            await late.call(keys, ["", "#r", "a", b"x", 100, scripts.events_channel("#r"), 0])
        assert late.batches == 0 and late.calls == 0
        assert await client.exists(scripts.seq_key("#r"), scripts.stream_key("#r")) == 0
    finally:
        await client.aclose()


#: The epoch the tests below set in their fresh Redis (SEQUENCE checks it first).
EPOCH = "test-epoch"


def sequence_request(room: str, payload: bytes) -> tuple[list[str], list[object]]:
    """The keys and arguments of one SEQUENCE call (as Bus._sequence_request makes them)."""
    return scripts.sequence_keys(room), [
        EPOCH,
        room,
        "a",
        payload,
        100,
        scripts.events_channel(room),
        0,
    ]


async def test_a_batch_in_flight_past_its_deadline_fails_and_the_next_goes_out_anew(
    redis_server: RedisServer,
) -> None:
    """A batch sent to a Redis that stopped answering fails with TimeoutError at its deadline
    (outcome unknown), and its connection is closed: once Redis answers, the next call goes
    out on a new connection and gets its own answer (never the lost call's, read late)."""
    client = Redis.from_url(redis_server.url)
    try:
        await client.set(scripts.EPOCH_KEY, EPOCH)
        bounded = sequencer.Sequencer(client, scripts.SEQUENCE, timeout=0.5)
        assert (await bounded.call(*sequence_request("#r", b"one")))[0] == 1
        redis_server.pause()
        try:
            with pytest.raises(TimeoutError):
                await bounded.call(*sequence_request("#r", b"into the void"))
        finally:
            redis_server.resume()
        assert bounded._connection is None  # disconnected and given back to the pool
        answer = await bounded.call(*sequence_request("#r", b"two"))
        # Redis ran the lost call when it woke up (it had read it): "two" comes after it.
        assert answer[0] == 3
        await bounded.close()
    finally:
        await client.aclose()


async def test_batches_share_one_connection(redis_url: str) -> None:
    """One connection carries batch after batch (none taken from the pool per batch)."""
    client = Redis.from_url(redis_url)
    try:
        await client.set(scripts.EPOCH_KEY, EPOCH)
        reused = sequencer.Sequencer(client, scripts.SEQUENCE, timeout=2.0)
        await reused.call(*sequence_request("#r", b"one"))
        kept = reused._connection
        for number in range(3):
            await reused.call(*sequence_request("#r", b"%d" % number))
        assert reused._connection is kept and reused.batches == 4
        await reused.close()
        assert reused._connection is None
    finally:
        await client.aclose()


async def test_a_flushed_script_cache_is_reloaded_and_the_batch_sent_again(
    redis_url: str,
) -> None:
    """NOSCRIPT (Redis lost its script cache: restarted, or SCRIPT FLUSH): no call of the batch
    ran, so the Sequencer loads the script again and sends the whole batch once more."""
    async with running(redis_url, "a") as node_a:
        await node_a.bus.sequence("#r", b"before")
        client = Redis.from_url(redis_url)
        try:
            await client.script_flush()
        finally:
            await client.aclose()
        answers = await asyncio.gather(
            *(node_a.bus.sequence("#r", str(number).encode()) for number in range(5))
        )
        assert [event.seq for event in answers] == [2, 3, 4, 5, 6]
        stored = await node_a.bus.events_after("#r", 0, 10)
        assert [event.payload for event in stored] == [b"before", *(b"%d" % n for n in range(5))]


async def test_calls_made_on_the_next_loop_turn_join_the_batch(redis_url: str) -> None:
    """The batch leaves one loop turn after its first call: a call made on the following turn
    (events applied together release several senders, each proposing its next event) still
    goes in the same pipeline, so batches stay large under load."""
    async with running(redis_url, "a") as node_a:
        sequencer_of_a = node_a.bus.sequencer
        batches, calls = sequencer_of_a.batches, sequencer_of_a.calls
        answers: list[Sequenced | BusUnavailable] = []
        node_a.bus.sequence_soon("#r", b"first", answers.append)
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: node_a.bus.sequence_soon("#r", b"second", answers.append))
        await until(lambda: len(answers) == 2, WAIT, "2 answers")
        assert (sequencer_of_a.batches - batches, sequencer_of_a.calls - calls) == (1, 2)
        assert [a.seq for a in answers if isinstance(a, Sequenced)] == [1, 2]


async def test_only_the_calls_that_found_no_script_are_sent_again(redis_url: str) -> None:
    """A batch Redis read in two chunks, with another client's SCRIPT LOAD between them (a
    second node reloading after Redis lost its script cache): the first call found no script
    and did not run, the others ran. Only the first is sent again, so each runs exactly once
    (sending the whole batch again ran the others twice)."""

    class Interleaved(sequencer.Sequencer):
        split = True

        async def _pipeline(self, batch: Any) -> list[Any]:
            if not self.split or len(batch) < 2:
                return await super()._pipeline(batch)
            self.split = False
            first = await super()._pipeline(batch[:1])
            await other.script_load(scripts.SEQUENCE)  # the other node, in between
            return first + await super()._pipeline(batch[1:])

    client = Redis.from_url(redis_url)
    other = Redis.from_url(redis_url)
    try:
        interleaved = Interleaved(client, scripts.SEQUENCE, timeout=WAIT)
        await client.set(scripts.EPOCH_KEY, "test", nx=True)  # as a node's start does
        epoch = (await client.get(scripts.EPOCH_KEY) or b"").decode()
        keys = sequence_keys("#r")
        await interleaved.call(keys, sequence_args(epoch, "#r", b"before"))
        await client.script_flush()
        answers = await asyncio.gather(
            *(interleaved.call(keys, sequence_args(epoch, "#r", b"%d" % n)) for n in range(3))
        )
        assert sorted(int(seq) for seq, _time in answers) == [2, 3, 4]
        entries = await client.xrange(scripts.stream_key("#r"))
        payloads = [fields[b"p"] for _id, fields in entries]
        assert sorted(payloads) == [b"0", b"1", b"2", b"before"]
    finally:
        await client.aclose()
        await other.aclose()


def sequence_keys(room: str) -> list[str]:
    return [
        scripts.EPOCH_KEY,
        scripts.seq_key(room),
        scripts.state_key(room),
        scripts.stream_key(room),
        scripts.ROOMS_KEY,
        scripts.CHANNELS_KEY,
    ]


def sequence_args(epoch: str, room: str, payload: bytes) -> list[object]:
    """SEQUENCE's arguments for one event, no fields (bus_scripts)."""
    return [epoch, room, "a", payload, 100, scripts.events_channel(room), 0]
