"""A room's latest history on a node that just opened the room: the store and the bus's stream.

The nodes of a room write its events to the shared store (hubbub.core.cluster_history), but a
node that opens a room did not apply what was said before it opened it: those events reach
the store through the other nodes' history writers, which commit every few milliseconds
(`history.commit_interval_ms`). A join replay read from the store a moment after a message
sequenced on another node could miss it. The bus keeps each room's recent events in its capped
stream (hubbub.cluster.bus), so on a room this node opened, the join replay and `CHATHISTORY
LATEST … *` read both — the store (one query on the history worker) and the stream's last
`cluster.replay_window` events (one bus read), concurrently — and merge them:

* the stream's events up to a bound: for a join replay, the event before the newcomer's JOIN
  (what it gets after that comes live, held behind the replay); for LATEST, the last event
  this node applied (what comes after reaches the client live);
* the records the store gave that are in that window take their place in it (by sequence
  number), the others it gave go by time (older than the window, or of a kind the window
  does not turn into records), and those newer than the bound are left out (they come live);
  the window's events the store did not have yet are added, with the window's edits and
  redactions applied (the store applies them when it has them);
* the newest `limit` of that, in sequence order, no msgid twice.

A room stays "recently opened" (`fresh`) until a merge finds the store had every message of
the window (the store's rows of a room are a prefix of its sequence: a node inserts event k only
after k-1, see docs/cluster.md), or until this node has applied `cluster.replay_window` events there
(every event of the window is then one this node wrote itself, which its own worker reads),
or the room is closed. Rooms this node has followed all along need nothing of this: it wrote
their events itself, and its history worker reads its own writes in order.

Opening a room also reads its stream once for the store's sake (`_read_earlier`): the messages
sequenced before the room's state was read whose senders have not said they are committed are
held by this node (hubbub.core.cluster_history `defer`), so that its own next record goes into
the store after them, as "a node inserts event k only after k-1" needs. So does making a room
anew (`_opened_emptied`): the room that emptied before it has the same key in the store.

HistServ DELETE deletes an account's messages from the store, and the streams keep them: a
window message the store has not is either not committed yet by its sender or taken away (a
deletion, which the store remembers: `HistoryStore.taken_away`), so a merge asks the store
which, when there are any, and leaves those out. The deleting node announces the deletion
(`histdel`, in the accounts room), and every node, itself included, deletes the account's
messages again once what it wrote and holds is in the store: a message of the account not
committed yet on its sender's node went in after the first deletion (a late copy of one
deleted is ignored). It deletes only those sequenced before the announcement (older than its
time): the account's next message, which its sender may send as soon as "Deleted" is
answered, is sequenced after it, and a node whose feed of the accounts room lags behind the
room's applies it first. The store remembers that bound and ignores the account's older
records written later, by any node (one that never read the announcement, Redis having lost
it, or one that applied it before the message).
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from hubbub.core.cluster_accounts import ACCOUNTS_ROOM
from hubbub.core.cluster_apply import VOID, ClusterApply, ignore
from hubbub.core.cluster_fields import NO_ROOM, facts_prefix, node_of
from hubbub.core.cluster_history import Held
from hubbub.core.cluster_multiline import multiline_record
from hubbub.history.record import Record

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hubbub.core.model import Channel
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer
    from hubbub.history.store import HistoryStore

log = logging.getLogger("hubbub.history")

# How many of a room's latest stream events a merged read takes (one bus read, no more):
# `cluster.replay_window`, enough for the replay and the events not yet committed by other
# nodes' writers.

Keep = Callable[[Record], bool]
StreamEvents = list[tuple[int, int, bytes]]
#: A room's stream events read: (time, event), the undecodable left out (`read_window`).
WindowEvents = list[tuple[int, dict[str, Any]]]


class ClusterReplay(ClusterApply):
    """Join replays and CHATHISTORY LATEST of a room this node just opened (module docstring)."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Rooms opened from the bus's state and not known to be complete in the store yet:
        # [the first seq this node applied there (0: none yet), the last one].
        self.fresh: dict[str, list[int]] = {}
        # Rooms opened whose earlier messages the bus failed to read (twice): read again once
        # it is back (`_read_earlier`), what they defer waiting meanwhile.
        self.unread: dict[str, tuple[Room, int, object]] = {}
        # Accounts whose history deletion the bus refused to announce, and when (this node's
        # clock, in ms): announced when it is back (one entry per account, however often it
        # was deleted meanwhile; the last time).
        self.deletions_unsent: dict[str, int] = {}

    def apply(self, room: str, seq: int, time_ms: int, node: str, payload: bytes) -> None:
        seen = self.fresh.get(room)
        if seen is not None:
            if not seen[0]:
                seen[0] = seq
            elif seq - seen[0] >= self.server.config.cluster.replay_window:
                # The stream's window is all ours now.
                del self.fresh[room]
            seen[1] = seq
        super().apply(room, seq, time_ms, node, payload)

    def load_room(self, fold: str, fields: Mapping[str, str], kept: bool = False) -> Channel | None:
        channel = super().load_room(fold, fields, kept)
        if channel is not None:  # it had a past here this node did not see
            self.fresh[fold] = [0, 0]
            if not kept:  # (one kept was read when opened: `_opened_emptied`)
                self._read_earlier(channel)
        return channel

    def _opened_emptied(self, fold: str, fields: Mapping[str, str]) -> None:
        """A room made anew here follows the room of the name that emptied: that room's
        last messages, from a lagging node, may not be in the store yet, and go there before
        what this node writes (read as for a room opened with members). Left to their
        lagging sender, one went into the store after the new room's first message (a
        cluster fuzz finding, seed 7287855)."""
        super()._opened_emptied(fold, fields)
        emptied = named_room(fold, fields)
        if emptied is not None:  # (its records under the name it had)
            self._read_earlier(emptied)

    def _read_earlier(self, channel: Room) -> None:
        """The messages sequenced before this node opened the room whose senders may not
        have committed them are held here, before what this node writes there from now on
        (hubbub.core.cluster_history `defer`): one read of the room's stream, up to the seq
        the room's state was read at."""
        through = self.views.get(channel.fold, 0)
        if through > 0:
            self._ask_earlier(channel, through, self.writes.defer(channel.fold))

    def _ask_earlier(self, channel: Room, through: int, token: object, again: bool = True) -> None:
        """Read the room's stream up to `through` for `_read_earlier`. Refused by the bus,
        the read is made again at once, then once the bus is back (`set_available`): what the
        room defers waits meanwhile (hubbub.core.cluster_history `reset`), as written without
        them, a lagging sender's message not yet written went into the store after a later
        one (a cluster fuzz finding, seed 7284831)."""
        fold, writes = channel.fold, self.writes

        def streamed(events: StreamEvents | None) -> None:
            if events is None and writes.deferring(fold, token):
                if again:
                    self._ask_earlier(channel, through, token, again=False)
                else:
                    self.unread[fold] = (channel, through, token)
                return
            earlier = unconfirmed(channel, events or [], through, self.node)
            writes.earlier_read(fold, token, earlier)

        self.network.recent(fold, through, self.server.config.cluster.replay_window, streamed)

    def history_deleted(self, account_id: str, deleted_ms: int | None = None) -> None:
        """HistServ DELETE deleted the account's messages from the store here: every other
        node deletes them too, after what it wrote or holds (module docstring). `deleted_ms`:
        when, announced late (the bus refused it then)."""
        self.deletions_unsent.pop(account_id, None)
        event: dict[str, Any] = {"t": "histdel", "i": account_id}
        if deleted_ms is not None:
            event["b"] = deleted_ms
        at_ms = int(self.server.now * 1000) if deleted_ms is None else deleted_ms

        def refused(_room: str) -> None:
            log.warning("a history deletion could not be announced; sent again later")
            self.deletions_unsent[account_id] = at_ms

        self.submit(None, ACCOUNTS_ROOM, event, None, refused=refused)

    def _apply_histdel(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        account_id = str(event["i"])
        # Only what was sequenced before the announcement (its time): what the account said
        # after the deletion was answered stays, though this node applied it first (its feed
        # of the accounts room lagging behind the room's: the deletion took it). Announced
        # late, only what is older than the deletion itself, by its node's clock: what the
        # account said meanwhile on other nodes stays too. The store remembers the bound, and
        # ignores the account's records older than it written later, by any node: so its
        # own node deletes again too (what another node committed since the deletion goes),
        # and a node that never reads the announcement (Redis lost it first) writes such a
        # record in vain (HistoryStore.delete_by_account).
        before_ms = min(time_ms, int(event.get("b", time_ms)))
        self.server.history.change(
            lambda store: store.delete_by_account(account_id, before_ms), ignore
        )

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if available and self.deletions_unsent:
            unsent, self.deletions_unsent = self.deletions_unsent, {}
            for account_id, deleted_ms in unsent.items():
                self.history_deleted(account_id, deleted_ms)
        if available and self.unread:
            unread, self.unread = self.unread, {}
            for fold, (channel, through, token) in unread.items():
                if self.writes.deferring(fold, token):
                    self._ask_earlier(channel, through, token)

    def epoch_restarted(self) -> None:
        """Redis lost the streams: the rooms waiting for their earlier messages go on without
        them (what they wait for is lost with the rest, "Writing rooms back")."""
        super().epoch_restarted()
        self.unread.clear()
        self.writes.undefer_all()

    def _drop_room(self, fold: str, channel: Channel | None) -> None:
        self.fresh.pop(fold, None)
        super()._drop_room(fold, channel)

    def room_history(
        self,
        channel: Channel,
        call: Callable[[HistoryStore], Any],
        limit: int,
        keep: Keep,
        joining: bool,
        complete: Callable[[Any], None],
    ) -> None:
        """Read `call` (the newest `limit` records of the room that `keep` accepts) from the
        store, merged with the bus's stream when the room was opened recently. `joining`: for
        the join replay of the event applied last (the newcomer's JOIN), which is left out."""
        fold = channel.fold
        seen = self.fresh.get(fold)
        if seen is None or limit <= 0:
            self.server.history.query(call, complete)
            return
        through = seen[1] - 1 if joining else seen[1]
        parts: dict[str, Any] = {}

        def finish() -> None:
            if len(parts) < 2:
                return
            records, events = parts["records"], parts["events"]
            if not isinstance(records, list) or not events:
                complete(records)
                return
            window = read_window(events, channel.name)  # (once: the merge takes it too)
            stored = {record.msgid for record in records}
            unstored = [msgid for msgid in stream_messages(window) if msgid not in stored]
            if not unstored:
                merge(records, window, set())
                return
            # Not committed yet, or taken away (a deletion): the store says which.
            self.server.history.query(
                lambda store: store.taken_away(unstored),
                lambda gone: merge(records, window, gone if isinstance(gone, set) else set()),
            )

        def merge(records: list[Record], window: WindowEvents, gone: set[str]) -> None:
            records, whole = merged_window(
                records, window, channel, keep, limit, self.store_events, gone
            )
            if whole and self.fresh.get(fold) is seen:
                del self.fresh[fold]
            complete(records)

        def stored(records: Any) -> None:
            parts["records"] = records
            finish()

        def streamed(events: StreamEvents | None) -> None:
            parts["events"] = events  # None: the bus is unavailable, the store's answer alone
            finish()

        self.server.history.query(call, stored)
        self.network.recent(fold, through, self.server.config.cluster.replay_window, streamed)

    @property
    def store_events(self) -> bool:
        return self.server.config.history.store_events


def read_window(events: StreamEvents, name: str) -> WindowEvents:
    """A room's stream events decoded, with their times; one that is not a hubbub event (not
    a JSON object) is left out, and logged."""
    window: WindowEvents = []
    for _, time_ms, payload in events:
        try:
            event = json.loads(payload)
        except ValueError:
            event = None
        if isinstance(event, dict):
            window.append((time_ms, event))
        else:
            log.warning("%s: a stream event is not a hubbub event; left out", name)
    return window


def merged_window(
    records: list[Record],
    events: WindowEvents,
    channel: Channel,
    keep: Keep,
    limit: int,
    store_events: bool,
    gone: Collection[str] = (),
) -> tuple[list[Record], bool]:
    """The store's `records` and the stream's events (a window decoded by `read_window`) as
    one history (module docstring), and whether the store had every message of the window.
    `gone`: msgids the store took away (HistoryStore.taken_away), left out."""
    window: list[Record] = []
    redacted: set[str] = set()
    voided: set[str] = set()
    edits: dict[str, tuple[str, int]] = {}
    for time_ms, event in events:
        try:
            kind = event["t"]
            if NO_ROOM in event:
                continue  # a JOIN of a room the bus had none of: nobody joined anything
            if ends_earlier_room(event):
                window.clear()  # an earlier room's (`unconfirmed`): not this room's history
                if kind != "join":
                    continue  # (a JOIN that made the room anew is its first record)
            if kind == "redact":
                redacted.add(event["x"])
            elif kind == VOID:  # refused in the room's sequence: never delivered nor stored
                voided.add(event["x"])
            elif kind == "edit":
                edits[event["x"]] = (event["tx"], time_ms)
            else:
                record = as_record(channel, event, time_ms, store_events)
                if record is not None:
                    window.append(record)
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("%s: a stream event is not a hubbub event; left out", channel.name)
    voided.update(gone)
    if voided:
        window = [record for record in window if record.msgid not in voided]
    if not window:
        return [r for r in records if r.msgid not in redacted], True
    stored = {record.msgid: record for record in records}
    # The store's rows of a room are a prefix of its sequence: if it has the window's newest
    # message, it has them all (a message a client is not shown proves nothing: not whole).
    messages = [record for record in window if record.command in MESSAGES]
    whole = not messages or messages[-1].msgid in stored
    in_window = {record.msgid for record in window}
    last_ms = window[-1].time_ms
    # The store's others: newer than the window's bound, left out (they come live); the rest
    # (older than the window, or of a kind the window does not turn into records) by time,
    # before the window's records of the same millisecond. Both lists are in time order.
    others = [r for r in records if r.msgid not in in_window and r.time_ms <= last_ms]
    ordered: list[Record] = []
    for record in window:
        record = edited(stored.get(record.msgid) or record, edits)
        if keep(record):
            ordered.append(record)
    history = list(heapq.merge(others, ordered, key=lambda record: record.time_ms))
    return [r for r in history if r.msgid not in redacted][-limit:], whole


def stream_messages(window: WindowEvents) -> list[str]:
    """The msgids of the messages (single and multiline) among a room's stream events."""
    return [
        str(event["m"])
        for _, event in window
        if event.get("t") in ("msg", "mlmsg") and "m" in event
    ]


def unconfirmed(channel: Room, events: StreamEvents, through: int, node: str) -> list[Held]:
    """The room's messages (single and multiline) among its stream's `events` up to
    `through` sent by other nodes that have not said they are committed (a later message of
    the same node carries its watermark, `w`), oldest first, as their senders store them:
    not those refused in sequence or redacted since, edits applied, nor those of an earlier
    room of the name (before a RENAME took it away or brought another room to the name, or a
    JOIN made it anew)."""
    confirmed: dict[str, int] = {}
    dropped: set[str] = set()
    edits: dict[str, tuple[str, int]] = {}
    messages: list[Held] = []
    for seq, time_ms, payload in events:
        if seq > through:
            continue
        try:
            event = json.loads(payload)
            kind = event["t"]
            if "rn" in event:
                continue  # meant for a room renamed away: sent on, applied nowhere here
            if ends_earlier_room(event):
                # An earlier room's, before it was renamed away, another was renamed onto its
                # name (the marker `moved`: held here and written after the operator's node
                # set that room's records aside, one stayed under the renamed room's name, a
                # cluster fuzz finding, seed 5734659), or it was made anew.
                messages.clear()
                continue
            if kind in ("redact", VOID):
                dropped.add(event["x"])
                continue
            if kind == "edit":
                edits[event["x"]] = (event["tx"], time_ms)
                continue
            if kind not in ("msg", "mlmsg"):
                continue
            origin = node_of(str(event.get("id") or ""))
            watermark = event.get("w")
            if type(watermark) is int:
                confirmed[origin] = max(confirmed.get(origin, 0), watermark)
            record = as_record(channel, event, time_ms, False)
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("%s: a stream event is not a hubbub event; left out", channel.name)
            continue
        if record is not None and origin not in ("", node):
            messages.append(Held(origin, seq, record))
    return [
        Held(origin, seq, edited(record, edits))
        for origin, seq, record in messages
        if seq > confirmed.get(origin, 0) and record.msgid not in dropped
    ]


def burial_records(room: Room, events: StreamEvents, through: int, dead: str) -> list[Record]:
    """What a node burying `dead` writes in `room` before it sequences the QUITs of the dead
    node's users there (hubbub.cluster.node `_bury`): the room's messages among its stream's
    `events` up to `through` that their senders have not said are committed (`unconfirmed`),
    up to the dead node's last one; nothing if the dead node has none among them. The
    burier's own too: a node writes its messages as it applies them, and a lagging burier
    has not applied them all yet (left out, its batch went into the store after the dead
    node's later message: a cluster fuzz finding, seed 6708368).

    The other nodes of the room hold those messages and write them when they apply the
    QUITs, but a message nobody held (its node lagging, nobody else in the room then) was
    written by whichever node opened the room next, after that node's newer records when the
    room had been made anew meanwhile (cluster fuzz, seeds 6153271 and 7270832). Written and
    committed before the QUITs, it is in the store before anything said after them; the
    other nodes' later writes of it change nothing (a store ignores a msgid it has)."""
    held = unconfirmed(room, events, through, "")
    last = max((index for index, entry in enumerate(held) if entry.origin == dead), default=-1)
    return [entry.record for entry in held[: last + 1]]


class Room(Protocol):
    """What a record of a room needs of it: its key in the store and the name it shows."""

    @property
    def fold(self) -> str: ...

    @property
    def name(self) -> str: ...


class RoomName(NamedTuple):
    """A room this node does not follow, as a burier reads it from the bus's state."""

    fold: str
    name: str


def named_room(fold: str, fields: Mapping[str, str]) -> RoomName | None:
    """Room `fold` under the name its state fields on the bus give it (None: they have no
    room, or not in hubbub's form)."""
    try:
        return RoomName(fold, str(json.loads(fields["room"])["name"]))
    except (ValueError, KeyError, TypeError):
        return None


def ends_earlier_room(event: dict[str, Any]) -> bool:
    """Whether a room's messages after this stream event are another room's than before it:
    a RENAME took the room away from the name (`rename`, in the old name's stream) or brought
    another one to it (its marker, `moved`, in the new name's), or a JOIN made it anew."""
    kind = event["t"]
    return kind in ("rename", "moved") or (kind == "join" and "new" in event)


#: The records every reader is shown (not only with draft/event-playback).
MESSAGES = frozenset({"PRIVMSG", "NOTICE"})


def as_record(
    channel: Room, event: dict[str, Any], time_ms: int, store_events: bool
) -> Record | None:
    """The history record a node that applied this stream event stored (None: it stored none),
    as hubbub.core.cluster_apply (and hubbub.core.cluster_multiline for a multiline message)
    stores it."""
    kind = event["t"]
    name = channel.name
    if kind == "mlmsg":  # one record, the combined message: replayed as one batch
        return multiline_record(channel.fold, name, event, time_ms)
    if kind == "msg":
        stored = event["st"]
        if stored is None or event["s"]:
            return None
        cmd = event["c"]
        said = (name,) if cmd == "TAGMSG" else (name, event["x"])
        return Record(channel.fold, event["m"], time_ms, event["p"], cmd, said, stored, event["i"])
    if not store_events:
        return None
    if kind == "join":
        facts = event["u"]
        prefix = facts_prefix(facts)
        return Record(channel.fold, event["m"], time_ms, prefix, "JOIN", (name,))
    params: tuple[str, ...]
    if kind == "part":
        command, params = "PART", (name, event["r"])
    elif kind == "quit":
        command, params = "QUIT", (event["r"],)
    elif kind == "topic":
        command, params = "TOPIC", (name, event["x"])
    elif kind == "kick":
        command, params = "KICK", (name, event["tn"], event["r"])
    elif kind == "nick":
        command, params = "NICK", (event["n"],)
    else:
        return None
    return Record(channel.fold, event["m"], time_ms, event["p"], command, params)


def edited(record: Record, edits: dict[str, tuple[str, int]]) -> Record:
    """`record` with the window's edit of it applied (its new text, marked edited)."""
    change = edits.get(record.msgid)
    if change is None or len(record.params) < 2 or record.edited_ms >= change[1]:
        return record  # not edited in the window, or the store has the edit already
    text, time_ms = change
    return Record(
        record.target,
        record.msgid,
        record.time_ms,
        record.source,
        record.command,
        (*record.params[:-1], text),
        record.tags,
        record.account,
        time_ms,
    )


#: Events applied outside any channel (in ACCOUNTS_ROOM), by kind.
REPLAY_EVENTS = {"histdel": ClusterReplay._apply_histdel}
