"""Waiting on a condition with a deadline: the only way a test waits.

Never sleep to let something happen, and never assert how long something took: poll the
condition that proves it happened (`wait_for`, or `until` inside a coroutine) with a generous
deadline, so that a loaded machine makes a test slower, never red.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# A deadline generous enough for a loaded 2-core machine; a passing wait returns far sooner.
WAIT = 10.0
POLL = 0.01


def poll(probe: Callable[[], T], timeout: float = WAIT, interval: float = POLL) -> T | None:
    """Call `probe` until it returns something truthy (returned); None once `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_for(
    predicate: Callable[[], T], timeout: float = WAIT, what: str = "", interval: float = POLL
) -> T:
    """The first truthy value of `predicate()`; TimeoutError naming `what` after `timeout`."""
    value = poll(predicate, timeout, interval)
    if not value:
        raise TimeoutError(f"not true within {timeout} s: {what or predicate}")
    return value


async def until(
    predicate: Callable[[], T],
    timeout: float = WAIT,
    what: str = "",
    *,
    pause: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """`wait_for` for a coroutine: the loop keeps running between checks. `pause` (for example
    a Textual pilot's) replaces the default short `asyncio.sleep` between them."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true within {timeout} s: {what or predicate}")
        if pause is not None:
            await pause()
        else:
            await asyncio.sleep(POLL / 2)


async def until_awaited(
    probe: Callable[[], Awaitable[object]], timeout: float = WAIT, what: str = ""
) -> None:
    """`until` for a condition that must be awaited to check (one that asks a server)."""
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true within {timeout} s: {what or probe}")
        await asyncio.sleep(POLL)
