"""The Sequencer: sequence() calls batched in call order; cancelled calls unsent; bounded."""

from __future__ import annotations

import asyncio

import pytest
from bus_helpers import running

from hubbub.cluster import sequencer
from hubbub.cluster.bus import BusUnavailable

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
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sequencer, "QUEUE_LIMIT", 4)
    async with running(redis_url, "a") as node_a:
        calls = [node_a.bus.sequence("#r", str(number).encode()) for number in range(6)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = [result for result in results if isinstance(result, BusUnavailable)]
        assert len(refused) == 2
        # Refusing is not an outage: the bus stays available and the others went through.
        assert node_a.bus.available and node_a.availability == [True]
        assert [event.seq for event in await node_a.bus.events_after("#r", 0, 10)] == [1, 2, 3, 4]
