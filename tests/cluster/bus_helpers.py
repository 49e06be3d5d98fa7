"""Helpers of the bus tests: a Bus with recording callbacks (one `Node` = one hubbub node)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from hubbub.cluster.bus import Bus, Headcount, Sequenced
from hubbub.core.network import member_homes
from support.waiting import WAIT, until


class Node:
    """A Bus whose callbacks record what they were given."""

    def __init__(
        self,
        url: str,
        node_id: str,
        counts: Callable[[], Headcount] | None = None,
        **options: int,
    ) -> None:
        self.events: dict[str, list[Sequenced]] = defaultdict(list)
        self.lost: list[tuple[str, dict[str, str]]] = []
        self.availability: list[bool] = []
        # Every callback in the order it came: ("event", room, seq) and ("available", bool).
        self.log: list[tuple[object, ...]] = []
        self.burying: asyncio.Event | None = None
        self.bus = Bus(
            url,
            node_id,
            on_event=self._event,
            on_node_lost=self._lost,
            on_available=self._available,
            homes=member_homes,  # (as hubbub.cluster.node gives it)
            counts=counts,
            **options,
        )

    def _lost(self, node: str, claims: dict[str, str]) -> Awaitable[None] | None:
        """on_node_lost: recorded; while `burying` is set, the burial lasts until it is."""
        self.lost.append((node, claims))
        return None if self.burying is None else self.burying.wait()

    def _event(self, event: Sequenced) -> None:
        self.events[event.room].append(event)
        self.log.append(("event", event.room, event.seq))

    def _available(self, available: bool) -> None:
        self.availability.append(available)
        self.log.append(("available", available))

    def seqs(self, room: str) -> list[int]:
        return [event.seq for event in self.events[room]]


@asynccontextmanager
async def running(
    url: str, node_id: str, counts: Callable[[], Headcount] | None = None, **options: int
) -> AsyncIterator[Node]:
    """A started node, closed on the way out. `counts`: its users, as the node adapter tells
    the bus (None: the bus writes no census, as in most bus tests)."""
    node = Node(url, node_id, counts, **options)
    await node.bus.start()
    try:
        yield node
    finally:
        await node.bus.close()


async def until_heartbeats(bus: Bus, count: int, timeout: float = WAIT) -> None:
    """Wait until `bus` has completed `count` more heartbeats (renewal, sweep, janitor)."""
    target = bus.heartbeats + count
    await until(lambda: bus.heartbeats >= target, timeout, f"{count} heartbeats done")
