"""One node's sequence() calls, sent to Redis in call order, batched into pipelines.

Every `sequence()` is one EVALSHA of the SEQUENCE script. Sent one by one over a pool of
connections, concurrent calls cost one round trip and one trip through the client library each,
and two calls made back to back by the node may reach Redis in either order. The `Sequencer`
instead queues the calls and sends everything queued as one pipeline (one write, one read) while
no other batch is in flight, one loop turn after the batch's first call was queued: calls reach
Redis in the order they were made (so one node's events in a room keep its order), a lone call
still costs one round trip, and under load many calls share one. A call cancelled before its
batch leaves is never sent. Each call is answered (or fails) within `timeout` of being made.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

# Calls per pipeline (a bigger queue is sent in several).
BATCH_LIMIT = 256
# Calls waiting for a batch, beyond which sequence() is refused (the queue is bounded); the
# node sets it from `cluster.pending_events`.
QUEUE_LIMIT = 8192


class SequencerFull(Exception):
    """More than `queue_limit` calls are waiting: Redis is not keeping up."""


class Sequencer:
    """Batches the calls of one Lua script (by its text) in call order."""

    def __init__(
        self, redis: Redis, script: str, timeout: float, queue_limit: int = QUEUE_LIMIT
    ) -> None:
        self._redis = redis
        self._queue_limit = queue_limit
        self._script = script
        self._sha: str | None = None
        self._timeout = timeout
        # (arguments, the caller's future, its deadline in loop time)
        self._queue: deque[tuple[Sequence[object], asyncio.Future[Any], float]] = deque()
        self._sender: asyncio.Task[None] | None = None
        # The connection batches go out on, kept while it works (see `_pipeline`); stale once
        # the bus saw Redis go away (a restarted Redis closed it: the next batch takes another).
        self._connection: Any = None
        self._stale = False
        # Pipelines sent and calls in them, for the benchmark's "round trips per call".
        self.batches = 0
        self.calls = 0

    async def call(self, keys: Sequence[str], args: Sequence[object]) -> Any:
        """The script's answer for these keys and arguments (its error raised as is)."""
        return await self.submit(keys, args)

    def submit(self, keys: Sequence[str], args: Sequence[object]) -> asyncio.Future[Any]:
        """Queue one call: its future gets the script's answer, or its error, or TimeoutError
        when `timeout` passes first (counted from now; then the outcome is unknown unless the
        call was never sent). Cancelling the future before its batch leaves withdraws the
        call. Raises SequencerFull when `queue_limit` calls wait already."""
        if len(self._queue) >= self._queue_limit:
            raise SequencerFull(f"{len(self._queue)} calls already wait for Redis")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(((len(keys), *keys, *args), future, loop.time() + self._timeout))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        return future

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                # One loop turn before each batch: the calls the rest of this turn makes join
                # it (one pub/sub read applies several events, releasing several senders at
                # once). Measured on one node under full fan-out load: batches as large as
                # when each call took a task hop to reach the queue (0.13 round trips per
                # message instead of 0.20 without this turn), hence fewer, larger pub/sub
                # deliveries and flushes to the members; at half load the p50 was lower too.
                await asyncio.sleep(0)
                batch: list[tuple[Sequence[object], asyncio.Future[Any], float]] = []
                now = loop.time()
                while self._queue and len(batch) < BATCH_LIMIT:
                    request = self._queue.popleft()
                    future = request[1]
                    if future.done():  # cancelled callers are not sent
                        continue
                    if request[2] <= now:
                        # It waited its whole time behind a slow batch: refused, never sent.
                        future.set_exception(TimeoutError("no answer from Redis in time"))
                        continue
                    batch.append(request)
                if batch:
                    await self._send_batch(batch)
        finally:
            self._sender = None

    async def _send_batch(
        self, batch: list[tuple[Sequence[object], asyncio.Future[Any], float]]
    ) -> None:
        # Every call of the batch is answered (or fails) within its own deadline: the oldest
        # call's is the earliest (one deadline per batch, not one timer per call). A plain
        # timer that cancels this task: asyncio.timeout_at's context manager cost more than
        # the rest of a lone call's bookkeeping (measured with cProfile on the sequencer).
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_at(batch[0][2], expire)
        try:
            try:
                if self._sha is None:
                    self._sha = str(await self._redis.script_load(self._script))
                answers = await self._pipeline(batch)
                again = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
                if again:
                    # Redis restarted (or its script cache was flushed): those calls did not
                    # run. Only they are sent again: another node may have loaded the script
                    # between two calls of the batch (Redis reads a long pipeline in several
                    # chunks), and a call that ran must not run twice.
                    self._sha = str(await self._redis.script_load(self._script))
                    retried = await self._pipeline([batch[i] for i in again])
                    for i, answer in zip(again, retried, strict=True):
                        answers[i] = answer
            finally:
                timer.cancel()
        except asyncio.CancelledError:
            if not expired or task.cancelling() > 1:
                for _args, future, _deadline in batch:
                    future.cancel()
                raise
            task.uncancel()
            for _args, future, _deadline in batch:
                if not future.done():
                    future.set_exception(TimeoutError("no answer from Redis in time"))
            return
        except Exception as error:
            # Outcome unknown for every call of the batch (see docs/cluster.md, the bus).
            for _args, future, _deadline in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.calls += len(batch)
        for (_args, future, _deadline), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _pipeline(
        self, batch: list[tuple[Sequence[object], asyncio.Future[Any], float]]
    ) -> list[Any]:
        """One write of every call's EVALSHA, then their answers in order (an error answer in
        its place). Sent on a connection of the pool kept from batch to batch, packed here:
        redis-py's Pipeline, and its pool and encoder per batch, ran once per room event on
        the loop (a lone call cost about 190 µs of CPU on the benchmark machine; see
        docs/cluster.md)."""
        connection = self._connection
        if connection is not None and self._stale:
            await self.close()
            connection = None
        self._stale = False
        if connection is None:
            connection = await self._redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
            self._connection = connection
        try:
            sha = self._sha
            assert sha is not None
            await connection.send_packed_command(
                b"".join([_evalsha(sha, args) for args, _f, _d in batch]), check_health=False
            )
            answers: list[Any] = []
            for _request in batch:
                try:
                    answers.append(await connection.read_response())
                except ResponseError as error:  # the script's error: this call's answer
                    answers.append(error)
            return answers
        except BaseException:
            # Unread answers may follow (a timeout mid-batch): the connection cannot be reused.
            self._connection = None
            await connection.disconnect(nowait=True)
            await self._redis.connection_pool.release(connection)
            raise

    def forget_connection(self) -> None:
        """Redis went away: the next batch goes out on a new connection, not the kept one."""
        self._stale = True

    async def close(self) -> None:
        """Close the kept connection and give it back to its pool."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)
            await self._redis.connection_pool.release(connection)


def _evalsha(sha: str, args: Sequence[object]) -> bytes:
    """The RESP request `EVALSHA sha numkeys key… arg…` (`args` starts with numkeys): bytes as
    they are, str as UTF-8, int as its digits, as redis-py's encoder sends them."""
    chunks = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (len(args) + 2), _bulk(sha.encode())]
    for arg in args:
        if type(arg) is bytes:
            chunks.append(_bulk(arg))
        elif type(arg) is str:
            chunks.append(_bulk(arg.encode()))
        elif type(arg) is int:
            chunks.append(_bulk(b"%d" % arg))
        else:
            raise TypeError(f"a sequencer argument must be bytes, str or int, not {type(arg)}")
    return b"".join(chunks)


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)
