"""The network directory on the bus: users' public facts and rooms' summaries, for the
questions a node must answer about users and rooms it does not follow (WHOIS, WHO of a nick,
MONITOR, LIST across nodes; hubbub.core.cluster_directory).

* **Users**: each node keeps one directory entry per user of its own (`user:<fold>` -> the
  user's public facts as JSON) with the bus's `put` / `drop`, which live under the node's
  lease (a lost node's entries go with it); a user's entry is not written while another
  node holds the user's nick claim (`entry_claim`: that node's entry is the one to keep).
  Writes go through one writer task per node that keeps only the latest value per key: a
  put and the drop right after it (a quick QUIT) are written in that order, never raced
  over two connections, and the pending entries are at most one per user of the node. A
  write the bus refused stays pending and is retried when the bus is back (`retry`).
* **WHOWAS**: the same writer adds the entries of this node's users who quit or changed
  nick to the network's list (`depart`; hubbub.core.whowas), after the directory writes
  asked before them; at most as many wait as the network keeps.
* **Reads**: `lookup` gets several entries at once (concurrent `get`s); `users` reads every
  user's entry, a page per round trip, keeping those a WHO mask matches (the core's test) and
  stopping once it has as many as the WHO may show; `room_summaries` reads
  every room with state (the bus's `rooms`) and summarises each (`state`): its name and
  creation time, topic, modes and member count, without the member fields themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from hubbub.cluster.bus import Bus, BusUnavailable
from hubbub.core.cluster_fields import MODE_PREFIX, entry_claim

log = logging.getLogger("hubbub.cluster")

#: Room state reads in flight at once for one LIST.
ROOM_READS = 16

#: Users' entries read in one round trip by a WHO with a mask.
USER_PAGE = 256

T = TypeVar("T")


class Directory:
    """One node's writes to, and reads of, the network directory (on the node's bus)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        # key -> the latest value to write (None: drop), in the order first asked.
        self.pending: dict[str, str | None] = {}
        # key -> who waits for its pending value to be written (True) or refused (False).
        self.waiters: dict[str, list[Callable[[bool], None]]] = {}
        # WHOWAS entries of this node's users to add to the network's, oldest first; at most
        # `keep` (what the network keeps: older ones would be trimmed at once anyway).
        self.departures: deque[str] = deque()
        self.keep = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="hubbub-directory"
            )

    async def close(self) -> None:
        """Stop writing (the bus drops the node's entries when it leaves)."""
        self._closing = True
        writer, self._writer = self._writer, None
        if writer is not None:
            self._wake.set()
            writer.cancel()
            # Bounded, and not `await writer`: a cancellation that lands while a bus call
            # times out can be taken for that timeout (BusUnavailable) and lost; the loop
            # then ends at its next check of `_closing`.
            await asyncio.wait([writer], timeout=2.0)

    def publish(
        self, key: str, value: str | None, done: Callable[[bool], None] | None = None
    ) -> None:
        """Write `value` under `key` (None: drop the entry), soon, after what came before;
        `done(True)` once it (or a later value of the key) is written, `done(False)` if the
        bus refused it meanwhile (it stays pending until the bus is back)."""
        self.pending.pop(key, None)  # the latest value, at the back of the queue
        self.pending[key] = value
        if done is not None:
            self.waiters.setdefault(key, []).append(done)
        self._wake.set()

    def depart(self, entry: str, keep: int) -> None:
        """Add a WHOWAS entry to the network's (which keeps the newest `keep`), soon."""
        self.keep = keep
        self.departures.append(entry)
        while len(self.departures) > keep:
            self.departures.popleft()
        self._wake.set()

    def _answer(self, key: str, written: bool) -> None:
        for done in self.waiters.pop(key, ()):
            done(written)

    def retry(self) -> None:
        """The bus is back: write what it refused."""
        if self.pending or self.departures:
            self._wake.set()

    async def _write(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await self._write_entries()
            await self._write_departures()

    async def _write_entries(self) -> None:
        while self.pending and not self._closing:
            key, value = next(iter(self.pending.items()))
            try:
                if value is None:
                    await self.bus.drop(key)
                else:
                    # Refused when another node holds the nick: its entry stays.
                    await self.bus.put(key, value, entry_claim(key))
            except BusUnavailable:
                # Kept pending, written when the bus is back (retry); nobody waits for that
                # meanwhile.
                for waiting in list(self.waiters):
                    self._answer(waiting, False)
                return
            except Exception:  # a bug: this entry is dropped from the queue, logged
                log.exception("cluster: directory entry %s could not be written", key)
            if self.pending.get(key, "") == value:  # not changed again meanwhile
                del self.pending[key]
                self._answer(key, True)

    async def _write_departures(self) -> None:
        if not self.departures or self._closing:
            return
        batch, self.departures = self.departures, deque()
        try:
            await self.bus.departed(list(batch), self.keep)
        except BusUnavailable:
            # Kept (before those that came meanwhile), written when the bus is back.
            batch.extend(self.departures)
            while len(batch) > self.keep:
                batch.popleft()
            self.departures = batch
        except Exception:  # a bug: these entries are dropped, logged
            log.exception("cluster: %d WHOWAS entries could not be written", len(batch))

    async def lookup(self, keys: Sequence[str]) -> list[str | None]:
        """The entries under `keys` (None where there is none). Raises BusUnavailable."""
        return await asyncio.gather(*(self.bus.get(key) for key in keys))

    async def users(self, match: Callable[[str], bool], limit: int) -> list[str]:
        """Up to `limit` users' entries of the whole network for which `match(entry)` is
        true (WHO with a mask), read a page of USER_PAGE entries per round trip and no
        further than needed. Raises BusUnavailable."""
        keys = [key for key in await self.bus.directory_keys() if key.startswith("user:")]
        found: list[str] = []
        for start in range(0, len(keys), USER_PAGE):
            if len(found) >= limit:
                break
            for entry in await self.bus.get_many(keys[start : start + USER_PAGE]):
                if entry is not None and match(entry):
                    found.append(entry)
        return found[:limit]

    async def room_summaries(self, limit: int) -> list[dict[str, str]]:
        """Up to `limit` rooms with members, each summarised as state fields: `room`, `topic`
        and its `mode:` fields as the room's own fields, `fold`, and `count` (its members).
        Rooms of the nodes themselves (inboxes, the network room: names starting with '~') are
        left out. Raises BusUnavailable."""
        rooms = sorted(room for room in await self.bus.rooms() if not room.startswith("~"))
        gate = asyncio.Semaphore(ROOM_READS)

        async def summary(room: str) -> dict[str, str] | None:
            async with gate:
                _, fields = await self.bus.state(room)
            count = sum(1 for field in fields if field.startswith("m:"))
            if not count or "room" not in fields:
                return None
            found = {"fold": room, "count": str(count), "room": fields["room"]}
            for name, value in fields.items():
                # Its topic and modes (the list entries, which LIST does not show, left out).
                if name == "topic" or name.startswith(MODE_PREFIX):
                    found[name] = value
            return found

        summaries: list[dict[str, str]] = []
        for start in range(0, len(rooms), ROOM_READS):
            if len(summaries) >= limit:
                break
            batch = await asyncio.gather(*(summary(r) for r in rooms[start : start + ROOM_READS]))
            summaries.extend(found for found in batch if found is not None)
        return summaries[:limit]


async def answer(
    work: Callable[[], Awaitable[T]], done: Callable[[T | None], None], what: str
) -> None:
    """Run a directory read and answer `done` with its result, or None when the bus is
    unavailable (or the read failed: logged), never leaving the core waiting."""
    try:
        result = await work()
    except BusUnavailable as error:
        log.warning("cluster: %s: the bus is unavailable (%s)", what, error)
        done(None)
        return
    except Exception:
        log.exception("cluster: %s failed", what)
        done(None)
        return
    done(result)
