"""The cluster bus over Redis: sequenced room events, room state, leased claims, node leases.

What the node relies on, how it works and how it fails: docs/cluster.md, "The bus (Redis)".
In short: `sequence()` is one EVALSHA of one Lua script that numbers the event, stamps it,
updates the room's state, appends it to the room's capped stream and publishes it, atomically.
A node subscribes to a room's pub/sub channel while it has local members; `RoomFeed`
(hubbub.cluster.bus_feed) puts what pub/sub and the stream deliver back in seq order, and the
bus fills every gap from the stream. A supervisor task owns the connection to Redis: when Redis
goes away the bus says so (`on_available(False)`), refuses work with BusUnavailable at once,
reconnects with backoff, re-registers, resubscribes, fills the gaps and says so again
(`on_available(True)`), with what it found meanwhile in `returned` (a new epoch, this node
declared dead, rooms whose end Redis lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from hubbub.cluster import bus_scripts as scripts
from hubbub.cluster.bus_feed import PENDING_LIMIT, RoomFeed, Sequenced
from hubbub.cluster.sequencer import QUEUE_LIMIT, Sequencer, SequencerFull

__all__ = ["Bus", "BusUnavailable", "Counted", "Headcount", "Sequenced"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Node ids become part of keys and of the published messages ("<seq> <time> <node> <payload>").
_NODE_ID = re.compile(r"[A-Za-z0-9._:@-]{1,100}")
# Connections the bus opens for commands (sequence() calls waiting beyond this queue for one).
MAX_CONNECTIONS = 32
# Events read from a room's stream per round trip while filling a gap.
FILL_PAGE = 500
# Reconnection backoff: doubles from the first to the last (capped by the heartbeat interval).
BACKOFF_FIRST = 0.05
BACKOFF_LAST = 2.0
# Rooms whose state one round trip reads when nodes are looked for after a new epoch.
ADOPT_BATCH = 64
# Rooms left that a reconnection still checks for a lost end (`cluster.left_rooms`).
LEFT_LIMIT = 1024


class BusUnavailable(Exception):
    """Redis cannot be reached (or answered an error): the caller refuses the command with
    FAIL <command> TEMPORARILY_UNAVAILABLE — never accept and then lose."""


_TROUBLE = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Return:
    """How the bus came back, for `on_available(True)` to read (`Bus.returned`): what of this
    node's presence Redis may have lost, so that the node writes back only that. A room's
    state on the bus is otherwise newer than the node's copy of it, which may not have
    applied the last events yet: writing that copy back would undo them."""

    #: Redis lost its data (a new epoch): every room's state is to be written again.
    new_epoch: bool = False
    #: This node was declared dead while it was away (its lease lost, a survivor buried it or
    #: is burying it): every other node saw its users QUIT, and their nicks are free.
    declared_dead: bool = False
    #: Rooms whose last events Redis lost (restarted without its last writes, same epoch).
    behind: frozenset[str] = frozenset()
    #: Per room behind, the `w:` fields Redis has there (as `state` reads them out): which
    #: nodes have written it back, as the lost events may have changed that; and `h:<node>`
    #: for each node its member fields name (hubbub.core.cluster_fields `homes_named`). Its
    #: events after these are delivered only after the report.
    written_back: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Per room behind, the seq after which its events are new to this node (sequenced since
    #: it was back; it may have read others at those seqs, which Redis lost): its feed
    #: delivers from there.
    after: Mapping[str, int] = field(default_factory=dict)
    #: Per room behind, the seq after which what this node read there may be what Redis lost
    #: (the start of the range of seqs raised over, or -1 where seqs were reused: not known):
    #: a copy that had read no further read nothing lost (hubbub.core.cluster_resync
    #: `lost_written_back`).
    lost_from: Mapping[str, int] = field(default_factory=dict)
    #: Per room behind that this node follows, its own events Redis still has after the last
    #: it delivered there and up to `after` (seq -> time): not read back yet (the node was
    #: lagging), they come back; its others not read back there were lost (at most
    #: `FILL_PAGE` events are looked at: beyond, one is taken as lost).
    unread_own: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    #: The keys this node holds claims on, as Redis has them now: one Redis restored from
    #: before its release (restarted without its last writes) is for the node to give back.
    claims: frozenset[str] = frozenset()
    #: The renames this node applied that Redis lost (`note_renamed`), the latest first: the
    #: node's copy of each room is under the new name, the bus has it under the old one.
    unrenamed: tuple[Renamed, ...] = ()


class Renamed(NamedTuple):
    """A RENAME this node applied (`Bus.note_renamed`): sequenced in room `old` (named
    `old_name`) as event `seq` at `time_ms` by node `node`, the room now `new`. Found lost
    (`Return.unrenamed`): `after` is the seq of `old` after which its events are new to this
    node (sequenced since Redis lost the rename)."""

    new: str
    old: str
    old_name: str
    seq: int
    time_ms: int
    node: str
    after: int = -1


class _Session:
    """One connection's worth of life: the pub/sub connection and the tasks that use it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.trouble = asyncio.Event()
        self.reason = ""
        self.confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        # Feeds whose room restarted with a new epoch, or whose end Redis lost: held until
        # on_available(True) is out.
        self.restarted: list[RoomFeed] = []
        self.started = time.monotonic()
        # Begun in a new epoch: one lease on, the nodes the rooms list but that never
        # registered in it are adopted for the janitor (`Bus._adopt`).
        self.adopt = False

    def fail(self, reason: str) -> None:
        if not self.trouble.is_set():
            self.reason = reason
            self.trouble.set()


@dataclass(frozen=True)
class Headcount:
    """What a node writes of itself in the census: its registered users, how many of them are
    invisible, and the server it is (name and description: LINKS, WHOIS)."""

    users: int
    invisible: int
    server: str = ""
    description: str = ""

    def encode(self) -> str:
        # The name has no space (hubbub.config.schema); the description, last, may.
        line = self.description.splitlines()[0] if self.description else ""
        return f"{self.users} {self.invisible} {self.server} {line}".rstrip()

    @classmethod
    def decode(cls, text: str) -> Headcount:
        users, invisible, *server = text.split(" ", 3)
        return cls(int(users), int(invisible), *server)


@dataclass(frozen=True)
class Counted:
    """The network as the last heartbeat counted it: each other live node's count, by node
    id, and the channels with members."""

    others: Mapping[str, Headcount]
    channels: int


class Bus:
    """A node's connection to the cluster bus (docs/cluster.md). Use on one event loop."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        on_event: Callable[[Sequenced], None],
        on_node_lost: Callable[[str, dict[str, str]], Awaitable[None] | None],
        on_available: Callable[[bool], None],
        homes: Callable[[Mapping[str, str]], set[str]] | None = None,
        counts: Callable[[], Headcount] | None = None,
        lease_ms: int = 20_000,
        heartbeat_ms: int = 2_000,
        stream_length: int = 10_000,
        timeout_ms: int = 2_000,
        queue_limit: int = QUEUE_LIMIT,
        pending_limit: int = PENDING_LIMIT,
        left_limit: int = LEFT_LIMIT,
        lost_ranges: int = scripts.LOST_RANGES,
        reused_scan: int = scripts.REUSED_SCAN,
    ) -> None:
        if not _NODE_ID.fullmatch(node_id):
            raise ValueError(f"node id {node_id!r}: 1 to 100 of A-Z a-z 0-9 . _ : @ -")
        if heartbeat_ms <= 0 or lease_ms <= heartbeat_ms:
            raise ValueError("the lease must be longer than the heartbeat interval")
        if stream_length < 1 or timeout_ms <= 0:
            raise ValueError("stream_length and timeout_ms must be positive")
        if lost_ranges < 1 or reused_scan < 1:
            raise ValueError("lost_ranges and reused_scan must be positive")
        self.node_id = node_id
        self._url = url
        self._on_event = on_event
        self._on_node_lost = on_node_lost
        self._on_available = on_available
        # The nodes a room's state fields name as its members' homes (the node adapter knows
        # the fields: hubbub.core.cluster_fields.member_homes): after a new epoch, those not
        # back within a lease are taken for dead (`_adopt`). None: nobody is.
        self._homes = homes
        # This node's registered users, how many are invisible, and its server name and
        # description, written every heartbeat for the others' LUSERS, LINKS and WHOIS; what
        # they wrote is read back into `counted`.
        self._counts = counts
        self.counted: Counted | None = None
        self._lease_ms = lease_ms
        self._heartbeat = heartbeat_ms / 1000
        self._stream_length = stream_length
        self._timeout = timeout_ms / 1000
        self._pending_limit = pending_limit
        # SEED's bounds after Redis lost a room's end: the ranges of lost seqs the seq hash
        # keeps, and how far back a reused seq's events are compared (hubbub.cluster.bus_scripts).
        self._lost_ranges = lost_ranges
        self._reused_scan = reused_scan
        no_retry = Retry(NoBackoff(), 0)
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=self._timeout,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=no_retry,
            protocol=2,
            # CLIENT LIST shows which node a connection belongs to.
            client_name=f"hubbub-bus:{node_id}",
        )
        self._redis = Redis(connection_pool=pool)
        self._scripts = {
            name: self._redis.register_script(getattr(scripts, name))
            for name in (
                "EPOCH",
                "SEED",
                "STATE",
                "REGISTER",
                "RENEW",
                "CLAIM",
                "RELEASE",
                "PUT",
                "DROP",
                "TAKE",
                "UNLIST",
                "BURY",
                "LEAVE",
                "RENAME",
            )
        }
        # sequence() calls go through one batching sender, in call order (sequencer.py), on a
        # connection of their own without a socket timeout: the Sequencer bounds every batch
        # itself (a deadline per batch), and redis-py's per-socket timeout would cost a task
        # (wait_for) per send and a timeout context per reply, i.e. per room event.
        sequencing_pool = ConnectionPool.from_url(
            url,
            max_connections=2,  # one batch at a time; the second for a reconnection's overlap
            socket_timeout=None,
            socket_connect_timeout=self._timeout,
            retry=no_retry,
            protocol=2,
            client_name=f"hubbub-bus:{node_id}:sequencer",
        )
        self._sequencing_redis = Redis(connection_pool=sequencing_pool)
        self.sequencer = Sequencer(
            self._sequencing_redis, scripts.SEQUENCE, self._timeout, queue_limit
        )
        self._feeds: dict[str, RoomFeed] = {}
        # Rooms this node left (or sent to without following them), oldest first, with the
        # seq, time and node of the last event it had read or sent there: a Redis restarted
        # from a file missing its last writes may have lost this node's last events there (a
        # QUIT's, its users' member fields back for good), which `_seed` finds as in the rooms
        # it follows. At most `left_limit` of them.
        self._left: dict[str, tuple[int, int, str]] = {}
        self._left_limit = left_limit
        # Of those, the range of lost seqs this node was last told it had read or sent in
        # there (as RoomFeed.told).
        self._left_told: dict[str, tuple[int, int]] = {}
        # Renames this node applied, by the room's new name, oldest first (at most
        # `left_limit`): Redis restarted from a file missing its last writes may have lost one,
        # and the room would be two, this node's copy under the new name, the bus's and the
        # lagging nodes' under the old one. `_seed` checks each rename's event is still there.
        self._renames: dict[str, Renamed] = {}
        self._fills: dict[str, asyncio.Task[None]] = {}
        # Dead nodes this node is burying (on_node_lost, then BURY), by node id.
        self._burials: dict[str, asyncio.Task[None]] = {}
        self._session: _Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._available = False
        self._closing = False
        self._epoch: str | None = None
        self._token: str | None = None
        # What the reconnection under way found, kept across attempts that fail half-way
        # until one is reported (`returned`).
        self._new_epoch = False
        self._declared_dead = False
        self._written_back: dict[str, dict[str, str]] = {}
        # Per room whose end Redis lost for this node, the seq after which its events are
        # new to it (`Return.after`; its keys are `Return.behind`).
        self._after: dict[str, int] = {}
        self._lost_from: dict[str, int] = {}  # (`Return.lost_from`)
        # Per room behind and followed, this node's events there not read back and not lost
        # (`Return.unread_own`).
        self._unread_own: dict[str, dict[int, int]] = {}
        self._unrenamed: list[Renamed] = []
        self._claims: frozenset[str] = frozenset()
        # Registered once already: a `stale` answer is then this node's own, not a predecessor's.
        self._registered = False
        self.returned = Return()
        # Heartbeats completed (lease renewed, gaps swept, dead nodes looked for): for metrics
        # and for tests that must let a few heartbeats pass.
        self.heartbeats = 0

    # ---- life cycle -------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._available

    @property
    def epoch(self) -> str | None:
        """The Redis data set's identity: it changes when Redis restarted and lost its data."""
        return self._epoch

    async def start(self) -> None:
        """Connect, register the node, start heartbeat, janitor and subscription reader.

        Raises BusUnavailable when Redis cannot be reached now, ValueError when a live node
        already uses this node id."""
        try:
            session = await self._open()
        except _TROUBLE as error:
            raise BusUnavailable(f"cannot reach Redis: {error}") from error
        self._session = session
        self._available = True
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(session))
        self._on_available(True)

    async def close(self) -> None:
        """Stop every task; release this node's claims, directory entries and lease."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            # (asyncio.wait: a cancellation of close() itself still propagates. Bounded, as in
            # _end; the supervisor also stops at its next check of `_closing`.)
            await asyncio.wait([self._supervisor], timeout=2 * self._timeout)
        if self._session is not None:
            await self._end(self._session)
            self._session = None
        for task in [*self._fills.values(), *self._burials.values()]:
            task.cancel()
        self._fills.clear()
        self._burials.clear()
        if self._token is not None:
            with contextlib.suppress(*_TROUBLE):
                await self._call(
                    "LEAVE",
                    [
                        scripts.NODES_KEY,
                        scripts.node_claims_key(self.node_id),
                        scripts.node_directory_key(self.node_id),
                        scripts.lease_key(self.node_id),
                    ],
                    [self.node_id, self._token],
                )
        self._available = False
        await self._redis.aclose(close_connection_pool=True)
        await self.sequencer.close()
        await self._sequencing_redis.aclose(close_connection_pool=True)

    async def _supervise(self, session: _Session) -> None:
        """Wait for trouble; then report it, reconnect with backoff and report the return."""
        backoff = BACKOFF_FIRST
        current: _Session | None = session
        while not self._closing:
            if current is not None:
                await current.trouble.wait()
                log.warning("cluster bus: Redis unavailable (%s)", current.reason)
                self._available = False
                await self._end(current)
                self.sequencer.forget_connection()
                self._session = current = None
                self._report(False)
            # Backoff between attempts, with jitter so that nodes do not reconnect in step.
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, BACKOFF_LAST, max(self._heartbeat, BACKOFF_FIRST))
            try:
                current = await self._open()
            except _TROUBLE as error:
                log.info("cluster bus: reconnection failed: %s", error)
                continue
            except ValueError as error:
                log.error("cluster bus: cannot re-register: %s", error)
                continue
            if self._closing:
                await self._end(current)
                return
            backoff = BACKOFF_FIRST
            self._session = current
            self._available = True
            self.returned = Return(
                new_epoch=self._new_epoch,
                declared_dead=self._declared_dead,
                behind=frozenset(self._after),
                written_back=dict(self._written_back),
                after=dict(self._after),
                lost_from=dict(self._lost_from),
                unread_own=dict(self._unread_own),
                claims=self._claims,
                unrenamed=tuple(self._unrenamed),
            )
            self._new_epoch = self._declared_dead = False
            self._written_back.clear()
            self._after.clear()
            self._lost_from.clear()
            self._unread_own.clear()
            self._unrenamed.clear()
            log.info("cluster bus: Redis available again (epoch %s)", self._epoch)
            self._report(True)
            # Rooms restarted in a new epoch, or whose end Redis lost, deliver only now,
            # after on_available(True).
            for feed in current.restarted:
                self._unhold(feed)

    def _report(self, available: bool) -> None:
        try:
            self._on_available(available)
        except Exception:
            log.exception("cluster bus: on_available(%s) failed", available)

    async def _open(self) -> _Session:
        """Connect, check the epoch, (re-)register, subscribe to every room, start the tasks."""
        epoch = await self._call("EPOCH", [scripts.EPOCH_KEY], [uuid.uuid4().hex])
        epoch = epoch.decode()
        if self._epoch is not None and epoch != self._epoch:
            log.warning("cluster bus: Redis lost its data (new epoch): resynchronising")
            self._token = None
            self._new_epoch = True
            self._left.clear()  # (the rooms left are as empty as every other now)
            self._left_told.clear()
            self._renames.clear()  # (and no rename is left to be lost)
            self._unrenamed.clear()
            for feed in self._feeds.values():
                feed.restart()
        self._epoch = epoch
        await self._register()
        kwargs: dict[str, Any] = dict(parse_url(self._url))
        # unix:// and rediss:// URLs name their own connection class.
        connection_class = kwargs.pop("connection_class", Connection)
        kwargs.update(
            socket_timeout=None,  # the reader waits for events as long as it takes
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),  # a broken subscription ends the session, no retries
            # RESP2: pub/sub messages are replies read_response() answers (RESP3 pushes are not).
            protocol=2,
            client_name=f"hubbub-bus:{self.node_id}:events",
        )
        connection = connection_class(**kwargs)
        session = _Session(connection)
        session.adopt = self._new_epoch
        try:
            await asyncio.wait_for(connection.connect(), self._timeout)
            loop = asyncio.get_running_loop()
            session.tasks.append(loop.create_task(self._read(session)))
            rooms = list(self._feeds)
            if rooms:
                await self._subscribe_channels(session, rooms)
            for room in rooms:
                restarted = self._feeds.get(room)
                # Restarted by a new epoch (in this attempt, or in one that failed half-way).
                # The new epoch began empty: every one of its events is news to this node, even
                # those other nodes sequenced before this one was back (filled from seq 1).
                if restarted is not None and (restarted.delivered is None or restarted.held):
                    if restarted.delivered is None:
                        restarted.start(0)
                    session.restarted.append(restarted)
            await self._seed(session)
            self._claims = await self._held_claims()
            session.tasks.append(loop.create_task(self._beat(session)))
        except BaseException:
            await self._end(session)
            raise
        return session

    async def _seed(self, session: _Session) -> None:
        """After a reconnection: no room's seq in Redis may be below what this node delivered,
        or below an event of its own that Redis answered (a Redis restarted from a persistence
        file that missed its last writes): such a room's end was lost for this node. An event
        of its own, not read back yet, counts too: this node waits for it, and the room's seq
        may not show the loss otherwise (this node lagging, no other node having read further,
        a cluster fuzz finding). So do the rooms this node left lately (`_left`): the end
        lost there may be its users' leaving (their member fields back, with nobody to
        remove them: another finding). A room found behind is held until the node has been
        told (`Return.written_back`). Then each rename this node applied (`_renames`) is
        checked the same way, in the old room, after that room's own check has raised its
        seq: one Redis lost is reported (`Return.unrenamed`), and its old room is behind."""
        furthest = dict(self._left)
        for room, feed in self._feeds.items():
            if feed.delivered is not None:
                furthest[room] = _furthest(feed, self.node_id)
        rooms = [(room, *last) for room, last in furthest.items() if last[0]]
        renames = list(self._renames.values())
        if not rooms and not renames:
            return
        checks = rooms + [
            (rename.old, rename.seq, rename.time_ms, rename.node) for rename in renames
        ]
        async with asyncio.timeout(self._timeout):
            pipe = self._redis.pipeline(transaction=False)
            for room, seen, time_ms, node in checks:
                await self._scripts["SEED"](
                    keys=[
                        scripts.EPOCH_KEY,
                        scripts.seq_key(room),
                        scripts.stream_key(room),
                        scripts.state_key(room),
                    ],
                    args=[
                        self._epoch or "",
                        seen,
                        time_ms,
                        node,
                        self._lost_ranges,
                        self._reused_scan,
                    ],
                    client=pipe,
                )
            answers = await pipe.execute()
        for (room, seen, _time_ms, _node), raised in zip(checks, answers, strict=True):
            if raised and not self._told_already(room, raised):
                self._lost_end(session, room, raised, seen)
        for room, after in self._after.items():
            await self._find_unread_own(room, after)
        lost = [
            rename._replace(after=int(raised[1]))
            for rename, raised in zip(renames, answers[len(rooms) :], strict=True)
            if raised
        ]
        for rename in lost:
            del self._renames[rename.new]
        # The latest first: a room renamed twice, both lost, goes back one name at a time.
        self._unrenamed[:0] = reversed(lost)

    async def _find_unread_own(self, room: str, after: int) -> None:
        """This node's events in a room whose end Redis lost that it has not read back yet
        and that Redis still has (`Return.unread_own`): a lagging node's own event sequenced
        before the loss is no lost event. (Taken as lost, its sender was told `FAIL`, and a
        NICK's claim was released while the event, read later, renamed the user: a cluster
        fuzz finding.) Its time tells it from another event at that seq (a node back first
        reused it)."""
        feed = self._feeds.get(room)
        self._unread_own.pop(room, None)
        if feed is None or feed.delivered is None or after <= feed.delivered:
            return
        events = await self._read_stream(
            room, feed.delivered, min(after - feed.delivered, FILL_PAGE)
        )
        own = {
            event.seq: event.time_ms
            for event in events
            if event.node == self.node_id and event.seq <= after
        }
        if own:
            self._unread_own[room] = own

    def _told_already(self, room: str, raised: list[Any]) -> bool:
        """Whether SEED's answer is the range of lost seqs this node was told of at an earlier
        reconnection, its seq still in it (a quiet room): not news, and its events on their
        way there would be taken as lost. Redis restarted again from before the range gives
        another (its seq raised from further back, or to further on)."""
        feed = self._feeds.get(room)
        told = feed.told if feed is not None else self._left_told.get(room)
        return told is not None and _lost_range(raised) == told

    def _lost_end(self, session: _Session, room: str, raised: list[Any], seen: int) -> None:
        """SEED's answer: Redis lost the end of `room` for this node."""
        texts = [_text(item) for item in raised[2:]]
        self._written_back[room] = dict(zip(texts[::2], texts[1::2], strict=True))
        after = int(raised[1])
        self._after[room] = min(after, self._after.get(room, after))
        followed = self._feeds.get(room)
        lost_range = _lost_range(raised)
        # (Seqs reused by a node back first: what it read may be lost below a range raised
        # over before them, too: not known, -1.)
        start = min(after, lost_range[0]) if lost_range is not None else -1
        self._lost_from[room] = min(start, self._lost_from.get(room, start))
        if followed is not None:
            followed.lost_after(after)
            followed.told = lost_range
        elif lost_range is not None and room in self._left:
            self._left_told[room] = lost_range
        if followed is not None and not followed.held:
            # What comes after is applied after the node took these (`Return`).
            followed.held = True
            session.restarted.append(followed)
        log.error(
            "cluster bus: Redis lost the end of %s (restarted without its last writes):"
            " its seq continues after %d, the last this node delivered or sent",
            room,
            seen,
        )

    def note_renamed(self, rename: Renamed) -> None:
        """This node applied a RENAME: checked at the next reconnection (`_seed`)."""
        self._renames.pop(rename.new, None)
        self._renames[rename.new] = rename
        while len(self._renames) > self._left_limit:
            del self._renames[next(iter(self._renames))]

    async def _held_claims(self) -> frozenset[str]:
        """The keys this node holds claims on, as Redis has them (`Return.claims`)."""
        async with asyncio.timeout(self._timeout):
            keys = await self._redis.hkeys(scripts.node_claims_key(self.node_id))
        return frozenset(_text(key) for key in keys)

    async def _register(self) -> None:
        """Hold this node's lease: renew it, or register a new incarnation."""
        epoch = self._epoch or ""
        keys = self._lease_keys()
        if self._token is not None:
            renew = [epoch, self.node_id, self._token, self._lease_ms, self._beat_value()]
            answer = await self._call("RENEW", keys, renew)
            if answer != b"lost":
                return
            log.warning("cluster bus: this node was declared dead: registering anew")
            self._declared_dead = True
        token = uuid.uuid4().hex

        def register() -> list[object]:
            returning = "1" if self._registered else ""
            return [epoch, self.node_id, token, self._lease_ms, returning, self._beat_value()]

        answer = await self._call("REGISTER", keys, register())
        if not self._registered and answer in (b"taken", b"stale"):
            answer = await self._succeed(answer, keys, register)
        if answer == b"returned":
            # Back in a new epoch after the others took this node for dead (`_adopt`): they
            # may have seen its users QUIT, and given their nicks to others.
            log.warning("cluster bus: this node was taken for dead in the new epoch")
            self._declared_dead = True
        elif answer != b"registered":
            raise ValueError(
                f"node id {self.node_id!r} is in use by a live node (or a dead incarnation of"
                " it is being buried)"
            )
        self._token = token
        self._registered = True

    async def _succeed(
        self, answer: bytes, keys: Sequence[str], register: Callable[[], Sequence[object]]
    ) -> bytes:
        """This process starts under a node id that an earlier process left without a goodbye
        (killed, its host lost): wait for that incarnation's lease to lapse (`taken`), and bury
        it (`stale`), before this one registers and has a user. Buried in a task while this
        one served, its burial would take this one's users out with the dead ones (they share
        the node id); and the node alone on the network would never start, nobody else being
        there to bury its predecessor. A live node holding the id renews its lease: `taken`
        still after several leases, and the REGISTER's answer says so."""
        deadline = time.monotonic() + 3 * self._lease_ms / 1000
        if answer == b"taken":
            log.warning(
                "cluster bus: node id %s: an earlier process's lease is held; waiting for it"
                " to lapse (up to %d ms)",
                self.node_id,
                3 * self._lease_ms,
            )
        while answer in (b"taken", b"stale") and time.monotonic() < deadline:
            if answer == b"taken" or not await self._bury_predecessor():
                # (Its lease still held, or another node's janitor burying it: waited for.)
                await asyncio.sleep(self._heartbeat)
            answer = await self._call("REGISTER", keys, register())
        return answer

    def _lease_keys(self) -> list[str]:
        """The KEYS of `REGISTER` and `RENEW` for this node, in the scripts' order."""
        return [
            scripts.EPOCH_KEY,
            scripts.lease_key(self.node_id),
            scripts.NODES_KEY,
            scripts.janitor_key(self.node_id),
            scripts.BEATS_KEY,
        ]

    def _beat_value(self) -> str:
        """This node's beat (`scripts.BEATS_KEY`): its clock now, its lease and heartbeat."""
        now_ms = int(time.time() * 1000)  # (the clock the core stamps network ids with)
        return f"{now_ms} {self._lease_ms} {round(self._heartbeat * 1000)}"

    async def last_beat(self, node: str) -> tuple[int, int, int] | None:
        """A node's last beat as it wrote it (its clock, lease and heartbeat, ms); None when
        it wrote none (or not in that form)."""
        value = await self._guarded(lambda: self._redis.hget(scripts.BEATS_KEY, node))
        try:
            clock, lease, heartbeat = (int(part) for part in _text(value or b"").split())
        except ValueError:
            return None
        return clock, lease, heartbeat

    async def _bury_predecessor(self) -> bool:
        """Bury this node id's dead incarnation here and now (on_node_lost, then BURY), the
        bus open to the burial's calls only; False when another node's janitor holds it."""
        node = self.node_id
        keys = [
            scripts.lease_key(node),
            scripts.NODES_KEY,
            scripts.janitor_key(node),
            scripts.node_claims_key(node),
        ]
        flat = await self._call("TAKE", keys, [node, node, self._lease_ms])
        if flat is None:
            return False
        claims = _pairs(flat)
        log.warning(
            "cluster bus: an earlier process of node %s left without a goodbye (%d claims):"
            " burying it before this one serves",
            node,
            len(claims),
        )
        self._available = True
        try:
            await self._lay_to_rest(node, claims)
        finally:
            self._available = False
        return True

    async def _end(self, session: _Session) -> None:
        session.fail("closed")
        others = [task for task in session.tasks if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if others:
            # asyncio.wait, not `await task` under suppress(CancelledError): that would also
            # swallow a cancellation of the task running _end (close() cancelling the
            # supervisor), which then never ends. Bounded: Python 3.11's wait_for (inside
            # redis-py) can lose a cancellation; such a task ends at its loop's next check of
            # `session.trouble`, or when the connection below is closed under it.
            await asyncio.wait(others, timeout=self._timeout)
        for waiting in session.confirmations.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(BusUnavailable("the connection to Redis ended"))
        session.confirmations.clear()
        with contextlib.suppress(*_TROUBLE):
            await session.connection.disconnect(nowait=True)

    def _trouble(self, reason: str) -> None:
        """A command failed in a way that says the connection (or the epoch, or the lease) is
        gone: end the session so that the supervisor reconnects and resynchronises."""
        if self._session is not None:
            self._session.fail(reason)

    # ---- commands ---------------------------------------------------------------------------

    async def _call(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run one script with a hard deadline."""
        async with asyncio.timeout(self._timeout):
            return await self._scripts[name](keys=list(keys), args=list(args))  # type: ignore[arg-type]

    async def _guarded(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` for a caller: BusUnavailable at once while Redis is away, or on failure."""
        if not self._available:
            raise BusUnavailable("the cluster bus is not connected to Redis")
        try:
            async with asyncio.timeout(self._timeout):
                return await work()
        except (SequencerFull, *_TROUBLE) as error:
            raise self._refusal(error) from error

    def _refusal(self, error: BaseException) -> BusUnavailable:
        """The BusUnavailable a call that failed with `error` answers; the session ends when
        the error says the connection, the epoch or the lease is gone."""
        if isinstance(error, SequencerFull):
            return BusUnavailable(str(error))
        if isinstance(error, ResponseError):
            text = str(error)
            if text.startswith((scripts.EPOCH_ERROR, scripts.LEASE_ERROR)):
                self._trouble(text)
            return BusUnavailable(text)
        self._trouble(f"{type(error).__name__}: {error}")
        return BusUnavailable(f"Redis: {error}")

    async def sequence(
        self,
        room: str,
        payload: bytes,
        *,
        set_fields: Mapping[str, str] = {},
        delete_fields: Sequence[str] = (),
    ) -> Sequenced:
        """Number, stamp, store and publish one room event atomically (one EVALSHA)."""
        keys, args = self._sequence_request(room, payload, set_fields, delete_fields)
        answer = await self._guarded(lambda: self.sequencer.call(keys, args))
        seq, time_ms = answer
        self._sent(room, int(seq), int(time_ms))
        return Sequenced(room, int(seq), int(time_ms), self.node_id, payload)

    def sequence_soon(
        self,
        room: str,
        payload: bytes,
        done: Callable[[Sequenced | BusUnavailable], None],
        *,
        set_fields: Mapping[str, str] = {},
        delete_fields: Sequence[str] = (),
    ) -> asyncio.Future[Any]:
        """`sequence()` for a caller that wants a callback rather than a coroutine: the node,
        once per room event (no task and no timer of its own per event; the Sequencer bounds
        each call by `timeout_ms`). `done` is called on a later turn of the loop with the
        Sequenced event, or with the BusUnavailable that `sequence()` would raise (refuse the
        command; a timed-out call's outcome is unknown, as there). Returns the pending call,
        done once Redis answered it (or it failed), for a caller that waits for its calls."""
        loop = asyncio.get_running_loop()
        keys, args = self._sequence_request(room, payload, set_fields, delete_fields)
        if not self._available:
            refused: BusUnavailable = BusUnavailable("the cluster bus is not connected to Redis")
        else:
            try:
                pending = self.sequencer.submit(keys, args)
            except SequencerFull as error:
                refused = self._refusal(error)
            else:
                pending.add_done_callback(
                    lambda answered: self._sequenced(answered, room, payload, done)
                )
                return pending
        loop.call_soon(self._answer, done, refused)
        finished: asyncio.Future[Any] = loop.create_future()
        finished.set_result(None)
        return finished

    def _sequenced(
        self,
        answered: asyncio.Future[Any],
        room: str,
        payload: bytes,
        done: Callable[[Sequenced | BusUnavailable], None],
    ) -> None:
        if answered.cancelled():
            self._answer(done, BusUnavailable("the call to Redis was cancelled"))
            return
        error = answered.exception()
        if error is None:
            seq, time_ms = answered.result()
            self._sent(room, int(seq), int(time_ms))
            self._answer(done, Sequenced(room, int(seq), int(time_ms), self.node_id, payload))
        elif isinstance(error, (SequencerFull, *_TROUBLE)):
            self._answer(done, self._refusal(error))
        else:  # a bug: the caller refuses (and is never left waiting)
            log.error("cluster bus: sequencing in %s failed", room, exc_info=error)
            self._answer(done, BusUnavailable(f"sequencing failed: {error!r}"))

    def _sent(self, room: str, seq: int, time_ms: int) -> None:
        """Note an event of this node's that Redis sequenced: if Redis loses it before this
        node reads it back, the room's end is lost for this node too (`_seed`). In a room it
        does not follow (a dead node's burial), it is noted with the rooms left: so that this
        node, back first, does not sequence there again under that seq."""
        feed = self._feeds.get(room)
        if feed is not None:
            feed.sequenced(seq, time_ms)
        elif seq > self._left.get(room, (0, 0, ""))[0]:
            self._note_left(room, (seq, time_ms, self.node_id))

    def _note_left(self, room: str, last: tuple[int, int, str]) -> None:
        """Note the last event of a room not followed (`_left`), the oldest forgotten."""
        self._left.pop(room, None)
        self._left[room] = last
        self._left_told.pop(room, None)  # (a later event: a loss of it is news)
        while len(self._left) > self._left_limit:
            self._left_told.pop(next(iter(self._left)), None)
            del self._left[next(iter(self._left))]

    @staticmethod
    def _answer(
        done: Callable[[Sequenced | BusUnavailable], None], outcome: Sequenced | BusUnavailable
    ) -> None:
        try:
            done(outcome)
        except Exception:
            log.exception("cluster bus: a sequence_soon() callback failed")

    def _sequence_request(
        self,
        room: str,
        payload: bytes,
        set_fields: Mapping[str, str],
        delete_fields: Sequence[str],
    ) -> tuple[list[str], list[object]]:
        """The SEQUENCE script's keys and arguments for one event."""
        args: list[object] = [
            self._epoch or "",
            room,
            self.node_id,
            payload,
            self._stream_length,
            scripts.events_channel(room),
            len(set_fields),
        ]
        for name, value in set_fields.items():
            args += (name, value)
        args += delete_fields
        return scripts.sequence_keys(room), args

    async def rename(
        self,
        old: str,
        new: str,
        payload: tuple[bytes, bytes],
        marker: tuple[bytes, bytes],
        set_fields: Mapping[str, str],
    ) -> int:
        """Move room `old`'s state fields to room `new` (the fields given overwrite theirs)
        and sequence an event in each, atomically (bus_scripts.RENAME): 1. Unless `new` has
        members (0) or `old` is not there any more (2, renamed away meanwhile): nothing
        changed then. `new` gets `marker[0]`, the moved fields as a
        JSON object and `marker[1]`; `old` then gets `payload[0]`, the seq of that marker in
        `new`, and `payload[1]` (both come back through on_event)."""
        keys = [
            scripts.EPOCH_KEY,
            scripts.seq_key(old),
            scripts.state_key(old),
            scripts.stream_key(old),
            scripts.ROOMS_KEY,
            scripts.seq_key(new),
            scripts.state_key(new),
            scripts.stream_key(new),
            scripts.CHANNELS_KEY,
        ]
        args: list[object] = [
            self._epoch or "",
            old,
            new,
            self.node_id,
            self._stream_length,
            scripts.events_channel(old),
            scripts.events_channel(new),
            *payload,
            *marker,
            len(set_fields),
        ]
        for name, value in set_fields.items():
            args += (name, value)
        answer = await self._guarded(lambda: self._scripts["RENAME"](keys=keys, args=args))  # type: ignore[arg-type]
        if int(answer[0]) == 1:  # {1, old seq, time_ms, new seq}
            self._sent(old, int(answer[1]), int(answer[2]))
            self._sent(new, int(answer[3]), int(answer[2]))
        return int(answer[0])

    async def state(self, room: str) -> tuple[int, dict[str, str]]:
        """The room's (seq, state fields), read atomically together."""
        seq, fields, _time_ms = await self.snapshot(room)
        return seq, fields

    async def snapshot(self, room: str) -> tuple[int, dict[str, str], int]:
        """The room's seq, state fields and last event's time, read atomically together."""
        keys = [scripts.seq_key(room), scripts.state_key(room)]
        if self._available:
            answer = await self._guarded(lambda: self._scripts["STATE"](keys=keys))
        else:
            # Used while (re)connecting too, before the bus reports itself available.
            answer = await self._call("STATE", keys, [])
        seq, flat, time_ms = answer
        return int(seq), _pairs(flat), int(time_ms)

    async def departed(self, entries: Sequence[str], keep: int) -> None:
        """Add WHOWAS entries (oldest first) to the network's, keeping the newest `keep`.
        Raises BusUnavailable."""

        async def write() -> None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(scripts.WHOWAS_KEY, *entries)
            pipe.ltrim(scripts.WHOWAS_KEY, 0, keep - 1)
            await pipe.execute()

        await self._guarded(write)

    async def departures(self) -> list[str]:
        """The network's WHOWAS entries, newest first. Raises BusUnavailable."""
        entries = await self._guarded(lambda: self._redis.lrange(scripts.WHOWAS_KEY, 0, -1))
        return [_text(entry) for entry in entries]

    async def rooms(self) -> list[str]:
        """Every room that has state fields."""
        members = await self._guarded(lambda: self._redis.smembers(scripts.ROOMS_KEY))
        return sorted(_text(member) for member in members)

    async def events_after(self, room: str, after: int, limit: int) -> list[Sequenced]:
        """Up to `limit` of the room's events with seq > after, from its stream, in order."""
        return await self._guarded(lambda: self._read_stream(room, after, limit))

    async def events_through(self, room: str, through: int, limit: int) -> list[Sequenced]:
        """The room's last (up to) `limit` events with seq <= through, from its stream, in
        order (a join replay on a room this node just opened: hubbub.core.cluster_replay)."""
        if limit <= 0 or through <= 0:
            return []

        async def read() -> list[Sequenced]:
            async with asyncio.timeout(self._timeout):
                entries = await self._redis.xrevrange(
                    scripts.stream_key(room), max=f"{through}-0", min="-", count=limit
                )
            return [_entry(room, entry) for entry in reversed(entries or [])]

        return await self._guarded(read)

    async def _read_stream(self, room: str, after: int, limit: int) -> list[Sequenced]:
        if limit <= 0:
            return []
        async with asyncio.timeout(self._timeout):
            entries = await self._redis.xrange(
                scripts.stream_key(room), min=f"{after + 1}-0", max="+", count=limit
            )
        return [_entry(room, entry) for entry in entries or []]

    # ---- claims and directory ---------------------------------------------------------------

    def _owner_args(self) -> list[object]:
        return [self._epoch or "", self.node_id, self._token or ""]

    async def claim(self, key: str, value: str) -> int:
        """Claim a network-wide unique key: the claim's number (> 0, `CLAIM`), or 0 when
        another node holds it."""
        keys = [
            scripts.EPOCH_KEY,
            scripts.lease_key(self.node_id),
            scripts.claim_key(key),
            scripts.node_claims_key(self.node_id),
            scripts.CLAIMED_KEY,
        ]
        args = [*self._owner_args(), key, value]
        answer = await self._guarded(lambda: self._scripts["CLAIM"](keys=keys, args=args))  # type: ignore[arg-type]
        return int(answer or 0)

    async def release(self, key: str) -> None:
        keys = [scripts.claim_key(key), scripts.node_claims_key(self.node_id)]
        await self._guarded(lambda: self._scripts["RELEASE"](keys=keys, args=[self.node_id, key]))

    async def claimed(self, key: str) -> str | None:
        """The value of the claim on `key`, or None when nobody holds it."""
        value = await self._guarded(lambda: self._redis.hget(scripts.claim_key(key), "v"))
        return None if value is None else _text(value)

    async def put(self, key: str, value: str, claim: str) -> bool:
        """Write a directory entry of this node's, unless another node holds `claim` (the
        claim the entry stands on): False then, and the entry is left as it is."""
        keys = [
            scripts.EPOCH_KEY,
            scripts.lease_key(self.node_id),
            scripts.directory_key(key),
            scripts.node_directory_key(self.node_id),
            scripts.claim_key(claim),
        ]
        args = [*self._owner_args(), key, value]
        answer = await self._guarded(lambda: self._scripts["PUT"](keys=keys, args=args))  # type: ignore[arg-type]
        return bool(answer)

    async def get(self, key: str) -> str | None:
        value = await self._guarded(lambda: self._redis.hget(scripts.directory_key(key), "v"))
        return None if value is None else _text(value)

    async def directory_keys(self) -> list[str]:
        """The keys of every registered node's directory entries (a dead node's too, until it
        is buried), sorted: two round trips whatever the number of nodes."""

        async def read() -> list[str]:
            nodes = await self._redis.smembers(scripts.NODES_KEY)
            if not nodes:
                return []
            sets = [scripts.node_directory_key(_text(node)) for node in nodes]
            return sorted(_text(key) for key in await self._redis.sunion(sets))

        return await self._guarded(read)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The directory entries under `keys` (None where there is none), in one round trip."""

        async def read() -> list[Any]:
            pipeline = self._redis.pipeline(transaction=False)
            for key in keys:
                pipeline.hget(scripts.directory_key(key), "v")
            return list(await pipeline.execute())

        values = await self._guarded(read) if keys else []
        return [None if value is None else _text(value) for value in values]

    async def unlist(self, node: str) -> None:
        """A dead node this node is burying: its directory entries go now, before its users
        are announced offline (hubbub.cluster.node `_bury`); its claims go with BURY."""
        keys = [
            scripts.NODES_KEY,
            scripts.node_claims_key(node),
            scripts.node_directory_key(node),
            scripts.janitor_key(node),
        ]
        args = [node, self.node_id]
        await self._guarded(lambda: self._scripts["UNLIST"](keys=keys, args=args))

    async def drop(self, key: str) -> None:
        keys = [scripts.directory_key(key), scripts.node_directory_key(self.node_id)]
        await self._guarded(lambda: self._scripts["DROP"](keys=keys, args=[self.node_id, key]))

    # ---- subscriptions ----------------------------------------------------------------------

    async def subscribe(self, room: str, after: int | None = None) -> tuple[int, dict[str, str]]:
        """Deliver the room's events after the returned snapshot (seq, fields) via on_event;
        with `after`, the events after that seq instead (those up to the snapshot are read
        from the room's stream first)."""
        if room in self._feeds:
            raise ValueError(f"already subscribed to {room!r}")
        session = self._session
        if not self._available or session is None:
            raise BusUnavailable("the cluster bus is not connected to Redis")
        feed = RoomFeed(room, self._pending_limit)
        self._feeds[room] = feed
        self._left.pop(room, None)  # (its feed is checked now)
        self._left_told.pop(room, None)
        try:
            await self._guarded(lambda: self._subscribe_channels(session, [room]))
            seq, fields, time_ms = await self.snapshot(room)
        except BaseException:
            if self._feeds.get(room) is feed:
                del self._feeds[room]
            # The channel may stay subscribed until the session ends: the reader ignores
            # rooms without a feed, and a later subscribe() of the room is then a no-op for
            # Redis. (An UNSUBSCRIBE sent from here could overtake that later SUBSCRIBE.)
            raise
        if feed.delivered is not None or session is not self._session:
            # The connection ended meanwhile (a reconnection may have taken its own snapshot):
            # this snapshot and the delivery may not match. The caller refuses or retries.
            if self._feeds.get(room) is feed:
                del self._feeds[room]
            raise BusUnavailable(f"the connection to Redis changed while subscribing to {room}")
        start = seq if after is None else min(after, seq)
        feed.start(start, time_ms if start == seq else 0)
        feed.known = max(feed.known, seq)
        # The caller installs the snapshot before the first event after it reaches on_event.
        asyncio.get_running_loop().call_soon(self._unhold, feed)
        return seq, fields

    def rewind(self, room: str, after: int) -> bool:
        """A room subscribed here (or being subscribed) delivers from the event after `after`
        from now on, those already delivered again (read from its stream). False: not
        subscribed."""
        feed = self._feeds.get(room)
        if feed is None:
            return False
        feed.rewind(after)
        self._fill_soon(room)
        return True

    def _unhold(self, feed: RoomFeed) -> None:
        if self._feeds.get(feed.room) is feed:
            feed.held = False
            self._deliver(feed.release())
            self._fill_soon(feed.room)

    async def unsubscribe(self, room: str) -> None:
        """Stop delivering the room's events."""
        feed = self._feeds.pop(room, None)
        if feed is None:
            return
        if feed.delivered is not None:
            self._note_left(room, _furthest(feed, self.node_id))
            if feed.told is not None:
                self._left_told[room] = feed.told
        fill = self._fills.pop(room, None)
        if fill is not None:
            fill.cancel()
        await self._unsubscribe_channel(room)

    async def _unsubscribe_channel(self, room: str) -> None:
        """UNSUBSCRIBE, sent before any later SUBSCRIBE of the room (so it cannot undo it).
        A session that is gone needs none: the next one subscribes only to `_feeds`."""
        session = self._session
        if session is None or session.trouble.is_set():
            return
        try:
            await session.connection.send_command("UNSUBSCRIBE", scripts.events_channel(room))
        except _TROUBLE as error:
            session.fail(f"UNSUBSCRIBE: {error}")

    async def _subscribe_channels(self, session: _Session, rooms: list[str]) -> None:
        """SUBSCRIBE and wait until Redis confirms: from then on no event is missed live."""
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[None]] = []
        channels = [scripts.events_channel(room) for room in rooms]
        if session.trouble.is_set():
            # (send_command would quietly open a new connection the reader does not read.)
            raise BusUnavailable("the connection to Redis ended")
        for channel in channels:
            future: asyncio.Future[None] = loop.create_future()
            session.confirmations.setdefault(channel, []).append(future)
            waiting.append(future)
        await session.connection.send_command("SUBSCRIBE", *channels)
        async with asyncio.timeout(self._timeout):
            await asyncio.gather(*waiting)

    async def _read(self, session: _Session) -> None:
        """The subscription reader: one pub/sub connection, every subscribed room."""
        prefix = scripts.EVENTS_PREFIX.encode()
        try:
            while not session.trouble.is_set():
                reply = await session.connection.read_response(timeout=None)
                if not isinstance(reply, list) or len(reply) < 3:
                    continue
                kind, channel, data = reply[0], bytes(reply[1]), reply[2]
                if kind == b"message":
                    room = channel[len(prefix) :].decode()
                    feed = self._feeds.get(room)
                    if feed is not None:
                        self._offer(feed, _message(room, data))
                elif kind == b"subscribe":
                    for future in session.confirmations.pop(channel.decode(), []):
                        if not future.done():
                            future.set_result(None)
        except asyncio.CancelledError:
            raise
        except _TROUBLE as error:
            session.fail(f"subscription reader: {type(error).__name__}: {error}")
        except Exception as error:
            log.exception("cluster bus: subscription reader failed")
            session.fail(f"subscription reader: {error}")

    def _offer(self, feed: RoomFeed, event: Sequenced) -> None:
        self._deliver(feed.offer(event))
        if feed.missing_from() is not None:
            self._fill_soon(feed.room)

    def _deliver(self, events: list[Sequenced]) -> None:
        for event in events:
            try:
                self._on_event(event)
            except Exception:
                log.exception("cluster bus: on_event failed for %s seq %d", event.room, event.seq)

    def _fill_soon(self, room: str) -> None:
        """Fetch the room's missing events from its stream, unless a fill is running."""
        feed = self._feeds.get(room)
        if feed is None or feed.missing_from() is None or room in self._fills:
            return
        task = asyncio.get_running_loop().create_task(self._fill(feed))
        self._fills[room] = task
        task.add_done_callback(lambda _task: self._fills.pop(room, None))

    async def _fill(self, feed: RoomFeed) -> None:
        first = feed.missing_from()
        while first is not None and self._feeds.get(feed.room) is feed:
            try:
                events = await self._read_stream(feed.room, first - 1, FILL_PAGE)
            except _TROUBLE:
                return  # the next heartbeat's sweep (or the reconnection's) fills again
            if not events:
                # The stream ends before `known`: the epoch changed under us, or a live event
                # was from a stream since trimmed; the reconnection or the next event sorts it.
                return
            if events[0].seq > first:
                log.error(
                    "cluster bus: %s: events %d to %d were trimmed from the stream before this "
                    "node read them (stream_length too small for this outage)",
                    feed.room,
                    first,
                    events[0].seq - 1,
                )
                feed.skip_to(events[0].seq - 1)
            for event in events:
                self._deliver(feed.offer(event))
            first = feed.missing_from()

    # ---- heartbeat and janitor --------------------------------------------------------------

    async def _beat(self, session: _Session) -> None:
        """Renew the lease, look for lost events, bury dead nodes: every heartbeat."""
        try:
            # At once: events sequenced while this node was disconnected are filled now.
            await self._sweep()
            while not session.trouble.is_set():
                await asyncio.sleep(self._heartbeat)
                await self._renew(session)
                await self._sweep()
                await self._count()
                # A node that just (re)connected gives the others one lease to renew theirs
                # (after a Redis outage they are reconnecting too) before declaring them dead.
                if time.monotonic() - session.started >= self._lease_ms / 1000:
                    if session.adopt:
                        session.adopt = False
                        await self._adopt()
                    await self._janitor()
                self.heartbeats += 1
        except asyncio.CancelledError:
            raise
        except _TROUBLE as error:
            session.fail(f"heartbeat: {type(error).__name__}: {error}")

    async def _renew(self, session: _Session) -> None:
        renew = [self._epoch or "", self.node_id, self._token or "", self._lease_ms]
        answer = await self._call("RENEW", self._lease_keys(), [*renew, self._beat_value()])
        if answer == b"lost":
            session.fail("this node's lease was lost and the node declared dead")
        elif answer == b"revived":
            log.warning("cluster bus: this node's lease had lapsed; nobody buried it: renewed")

    async def _count(self) -> None:
        """Write this node's user counts, and read every live node's and the channels'."""
        if self._counts is None:
            return
        mine = self._counts()
        async with asyncio.timeout(self._timeout):
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(scripts.CENSUS_KEY, self.node_id, mine.encode())
            pipe.hgetall(scripts.CENSUS_KEY)
            pipe.smembers(scripts.NODES_KEY)
            pipe.scard(scripts.CHANNELS_KEY)
            _, written, registered, channels = await pipe.execute()
        live = {_text(node) for node in registered}
        others: dict[str, Headcount] = {}
        gone = []
        for key, value in written.items():
            node = _text(key)
            if node not in live:
                gone.append(node)  # left or buried: its users are gone too
            elif node != self.node_id:
                others[node] = Headcount.decode(_text(value))
        self.counted = Counted(others, int(channels))
        if gone:
            async with asyncio.timeout(self._timeout):
                await self._redis.hdel(scripts.CENSUS_KEY, *gone)

    async def _sweep(self) -> None:
        """Compare each subscribed room's seq in Redis with what was delivered: catches an
        event pub/sub lost without a later event to reveal the gap."""
        rooms = [room for room, feed in self._feeds.items() if not feed.held]
        if not rooms:
            return
        async with asyncio.timeout(self._timeout):
            pipe = self._redis.pipeline(transaction=False)
            for room in rooms:
                pipe.hget(scripts.seq_key(room), "seq")
            answers = await pipe.execute()
        for room, answer in zip(rooms, answers, strict=True):
            feed = self._feeds.get(room)
            if feed is not None and answer is not None:
                feed.known = max(feed.known, int(answer))
                self._fill_soon(room)

    async def _adopt(self) -> None:
        """After Redis lost its data: the nodes whose users the rooms' member fields list (the
        live nodes wrote them back, hubbub.core.cluster_resync) but that have not registered
        in the new epoch within a lease died while Redis was away; no lease of theirs can run
        out. Registered here without one, the janitor buries them as it buries any dead node
        (their users QUIT everywhere); one that comes back later finds itself declared dead
        (`REGISTER` answers `returned`) and disconnects its users."""
        homes_of = self._homes
        if homes_of is None:
            return
        rooms = [_text(room) for room in await self._redis.smembers(scripts.ROOMS_KEY)]
        homes: set[str] = set()
        for start in range(0, len(rooms), ADOPT_BATCH):
            async with asyncio.timeout(self._timeout):
                pipe = self._redis.pipeline(transaction=False)
                for room in rooms[start : start + ADOPT_BATCH]:
                    pipe.hgetall(scripts.state_key(room))
                states = await pipe.execute()
            for flat in states:
                homes.update(homes_of({_text(k): _text(v) for k, v in flat.items()}))
        homes.discard(self.node_id)
        registered = {_text(node) for node in await self._redis.smembers(scripts.NODES_KEY)}
        unknown = sorted(homes - registered)
        if unknown:
            log.warning(
                "cluster bus: nodes not back a lease after Redis lost its data, taken for dead: %s",
                ", ".join(unknown),
            )
            await self._redis.sadd(scripts.NODES_KEY, *unknown)

    async def _janitor(self) -> None:
        nodes = [_text(member) for member in await self._redis.smembers(scripts.NODES_KEY)]
        others = [node for node in nodes if node != self.node_id]
        if not others:
            return
        async with asyncio.timeout(self._timeout):
            pipe = self._redis.pipeline(transaction=False)
            for node in others:
                pipe.exists(scripts.lease_key(node))
            alive = await pipe.execute()
        for node, exists in zip(others, alive, strict=True):
            if not exists and node not in self._burials:
                await self._bury(node)

    async def _bury(self, node: str) -> None:
        """If this node wins the dead node's janitor key: on_node_lost, then delete its claims
        and directory entries. Exactly one surviving node gets here per dead node."""
        flat = await self._call(
            "TAKE",
            [
                scripts.lease_key(node),
                scripts.NODES_KEY,
                scripts.janitor_key(node),
                scripts.node_claims_key(node),
            ],
            [node, self.node_id, self._lease_ms],
        )
        if flat is None:
            return
        claims = _pairs(flat)
        log.warning("cluster bus: node %s missed its lease (%d claims)", node, len(claims))
        # Its claims go once on_node_lost is over (its users have left every room): a nick
        # free before that could be taken, and its new holder's JOIN of a room would find the
        # dead user's member field there still. Not on the heartbeat: it may take a while.
        task = asyncio.get_running_loop().create_task(self._lay_to_rest(node, claims))
        self._burials[node] = task
        task.add_done_callback(lambda _task: self._burials.pop(node, None))

    async def _lay_to_rest(self, node: str, claims: dict[str, str]) -> None:
        """on_node_lost (awaited if it returns an awaitable), then BURY. If Redis fails in
        either, the janitor key lapses after one lease and a survivor (maybe this one) buries
        the node again: its users found in rooms still leave then, and only then its claims
        go."""
        try:
            lost = self._on_node_lost(node, claims)
            if lost is not None:
                await lost
        except asyncio.CancelledError:
            raise
        except BusUnavailable as error:
            log.warning("cluster bus: node %s: its burial stopped (%s): again later", node, error)
            return
        except Exception:  # a bug: logged, and the node buried all the same
            log.exception("cluster bus: on_node_lost(%s) failed", node)
        try:
            await self._call(
                "BURY",
                [
                    scripts.NODES_KEY,
                    scripts.node_claims_key(node),
                    scripts.node_directory_key(node),
                    scripts.janitor_key(node),
                ],
                [node, self.node_id],
            )
        except _TROUBLE as error:
            log.warning("cluster bus: node %s not buried yet (%s): again later", node, error)


def _lost_range(raised: list[Any]) -> tuple[int, int] | None:
    """The range of seqs raised over (from, to) that a SEED answer names, or None (a seq
    reused: not a range)."""
    kind, _, start = _text(raised[0]).partition(" ")
    return (int(start), int(raised[1])) if kind == "lost" else None


def _furthest(feed: RoomFeed, node_id: str) -> tuple[int, int, str]:
    """The seq, time and node of the last event this node read in the room, or of its own
    last event there that Redis answered, whichever is later (node "": not known)."""
    if feed.sent >= (feed.delivered or 0):
        return feed.sent, feed.sent_time, node_id
    return feed.delivered or 0, feed.delivered_time, feed.delivered_node


def _text(value: object) -> str:
    """A reply's bytes (the client does not decode) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode()
    raise TypeError(f"unexpected reply from Redis: {value!r}")


def _pairs(flat: Sequence[object]) -> dict[str, str]:
    """A flat [name, value, ...] reply as a dict of text."""
    return {_text(flat[index]): _text(flat[index + 1]) for index in range(0, len(flat), 2)}


def _message(room: str, data: bytes) -> Sequenced:
    """A published "<seq> <time_ms> <node> <payload>" as an event."""
    seq, time_ms, node, payload = bytes(data).split(b" ", 3)
    return Sequenced(room, int(seq), int(time_ms), node.decode(), payload)


def _entry(room: str, entry: Any) -> Sequenced:
    """A stream entry (`<seq>-0`, {t, n, p}) as an event."""
    identifier, fields = entry
    seq = int(_text(identifier).split("-", 1)[0])
    return Sequenced(room, seq, int(fields[b"t"]), _text(fields[b"n"]), bytes(fields[b"p"]))
