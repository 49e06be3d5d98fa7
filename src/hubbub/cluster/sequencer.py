"""One node's sequence() calls, sent to Redis in call order, batched into pipelines.

Every `sequence()` is one EVALSHA of the SEQUENCE script. Sent one by one over a pool of
connections, concurrent calls cost one round trip and one trip through the client library each,
and two calls made back to back by the node may reach Redis in either order. The `Sequencer`
instead queues the calls and sends everything queued as one pipeline (one write, one read) while
no other batch is in flight: calls reach Redis in the order they were made (so one node's events
in a room keep its order), a lone call still costs one round trip, and under load many calls
share one. A call cancelled before its batch leaves is never sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# Calls per pipeline (a bigger queue is sent in several).
BATCH_LIMIT = 256
# Calls waiting for a batch, beyond which sequence() is refused (the queue is bounded).
QUEUE_LIMIT = 8192


class SequencerFull(Exception):
    """More than QUEUE_LIMIT calls are waiting: Redis is not keeping up."""


class Sequencer:
    """Batches the calls of one Lua script (by its text) in call order."""

    def __init__(self, redis: Redis, script: str, timeout: float) -> None:
        self._redis = redis
        self._script = script
        self._sha: str | None = None
        self._timeout = timeout
        self._queue: deque[tuple[Sequence[object], asyncio.Future[Any]]] = deque()
        self._sender: asyncio.Task[None] | None = None
        # Pipelines sent and calls in them, for the benchmark's "round trips per call".
        self.batches = 0
        self.calls = 0

    async def call(self, keys: Sequence[str], args: Sequence[object]) -> Any:
        """The script's answer for these keys and arguments (its error raised as is)."""
        if len(self._queue) >= QUEUE_LIMIT:
            raise SequencerFull(f"{len(self._queue)} calls already wait for Redis")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(((len(keys), *keys, *args), future))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._queue:
                batch: list[tuple[Sequence[object], asyncio.Future[Any]]] = []
                while self._queue and len(batch) < BATCH_LIMIT:
                    request = self._queue.popleft()
                    if not request[1].done():  # cancelled callers are not sent
                        batch.append(request)
                if batch:
                    await self._send_batch(batch)
        finally:
            self._sender = None

    async def _send_batch(self, batch: list[tuple[Sequence[object], asyncio.Future[Any]]]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                if self._sha is None:
                    self._sha = str(await self._redis.script_load(self._script))
                answers = await self._pipeline(batch)
                if any(isinstance(answer, NoScriptError) for answer in answers):
                    # Redis restarted (or its script cache was flushed): none of them ran.
                    self._sha = str(await self._redis.script_load(self._script))
                    answers = await self._pipeline(batch)
        except asyncio.CancelledError:
            for _args, future in batch:
                future.cancel()
            raise
        except Exception as error:
            # Outcome unknown for every call of the batch (see docs/cluster.md, the bus).
            for _args, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.calls += len(batch)
        for (_args, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _pipeline(self, batch: list[tuple[Sequence[object], asyncio.Future[Any]]]) -> Any:
        pipe = self._redis.pipeline(transaction=False)
        for args, _future in batch:
            pipe.evalsha(self._sha, *args)  # type: ignore[arg-type]
        return await pipe.execute(raise_on_error=False)
