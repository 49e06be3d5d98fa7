"""The node adapter: the core's `Network` port (hubbub.core.ports) over the Redis bus.

The core (hubbub.core.network) knows rooms, payloads and claims; the bus
(hubbub.cluster.bus) knows Redis. This module joins them on the event loop:

* `claim` / `open` run the bus call in a task and answer the core's `done` when it returns;
  `sequence` (once per room event) hands the bus a callback instead (`Bus.sequence_soon`);
  `BusUnavailable` answers "refused" (False / None), never an exception.
* Events the bus delivers (`on_event`, per room in sequence order) go to
  `ChatServer.apply_sequenced` for the rooms this node has opened. A room is subscribed while
  the core has local members there (`open` when the first one comes, `close` after the last).
* `on_node_lost` (called on exactly one surviving node): the dead node's users leave every
  room they were in, network-wide: this node sequences a QUIT for each member field of the
  dead node, with a clear reason (reading the rooms again, up to `BURIAL_PASSES` times, while
  it finds any: a RENAME may move one meanwhile), and an `offline` event per nick claim in
  the network room (MONITOR on every node); the bus then drops its claims and directory
  entries. Before a room's QUITs it asks the store again for the history moves of the
  RENAMEs that brought rooms onto it (made once), writes the room's messages up to the dead
  node's last one there that nobody may have written yet (hubbub.core.cluster_replay
  `burial_records`), and waits for their commit.
* The network directory (`publish`, `lookup`, `users`, `room_summaries`: hubbub.cluster.directory):
  this node's users' public facts, written in order by one writer, and the reads WHOIS, WHO,
  MONITOR and LIST make about users and rooms the node does not follow.
* `on_available(False)`: the core refuses room events (the bus calls fail anyway);
  `on_available(True)`: presence is resynchronised — this node claims its users' nicks again
  and rewrites its users' directory entries, and what could not be sent meanwhile (QUITs,
  directory writes) is sent. Its members' fields are written again (a `sync` event, which
  the core does not show: hubbub.core.cluster_resync) only in the rooms where Redis lost them
  (a new epoch, or the end of a room lost): elsewhere the bus's state is newer than this
  node's copy. A node that was declared dead while away disconnects its users (the others
  saw them QUIT) before its core is told the bus is back.

The tasks it runs are bounded by the core: one waiting command per client at a time (the
core's per-client order), plus one task per room opened or left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from hubbub.cluster.bus import Bus, BusUnavailable, Headcount, Renamed, Return, Sequenced
from hubbub.cluster.directory import Directory, answer
from hubbub.config import ClusterSection
from hubbub.core import whowas
from hubbub.core.cluster_rename import move_renamed, rename_place, renamed_onto
from hubbub.core.cluster_replay import RoomName, burial_records, named_room
from hubbub.core.model import WhowasEntry
from hubbub.core.network import (
    BURIAL_PASSES,
    NODE_LOST_REASON,
    asks_of_burial,
    buried_payload,
    member_homes,
    offline_payload,
    quits_of_lost_node,
    user_key,
)
from hubbub.core.ports import NETWORK_ROOM, Census, inbox

if TYPE_CHECKING:
    from hubbub.core.network import ClusterState
    from hubbub.core.server import ChatServer
    from hubbub.history.service import LoopHistoryService

T = TypeVar("T")

log = logging.getLogger("hubbub.cluster")

#: A seq past any room's last: a read of a room's stream up to its end.
STREAM_END = 2**62

#: Seconds a burier waits for the commit of what it writes before a room's QUITs (a store
#: failing that long: it goes on, the room's other nodes hold those messages as before).
BURIAL_COMMIT_WAIT = 5.0


def _settle(future: asyncio.Future[object], result: object) -> None:
    """Answer `future` (on the loop), unless it was cancelled meanwhile."""
    if not future.done():
        future.set_result(result)


def default_node_id() -> str:
    """host-pid-random: unique among live nodes without asking anyone."""
    host = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname())
    return f"{host[:60] or 'node'}-{os.getpid()}-{secrets.token_hex(3)}"


class Node:
    """One hubbub process's place in the cluster: the `Network` port its core uses."""

    def __init__(self, settings: ClusterSection) -> None:
        self._node_id = settings.node_id or default_node_id()
        self.bus = Bus(
            settings.url,
            self._node_id,
            on_event=self._on_event,
            on_node_lost=self._on_node_lost,
            on_available=self._on_available,
            homes=member_homes,
            counts=self._counts,
            lease_ms=settings.lease_ms,
            heartbeat_ms=settings.heartbeat_ms,
            stream_length=settings.stream_length,
            queue_limit=settings.pending_events,
            pending_limit=settings.early_events,
            left_limit=settings.left_rooms,
            lost_ranges=settings.lost_ranges,
            reused_scan=settings.reused_scan,
        )
        # The network directory (users' facts, rooms' summaries: hubbub.cluster.directory).
        self.directory = Directory(self.bus)
        self.server: ChatServer | None = None
        # The history writer a burial writes a dead node's messages with (`attach`).
        self._history: LoopHistoryService | None = None
        self._departed_early: list[Mapping[str, Any]] = []
        # Rooms whose state the core has (events for them go to it), and rooms being opened.
        self.rooms: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # The core's sequence() calls waiting for Redis (waited for at stop).
        self._sequencing: set[asyncio.Future[object]] = set()
        self._closing = False
        # Resynchronisations finished (after each return of the bus): for tests to wait on.
        self.resyncs = 0

    @property
    def node_id(self) -> str:
        return self._node_id

    def attach(self, server: ChatServer, history: LoopHistoryService | None = None) -> None:
        """The core this node serves (made with this node as its network port), and the
        history writer under the core's (`_write_before_quits`)."""
        self.server = server
        self._history = history
        # The WHOWAS entries of the users of a predecessor it buried at its start, before
        # there was a core to say how many the network keeps.
        departed, self._departed_early = self._departed_early, []
        for facts in departed:
            self._departed(server, facts)

    async def start(self) -> None:
        """Connect to the bus; raises BusUnavailable when Redis cannot be reached now."""
        await self.bus.start()
        self.directory.start()
        # Private messages to this node's users come through its inbox room.
        await self.bus.subscribe(inbox(self._node_id))
        self.rooms.add(inbox(self._node_id))
        # What every node applies (server bans) comes through the network room.
        await self.bus.subscribe(NETWORK_ROOM)
        self.rooms.add(NETWORK_ROOM)
        log.info("cluster node %s on the bus", self._node_id)

    async def stop(self) -> None:
        """Leave the bus: this node's claims and lease go (its users have been sent away)."""
        self._closing = True
        # The QUITs the core's shutdown sent are given their moment to be sequenced.
        if self._tasks or self._sequencing:
            await asyncio.wait(self._tasks | self._sequencing, timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        await self.directory.close()
        await self.bus.close()

    def _spawn(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cluster: %s failed", name)

    def _ask(
        self,
        ask: Callable[[], Awaitable[T]],
        done: Callable[[T | None], None],
        what: str,
        name: str,
        *,
        warn_unavailable: bool = False,
    ) -> None:
        """One bus call as a task: `done(its answer)`, or `done(None)` when the bus is
        unavailable (a warning if `warn_unavailable`) or the call failed (a bug: logged, and
        the client told, never left waiting). `what` says what could not be done."""

        async def run() -> None:
            try:
                result = await ask()
            except BusUnavailable as error:
                if warn_unavailable:
                    log.warning("cluster: %s (%s)", what, error)
                done(None)
                return
            except Exception:
                log.exception("cluster: %s", what)
                done(None)
                return
            done(result)

        self._spawn(run, name)

    # ------------------------------------------------------------------ the Network port

    def sequence(
        self,
        room: str,
        payload: bytes,
        set_fields: Mapping[str, str],
        delete_fields: Sequence[str],
        done: Callable[[int | None, int], None],
    ) -> None:
        # A callback, not a task: this runs once per room event (bus.sequence_soon).
        def sequenced(outcome: Sequenced | BusUnavailable) -> None:
            if isinstance(outcome, BusUnavailable):
                log.warning(
                    "cluster: room %s: event refused, the bus is unavailable (%s)", room, outcome
                )
                done(None, 0)
            else:
                done(outcome.time_ms, outcome.seq)

        pending = self.bus.sequence_soon(
            room, payload, sequenced, set_fields=set_fields, delete_fields=delete_fields
        )
        if not pending.done():
            self._sequencing.add(pending)
            pending.add_done_callback(self._sequencing.discard)

    def open(self, room: str, done: Callable[[Mapping[str, str] | None, int], None]) -> None:
        async def run() -> None:
            try:
                try:
                    seq, fields = await self.bus.subscribe(room)
                except ValueError:  # still subscribed (left and came back in one moment)
                    seq, fields = await self.bus.state(room)
            except BusUnavailable as error:
                log.warning("cluster: room %s cannot be opened (%s)", room, error)
                done(None, 0)
                return
            except Exception:  # a bug: refused (the client is told), never left waiting
                log.exception("cluster: room %s cannot be opened", room)
                done(None, 0)
                return
            # The bus holds this room's events until this turn of the loop is over: the core
            # has the state before the first event after it.
            self.rooms.add(room)
            done(fields, seq)

        self._spawn(run, "hubbub-open")

    def read_state(
        self, room: str, done: Callable[[tuple[int, int, Mapping[str, str]] | None], None]
    ) -> None:
        async def run() -> None:
            try:
                seq, fields, time_ms = await self.bus.snapshot(room)
            except BusUnavailable as error:
                log.warning("cluster: the state of room %s cannot be read (%s)", room, error)
                done(None)
                return
            except Exception:  # a bug: answered all the same, never left waiting
                log.exception("cluster: the state of room %s cannot be read", room)
                done(None)
                return
            done((time_ms, seq, fields))

        self._spawn(run, "hubbub-read-state")

    def follow(self, room: str, after: int, done: Callable[[bool], None]) -> None:
        # Subscribed already (a JOIN here opened the room in the instant of its rename): its
        # feed may start after `after` (the state the JOIN read is not the core's copy), so
        # it goes back to `after` now, before it delivers anything more.
        rewound = self.bus.rewind(room, after)

        async def subscribe() -> bool:
            try:
                await self.bus.subscribe(room, after)
            except ValueError:  # a JOIN's subscription that began after this call
                if not rewound:
                    self.bus.rewind(room, after)
            return True

        def followed(subscribed: bool | None) -> None:
            if subscribed:
                self.rooms.add(room)
            done(bool(subscribed))

        what = f"room {room} cannot be followed"
        self._ask(subscribe, followed, what, "hubbub-follow", warn_unavailable=True)

    def rename(
        self,
        old: str,
        new: str,
        payload: tuple[bytes, bytes],
        marker: tuple[bytes, bytes],
        set_fields: Mapping[str, str],
        done: Callable[[int | None], None],
    ) -> None:
        self._ask(
            lambda: self.bus.rename(old, new, payload, marker, set_fields),
            done,
            f"room {old} cannot be renamed",
            "hubbub-rename",
            warn_unavailable=True,
        )

    def renamed(self, old: str, old_name: str, new: str, seq: int, time_ms: int, node: str) -> None:
        self.bus.note_renamed(Renamed(new, old, old_name, seq, time_ms, node))

    def close(self, room: str) -> None:
        if room not in self.rooms:
            return
        self.rooms.discard(room)

        async def run() -> None:
            with contextlib.suppress(BusUnavailable):  # it went with the connection
                await self.bus.unsubscribe(room)

        self._spawn(run, "hubbub-close")

    def recent(
        self,
        room: str,
        through: int,
        limit: int,
        done: Callable[[list[tuple[int, int, bytes]] | None], None],
    ) -> None:
        self._ask(
            lambda: self._stream(room, through, limit),
            done,
            f"reading the stream of {room} failed",
            "hubbub-recent",
        )

    def claim(self, key: str, value: str, done: Callable[[int | None], None]) -> None:
        self._ask(
            lambda: self.bus.claim(key, value), done, f"claim of {key} failed", "hubbub-claim"
        )

    def release(self, key: str, done: Callable[[], None] | None = None) -> None:
        async def run() -> None:
            try:
                await self.bus.release(key)
            except BusUnavailable:  # released when the bus is back (`reclaim_nicks`)
                server = self.server
                if server is not None and server.cluster is not None:
                    server.cluster.release_refused(key)
            finally:
                if done is not None:  # never left waiting (a leaving user's ERROR waits)
                    done()

        self._spawn(run, "hubbub-release")

    def locate(self, key: str, done: Callable[[str | None], None]) -> None:
        async def holder() -> str:
            return await self.bus.claimed(key) or ""

        self._ask(holder, done, f"looking up {key} failed", "hubbub-locate")

    def publish(
        self, key: str, value: str | None, done: Callable[[bool], None] | None = None
    ) -> None:
        self.directory.publish(key, value, done)

    def lookup(self, keys: Sequence[str], done: Callable[[list[str | None] | None], None]) -> None:
        wanted = list(keys)

        def work() -> Awaitable[None]:
            return answer(lambda: self.directory.lookup(wanted), done, "directory lookup")

        self._spawn(work, "hubbub-lookup")

    def users(
        self,
        match: Callable[[str], bool],
        limit: int,
        done: Callable[[list[str] | None], None],
    ) -> None:
        def work() -> Awaitable[None]:
            return answer(lambda: self.directory.users(match, limit), done, "WHO")

        self._spawn(work, "hubbub-who")

    def room_summaries(
        self, limit: int, done: Callable[[list[dict[str, str]] | None], None]
    ) -> None:
        def work() -> Awaitable[None]:
            return answer(lambda: self.directory.room_summaries(limit), done, "LIST")

        self._spawn(work, "hubbub-rooms")

    def census(self) -> Census | None:
        counted = self.bus.counted
        if counted is None:
            return None
        others = [counted.others[node] for node in sorted(counted.others)]
        return Census(
            nodes=len(others),
            users=sum(count.users for count in others),
            invisible=sum(count.invisible for count in others),
            channels=counted.channels,
            servers=tuple((count.server, count.description) for count in others if count.server),
        )

    async def _write_before_quits(
        self, dead: str, room: str, through: int, fields: Mapping[str, str]
    ) -> None:
        """Ask the store for the history moves of the RENAMEs that brought rooms onto this
        one, and write the room's messages that nobody may have written, up to the dead node's
        last one (hubbub.core.cluster_replay `burial_records`), from the room's stream as of
        its state read at `through`, and wait for their commit: then its users' QUITs."""
        server, history = self.server, self._history
        if server is None or history is None or not history.available:
            return  # (a predecessor buried at the start, or a full store: the others hold them)
        named = named_room(room, fields) or RoomName(room, room)
        window = server.config.cluster.replay_window
        streamed = await self._stream(room, through, window)
        for old in renamed_onto(streamed, through):
            await self._move_renamed(history, old, room, window)
        records = burial_records(named, streamed, through, dead)
        if not records:
            return
        for record in records:
            history.append(record)
        flush = history.worker.flush
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, flush, BURIAL_COMMIT_WAIT):
            log.warning(
                "cluster: node %s: %d messages of %s written for its burial are not committed"
                " yet; its users leave all the same",
                dead,
                len(records),
                room,
            )
        else:
            log.info(
                "cluster: node %s: wrote %d messages of %s before its QUITs",
                dead,
                len(records),
                room,
            )

    async def _stream(self, room: str, through: int, limit: int) -> list[tuple[int, int, bytes]]:
        """A room's last `limit` stream events up to `through`, as the core reads them."""
        events = await self.bus.events_through(room, through, limit)
        return [(event.seq, event.time_ms, event.payload) for event in events]

    async def _move_renamed(
        self, history: LoopHistoryService, old: str, new: str, window: int
    ) -> None:
        """Ask the store again for the history move of the RENAME of `old` onto `new` (it makes
        it once): the dead node may have been the room's only one, dead before it applied the
        rename (hubbub.core.cluster_rename `move_renamed`)."""
        place = rename_place(new, await self._stream(old, STREAM_END, window))
        if place is None:
            return
        seq, time_ms = place
        move = partial(move_renamed, old=old, new=new, seq=seq, time_ms=time_ms, limit=window)
        moved: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        history.query(move, partial(_settle, moved))
        await moved

    def _departed(self, server: ChatServer, facts: Mapping[str, Any]) -> None:
        """A dead node's user is gone: its WHOWAS entry, from its directory entry (with its
        node's server name, as its node wrote it there)."""
        keep = server.config.limits.whowas_entries
        if keep:
            gone = WhowasEntry(
                str(facts.get("n", "")),
                str(facts.get("u", "")),
                str(facts.get("h", "")),
                str(facts.get("r", "")),
                int(server.now),
                str(facts.get("sv") or server.name),
            )
            self.departed(whowas.encode(gone), keep)

    def departed(self, entry: str, keep: int) -> None:
        self.directory.depart(entry, keep)

    def departures(self, done: Callable[[list[str] | None], None]) -> None:
        def work() -> Awaitable[None]:
            return answer(self.bus.departures, done, "WHOWAS")

        self._spawn(work, "hubbub-whowas")

    def _counts(self) -> Headcount:
        """This node's registered users, how many are invisible, and the server it is (the
        bus writes them)."""
        server = self.server
        if server is None:
            return Headcount(0, 0)
        return Headcount(
            server.registered_count,
            server.invisible_count,
            server.name,
            server.config.server.description,
        )

    # ------------------------------------------------------------------ what the bus tells

    def _on_event(self, event: Sequenced) -> None:
        server = self.server
        if server is None or event.room not in self.rooms:
            return
        server.apply_sequenced(event.room, event.seq, event.time_ms, event.node, event.payload)

    def _on_available(self, available: bool) -> None:
        if available:
            log.info("cluster: the bus is available")
        else:
            log.warning("cluster: the bus is unavailable; room events are refused meanwhile")
        server = self.server
        if server is None:
            return
        returned = self.bus.returned
        if available and returned.new_epoch and server.cluster is not None:
            server.cluster.epoch_restarted()  # (before the new epoch's events are delivered)
        elif available and returned.behind and server.cluster is not None:
            # A RENAME that Redis lost is undone here first: the room is under its old name
            # again, one of those behind (its new name's events went with it, ours too).
            lost = [
                (
                    rename.new,
                    rename.old,
                    rename.old_name,
                    rename.after,
                    rename.node == self.node_id,
                    rename.seq,
                )
                for rename in returned.unrenamed
            ]
            server.cluster.lost_renames(lost)
            # Our events there not read back yet went with the end of those rooms.
            server.cluster.lost_echoes(
                returned.behind | {rename[0] for rename in lost}, returned.unread_own
            )
            server.cluster.lost_written_back(returned.written_back, returned.lost_from)
            server.cluster.lost_after(returned.after)
        if available and returned.declared_dead and not self._closing:
            # Every other node saw this node's users QUIT (NODE_LOST_REASON) and may have given
            # their nicks to others: they leave here too, in this same callback (no command of
            # theirs is run in between), and their clients reconnect and join again. Before
            # the core is told the bus is back: what they did while it was away (an AWAY) is
            # not sent then, under a nick that may be someone else's now (a fuzz finding).
            log.warning(
                "cluster: this node was declared dead while away: its users are disconnected"
            )
            server.disconnect_users(NODE_LOST_REASON, time.time())
        server.network_available(available)
        if not available or self._closing or server.cluster is None:
            return
        # In this same callback, not a task of its own: no command of a user is handled, and
        # no event of the new epoch applied, between the core hearing the bus is back and the
        # rooms Redis lost being marked as such (hubbub.core.cluster_resync). A MODE handled
        # in that turn of the loop was decided by the bus from the empty room while every node
        # applied it from its copy.
        self._restore(server.cluster, returned)
        self.resyncs += 1

    def _restore(self, cluster: ClusterState, returned: Return) -> None:
        """The bus is back (maybe empty, after a Redis restart): our users' nicks, directory
        entries and, where Redis lost them, our members' room fields again. (Each only hands
        calls to the bus: a refusal, the bus gone again, is answered through the core, and the
        next return resynchronises.)"""
        # (Through the core: a user may leave while it is on its way. The claims Redis has for
        # this node that none of its users holds go back: restored from before their release.)
        cluster.reclaim_nicks(returned.claims)
        # The directory entries again (gone if Redis lost its data), then what was refused.
        for key, value in cluster.directory_entries().items():
            self.directory.publish(key, value)
        self.directory.retry()
        # Room state only where Redis lost it. Anywhere else the bus's state is newer than
        # this node's copy, which may not have applied the room's last events yet (sequenced
        # while it was away, filled from the stream meanwhile): written back, that copy would
        # undo them (a member kicked meanwhile back in the room's fields, an older topic).
        # Where it is written back, it is from a copy with every event of the room applied
        # (hubbub.core.cluster_resync).
        if returned.new_epoch:
            cluster.resync()
        elif returned.behind:
            cluster.resync(returned.behind)

    async def _on_node_lost(self, dead: str, claims: dict[str, str]) -> None:
        # (The bus releases the dead node's claims once this is over: hubbub.cluster.bus.)
        log.warning("cluster: node %s lost (%d claims); its users leave", dead, len(claims))
        await self._bury(dead, claims)

    async def _successor_from(self, dead: str) -> int | None:
        """From when (ms, on the dead node's clock) a user of its node id is a successor's,
        for a survivor's burial: a process started again under that id, registering once
        the burial is over, stamps its users' network ids from then on, and a node whose
        network room lags may apply one's JOIN before the burial's `buried` (it would take
        her out with the dead: docs/cluster.md, "Failure model"). The dead node registered
        its users no later than its last beat and a heartbeat (it renews its lease every
        heartbeat), and its lease lapsed a lease after that beat, before the burial began:
        midway between the two, so that a successor on another host whose clock is off by
        less than half the difference is told apart as well. None when the dead node wrote
        no beat (every user of its node id then goes, as before)."""
        beat = await self.bus.last_beat(dead)
        if beat is None:
            return None
        clock, lease, heartbeat = beat
        return clock + (lease + heartbeat) // 2

    async def _bury(self, dead: str, claims: Mapping[str, str]) -> None:
        """QUIT, in every room, each member the dead node had there; then its users are gone
        from the network for every node's MONITOR (hubbub.core.cluster_directory), and from
        every node's copies at the end (`buried`, hubbub.core.cluster_users).

        Its directory entries go first, and the `offline` events come after the QUITs: a
        MONITOR answered after an `offline` event, from an entry still there or from a copy
        that still had the user, told the watcher it was online, and nothing told it
        otherwise (a cluster fuzz finding, thirty-sixth session)."""
        server = self.server
        started_ms = int(time.time() * 1000)  # (the clock the core stamps network ids with)
        before = started_ms if dead == self._node_id else await self._successor_from(dead)
        departing: list[tuple[str, dict[str, Any]]] = []
        for key in claims:
            if key.startswith("nick:"):
                fold = key.removeprefix("nick:")
                entry = await self.bus.get(user_key(fold))
                departing.append((fold, json.loads(entry) if entry else {}))
        await self.bus.unlist(dead)

        def next_msgid() -> str:
            return server.next_msgid() if server is not None else secrets.token_hex(8)

        # A room renamed between its state's read and the QUIT takes the member's fields to
        # its new name (the QUIT finds nobody under the old one): read every room again until
        # a pass finds nobody of the dead node.
        read_at: dict[str, int] = {}
        asked: set[tuple[str, bytes]] = set()
        for _ in range(BURIAL_PASSES):
            buried = 0
            read_at.clear()
            for room in await self.bus.rooms():
                seq, fields = await self.bus.state(room)
                read_at[room] = seq
                quits = list(quits_of_lost_node(dead, fields, next_msgid))
                if quits:
                    await self._write_before_quits(dead, room, seq, fields)
                for payload, deleted in quits:
                    buried += 1
                    await self.bus.sequence(room, payload, delete_fields=deleted)
                # Nodes whose users a written-back room lists and that have not written it
                # back: asked once each (the dead node's sync may have listed them wrongly).
                for ask in asks_of_burial(dead, room, fields):
                    if ask not in asked:
                        asked.add(ask)
                        await self.bus.sequence(*ask)
            if not buried:
                break
        else:
            log.warning(
                "cluster: node %s: %d passes found its users in rooms; the last were not checked",
                dead,
                BURIAL_PASSES,
            )
        for fold, facts in departing:
            await self.bus.sequence(NETWORK_ROOM, offline_payload(fold, facts.get("n", fold)))
            if server is not None and facts:
                self._departed(server, facts)
            elif facts:  # (burying its predecessor at its start: written once attached)
                self._departed_early.append(facts)
        # Its users that copies list and the bus did not (their JOIN lost by Redis) leave too;
        # not those of a process started again under its node id (`before`), though a node
        # may apply one's JOIN first.
        await self.bus.sequence(NETWORK_ROOM, buried_payload(dead, read_at, before))
