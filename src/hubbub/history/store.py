"""The contract every history back-end fulfils (memory, SQLite, PostgreSQL).

The methods are plain blocking calls. The server never calls them on its event loop: it goes
through `hubbub.history.worker`, which owns one store on one thread and runs every call there in
submission order, so a read always sees the appends submitted before it.

Ordering: records of one target come back oldest first, in the order they were appended.
A `Ref` is an exclusive bound: for a msgid, the position of that record; for a timestamp, records
with `time_ms` strictly greater (for a lower bound) or strictly smaller (for an upper bound).
A msgid that is not in the target's history makes the query return an empty list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from typing import NamedTuple, Protocol

from hubbub.history.record import Edit, Record, Ref


class StoreUnwritable(OSError):
    """The store cannot be written (read-only file, directory or file system; full disk).
    Raised when it is opened, so that the server refuses to start instead of acknowledging
    messages it cannot keep. `str()` is one line naming the file."""


class HistoryStore(Protocol):
    def append(self, records: Sequence[Record]) -> None:
        """Store records (one batch). Durable once `commit` has returned.
        A record whose (target, msgid) is already stored is ignored (the first one stays), and so is
        one whose msgid `rename_target` moved, under whatever target: it is stored already, where
        the move put it, and this is a late copy under the name it had (in a cluster, a lagging
        node's write of a room's event after a rename moved the room's records, or set an earlier
        room's aside); and one `redact` deleted. A record under a name that `rename_target` moved or
        set aside since the record's time goes where the first such rename after its time sent the
        name's records (`late_key`): it is a late record of the room renamed away (under a rename's
        old name, at or before its `through_ms`), which goes on to the room's name now, or of an
        earlier room of a rename's new name (older than its `before_ms`, with an `aside` key), which
        goes under that key."""

    def commit(self) -> None:
        """Make every record appended so far durable."""

    def latest(self, target: str, limit: int, after: Ref | None = None) -> list[Record]:
        """The newest `limit` records (only those after `after`, when given)."""

    def before(self, target: str, ref: Ref, limit: int) -> list[Record]:
        """The `limit` records immediately before `ref` (the closest ones)."""

    def after(self, target: str, ref: Ref, limit: int) -> list[Record]:
        """The `limit` records immediately after `ref`."""

    def around(self, target: str, ref: Ref, limit: int) -> list[Record]:
        """About limit//2 records on each side of `ref`; with a msgid ref, that record too."""

    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[Record]:
        """Records strictly between the two refs. If `start` is later than `end`, the `limit`
        records closest to `start` going backwards; otherwise the `limit` closest to `start`
        going forwards. Always returned oldest first."""

    def targets(
        self, start_ms: int, end_ms: int, limit: int, channels: Collection[str], nick: str
    ) -> list[tuple[str, int]]:
        """(key, time_ms of its newest record) for each target with records in (start, end):
        among the given channel keys, and every private conversation `nick` takes part in.
        Ordered by that time, oldest first (or newest first if start_ms > end_ms), at most
        `limit`."""

    def find(self, target: str, msgid: str) -> Record | None:
        """The record with this msgid in this target, if stored."""

    def redact(self, target: str, msgid: str) -> bool:
        """Remove the record with this msgid from this target (REDACT): no query returns it
        afterwards. False if it was not stored. Its msgid is remembered as a rename's moves
        are: a late copy of the record, under any target, is ignored (`append`), as it is in
        a cluster, a lagging node's write of a message it applied before the REDACT, which
        every other node had applied and deleted (a cluster fuzz finding, seed 6636526). A
        record that `rename_target` moved since is removed where the move put it, as `edit`
        finds it (a `void`, which only the refused message's sender's node makes, may come
        after another node wrote the message it held and a RENAME moved it)."""

    def void(self, target: str, msgid: str, time_ms: int) -> None:
        """A message refused in sequence (in a cluster: every node refused it at its place in
        the room's order, and nobody was shown it): never stored. A copy stored already is
        deleted, and its msgid is remembered (with `time_ms`, the message's time, for
        retention) so that a later copy is ignored (`append`): a node that opened the room
        after the message holds it from the room's stream until it learns of the refusal, and
        may write it first (a cluster fuzz finding, seed 6151145)."""

    def rename_target(
        self,
        old: str,
        new: str,
        before_ms: int | None = None,
        aside: str | None = None,
        through_ms: int | None = None,
    ) -> int:
        """A channel was renamed (draft/channel-rename): every record of channel key `old` moves
        to `new`, in its order, so the room's history follows it; how many moved. Records
        already under `new` (from an earlier room of that name, which no room can show any
        more: a room shows nothing from before its creation) are first moved aside under a key
        no channel can have (`aside`, else a new `aside_key`), so the renamed room shows only
        its own past. With `before_ms` (a cluster, where other nodes may have written the
        renamed room's first events under `new` already) only the records of `new` older than
        it are set aside; the others stay, in their place after the moved ones. (A cluster
        names the key, to move them back if Redis loses the rename: hubbub.core.cluster_rename.)
        With `through_ms` (a cluster again: the rename's time) only the records of `old` at or
        before it move; later ones are a room made anew under the old name, which a node that
        applies the rename late finds there (its bus times its first event after the rename,
        strictly). Every record moved, either way, is remembered by its msgid (`append`). With
        `before_ms` (above 0) and `aside` both given, the set-aside holds for records written
        under `new` later too (`append`), until the records of `aside` are moved back (a
        rename of `aside`: the rename undone). With `through_ms`, so does the move: a record
        written under `old` later, at or before `through_ms`, goes to `new` (`append`), until
        `new`'s records are moved back to `old` without a `through_ms` (the rename undone; a
        room renamed back is a rename of its own, and a late record follows both). A move
        made after a set-aside of `old` later than its `through_ms` (renames of two rooms
        apply in either order) takes the records the first such set-aside took at or before
        `through_ms` instead of those under `old`: they were the renamed room's, as
        `late_key` places them, and those under `old` are the room's renamed onto it since.
        (Of one time, which rename came first cannot be told: what the set-aside took
        stays.) And with `through_ms` a rename is made once: asked for again (the same `old`,
        `new` and `through_ms`: every cluster node that applies it asks, the first one makes
        it), even after it was undone, it changes nothing and returns 0."""

    def edit(self, target: str, msgid: str, edit: Edit) -> bool:
        """Change the text (last parameter) of the record with this msgid (draft/message-edit):
        every query returns it with `edit.text` and `edited_ms = edit.time_ms` afterwards, at
        its original place. The edit is kept as an event linked to the record (`edits`, with
        `previous` set to the text it replaced, whatever the caller passed), and
        goes with it (REDACT, retention, HistServ DELETE). False if it was not stored. A record
        that `rename_target` moved since is edited where the move put it (`late_key` from the
        record's time): in a cluster, the requester's node stores the edit, and a node lagging
        behind the room writes it after another node applied a RENAME sequenced after the EDIT
        (a cluster fuzz finding, seed 6720726)."""

    def edits(self, target: str, msgid: str) -> list[Edit]:
        """The edits of the record with this msgid, oldest first (empty if none or gone)."""

    def by_account(self, account: str, limit: int) -> list[Record]:
        """The newest `limit` records sent by this account (`Record.account`, compared
        exactly), from every target, oldest first (HistServ EXPORT)."""

    def delete_by_account(self, account: str, before_ms: int | None = None) -> int:
        """Remove every record sent by this account (with `before_ms`, those older than it),
        from every target; how many went (HistServ DELETE). Their msgids are remembered as a
        REDACT's are: a late copy of one is ignored (`append`), as it is in a cluster, another
        node's write of a message it held, or had not committed, when the account's history
        was deleted. With `before_ms`, the bound is remembered too (the highest given for the
        account): a record of the account older than it, appended later, is ignored, whoever
        writes it and whenever. (A cluster's nodes delete again up to the time the bus gave
        the deletion's announcement: what the account said after it stays. Without a bound,
        nothing is remembered but the msgids: the account's next message may be older, by the
        bus's clock, than the moment of the deletion by this node's.)"""

    def taken_away(self, msgids: Collection[str]) -> set[str]:
        """Those of `msgids` that a REDACT, a void, a rename's move or an account's deletion
        took away (remembered, as `append` ignores their late copies). In a cluster, a
        message a room's recent stream still has and the store has not is either one its
        sender has not committed yet or one of these (hubbub.core.cluster_replay)."""

    def prune(self, now_ms: int, max_count: int, max_age_ms: int) -> int:
        """Retention: drop records older than max_age_ms (0 = no age limit) and, per target,
        all but the newest max_count (0 = no count limit). Returns how many were dropped.
        The msgids `rename_target` remembered, and its moves and set-asides (by their
        `through_ms` and `before_ms`), go by the same age limit."""

    def prune_private(self, max_per_account: int) -> int:
        """Quota: per sending account (`Record.account`, non-empty), keep only its newest
        `max_per_account` private-conversation records (0 = no limit). How many went."""

    def close(self) -> None:
        """Commit and release the store's resources."""


def aside_key(key: str, seq: int | str) -> str:
    """Where `rename_target` moves the records of an earlier room of the new name: a space
    cannot occur in a channel name, so no room ever reads this key."""
    return f"{key} renamed-away-{seq}"


class Renamed(NamedTuple):
    """What `rename_target` left for the records of one name written after it (`late_key`)."""

    #: (through_ms, new name) of each rename of this name, in order of time: its records up to
    #: through_ms went to the new name.
    moved: Sequence[tuple[int, str]]
    #: (before_ms, aside key) of each rename onto this name, in order of time: its records
    #: older than before_ms (an earlier room's) went under the aside key.
    set_aside: Sequence[tuple[int, str]]


#: How many renames `late_key` follows at most, so that a record always gets a key whatever
#: the stores remember (renames within one millisecond could otherwise lead in a circle); a
#: room renamed more often between a record's time and its late write is followed no further.
MAX_RENAMES_FOLLOWED = 16


def late_key(target: str, time_ms: int, renamed: Callable[[str], Renamed | None]) -> str:
    """Where a record of `target` at `time_ms` written now belongs (HistoryStore.append), from
    what `rename_target` left for each name (`renamed`): the first rename of the name after its
    time decides. A move (the record's room renamed away, at or after its time) sends it on to
    the new name, where only the renames after that one count; a set-aside (the name given
    to another room, after its time) sends it under the aside key, where it stays."""
    key = target
    since: int | None = None  # the time of the rename followed last
    for _ in range(MAX_RENAMES_FOLLOWED):
        found = renamed(key)
        if found is None:
            break
        move = next(
            (
                (through_ms, new)
                for through_ms, new in found.moved
                if through_ms >= time_ms and (since is None or through_ms >= since)
            ),
            None,
        )
        aside = next(
            (
                (before_ms, aside_to)
                for before_ms, aside_to in found.set_aside
                if before_ms > time_ms and (since is None or before_ms > since)
            ),
            None,
        )
        # (A move and a set-aside of one name at one time: the room was renamed away first.)
        if move is not None and (aside is None or move[0] <= aside[0]):
            since, key = move
        elif aside is not None:
            return aside[1]
        else:
            break
    return key


def placed(record: Record, renamed: Callable[[str], Renamed | None]) -> Record:
    """The record under the key `late_key` finds for it (itself, if that is its target)."""
    key = late_key(record.target, record.time_ms, renamed)
    return record if key == record.target else dataclasses.replace(record, target=key)
