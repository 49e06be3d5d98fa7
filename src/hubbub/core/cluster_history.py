"""Which node writes which room message to the shared history: `ClusterHistory`.

Every node used to write every room event it applied (docs/cluster.md, "History"), so a room
followed by N nodes had each message inserted N times — N-1 of them doing nothing, but each
costing the node's history thread and PostgreSQL their work, on the same cores as the live
chat. Now a message (PRIVMSG, NOTICE, TAGMSG in a room) is written by the node that sent it;
the other nodes **hold** it until they know it is committed, and write it themselves only if
that may not happen:

* The sender's node says how far it has committed: each message it sends carries `w`, the
  highest seq of the room up to which its own messages there are committed (read from its
  history service's commit marks). A node applying that message lets go of the sender's
  messages held at or below it, oldest first.
* Anything else applied in the room (JOIN, PART, QUIT, MODE, TOPIC, KICK, NICK, REDACT, EDIT,
  a multiline batch …), this node's own next message there, a history read or change
  on this node, the room no longer followed, the bus gone or back, or more than
  `cluster.held_messages` held in the room: the held messages are written first, in order,
  by this node (idempotent: if the sender's node wrote them already, nothing happens).
* A RENAME: the operator's node writes what it holds before it moves the room's stored
  history; the other nodes let go of what they hold (written after the move, it would be left
  under the old name).
* A room this node opens (its first user joins it) had messages before, which this node
  never applied (so had one it makes anew, the room of the name that emptied): their
  senders may not have committed them yet (a lagging node's, or one within its commit
  interval). Until the room's latest stream events are read (one bus
  read; refused, made again once the bus is back), what this node would write there waits
  (`defer`; also after the room is closed, and until a new epoch or more than
  `cluster.held_messages` steps wait); then it holds the messages of
  that read whose senders have not said they are committed (`earlier_read`), and writes them
  before any record it writes there (its own next message, a multiline batch), before what
  it holds of the messages it applied since (seed 4655844), or a QUIT (a dead node's users',
  perhaps), or when it stops following the room; not on a membership
  change that writes no record, or a read, as what it holds otherwise: the sender's node has
  inserted them, perhaps uncommitted, and PostgreSQL makes a conflicting insert wait for
  that commit, which would hold this node's history worker (its join replays merge them from
  the stream meanwhile). Without it, this node's own next message went into the store before
  an earlier one (a cluster fuzz finding, seed 7063431; a multiline batch's record, seed
  4633252).

Why this keeps everything the old way kept:

* **Order.** The store's append order is what CHATHISTORY pages through, so a node may insert
  event k only when every event before k is in the store. A node writes its own message k
  after writing what it holds (every foreign message it applied not yet confirmed); the
  others are its own (written in order before) or confirmed committed by their senders.
* **Nothing acknowledged is lost.** A sender's node killed before committing: every other node
  of the room still holds those messages (unconfirmed), and writes them when the janitor's
  QUITs for the dead node's users are applied in the room (or sooner, on any trigger above).
  The janitor writes them itself before those QUITs, from the room's stream, and waits for
  the commit (hubbub.core.cluster_replay `burial_records`): also those nobody held, with no
  other node in the room. So a message is missing from history only if every node of its
  room died before writing it and nobody is left to bury them.
* **A node's users find in CHATHISTORY what they were shown live:** a read on this node
  writes what it holds first (its history worker takes writes and reads in order).

Private messages, membership and topic events, multiline batches: written by every node that
applies them, as before (they are few next to a room's messages).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from hubbub.core.ports import HistoryService, Link
    from hubbub.history.record import Record
    from hubbub.history.store import HistoryStore

__all__ = ["DECIDED_BY_APPLIER", "HOLDABLE", "ClusterHistory", "Held"]

#: The event kind whose records the other nodes hold (hubbub.core.cluster_propose "msg").
HOLDABLE = "msg"
#: Event kinds whose applier decides itself what becomes of what is held: a RENAME, where
#: only the operator's node writes it (before it moves the room's stored history; another
#: node writing it afterwards would leave it under the old name), the others drop it.
DECIDED_BY_APPLIER = frozenset({"rename"})

# The mark of an own record its history service refused (0): never committed, so the room's
# watermark stops before it and the other nodes keep holding (then write) what follows.
_NEVER = float("inf")


class Held(NamedTuple):
    """Another node's room message this node holds: one it applied, or one sequenced before
    it opened the room (`earlier_read`), not known committed."""

    origin: str  # the node that sent it (and writes it)
    seq: int
    record: Record


class _Applying(NamedTuple):
    """An event's application begun in a room whose earlier messages are being read."""

    room: str
    seq: int
    origin: str
    kind: str
    watermark: Any


class _Append(NamedTuple):
    """A record appended meanwhile, under the event being applied."""

    current: tuple[str, int, str, bool]
    record: Record


# What a room just opened defers until its earlier messages are read (`defer`).
_Deferred = _Applying | _Append


class ClusterHistory:
    """The `HistoryService` a cluster node's core uses: the node's own history service, with
    other nodes' room messages held as the module docstring says.

    `applying(...)` says which event the next appends belong to (set by
    hubbub.core.cluster_apply around each applier); appends outside an event go through.
    """

    def __init__(self, inner: HistoryService, node: str, held_limit: int) -> None:
        self.inner = inner
        self.node = node
        self.held_limit = held_limit
        # Per room: other nodes' messages not yet known committed, in sequence order.
        self.held: dict[str, deque[Held]] = {}
        # Per room: this node's own messages appended, (mark, seq), until a commit covers them;
        # and the seq up to which every one of them is committed (the watermark sent).
        self.own: dict[str, deque[tuple[float, int]]] = {}
        self.confirmed: dict[str, int] = {}
        # The event being applied: (room, seq, origin node, holdable), or None.
        self.current: tuple[str, int, str, bool] | None = None
        # Rooms just opened whose earlier messages are being read: what waits meanwhile.
        self.deferred: dict[str, list[_Deferred]] = {}
        # Rooms no longer followed whose earlier messages are still being read (`forget`).
        self.forgotten: set[str] = set()
        # Per room just opened: its messages from before, not yet known committed (`defer`).
        self.earlier: dict[str, deque[Held]] = {}
        # Records written by this node for others (counted for tests and monitoring): held
        # ones written after all, and held ones let go because their sender committed them.
        self.written_for_others = 0
        self.let_go = 0

    # -- the HistoryService port -----------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self.inner.available

    @property
    def last_mark(self) -> int:
        return self.inner.last_mark

    @property
    def committed_mark(self) -> int:
        return self.inner.committed_mark

    def append(self, record: Record) -> None:
        current = self.current
        if current is None:
            self.inner.append(record)
            return
        room, seq, origin, holdable = current
        deferred = self.deferred.get(room) if self.deferred else None
        if deferred is not None:
            self._wait(room, deferred, _Append(current, record))
            return
        if holdable and origin != self.node:
            held = self.held.get(room)
            if held is None:
                held = self.held[room] = deque()
            held.append(Held(origin, seq, record))
            if len(held) > self.held_limit:
                self.write_earlier(room)  # (before it: the store's order)
                self.inner.append(held.popleft().record)
                self.written_for_others += 1
            return
        # Anything this node writes in the room (its own message, a multiline batch, a
        # membership record): what it holds there first, the store's order.
        self.write_earlier(room)
        self.write_held(room)
        self.inner.append(record)
        if holdable:
            mark = self.inner.last_mark
            self.own.setdefault(room, deque()).append((mark or _NEVER, seq))

    def acknowledge_after_commit(self, link: Link) -> None:
        self.inner.acknowledge_after_commit(link)

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        self.write_all_held()  # a read here sees everything shown live here
        self.inner.query(call, done)

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        self.write_all_held()  # so a REDACT never finds its message written back after it
        self.inner.change(call, done)

    # -- the cluster's side ----------------------------------------------------------------------

    def applying(self, room: str, seq: int, origin: str, kind: str, watermark: Any) -> None:
        """The next appends belong to event `seq` of `room`, sent by node `origin`."""
        holdable = kind == HOLDABLE
        self.current = (room, seq, origin, holdable)
        deferred = self.deferred.get(room) if self.deferred else None
        if deferred is not None:
            self._wait(room, deferred, _Applying(room, seq, origin, kind, watermark))
            return
        if not holdable:
            if kind == "quit":  # (perhaps the janitor's, for a dead node's users)
                self.write_earlier(room)
            if kind not in DECIDED_BY_APPLIER:
                self.write_held(room)  # a membership change, a QUIT of a dead node's users, …
        elif origin != self.node and type(watermark) is int:
            self._let_go(room, origin, watermark)

    def applied(self) -> None:
        self.current = None

    def watermark(self, room: str) -> int:
        """The seq of `room` up to which this node's own messages there are committed (0:
        none known), for the next message it sends there."""
        own = self.own.get(room)
        if own:
            committed = self.inner.committed_mark
            while own and own[0][0] <= committed:
                self.confirmed[room] = own.popleft()[1]
        return self.confirmed.get(room, 0)

    def write_held(self, room: str) -> None:
        """Write what this node holds of `room`, in order: what it holds from before it opened
        the room first (written after them, a message it applied went into the store before
        an earlier one: a cluster fuzz finding, seed 4655844)."""
        held = self.held.pop(room, None)
        if held and room in self.earlier:
            self.write_earlier(room)
        self._write_out(held)

    def write_earlier(self, room: str) -> None:
        """Write what this node holds of `room` from before it opened it, in order."""
        self._write_out(self.earlier.pop(room, None))

    def _write_out(self, held: deque[Held] | None) -> None:
        if held:
            for entry in held:
                self.inner.append(entry.record)
            self.written_for_others += len(held)

    def write_all_held(self) -> None:
        if self.held:
            for room in list(self.held):
                self.write_held(room)

    def defer(self, room: str) -> object:
        """`room` was just opened here: what this node would write there waits until its
        earlier messages are read (`earlier_read`, given the token returned)."""
        self._undefer(room)  # (closed and opened again before the last read came)
        token: list[_Deferred] = []
        self.deferred[room] = token
        return token

    def _wait(self, room: str, deferred: list[_Deferred], step: _Deferred) -> None:
        """`step` waits for the room's earlier messages; beyond `held_limit` steps the read is
        long in coming (the bus failing it again and again): what waits goes on without them."""
        deferred.append(step)
        if len(deferred) > self.held_limit:
            self._undefer(room)

    def deferring(self, room: str, token: object) -> bool:
        """Whether what `room` defers still waits for the read `token` was given for."""
        return self.deferred.get(room) is token

    def earlier_read(self, room: str, token: object, earlier: list[Held]) -> None:
        """The room's messages before this node opened it that their senders may not have
        committed (oldest first; none if the read failed): held before anything applied
        since, and what waited is done now, in order."""
        if self.deferred.get(room) is not token:
            return  # (the room closed meanwhile, and maybe opened again)
        deferred = self.deferred.pop(room)
        if earlier:
            self.earlier[room] = deque(earlier)
        current = self.current
        for step in deferred:
            if isinstance(step, _Applying):
                self.applying(*step)
            else:
                self.current = step.current
                self.append(step.record)
        self.current = current
        if room in self.forgotten:  # no longer followed: nothing more will come to write it
            self.forgotten.discard(room)
            self.forget(room)

    def undefer_all(self) -> None:
        """What every room defers goes on without its earlier messages (Redis lost them)."""
        for room in list(self.deferred):
            self._undefer(room)

    def _undefer(self, room: str) -> None:
        """Whatever waits in `room` is done now (its earlier messages unread)."""
        token = self.deferred.get(room)
        if token is not None:
            self.earlier_read(room, token, [])

    def forget(self, room: str) -> None:
        """This node stops following `room`: it will hear no more watermarks there. What the
        room defers still waits for its earlier messages, and is written with them (written
        now without them, a message a lagging node had not written yet went into the store
        after a later one: a cluster fuzz finding, seed 7284831)."""
        if room in self.deferred:
            self.forgotten.add(room)
        self.write_earlier(room)
        self.write_held(room)
        self.own.pop(room, None)
        self.confirmed.pop(room, None)

    def replaced(self, room: str) -> None:
        """A RENAME makes `room` another room: what this node holds there is the earlier
        room's, whose records the rename's move sets aside (`HistoryStore.rename_target`):
        written out now, before this node asks for that move. (Written after the move, by a
        node that applied it late, a record of the earlier room goes aside too, as the store
        remembers the set-aside; before that, every node but the operator's let go of it, as
        written late it landed in the renamed room: a cluster fuzz finding, seed 5664646.)"""
        self._undefer(room)
        self._write_out(self.earlier.pop(room, None))
        self._write_out(self.held.pop(room, None))

    def reset(self) -> None:
        """The bus went away or came back (a new epoch restarts the rooms' seqs): write all
        that is held, and start the watermarks again. Rooms whose earlier messages are being
        read go on waiting for them (read again once the bus is back, if the read failed:
        hubbub.core.cluster_replay); written now without them, a message a lagging node had
        not written yet went into the store after a later one (a cluster fuzz finding, seed
        7284831). A new epoch ends their wait (`undefer_all`)."""
        for room in list(self.earlier):
            self.write_earlier(room)
        self.write_all_held()
        self.own.clear()
        self.confirmed.clear()

    def _let_go(self, room: str, origin: str, watermark: int) -> None:
        for kept in (self.earlier, self.held) if self.earlier else (self.held,):
            held = kept.get(room)
            while held and held[0].origin == origin and held[0].seq <= watermark:
                held.popleft()
                self.let_go += 1
            if held is not None and not held:
                del kept[room]
