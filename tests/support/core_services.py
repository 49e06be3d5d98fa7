"""The core's services for tests that drive `ChatServer` without threads or a clock.

* `SyncService` (and `SyncHistoryService`, the history's) runs every call at once on the
  caller's thread (a memory store, answered before `call` returns), the way the core tests want
  most of the time; a call that raises is answered with `FAILURE`, as the real workers do.
* `HeldService` answers only when the test says so (`complete()`), so a test can see what a
  client gets while one of its commands waits on a worker (per-client order).
* `SeededRandomness` is the core's `Randomness` port, repeatable.
* `CountingPasswords` wraps the core's `Passwords` and counts the hashes it computes (a test
  shows how many password checks an attack cost).
* `MemoryBus` / `MemoryNetwork`: the cluster's bus in memory, a real implementation of the
  core's `Network` port shared by several cores (hubbub.core.network tests).
* `core_ports(...)` assembles the `Ports` a `ChatServer` needs, memory stores by default.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.model import Credentials
from hubbub.accounts.passwords import Hasher
from hubbub.cluster.bus_scripts import LOST_RANGES, REUSED_SCAN
from hubbub.core.cluster_fields import (
    FURTHEST_FIELD,
    MEMBER_HOME_PREFIX,
    REGISTERED_FIELD,
    entry_claim,
    is_room_field,
    standing_text,
    written_back_field,
)
from hubbub.core.model import Membership
from hubbub.core.ports import (
    FAILURE,
    NETWORK_ROOM,
    AccountService,
    Census,
    HistoryService,
    Network,
    Passwords,
    Ports,
    RegistryService,
    inbox,
)
from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.registry.memory import MemoryRegistryStore
from hubbub.timezones import zone_named

__all__ = [
    "CountingPasswords",
    "HeldService",
    "HoldingService",
    "MemoryBus",
    "MemoryNetwork",
    "SeededRandomness",
    "SyncAccountService",
    "SyncHistoryService",
    "SyncRegistryService",
    "SyncService",
    "core_ports",
]

S = TypeVar("S")

log = logging.getLogger("hubbub.tests")

#: The start time the core tests give the server (2023-11-14T22:13:20Z).
STARTED = 1_700_000_000.0
#: How many of its last room events a `MemoryBus` can lose as a Redis restarted from an
#: append-only file that missed its last writes does (`lose_end`).
REMEMBERED_EVENTS = 8


class SyncService(Generic[S]):
    """Runs every call at once on the caller's thread (`done` runs before `call` returns)."""

    def __init__(self, store: S) -> None:
        self.store = store

    def call(self, fn: Callable[[S], Any], done: Callable[[Any], None]) -> None:
        try:
            result = fn(self.store)
        except Exception:
            log.exception("store call failed")
            result = FAILURE
        done(result)


class SyncHistoryService:
    """A HistoryService that runs everything at once on the caller's thread.

    `query` calls `done` before it returns (allowed only for this synchronous service).
    """

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.last_mark = 0

    @property
    def available(self) -> bool:
        return True  # a call that fails raises to the caller, there is nothing to wait for

    @property
    def committed_mark(self) -> int:
        return self.last_mark  # stored at once

    def append(self, record: Record) -> None:
        self.store.append([record])
        self.last_mark += 1

    def acknowledge_after_commit(self, link: object) -> None:
        """Appends are stored at once: an acknowledgement never waits."""

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        done(call(self.store))

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        done(call(self.store))  # committed at once, like an append


class NodeHistory:
    """One node's HistoryService over a store the nodes share (as a cluster's nodes share
    PostgreSQL), which commits only when the test says so while `holding`, and logs who wrote
    what (`written`, shared by the nodes: (node, msgid) per record appended).

    Uncommitted records are in nobody's store (not even this node's reads): `lose()` drops
    them, as a node killed before its commit.
    """

    def __init__(self, store: HistoryStore, node: str, written: list[tuple[str, str]]) -> None:
        self.store = store
        self.node = node
        self.written = written
        self.holding = False
        self.uncommitted: list[Record] = []
        self.last_mark = 0
        self.committed_mark = 0

    @property
    def available(self) -> bool:
        return True

    def append(self, record: Record) -> None:
        self.written.append((self.node, record.msgid))
        self.last_mark += 1
        self.uncommitted.append(record)
        if not self.holding:
            self.commit()

    def commit(self) -> None:
        self.store.append(self.uncommitted)
        self.uncommitted = []
        self.committed_mark = self.last_mark

    def lose(self) -> None:
        self.uncommitted = []

    def acknowledge_after_commit(self, link: object) -> None:
        """Nothing waits here: the tests look at the store, not at acknowledgements."""

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        self.commit()  # a node reads its own writes (its worker takes them in order)
        done(call(self.store))

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        self.query(call, done)


SyncAccountService = SyncService
SyncRegistryService = SyncService


class HeldService(Generic[S]):
    """Answers only when the test calls `complete()` (each call against the store then).

    `broken`: answer every call with `FAILURE`, as a worker whose store raised.
    """

    def __init__(self, store: S) -> None:
        self.store = store
        self.pending: list[tuple[Callable[[S], Any], Callable[[Any], None]]] = []
        self.broken = False

    def call(self, fn: Callable[[S], Any], done: Callable[[Any], None]) -> None:
        self.pending.append((fn, done))

    def answer_next(self) -> None:
        """Answer the oldest call only (as a worker taking its calls in order)."""
        fn, done = self.pending.pop(0)
        done(FAILURE if self.broken else fn(self.store))

    def complete(self) -> None:
        """Answer everything asked so far (and what those answers ask in turn)."""
        while self.pending:
            pending, self.pending = self.pending, []
            for fn, done in pending:
                done(FAILURE if self.broken else fn(self.store))


class HoldingService(SyncService[S]):
    """A node's own worker over a store the nodes share: answers at once, but while
    `holding`, when the test says (`answer_next`, `complete`), in the order asked. `lose()`
    drops what it holds and everything asked after, as a killed node's worker."""

    def __init__(self, store: S) -> None:
        super().__init__(store)
        self.holding = False
        self.lost = False
        self.pending: list[tuple[Callable[[S], Any], Callable[[Any], None]]] = []

    def call(self, fn: Callable[[S], Any], done: Callable[[Any], None]) -> None:
        if self.lost:
            return
        if self.holding or self.pending:  # (in order: after what it holds)
            self.pending.append((fn, done))
            return
        super().call(fn, done)

    def answer_next(self) -> None:
        """Answer the oldest held call (the worker holds on)."""
        super().call(*self.pending.pop(0))

    def complete(self) -> None:
        """Hold no more: answer everything held (and what those answers ask in turn)."""
        self.holding = False
        while self.pending:
            self.answer_next()

    def lose(self) -> None:
        self.lost = True
        self.pending.clear()


class CountingPasswords:
    """The `Passwords` port around a real one, counting every hash made or checked."""

    def __init__(self, inner: Passwords) -> None:
        self.inner = inner
        self.hashes = 0

    def make(self, password: str) -> Credentials:
        self.hashes += 1
        return self.inner.make(password)

    def verify(self, credentials: Credentials, password: str) -> bool:
        self.hashes += 1
        return self.inner.verify(credentials, password)

    def verify_hash(self, phc: str | None, password: str) -> bool:
        self.hashes += 1
        return self.inner.verify_hash(phc, password)

    def needs_rehash(self, credentials: Credentials) -> bool:
        return self.inner.needs_rehash(credentials)

    def waste(self, password: str) -> None:
        self.hashes += 1
        self.inner.waste(password)


class SeededRandomness:
    """Repeatable randomness for the core (the `Randomness` port)."""

    def __init__(self, seed: int = 1) -> None:
        self.random = random.Random(seed)

    def token_hex(self, nbytes: int) -> str:
        return self.random.randbytes(nbytes).hex()

    def token_bytes(self, nbytes: int) -> bytes:
        return self.random.randbytes(nbytes)

    def below(self, upper: int) -> int:
        return self.random.randrange(upper)


def core_ports(
    history: HistoryService | None = None,
    accounts: AccountService | None = None,
    registry: RegistryService | None = None,
    started: float = STARTED,
    network: Network | None = None,
) -> Ports:
    """The ports of a core under test: memory stores answered at once unless given."""
    return Ports(
        history=history if history is not None else SyncHistoryService(MemoryStore()),
        accounts=accounts if accounts is not None else SyncService(MemoryAccountStore()),
        registry=registry if registry is not None else SyncService(MemoryRegistryStore()),
        passwords=Hasher.from_config,
        randomness=SeededRandomness(),
        started=started,
        zones=zone_named,
        network=network,
    )


def _network_id(member: str) -> str:
    """The network id a member field's facts name ("" if none), as the SEQUENCE script's
    `network_id` reads it."""
    return str(json.loads(member).get("id") or "")


def changed_standing(standing: str, changes: str) -> str:
    """A standing after a MODE's changes of it (`><nick>`: `+v`, `-o+v`), as the SEQUENCE
    script makes them (hubbub.core.cluster_fields `standing_change`)."""
    op, voice = "o" in standing, "v" in standing
    for index in range(0, len(changes) - 1, 2):
        sign, letter = changes[index], changes[index + 1]
        if letter == "o":
            op = sign == "+"
        elif letter == "v":
            voice = sign == "+"
    return standing_text(Membership(op, voice))


class MemoryBus:
    """The cluster bus in memory, shared by several cores in one test: a real implementation
    of what hubbub.cluster.bus does for the `Network` port (per-room sequence numbers, state
    fields changed atomically with them, leased claims), without Redis.

    Events are delivered to the subscribed nodes in sequence order, from one queue (an event
    a node sends while applying another is delivered after it, to everyone). `held`: calls
    wait until the test says `release()`, as a slow bus would; `available = False`: every call
    is refused, as the real bus does while Redis is unreachable.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.seq: dict[str, int] = {}
        # Per room name, the seq of the last RENAME that took its room away (the seq hash's
        # `renamed`).
        self.renamed: dict[str, int] = {}
        # Every RENAME the bus made, in order: (era, old room, the seq of its event there,
        # new room, the seq of its marker there): where a room's messages belong (tests/fuzz).
        self.rename_log: list[tuple[int, str, int, str, int]] = []
        # Per room, the seq of the last event that changed its state fields (`changed`).
        self.changed: dict[str, int] = {}
        self.last_ms: dict[str, int] = {}
        # Redis's clock after it restarted without its data (`lose_data`): later than every
        # time it had handed out, as a restart takes far longer than a millisecond. The tests'
        # clock stands still, and left alone it would time a room's events after the restart
        # before those it had before: a clock stepped back across a new epoch, which the nodes
        # do not handle (docs/cluster.md, "Not yet"). A restart from an append-only file
        # (`lose_end`) keeps the still clock: the SEED script raises a room's time to what a
        # node read there, and a reused seq must be told by node as well as by time.
        self.restarted_ms = 0
        self.fields: dict[str, dict[str, str]] = {}
        # Per room, the nodes that have written it back (the seq hash's `w:<node>` fields).
        self.written_back: dict[str, set[str]] = {}
        # Per room, how far the copy whose room fields it took had read before Redis lost its
        # data (the seq hash's `w:*`: `read_up_to`).
        self.furthest: dict[str, int] = {}
        self.events: dict[str, list[tuple[int, int, str, bytes]]] = {}
        self.claims: dict[str, str] = {}
        # Per claim, its holder and number when taken (`claim`), and the last number given:
        # never set back, as the bus's `CLAIM` numbers by Redis's clock.
        self.claim_numbers: dict[str, tuple[str, int]] = {}
        self.last_claim_number = 0
        # The network directory: key -> (the node that wrote it, its value).
        self.directory: dict[str, tuple[str, str]] = {}
        # The network's WHOWAS entries, newest first (`departed`).
        self.departures: list[str] = []
        self.nodes: dict[str, MemoryNetwork] = {}
        self.available = True
        # Nodes cut off from it (`cut_off`): their calls are refused, nothing reaches them.
        self.away: set[str] = set()
        self.held = False
        self.waiting: list[Callable[[], None]] = []
        # The node that made each held call: one node's calls reach Redis in the order it made
        # them (hubbub.cluster.sequencer), so a test that reorders held calls keeps that order.
        self.callers: dict[Callable[[], None], str] = {}
        self.queue: list[tuple[MemoryNetwork, str, int, int, str, bytes]] = []
        self.delivering = False
        self.answering = 0  # calls being answered (`_answer`): delivery waits for them
        # Per lagging node, what was published for it meanwhile (`lag`, `catch_up`).
        self.backlog: dict[str, list[tuple[MemoryNetwork, str, int, int, str, bytes]]] = {}
        # Where each room event was sequenced, by its msgid: (era, room, seq). An era is
        # the bus's data between two losses of it (`lose_data`, `lose_end`), in which a seq
        # names one event (tests/fuzz: the order each client is sent a room's lines in).
        self.era = 0
        self.places: dict[str, tuple[int, str, int]] = {}
        # Events sequenced so far, in every room (Redis runs one script at a time: one
        # order of them all), and per msgid, its place in that order and its time.
        self.sequenced = 0
        self.sequenced_at: dict[str, tuple[int, int]] = {}
        # The (node, room) feeds held (`hold_feed`): their events wait in the queue, in place.
        self.held_feeds: set[tuple[str, str]] = set()
        # The bus's data before each of its last room events (`lose_end`).
        self.snapshots: list[dict[str, Any]] = []
        # Per room, the seqs a Redis restarted without its last writes lost, as the nodes
        # back found them (`seed`): ranges (after this one, up to this one), the last
        # LOST_RANGES.
        self.lost: dict[str, tuple[tuple[int, int], ...]] = {}
        # The nodes buried (`lose_node`), once per burial (a node outlived, buried, may
        # register again and be buried again): their claims, directory entries and
        # registration gone, as the BURY script leaves them.
        self.buried: list[str] = []

    def node(self, node_id: str) -> MemoryNetwork:
        network = MemoryNetwork(self, node_id)
        self.nodes[node_id] = network
        return network

    def call(self, run: Callable[[], None], node: str = "") -> None:
        if not self.reachable(node):  # refused at once, held or not, as the real bus does
            self.answer(run)
            return
        # Held, or behind a call of the same node still waiting: each node's calls are
        # answered in the order it made them (as the Sequencer sends them).
        behind = bool(node) and any(self.callers.get(call) == node for call in self.waiting)
        if self.held or behind:
            self.waiting.append(run)
            self.callers[run] = node
        else:
            self.answer(run)

    def take_waiting(self) -> Callable[[], None]:
        """The one call held so far, taken out of the waiting ones: the test answers it
        (`answer`) when it says."""
        (run,) = self.waiting
        self.waiting = []
        return run

    def answer_from(self, node: str, count: int = 1) -> None:
        """Answer the first `count` held calls made by `node` (the others stay held, in
        order)."""
        for _ in range(count):
            run = next(call for call in self.waiting if self.callers.get(call) == node)
            self.waiting.remove(run)
            self.answer(run)

    def answer(self, run: Callable[[], None]) -> None:
        """One call answered. What it publishes is delivered once the answering is over, not
        in the middle of the caller's own callback (as the real bus delivers on a later turn
        of the event loop): a callback that hands several events to the bus hands them all
        before the first comes back."""
        self.answering += 1
        try:
            run()
        finally:
            self.answering -= 1
        self.pump()

    def reachable(self, node: str) -> bool:
        """Whether the bus answers this node (it is up, and the node not cut off from it)."""
        return self.available and node not in self.away

    def cut_off(self, node: str) -> None:
        """One node loses Redis (a broken connection; Redis keeps its data): its calls still
        waiting are refused now, in order, and every one from now on at once; what is
        published meanwhile reaches it only once it is back (`reconnect`), in order, as the
        real bus fills it from the rooms' streams."""
        self.away.add(node)
        for run in [run for run in self.waiting if self.callers.get(run) == node]:
            self.waiting.remove(run)
            del self.callers[run]
            self.answer(run)
        self.lag(node)

    def reconnect(self, node: str) -> None:
        """The node reaches Redis again (after its `on_available(True)`: what was published
        meanwhile comes next, `catch_up`)."""
        self.away.discard(node)

    def go_away(self) -> None:
        """Redis is unreachable: every call still waiting is refused now, in the order they were
        made (as the real bus fails what it had sent), and every call from now on at once."""
        self.available = False
        waiting, self.waiting = self.waiting, []
        self.callers.clear()
        for run in waiting:
            self.answer(run)

    def lose_data(self) -> None:
        """Redis restarted without its data (a new epoch, while it is away): every room's seq,
        state fields and stream, the claims and the directory are gone. Each node's rooms
        deliver the new epoch's events from seq 1 (as hubbub.cluster.bus_feed restarts)."""
        self.era += 1
        self.restarted_ms = max([self.restarted_ms, *self.last_ms.values()]) + 1
        for state in (
            self.seq,
            self.renamed,
            self.changed,
            self.last_ms,
            self.fields,
            self.events,
            self.written_back,
            self.furthest,
            self.lost,
        ):
            state.clear()
        self.claims.clear()
        self.directory.clear()
        self.snapshots.clear()
        for network in self.nodes.values():
            network.opened_at = dict.fromkeys(network.opened_at, 0)
            network.delivered.clear()
            network.sent.clear()
            network.left.clear()
            network.renames.clear()

    def _now_ms(self) -> int:
        """Redis's `TIME` in milliseconds (see `restarted_ms`)."""
        return max(int(self.clock() * 1000), self.restarted_ms)

    def _remember(self) -> None:
        """Keep the bus's data as it is before a room event (`lose_end`)."""
        self.snapshots.append(
            {
                "seq": dict(self.seq),
                "renamed": dict(self.renamed),
                "changed": dict(self.changed),
                "last_ms": dict(self.last_ms),
                "fields": {room: dict(fields) for room, fields in self.fields.items()},
                "written_back": {room: set(nodes) for room, nodes in self.written_back.items()},
                "furthest": dict(self.furthest),
                "lost": dict(self.lost),
                # (Streams only grow between two losses: their lengths say what they held.)
                "events": {room: len(events) for room, events in self.events.items()},
                "claims": dict(self.claims),
                "directory": dict(self.directory),
                "departures": list(self.departures),
                "buried": list(self.buried),
            }
        )
        del self.snapshots[:-REMEMBERED_EVENTS]

    def lose_end(self, count: int) -> None:
        """Redis restarted, while away, from an append-only file that missed its last writes
        (`appendfsync everysec`): in the same epoch, with its data as it was before its last
        `count` room events (as many as are remembered, at most). What it published after
        that and had not delivered is lost with them."""
        count = min(count, len(self.snapshots))
        if not count:
            return
        self.era += 1
        snapshot = self.snapshots[-count]
        del self.snapshots[-count:]
        lengths = snapshot.pop("events")
        for name, kept_value in snapshot.items():  # (each a copy, made by `_remember`)
            setattr(self, name, kept_value)
        for room in list(self.events):
            del self.events[room][lengths.get(room, 0) :]
            if not self.events[room]:
                del self.events[room]

        def kept(entry: tuple[MemoryNetwork, str, int, int, str, bytes]) -> bool:
            return entry[2] <= self.seq.get(entry[1], 0)

        self.queue = [entry for entry in self.queue if kept(entry)]
        for waiting in self.backlog.values():
            waiting[:] = [entry for entry in waiting if kept(entry)]

    def seed(self, node_id: str) -> dict[str, int]:
        """What the bus does first when a node is back after a reconnection (hubbub.cluster.bus
        `_seed`, the SEED script): no room's seq below what the node has delivered, or below
        its own last event there, in the rooms it follows or has left; the seqs raised over
        are noted (`lost`). The rooms whose seq was below, where the node had read or sent a
        seq noted lost, or where the stream has another event at the seq it read or sent last
        (a node back first sequenced there), are those whose end Redis lost for it
        (returned, each with the seq after which its events are new to the node, which it
        is delivered from: `MemoryNetwork.lost_after`; its own there that it has not read
        and Redis still has in `unread_own`). Then each rename it applied is
        checked the same way in its old room: one lost is noted in the node's `unrenamed`
        (the latest first), its old room behind."""
        network = self.nodes[node_id]
        furthest = dict(network.left)
        for room in network.delivered:
            furthest[room] = network.furthest(room)
        behind: dict[str, int] = {}
        network.lost_from = {}
        for room, last in furthest.items():
            found = self._after(room, *last)
            if found is not None:
                after, network.lost_from[room] = found
                behind[room] = after
                network.lost_after(room, after)
        network.unread_own = {}
        for room, after in behind.items():
            if room not in network.delivered:
                continue
            delivered = network.delivered[room][0]
            own = {
                seq: time_ms
                for seq, time_ms, node, _payload in self.events.get(room, [])
                if delivered < seq <= after and node == node_id
            }
            if own:
                network.unread_own[room] = own
        network.unrenamed = []
        for new, (old, old_name, seq, time_ms, node) in list(network.renames.items()):
            found = self._after(old, seq, time_ms, node)
            if found is not None:
                after, lost_from = found
                del network.renames[new]
                behind.setdefault(old, after)
                network.lost_from.setdefault(old, lost_from)
                # (The latest first.)
                network.unrenamed.insert(0, (new, old, old_name, after, node == node_id, seq))
        return behind

    def _after(self, room: str, seen: int, time_ms: int, node: str) -> tuple[int, int] | None:
        """The SEED script for one room: None if its end, from `seen` on, was not lost for the
        node that read or sent `seen` (at `time_ms`, by `node`), else the seq after which the
        room's events are new to that node (the last raised over, unless events at and
        before the range's start are later than the one the node read, reused before the
        range was raised over: then the last before them; or, `seen` reused, the last before
        it whose event is not later than the one the node read there; passing over the seqs
        of a range raised over either way), and the seq after
        which what the node read there may be lost (`Return.lost_from`); the seq raised to
        `seen`."""
        seq = self.seq.get(room, 0)
        if not seen:
            return None
        ranges = self.lost.get(room, ())
        if seq < seen:
            if ranges and ranges[-1][1] == seq:  # (the same loss, which goes on further)
                ranges = (*ranges[:-1], (ranges[-1][0], seen))
            else:
                ranges = (*ranges, (seq, seen))
            self.lost[room] = ranges[-LOST_RANGES:]
            self.seq[room] = self.changed[room] = seen
            self.last_ms[room] = max(self.last_ms.get(room, 0), time_ms)
        events = {event[0]: event[1:3] for event in self.events.get(room, [])}

        def within(seq: int) -> tuple[int, int] | None:
            return next((r for r in self.lost.get(room, ()) if r[0] < seq <= r[1]), None)

        def reused(seen: int) -> int:
            # (Back from `seen` while the events are later than the one the node read, and
            # over the seqs of a range raised over: the SEED script's `reused`.)
            after = seen - 1
            scanned = 0
            while time_ms > 0 and scanned < REUSED_SCAN:
                if after not in events:
                    lost_range = within(after)
                    if lost_range is None or not any(seq < after for seq in events):
                        break
                    after = lost_range[0]
                    continue
                if events[after][0] <= time_ms:
                    break
                after -= 1
                scanned += 1
            return after

        for lost_from, lost_to in self.lost.get(room, ()):
            if lost_from < seen <= lost_to:
                # Those at and before `from` later than the one it read are new to it too:
                # reused by a node back first, before the range was raised over.
                after = reused(lost_from + 1)
                return (after, after) if after < lost_from else (lost_to, lost_from)
        # Another event at that seq now: sequenced by a node back first, as were those
        # before it that are later than the one the node read there (REUSED_SCAN at most).
        found = events.get(seen)
        # (The node or the time may not be known: a subscriber's place is the snapshot's.)
        other_node = bool(node) and found is not None and found[1] != node
        other_time = bool(time_ms) and found is not None and found[0] != time_ms
        if not (other_node or other_time):
            return None
        # (What it read may be lost below a range raised over too: not known, -1.)
        return reused(seen), -1

    def written_fields(self, room: str) -> dict[str, str]:
        """The `w:` fields of a room's seq hash, as the STATE and SEED scripts read them out:
        the nodes that have written it back, how far the copy whose room fields it has had
        read."""
        fields = {written_back_field(node): "1" for node in self.written_back.get(room, ())}
        if room in self.furthest:
            fields[FURTHEST_FIELD] = str(self.furthest[room])
        return fields

    def seed_fields(self, room: str) -> dict[str, str]:
        """What the SEED script reads out of a room whose end Redis lost: its `w:` fields
        (`written_fields`), and each node its member fields name as home."""
        fields = self.written_fields(room)
        for name, value in self.fields.get(room, {}).items():
            if name.startswith("m:"):
                fields[MEMBER_HOME_PREFIX + str(json.loads(value)["node"])] = "1"
        return fields

    def held_claims(self, node_id: str) -> set[str]:
        """The keys a node holds claims on (the real bus reads its claims hash when it is back:
        hubbub.cluster.bus `Return.claims`)."""
        return {key for key, owner in self.claims.items() if owner == node_id}

    def release(self) -> None:
        """Answer every call held so far, in the order they were made (and those made
        meanwhile by a node with calls still waiting, after them)."""
        self.held = False
        while self.waiting:
            run = self.waiting.pop(0)
            self.callers.pop(run, None)
            self.answer(run)

    def sequence(
        self,
        node: str,
        room: str,
        payload: bytes,
        set_fields: Mapping[str, str],
        delete_fields: Sequence[str],
    ) -> int | None:
        if not self.reachable(node):
            return None
        self._remember()
        seq = self.seq[room] = self.seq.get(room, 0) + 1
        time_ms = max(self._now_ms(), self.last_ms.get(room, 0))
        if self.renamed.get(room, 0) == seq - 1 > 0:  # (as the script: after a RENAME, strictly)
            time_ms = max(time_ms, self.last_ms.get(room, 0) + 1)
        self.last_ms[room] = time_ms
        fields = self.fields.setdefault(room, {})
        # As the SEQUENCE script: a name starting with "+" counts only for a room nobody is in,
        # a set name starting with "?" is set only if absent, a deleted name starting with "!"
        # releases the node's claim; deletions come first.
        empty = not any(field.startswith("m:") for field in fields)
        if empty and "room" in fields and REGISTERED_FIELD in fields:
            empty = False  # (a registered room's state the bus keeps: nothing makes it anew)
        # "&other&name": set if other exists; "=other=name": other's value; "~other~name":
        # set if neither other nor name exists; all as before.
        before: dict[str, str | None] = {
            name: fields.get(name[1:].partition(name[0])[0])
            for name in set_fields
            if name[:1] in ("&", "=")
        }
        # ("&m:<fold>&name" with a member field: only if that one is the same user's;
        # "=s:<fold>=name" with a network id: only if the member field of <fold> is that
        # user's.)
        for name, value in set_fields.items():
            there = before.get(name)
            if name.startswith("&m:") and there is not None:
                holder, given = _network_id(there), _network_id(value)
                if holder and given and holder != given:
                    before[name] = None
            elif name.startswith("=s:") and there is not None and value:
                member = fields.get("m:" + name[3:].partition("=")[0])
                if member is None or _network_id(member) not in ("", value):
                    before[name] = None
        for name in set_fields:
            if name[:1] == "~":  # "~node~name": that node has not written the room back
                spoken = name[1:].partition("~")[0] in self.written_back.get(room, set())
                before[name] = "1" if spoken else None
        # "*m:<fold>", "*s:<fold>" (a JOIN's): set unless the member field is the joiner's.
        replaces: dict[str, bool] = {}
        for name, value in set_fields.items():
            if name.startswith("*m:"):
                there = fields.get(name[1:])
                holder = _network_id(there) if there is not None else ""
                joiner = _network_id(value)
                replaces[name[3:]] = there is None or (
                    holder != "" and joiner != "" and holder != joiner
                )
        # "^o<member>" ("^t<member>", "^i<member>"): no change at all unless that member is an
        # operator (or, for "^t", a member of a room whose mode:t is "0"; for "^i", a member
        # of a room whose mode:i is not "1"). "^v<seq>": no change but the claims released,
        # and the payload marked, if a rename took the room away after that seq. "^s<seq>":
        # no change, and the payload marked, if an event changed the fields after that seq.
        creating = empty and any(name[:1] == "+" for name in [*set_fields, *delete_fields])
        allowed = True
        # "^w<seq>": a sync from a copy that had read the room up to <seq> before Redis lost
        # its data: its room fields replace the room's, unless a copy that had read further
        # wrote it back first ("outdone": they are not written).
        ranks = [int(name[2:]) for name in delete_fields if name.startswith("^w")]
        read_up_to = ranks[0] if ranks else None
        outdone = read_up_to is not None and read_up_to < self.furthest.get(room, -1)
        # Every guard is looked at, as the script does: a stale view marks the payload even
        # if another guard fails too (a JOIN of a room renamed away meanwhile, whose `^r`
        # fails there: not marked, every node took it for a JOIN of a room made anew, a
        # fault of this model's that a cluster fuzz run found, seed 4759126).
        stale = unchanged = roomless = full = denied = False
        for name in delete_fields:
            if name.startswith("^w") or name == "^W":
                continue
            if name == "^r":
                if "room" not in fields:  # a JOIN of a room that is not there
                    roomless, allowed = True, False
            elif name.startswith("^l"):  # a JOIN, if the room has room for one more
                limit = int(fields.get("mode:l") or 0)
                others = [f for f in fields if f.startswith("m:") and f != "m:" + name[2:]]
                # (Not a JOIN sent twice: its joiner's own member field is there.)
                if limit and len(others) >= limit and replaces.get(name[2:]) is not False:
                    full, allowed = True, False
            elif name.startswith("^s"):
                if self.changed.get(room, 0) > int(name[2:]):  # changed after that seq
                    unchanged, allowed = True, False
            elif name.startswith("^v"):
                if self.renamed.get(room, 0) > int(name[2:]):
                    stale, allowed = True, False
            elif name.startswith("^"):
                standing = fields.get("s:" + name[2:])
                may = (name[1] == "t" and fields.get("mode:t") == "0") or (
                    name[1] == "i" and fields.get("mode:i") != "1"
                )
                if standing is None or ("o" not in standing and not may):
                    denied, allowed = True, False
        if stale:
            payload = payload[:-1] + b',"rn":1}'
        elif unchanged:
            payload = payload[:-1] + b',"un":1}'
        elif roomless:
            payload = payload[:-1] + b',"nr":1}'
        elif full:
            payload = payload[:-1] + b',"fl":1}'
        elif denied:
            payload = payload[:-1] + b',"np":1}'
        if not allowed:
            set_fields = {}
            # (Its claims released all the same if its view was stale: they are no room's.)
            delete_fields = tuple(name for name in delete_fields if stale and name[:1] == "!")
        if allowed and creating:  # its "+" names apply: marked, as the script does
            payload = payload[:-1] + b',"new":1}'
        # (What the seq hash's `changed` counts: an event allowed, with any name to change.)
        if allowed and (set_fields or any(name[:1] != "^" for name in delete_fields)):
            self.changed[room] = seq
        # "^W": a sync not ranked (after `lose_end`): its room fields replace the room's.
        replaces_room = "^W" in delete_fields
        if allowed and (replaces_room or (read_up_to is not None and not outdone)):
            if read_up_to is not None:
                self.furthest[room] = read_up_to
            for field in [field for field in fields if is_room_field(field)]:
                del fields[field]
        for name in delete_fields:
            if name.startswith("^"):
                continue
            if name.startswith("%"):  # a member leaving, if the nick's member is that user
                fold, _, identity = name[1:].partition("%")
                member = fields.get("m:" + fold)
                if member is not None and _network_id(member) in ("", identity):
                    fields.pop("m:" + fold, None)
                    fields.pop("s:" + fold, None)
                continue
            if name.startswith("@"):  # every member of that node, which has spoken now
                self.written_back.setdefault(room, set()).add(name[1:])
                for member_name, member in list(fields.items()):
                    if member_name.startswith("m:") and json.loads(member).get("node") == name[1:]:
                        fields.pop(member_name)
                        fields.pop("s:" + member_name[2:], None)
                continue
            if name.startswith("!"):
                if self.claims.get(name[1:]) == node:
                    del self.claims[name[1:]]
                continue
            if name.startswith("#"):  # another room no longer registered (a `chandrop`'s)
                self.fields.get(name[1:], {}).pop(REGISTERED_FIELD, None)
                continue
            if name.startswith("+"):
                if not empty:
                    continue
                name = name[1:]
            if name.endswith("*"):  # every field with that prefix
                for field in [f for f in fields if f.startswith(name[:-1])]:
                    del fields[field]
            else:
                fields.pop(name, None)
        for name, value in set_fields.items():
            if name in before:
                other_value = before[name]
                if name[0] == "~":
                    if other_value is None:
                        fields.setdefault(name[1:].partition("~")[2], value)
                elif other_value is not None:
                    field = name[1:].partition(name[0])[2]
                    fields[field] = other_value if name[0] == "=" else value
            elif name.startswith("?"):
                fields.setdefault(name[1:], value)
            elif name.startswith("#"):  # another room registered (a `chanreg`'s)
                self.fields.setdefault(name[1:], {})[REGISTERED_FIELD] = value
            elif name.startswith("*"):
                if replaces.get(name[3:]):
                    fields[name[1:]] = value
            elif name.startswith(">"):  # a MODE's changes of a member's standing, if a member
                if "m:" + name[1:] in fields:
                    standing = fields.get("s:" + name[1:], "")
                    fields["s:" + name[1:]] = changed_standing(standing, value)
            elif outdone and is_room_field(name):
                continue  # (a copy that had read less than one written back already)
            elif not name.startswith("+"):
                fields[name] = value
            elif empty:
                fields[name[1:]] = value
        self.events.setdefault(room, []).append((seq, time_ms, node, payload))
        self._place(room, seq, payload)
        for network in self.nodes.values():
            if room in network.rooms:
                self.queue.append((network, room, seq, time_ms, node, payload))
        return time_ms

    def rename(
        self,
        node: str,
        old: str,
        new: str,
        payload: tuple[bytes, bytes],
        marker: tuple[bytes, bytes],
        set_fields: Mapping[str, str],
    ) -> int | None:
        """What the real bus's RENAME script does (hubbub.cluster.bus_scripts)."""
        if not self.reachable(node):
            return None
        self._remember()
        if "room" not in self.fields.get(old, {}):
            return 2
        if any(
            name.startswith("m:") or name == REGISTERED_FIELD for name in self.fields.get(new, {})
        ):
            return 0
        for name in set_fields:
            if name.startswith("^o") and "o" not in self.fields[old].get("s:" + name[2:], ""):
                return 3
        set_fields = {name: value for name, value in set_fields.items() if name[:1] != "^"}
        # (After the new name's last event, strictly, as the script's: `rename_target`'s
        # set-aside tells that name's earlier room by time.)
        now = self._now_ms()
        time_ms = max(now, self.last_ms.get(old, 0), self.last_ms.get(new, -1) + 1)
        state = self.fields.pop(old, {})
        state.update(set_fields)
        self.fields[new] = state
        # (Moved, as the script moves the `w:` fields: the old name keeps none.)
        self.written_back[new] = self.written_back.pop(old, set())
        self.furthest.pop(new, None)
        if old in self.furthest:
            self.furthest[new] = self.furthest.pop(old)
        carried = dict(state)
        for spoken in self.written_back[new]:  # (the marker carries them, as the script's)
            carried[written_back_field(spoken)] = "1"
        if new in self.furthest:
            carried[FURTHEST_FIELD] = str(self.furthest[new])
        new_seq = self._append(
            node, new, time_ms, marker[0] + json.dumps(carried).encode() + marker[1]
        )
        notes = {name: value for name, value in carried.items() if name.startswith("w:")}
        moved = str(new_seq).encode() + b',"w":' + json.dumps(notes).encode()
        self._append(node, old, time_ms, payload[0] + moved + payload[1])
        self.renamed[old] = self.changed[old] = self.seq[old]
        self.changed[new] = new_seq
        self.rename_log.append((self.era, old, self.seq[old], new, new_seq))
        return 1

    def _place(self, room: str, seq: int, payload: bytes) -> None:
        self.sequenced += 1
        try:
            msgid = json.loads(payload).get("m")
        except ValueError:
            return
        if isinstance(msgid, str):
            self.places[msgid] = (self.era, room, seq)
            self.sequenced_at[msgid] = (self.sequenced, self.last_ms[room])

    def _append(self, node: str, room: str, time_ms: int, payload: bytes) -> int:
        seq = self.seq[room] = self.seq.get(room, 0) + 1
        self.last_ms[room] = time_ms
        self.events.setdefault(room, []).append((seq, time_ms, node, payload))
        self._place(room, seq, payload)
        for network in self.nodes.values():
            if room in network.rooms:
                self.queue.append((network, room, seq, time_ms, node, payload))
        return seq

    def pump(self) -> None:
        # (While the bus is unavailable nothing is delivered: the real bus fills it in order
        # from the rooms' streams once it is back.)
        if self.delivering or self.answering or not self.available:
            return
        self.delivering = True
        try:
            index = 0
            while index < len(self.queue):
                entry = self.queue[index]
                network, room, seq, time_ms, node, payload = entry
                behind = self.backlog.get(network.node_id)
                if behind is None and (network.node_id, room) in self.held_feeds:
                    # One room's feed filling a gap: its events wait, the others' go on.
                    index += 1
                    continue
                del self.queue[index]
                index = 0  # (what applying it delivers again goes in front)
                if behind is not None:
                    # A lagging node, or one cut off: later, in the same order, held or not
                    # (`hold_feed`). Left in the queue, an event published while the node was
                    # cut off came once more after the node, back in a new epoch, had been
                    # given it from the stream: a fault of this model's that a long
                    # Hypothesis run found.
                    behind.append(entry)
                elif (
                    room in network.rooms
                    and network.server is not None
                    and seq > network.opened_at.get(room, 0)
                ):
                    network.delivered[room] = (seq, time_ms, node)
                    network.server.apply_sequenced(room, seq, time_ms, node, payload)
        finally:
            self.delivering = False

    def lag(self, node_id: str) -> None:
        """Deliver nothing to this node until `catch_up`, as a node whose subscription
        connection is slow gets every room's events later than the others, in their order."""
        self.backlog.setdefault(node_id, [])

    def catch_up(self, node_id: str) -> None:
        """A lagging node gets what it missed, in publication order."""
        behind = self.backlog.pop(node_id, [])
        self.queue[:0] = behind
        self.pump()

    def hold_feed(self, node_id: str, room: str) -> None:
        """Deliver nothing of one room to this node until `release_feed`, while its other
        rooms' events go on: the real node's feed of that room reading a gap from the room's
        stream (hubbub.cluster.bus_feed), its other feeds applying what pub/sub brings
        meanwhile. (A lagging node's backlog takes them as they come, held or not.)"""
        self.held_feeds.add((node_id, room))

    def release_feed(self, node_id: str, room: str) -> None:
        """The gap is read: what the room published meanwhile comes, in order."""
        self.held_feeds.discard((node_id, room))
        self.pump()

    def lose_node(self, node_id: str) -> list[str]:
        """A node's lease ran out: its claims go (returned) and it takes no part any more."""
        self.nodes.pop(node_id, None)
        self.buried.append(node_id)
        lost = [key for key, owner in self.claims.items() if owner == node_id]
        for key in lost:
            del self.claims[key]
        for key, (owner, _) in list(self.directory.items()):
            if owner == node_id:
                del self.directory[key]
        return lost


class MemoryNetwork:
    """One node's `Network` port on a `MemoryBus`; `server` is set once the core exists."""

    def __init__(self, bus: MemoryBus, node_id: str) -> None:
        self.bus = bus
        self._node_id = node_id
        # Its users' private messages come to its inbox; what every node applies, to the
        # network room.
        self.rooms: set[str] = {inbox(node_id), NETWORK_ROOM}
        # Per room opened, its seq when its state was read: the events up to it are in that
        # state, and are not applied again (as hubbub.cluster.bus_feed drops them).
        self.opened_at: dict[str, int] = {}
        # Per room followed, the seq (and time) of the last event delivered, and of this
        # node's own last event, as the real bus's feed has them (`MemoryBus.seed`).
        self.delivered: dict[str, tuple[int, int, str]] = {}
        self.sent: dict[str, tuple[int, int]] = {}
        # Per room left since, the furthest of the two when it was left (as the real bus's
        # `_left`): a room whose end Redis lost after this node's last event there.
        self.left: dict[str, tuple[int, int, str]] = {}
        # Rooms followed (`follow`) while their subscription's call was held: from this seq.
        self.rewound: dict[str, int] = {}
        # Renames applied, by the new room, oldest first: (old room, old name, the rename's
        # seq, time and node there), checked at the next reconnection (as the real bus's
        # `_renames`, `MemoryBus.seed`).
        self.renames: dict[str, tuple[str, str, int, int, str]] = {}
        # What the last `MemoryBus.seed` found of them lost: (new, old, old name, the seq after
        # which the old room's events are new, mine, the rename's seq).
        self.unrenamed: list[tuple[str, str, str, int, bool, int]] = []
        # Per room whose end Redis lost for this node, its own events there it had not read
        # yet that Redis still has, seq -> time (as hubbub.cluster.bus `Return.unread_own`).
        self.unread_own: dict[str, dict[int, int]] = {}
        # Per room whose end Redis lost for this node, the seq after which what it read there
        # may be lost (as hubbub.cluster.bus `Return.lost_from`).
        self.lost_from: dict[str, int] = {}
        self.server: Any = None

    @property
    def node_id(self) -> str:
        return self._node_id

    def sequence(
        self,
        room: str,
        payload: bytes,
        set_fields: Mapping[str, str],
        delete_fields: Sequence[str],
        done: Callable[[int | None, int], None],
    ) -> None:
        def run() -> None:
            time_ms = self.bus.sequence(self._node_id, room, payload, set_fields, delete_fields)
            if time_ms is not None and room in self.delivered:
                self.sent[room] = (self.bus.seq[room], time_ms)
            elif time_ms is not None:  # (as the real bus's `_sent`)
                self.left[room] = max(
                    self.left.get(room, (0, 0, "")), (self.bus.seq[room], time_ms, self._node_id)
                )
            done(time_ms, self.bus.seq[room] if time_ms is not None else 0)
            self.bus.pump()

        self.bus.call(run, self._node_id)

    def open(self, room: str, done: Callable[[Mapping[str, str] | None, int], None]) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None, 0)
                return
            if room not in self.rooms:  # subscribed already: the feed goes on (as the bus's)
                self.rooms.add(room)
                self.opened_at[room] = self.bus.seq.get(room, 0)
                # (Its place: the snapshot's seq and its last event's time, as STATE has.)
                self.delivered[room] = (self.opened_at[room], self.bus.last_ms.get(room, 0), "")
                self.left.pop(room, None)
                after = self.rewound.pop(room, None)
                if after is not None:  # followed from there meanwhile (as RoomFeed.start)
                    self._deliver_again(room, after)
            fields = {**self.bus.fields.get(room, {}), **self.bus.written_fields(room)}
            done(fields, self.bus.seq.get(room, 0))

        self.bus.call(run, self._node_id)

    def read_state(
        self, room: str, done: Callable[[tuple[int, int, Mapping[str, str]] | None], None]
    ) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None)
                return
            fields = {**self.bus.fields.get(room, {}), **self.bus.written_fields(room)}
            done((self.bus.last_ms.get(room, 0), self.bus.seq.get(room, 0), fields))

        self.bus.call(run, self._node_id)

    def renamed(self, old: str, old_name: str, new: str, seq: int, time_ms: int, node: str) -> None:
        self.renames.pop(new, None)
        self.renames[new] = (old, old_name, seq, time_ms, node)

    def close(self, room: str) -> None:
        self.rooms.discard(room)
        if room in self.delivered:
            self.left[room] = self.furthest(room)
        self.delivered.pop(room, None)
        self.sent.pop(room, None)

    def furthest(self, room: str) -> tuple[int, int, str]:
        """The seq, time and node of the last event delivered in a room followed, or of this
        node's own last event there, whichever is later (as hubbub.cluster.bus `_furthest`)."""
        delivered = self.delivered[room]
        seq, time_ms = self.sent.get(room, (0, 0))
        return (seq, time_ms, self._node_id) if seq >= delivered[0] else delivered

    def follow(self, room: str, after: int, done: Callable[[bool], None]) -> None:
        # As hubbub.cluster.node's: a room subscribed here already (or being subscribed, its
        # call held) is delivered from the event after `after` from now on.
        if room in self.rooms:
            self._deliver_again(room, after)
            self.bus.pump()
        else:
            self.rewound[room] = min(after, self.rewound.get(room, after))

        def run() -> None:
            if not self.bus.reachable(self._node_id):
                if room not in self.rooms:
                    # Its subscription refused, as the bus's: nothing of it stays to rewind a
                    # later one (which delivered, long after, the events from `after` again
                    # onto a snapshot that had them: a cluster fuzz finding, of this model).
                    self.rewound.pop(room, None)
                done(False)
                return
            if room not in self.rooms:
                self.rooms.add(room)
                self.opened_at[room] = self.bus.seq.get(room, 0)
                # (Its place: the snapshot's seq and its last event's time, as STATE has.)
                self.delivered[room] = (self.opened_at[room], self.bus.last_ms.get(room, 0), "")
                self.left.pop(room, None)
                self.rewound.pop(room, None)
                self._deliver_again(room, after)
            done(True)
            self.bus.pump()

        self.bus.call(run, self._node_id)

    def lost_after(self, room: str, after: int) -> None:
        """Redis lost the room's end: delivered from the event after `after` (as
        RoomFeed.lost_after); an event of this node's answered after it was lost."""
        if room not in self.delivered:
            return
        if self.sent.get(room, (0, 0))[0] > after:
            del self.sent[room]
        self._deliver_again(room, after)

    def _deliver_again(self, room: str, after: int) -> None:
        """Deliver the room's events after `after` that are not on their way to this node
        already, before those that are (they come later in the room's order)."""
        bus = self.bus
        behind = bus.backlog.get(self._node_id)
        waiting = behind if behind is not None else bus.queue
        queued = [entry for entry in waiting if entry[0] is self and entry[1] == room]
        seqs = {entry[2] for entry in queued}
        again = [
            (self, room, seq, time_ms, node, payload)
            for seq, time_ms, node, payload in bus.events.get(room, [])
            if seq > after and seq not in seqs
        ]
        if again and queued and min(entry[2] for entry in queued) < again[-1][2]:
            # Some on their way come before some delivered again (the room left meanwhile and
            # followed again, under a name a RENAME gave it): all in the room's order, as a
            # feed delivers them.
            waiting[:] = [entry for entry in waiting if not (entry[0] is self and entry[1] == room)]
            again = sorted(again + queued, key=lambda entry: entry[2])
        self.opened_at[room] = min(after, self.opened_at.get(room, after))
        if room in self.delivered:  # (as RoomFeed.rewind)
            delivered, _time_ms, _node = self.delivered[room]
            if after < delivered:
                self.delivered[room] = (after, 0, "")
        waiting[:0] = again

    def rename(
        self,
        old: str,
        new: str,
        payload: tuple[bytes, bytes],
        marker: tuple[bytes, bytes],
        set_fields: Mapping[str, str],
        done: Callable[[int | None], None],
    ) -> None:
        def run() -> None:
            answer = self.bus.rename(self._node_id, old, new, payload, marker, set_fields)
            if answer == 1:
                for room in (old, new):
                    if room in self.delivered:
                        self.sent[room] = (self.bus.seq[room], self.bus.last_ms[room])
            done(answer)
            self.bus.pump()

        self.bus.call(run, self._node_id)

    def recent(
        self,
        room: str,
        through: int,
        limit: int,
        done: Callable[[list[tuple[int, int, bytes]] | None], None],
    ) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None)
                return
            events = [event for event in self.bus.events.get(room, []) if event[0] <= through]
            done([(seq, time_ms, payload) for seq, time_ms, _, payload in events[-limit:]])

        self.bus.call(run, self._node_id)

    def claim(self, key: str, value: str, done: Callable[[int | None], None]) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None)
                return
            bus = self.bus
            held = bus.claims.get(key) == self._node_id
            owner = bus.claims.setdefault(key, self._node_id)
            if owner != self._node_id:
                done(0)
                return
            numbered = bus.claim_numbers.get(key)
            if not held or numbered is None or numbered[0] != owner:
                # Taken now: the next number (held already, it keeps its own), as `CLAIM`.
                bus.last_claim_number += 1
                numbered = bus.claim_numbers[key] = (owner, bus.last_claim_number)
            done(numbered[1])

        self.bus.call(run, self._node_id)

    def release(self, key: str, done: Callable[[], None] | None = None) -> None:
        # Refused while the bus is away: the node tells its core, as hubbub.cluster.node's.
        if not self.bus.reachable(self._node_id):
            if self.server is not None:
                self.server.cluster.release_refused(key)
        elif self.bus.claims.get(key) == self._node_id:
            del self.bus.claims[key]
        if done is not None:
            done()

    def locate(self, key: str, done: Callable[[str | None], None]) -> None:
        def run() -> None:
            done(self.bus.claims.get(key, "") if self.bus.reachable(self._node_id) else None)

        self.bus.call(run, self._node_id)

    def publish(
        self, key: str, value: str | None, done: Callable[[bool], None] | None = None
    ) -> None:
        if value is None:
            # Only its own entry (as the bus's DROP: another node may hold the nick by now).
            if self.bus.directory.get(key, ("", ""))[0] == self._node_id:
                del self.bus.directory[key]
        elif self.bus.claims.get(entry_claim(key), self._node_id) == self._node_id:
            # (As the bus's PUT: not over the entry of the node holding the nick.)
            self.bus.directory[key] = (self._node_id, value)
        if done is not None:
            done(True)

    def lookup(self, keys: Sequence[str], done: Callable[[list[str | None] | None], None]) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None)
                return
            entries = [self.bus.directory.get(key) for key in keys]
            done([entry[1] if entry is not None else None for entry in entries])

        self.bus.call(run, self._node_id)

    def users(
        self,
        match: Callable[[str], bool],
        limit: int,
        done: Callable[[list[str] | None], None],
    ) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None)
                return
            entries = [
                value
                for key, (_, value) in sorted(self.bus.directory.items())
                if key.startswith("user:") and match(value)
            ]
            done(entries[:limit])

        self.bus.call(run, self._node_id)

    def departed(self, entry: str, keep: int) -> None:
        def run() -> None:
            # (Refused, the real node keeps it and writes it when the bus is back.)
            if self.bus.reachable(self._node_id):
                self.bus.departures.insert(0, entry)
                del self.bus.departures[keep:]

        self.bus.call(run, self._node_id)

    def departures(self, done: Callable[[list[str] | None], None]) -> None:
        def run() -> None:
            done(list(self.bus.departures) if self.bus.reachable(self._node_id) else None)

        self.bus.call(run, self._node_id)

    def census(self) -> Census | None:
        """The other nodes as they are now (the real node's is a heartbeat old)."""
        others = [
            node.server
            for node_id, node in sorted(self.bus.nodes.items())
            if node_id != self._node_id and node.server is not None
        ]
        channels = sum(
            1
            for room, fields in self.bus.fields.items()
            if room[:1] == "#" and any(field.startswith("m:") for field in fields)
        )
        return Census(
            nodes=len(others),
            users=sum(server.registered_count for server in others),
            invisible=sum(server.invisible_count for server in others),
            channels=channels,
            servers=tuple((server.name, server.config.server.description) for server in others),
        )

    def room_summaries(
        self, limit: int, done: Callable[[list[dict[str, str]] | None], None]
    ) -> None:
        def run() -> None:
            if not self.bus.reachable(self._node_id):
                done(None)
                return
            summaries = []
            for room, fields in sorted(self.bus.fields.items()):
                count = sum(1 for field in fields if field.startswith("m:"))
                if room.startswith("~") or not count or "room" not in fields:
                    continue
                found = {"fold": room, "count": str(count), "room": fields["room"]}
                found.update(
                    {f: v for f, v in fields.items() if f == "topic" or f.startswith("mode:")}
                )
                summaries.append(found)
            done(summaries[:limit])

        self.bus.call(run, self._node_id)
