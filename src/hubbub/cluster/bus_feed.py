"""Per-room ordered delivery: events in, the same events out in seq order, once each.

Events reach a node from two places: live through pub/sub, and from the room's stream when the
bus fills a gap (after a reconnection, or when pub/sub skipped one). `RoomFeed` merges them: it
hands out exactly the events that continue the room's sequence, keeps the ones that arrived
early (bounded), drops duplicates, and says which seq the bus should fetch from the stream.
No I/O here: the bus (hubbub.cluster.bus) does the fetching and calls on_event.
"""

from __future__ import annotations

from dataclasses import dataclass

# Early events kept per room while a gap is being filled; beyond that they are refetched from
# the stream (they are there: the stream holds every event the cap has not trimmed). The node
# sets it from `cluster.early_events`.
PENDING_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class Sequenced:
    """One sequenced room event, as the bus delivers it (docs/cluster.md)."""

    room: str
    seq: int
    time_ms: int
    node: str
    payload: bytes


class RoomFeed:
    """The delivery state of one subscribed room.

    `delivered` is the seq of the last event handed out (None until the subscription's snapshot
    is known); `known` the highest seq this node knows to exist. While `held`, nothing is handed
    out (the subscriber has not got its snapshot yet). `sent` (and `sent_time`): the seq of
    this node's last own event in the room, as Redis answered its call, delivered or not.
    `delivered_node` and `delivered_time`: the node that sequenced the last event handed out,
    and its time ("" and 0 when not known: the feed went on from a seq of no event it handed
    out; started from a snapshot, its time is the snapshot's last event's).
    """

    __slots__ = (
        "delivered",
        "delivered_node",
        "delivered_time",
        "filling",
        "held",
        "known",
        "pending",
        "pending_limit",
        "rewound",
        "room",
        "sent",
        "sent_time",
        "told",
    )

    def __init__(self, room: str, pending_limit: int = PENDING_LIMIT) -> None:
        self.room = room
        self.pending_limit = pending_limit
        self.delivered: int | None = None
        self.delivered_time = 0  # time_ms of the last event handed out
        self.delivered_node = ""
        self.known = 0
        self.pending: dict[int, Sequenced] = {}
        self.held = True
        self.filling = False
        # Asked to deliver from the event after this seq before the snapshot was known.
        self.rewound: int | None = None
        self.sent = 0
        self.sent_time = 0
        # The range of seqs Redis lost here (from, to: raised over) that this node was last
        # told it had read in: a reconnection finding its seq in that same range again (a
        # quiet room) is not news.
        self.told: tuple[int, int] | None = None

    def start(self, seq: int, time_ms: int = 0) -> None:
        """The subscription's snapshot is at `seq` (its last event at `time_ms`, 0: not
        known): deliver from seq + 1 on (still held), or from an earlier seq the subscriber
        asked for meanwhile (`rewind`)."""
        self.known = max(self.known, seq)
        self.delivered_time = time_ms
        if self.rewound is not None:
            if self.rewound < seq:
                seq, self.delivered_time = self.rewound, 0
            self.rewound = None
        self.delivered = seq
        self.delivered_node = ""
        for early in [number for number in self.pending if number <= seq]:
            del self.pending[early]

    def restart(self) -> None:
        """Forget everything (the Redis epoch changed): wait for a new snapshot."""
        self.delivered = None
        self.known = 0
        self.pending.clear()
        self.held = True
        self.rewound = None  # the events it wanted are gone with the old stream
        self.sent = self.sent_time = 0
        self.told = None

    def rewind(self, after: int) -> None:
        """From now on, deliver from the event after `after` (again, if handed out already):
        the subscriber's copy of the room continues from there (a room renamed onto one it
        had just subscribed to, hubbub.cluster.node.Node.follow). The bus fetches
        what it lacks from the stream."""
        if self.delivered is None:
            self.rewound = after if self.rewound is None else min(self.rewound, after)
        elif after < self.delivered:
            self.delivered = after
            self.delivered_node, self.delivered_time = "", 0  # (that event's: not known)

    def lost_after(self, after: int) -> None:
        """Redis lost the room's end (restarted without its last writes): deliver from the
        event after `after`. The seqs after it that this feed handed out, kept early, or was
        answered for an event of its own may be other events now (sequenced since Redis was
        back), which the bus fetches from the stream."""
        for number in [number for number in self.pending if number > after]:
            del self.pending[number]
        if self.sent > after:
            self.sent = self.sent_time = 0  # (lost: it is no place to check from again)
        self.rewind(after)

    def sequenced(self, seq: int, time_ms: int) -> None:
        """Redis sequenced an event of this node's in the room at `seq`."""
        if seq > self.sent:
            self.sent, self.sent_time = seq, time_ms

    def offer(self, event: Sequenced) -> list[Sequenced]:
        """Take one event; answer the events that can now be delivered, in order."""
        self.known = max(self.known, event.seq)
        if self.delivered is not None and event.seq <= self.delivered:
            return []
        if len(self.pending) >= self.pending_limit and event.seq not in self.pending:
            # Full: keep the earliest events (the ones needed next); the latest is refetched.
            highest = max(self.pending)
            if event.seq > highest:
                return []
            del self.pending[highest]
        self.pending[event.seq] = event
        return self.release()

    def release(self) -> list[Sequenced]:
        """The events that continue the sequence, taken out of `pending` (none while held)."""
        if self.held or self.delivered is None:
            return []
        ready: list[Sequenced] = []
        following = self.pending.pop(self.delivered + 1, None)
        while following is not None:
            ready.append(following)
            self.delivered = following.seq
            self.delivered_time = following.time_ms
            self.delivered_node = following.node
            following = self.pending.pop(self.delivered + 1, None)
        return ready

    def skip_to(self, seq: int) -> None:
        """The events up to `seq` are gone from the stream (trimmed): continue after them."""
        if self.delivered is not None and seq > self.delivered:
            self.delivered = seq
            self.delivered_node, self.delivered_time = "", 0
            for early in [number for number in self.pending if number <= seq]:
                del self.pending[early]

    def missing_from(self) -> int | None:
        """The first seq to fetch from the stream, or None when nothing is missing."""
        if self.held or self.delivered is None or self.known <= self.delivered:
            return None
        return self.delivered + 1
