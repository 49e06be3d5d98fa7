"""The in-memory history back-end: for tests and for a server that need not remember restarts.

Per target, parallel lists of sequence numbers, times and records in append order, plus a
msgid index. Queries bisect those lists: O(log n + limit) while the target's times never
decrease in append order (the normal case), a linear scan otherwise. Not thread-safe: like
every store, it is used from one thread at a time.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Sequence

from hubbub.history.base import PlannedStore, Select, window
from hubbub.history.record import Edit, Record, dm_parties
from hubbub.history.store import Renamed, aside_key, late_key, placed

__all__ = ["MemoryStore"]


class _Target:
    __slots__ = ("by_msgid", "monotonic", "records", "seqs", "times")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.times: list[int] = []
        self.records: list[Record] = []
        self.by_msgid: dict[str, int] = {}  # msgid -> seq
        # Whether times never decrease in append order (then bisecting `times` is valid).
        self.monotonic = True

    def add(self, seq: int, record: Record) -> None:
        if self.times and record.time_ms < self.times[-1]:
            self.monotonic = False
        self.seqs.append(seq)
        self.times.append(record.time_ms)
        self.records.append(record)
        self.by_msgid[record.msgid] = seq

    def keep(self, indexes: list[int]) -> int:
        """Keep only the records at these (increasing) indexes; return how many went."""
        dropped = len(self.seqs) - len(indexes)
        if dropped:
            self.seqs = [self.seqs[i] for i in indexes]
            self.times = [self.times[i] for i in indexes]
            self.records = [self.records[i] for i in indexes]
            self.by_msgid = {r.msgid: s for s, r in zip(self.seqs, self.records, strict=True)}
            times = self.times
            self.monotonic = all(times[i] <= times[i + 1] for i in range(len(times) - 1))
        return dropped

    def newest_in(self, low: int, high: int) -> int | None:
        """The newest time_ms strictly between low and high, if any."""
        if self.monotonic:
            j = bisect_left(self.times, high) - 1
            if j >= 0 and self.times[j] > low:
                return self.times[j]
            return None
        inside = [t for t in self.times if low < t < high]
        return max(inside) if inside else None


class MemoryStore(PlannedStore):
    """A `HistoryStore` in a few dicts and lists. A duplicate (target, msgid) is ignored."""

    def __init__(self) -> None:
        self._targets: dict[str, _Target] = {}
        self._dms: dict[str, set[str]] = {}  # nick -> dm keys it takes part in
        self._seq = 0
        self._edits: dict[tuple[str, str], list[Edit]] = {}  # (target, msgid) -> its edits
        # msgid -> time_ms of every record `rename_target` moved: a copy written later under
        # the name it had is a late writer's, ignored (HistoryStore.append).
        self._moved: dict[str, int] = {}
        # target -> (before_ms, aside key) of each set-aside of its records, by time: a record
        # written later under the target and older than before_ms goes there (rename_target).
        self._asides: dict[str, list[tuple[int, str]]] = {}
        # old name -> (through_ms, new name) of each rename of it, by time: a record written
        # later under the old name, at or before through_ms, goes on to the new (late_key).
        self._moves: dict[str, list[tuple[int, str]]] = {}
        # (old name, through_ms, new name) of each of those moved back since (the rename
        # undone): kept, so that a node asking for that rename's move late does not make it.
        self._undone: set[tuple[str, int, str]] = set()
        # account -> the bound of a deletion of its history by time (`delete_by_account` with
        # `before_ms`, the highest): a record of it older than that, written later, is ignored.
        self._deleted_before: dict[str, int] = {}

    # -- writing ---------------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        moved, deleted_before = self._moved, self._deleted_before
        for record in records:
            if record.msgid in moved:
                continue
            if deleted_before and record.time_ms < deleted_before.get(record.account, 0):
                continue  # (its account's history was deleted up to a later time)
            if self._asides or self._moves:
                record = placed(record, self._renamed)
            entry = self._targets.get(record.target)
            if entry is None:
                entry = self._targets[record.target] = _Target()
                parties = dm_parties(record.target)
                if parties is not None:
                    for nick in parties:
                        self._dms.setdefault(nick, set()).add(record.target)
            elif record.msgid in entry.by_msgid:
                continue
            self._seq += 1
            entry.add(self._seq, record)

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass

    def prune(self, now_ms: int, max_count: int, max_age_ms: int) -> int:
        dropped = 0
        for key in list(self._targets):
            entry = self._targets[key]
            keep = list(range(len(entry.seqs)))
            if max_age_ms > 0:
                oldest = now_ms - max_age_ms
                keep = [i for i in keep if entry.times[i] >= oldest]
            if max_count > 0:
                keep = keep[-max_count:]
            dropped += entry.keep(keep)
            if not entry.seqs:
                self._forget(key)
        if max_age_ms > 0:
            oldest = now_ms - max_age_ms
            self._moved = {msgid: t for msgid, t in self._moved.items() if t >= oldest}
            self._keep_asides(lambda before_ms, _aside: before_ms >= oldest)
            self._keep_moves(lambda through_ms, _new: through_ms >= oldest)
            self._undone = {move for move in self._undone if move[1] >= oldest}
            self._deleted_before = {
                account: before_ms
                for account, before_ms in self._deleted_before.items()
                if before_ms >= oldest
            }
        self._drop_orphan_edits()
        return dropped

    def prune_private(self, max_per_account: int) -> int:
        if max_per_account <= 0:
            return 0
        sent: dict[str, list[tuple[int, str]]] = {}  # account -> (seq, key) of its records
        for key, entry in self._targets.items():
            if dm_parties(key) is None:
                continue
            for seq, record in zip(entry.seqs, entry.records, strict=True):
                if record.account:
                    sent.setdefault(record.account, []).append((seq, key))
        doomed: dict[str, set[int]] = {}
        for items in sent.values():
            if len(items) > max_per_account:
                items.sort()
                for seq, key in items[:-max_per_account]:
                    doomed.setdefault(key, set()).add(seq)
        dropped = 0
        for key, seqs in doomed.items():
            entry = self._targets[key]
            dropped += entry.keep([i for i, seq in enumerate(entry.seqs) if seq not in seqs])
            if not entry.seqs:
                self._forget(key)
        self._drop_orphan_edits()
        return dropped

    def _where(self, target: str, msgid: str) -> str | None:
        """The key the record with this msgid of `target` is under: `target`, or where a
        rename moved it since (HistoryStore.edit, `late_key` from the time remembered for the
        msgid); None if it is in neither."""
        entry = self._targets.get(target)
        if entry is not None and msgid in entry.by_msgid:
            return target
        moved_at = self._moved.get(msgid)
        if moved_at is None:
            return None
        key = late_key(target, moved_at, self._renamed)
        entry = self._targets.get(key)
        return key if entry is not None and msgid in entry.by_msgid else None

    def redact(self, target: str, msgid: str) -> bool:
        key = self._where(target, msgid)
        if key is None:
            return False
        target, entry = key, self._targets[key]
        gone = bisect_left(entry.seqs, entry.by_msgid[msgid])
        self._moved[msgid] = entry.times[gone]  # a late copy is ignored (HistoryStore.redact)
        entry.keep([i for i in range(len(entry.seqs)) if i != gone])
        if not entry.seqs:
            self._forget(target)
        self._edits.pop((target, msgid), None)
        return True

    def void(self, target: str, msgid: str, time_ms: int) -> None:
        self.redact(target, msgid)
        self._moved.setdefault(msgid, time_ms)

    def rename_target(
        self,
        old: str,
        new: str,
        before_ms: int | None = None,
        aside: str | None = None,
        through_ms: int | None = None,
    ) -> int:
        if through_ms is not None:
            made = (through_ms, new) in self._moves.get(old, ())
            if made or (old, through_ms, new) in self._undone:
                return 0  # (made already: every node that applies a rename asks for it)
            self._moves.setdefault(old, []).append((through_ms, new))
            self._moves[old].sort()
        else:  # (Undone: a late record of `new` from before stays there, where the room is.)
            undone = [(new, t, old) for t, moved_to in self._moves.get(new, ()) if moved_to == old]
            self._undone.update(undone)
            self._keep_moves(lambda _through_ms, moved_to: moved_to != old, new)
        # (The earlier room's records are set aside even if the renamed room has none yet,
        # as the SQL stores do: a RENAME undone later moves back all there is under `new`.)
        # (A set-aside key moved back, its rename undone: later records of the name stay.)
        self._keep_asides(lambda _before_ms, aside: aside != old)
        if before_ms is not None and before_ms > 0 and aside is not None:
            self._asides.setdefault(new, []).append((before_ms, aside))
            self._asides[new].sort()
        # (Where the renamed room's records are: under `old`, or under the key a later
        # set-aside of `old`, made first, took them to: HistoryStore.rename_target.)
        source = old if through_ms is None else self._taken_by_later_aside(old, through_ms)
        moving = self._targets.pop(source, None) or _Target()
        if through_ms is not None:  # a room made anew under `old` keeps its records
            later = [i for i, time_ms in enumerate(moving.times) if time_ms > through_ms]
            if later:
                remaining = self._targets[source] = _Target()
                for i in later:
                    remaining.add(moving.seqs[i], moving.records[i])
                moving.keep([i for i, time_ms in enumerate(moving.times) if time_ms <= through_ms])
        earlier = self._targets.pop(new, None)
        staying: list[tuple[int, Record]] = []
        if earlier is not None:
            aside_records: list[tuple[int, Record]] = []
            for seq, record in zip(earlier.seqs, earlier.records, strict=True):
                if before_ms is None or record.time_ms < before_ms:
                    aside_records.append((seq, record))
                else:
                    staying.append((seq, record))
            if aside_records:
                self._moved.update((record.msgid, record.time_ms) for _, record in aside_records)
                self._seq += 1
                key = aside if aside is not None else aside_key(new, self._seq)
                pairs = [
                    (seq, dataclasses.replace(record, target=key)) for seq, record in aside_records
                ]
                there = self._targets.pop(key, None)  # (a key named twice: merged, in order)
                if there is not None:
                    pairs += zip(there.seqs, there.records, strict=True)
                entry = self._targets[key] = _Target()
                for seq, record in sorted(pairs, key=lambda pair: pair[0]):
                    entry.add(seq, record)
                for _, record in aside_records:
                    edits = self._edits.pop((new, record.msgid), None)
                    if edits is not None:
                        self._edits[(key, record.msgid)] = edits
        moved = [
            (seq, dataclasses.replace(record, target=new))
            for seq, record in zip(moving.seqs, moving.records, strict=True)
        ]
        self._moved.update((record.msgid, record.time_ms) for _, record in moved)
        if moved or staying:
            merged = self._targets[new] = _Target()
            for seq, record in sorted(moved + staying, key=lambda pair: pair[0]):
                merged.add(seq, record)
        self._move_edits(source, new, moving.by_msgid)
        return len(moved)

    def _taken_by_later_aside(self, old: str, through_ms: int) -> str:
        """Where a move of `old` at `through_ms` finds the renamed room's records: the key of
        the first set-aside of `old` after that time, if one was made, else `old`
        (HistoryStore.rename_target)."""
        later = [key for before_ms, key in self._asides.get(old, ()) if before_ms > through_ms]
        return later[0] if later else old  # (in order of time)

    def _move_edits(self, source: str, destination: str, msgids: Collection[str]) -> None:
        """Edits follow their records (they are keyed by target and msgid): those of these."""
        for target, msgid in [key for key in self._edits if key[0] == source]:
            if msgid in msgids:
                self._edits[(destination, msgid)] = self._edits.pop((target, msgid))

    def edit(self, target: str, msgid: str, edit: Edit) -> bool:
        key = self._where(target, msgid)
        if key is None:
            return False
        target, entry = key, self._targets[key]
        index = bisect_left(entry.seqs, entry.by_msgid[msgid])
        record = entry.records[index]
        params = (*record.params[:-1], edit.text)
        entry.records[index] = dataclasses.replace(record, params=params, edited_ms=edit.time_ms)
        previous = record.params[-1] if record.params else ""
        self._edits.setdefault((target, msgid), []).append(
            dataclasses.replace(edit, previous=previous)
        )
        return True

    def edits(self, target: str, msgid: str) -> list[Edit]:
        return list(self._edits.get((target, msgid), ()))

    def _drop_orphan_edits(self) -> None:
        """Edits go with their message (redacted, pruned, deleted)."""
        if self._edits:
            self._edits = {k: v for k, v in self._edits.items() if self.find(*k) is not None}

    def by_account(self, account: str, limit: int) -> list[Record]:
        if limit <= 0 or not account:
            return []
        found = [
            (seq, record)
            for entry in self._targets.values()
            for seq, record in zip(entry.seqs, entry.records, strict=True)
            if record.account == account
        ]
        found.sort(key=lambda pair: pair[0])
        return [record for _, record in found[-limit:]]

    def delete_by_account(self, account: str, before_ms: int | None = None) -> int:
        if not account:
            return 0
        if before_ms is not None:  # (the highest bound is kept)
            self._deleted_before[account] = max(self._deleted_before.get(account, 0), before_ms)
        dropped = 0
        for key in list(self._targets):
            entry = self._targets[key]
            records = entry.records
            kept = []
            for index, (record, time_ms) in enumerate(zip(records, entry.times, strict=True)):
                if record.account == account and (before_ms is None or time_ms < before_ms):
                    self._moved[record.msgid] = time_ms  # a late copy is ignored (HistoryStore)
                else:
                    kept.append(index)
            dropped += entry.keep(kept)
            if not entry.seqs:
                self._forget(key)
        self._drop_orphan_edits()
        return dropped

    def taken_away(self, msgids: Collection[str]) -> set[str]:
        return {msgid for msgid in msgids if msgid in self._moved}

    def _keep_asides(self, keep: Callable[[int, str], bool]) -> None:
        """Keep only the set-asides (before_ms, key) that `keep` says to."""
        _keep_rules(self._asides, keep)

    def _keep_moves(self, keep: Callable[[int, str], bool], name: str | None = None) -> None:
        """Keep only the moves (through_ms, new name) that `keep` says to (of `name`'s only,
        when given)."""
        _keep_rules(self._moves, keep, name)

    def _renamed(self, name: str) -> Renamed | None:
        """What rename_target left for the records of `name` written later (late_key)."""
        moved, asides = self._moves.get(name), self._asides.get(name)
        if moved is None and asides is None:
            return None
        return Renamed(moved or (), asides or ())

    def _forget(self, key: str) -> None:
        del self._targets[key]
        parties = dm_parties(key)
        if parties is not None:
            for nick in parties:
                keys = self._dms.get(nick)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._dms[nick]

    # -- reading ---------------------------------------------------------------------------------

    def find(self, target: str, msgid: str) -> Record | None:
        entry = self._targets.get(target)
        if entry is None:
            return None
        seq = entry.by_msgid.get(msgid)
        if seq is None:
            return None
        return entry.records[bisect_left(entry.seqs, seq)]

    def _position(self, target: str, msgid: str) -> tuple[int, int] | None:
        entry = self._targets.get(target)
        if entry is None:
            return None
        seq = entry.by_msgid.get(msgid)
        if seq is None:
            return None
        return seq, entry.times[bisect_left(entry.seqs, seq)]

    def _select(self, target: str, sel: Select) -> list[tuple[int, Record]]:
        entry = self._targets.get(target)
        if entry is None or sel.limit <= 0:
            return []
        seqs, times, records = entry.seqs, entry.times, entry.records
        if entry.monotonic:
            # Append order and time order agree: every bound cuts one contiguous slice.
            i, j = 0, len(seqs)
            if sel.seq_lo is not None:
                i = max(i, bisect_right(seqs, sel.seq_lo))
            if sel.seq_hi is not None:
                j = min(j, bisect_left(seqs, sel.seq_hi))
            if sel.t_lo is not None:
                i = max(i, bisect_right(times, sel.t_lo))
            if sel.t_hi is not None:
                j = min(j, bisect_left(times, sel.t_hi))
            if i >= j:
                return []
            if sel.desc:
                i = max(i, j - sel.limit)
            else:
                j = min(j, i + sel.limit)
            return list(zip(seqs[i:j], records[i:j], strict=True))
        chosen = [
            k
            for k in range(len(seqs))
            if (sel.seq_lo is None or seqs[k] > sel.seq_lo)
            and (sel.seq_hi is None or seqs[k] < sel.seq_hi)
            and (sel.t_lo is None or times[k] > sel.t_lo)
            and (sel.t_hi is None or times[k] < sel.t_hi)
        ]
        if sel.by_time:
            chosen.sort(key=lambda k: (times[k], seqs[k]), reverse=sel.desc)
        elif sel.desc:
            chosen.reverse()
        chosen = sorted(chosen[: sel.limit])
        return [(seqs[k], records[k]) for k in chosen]

    def targets(
        self, start_ms: int, end_ms: int, limit: int, channels: Collection[str], nick: str
    ) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        low, high, newest_first = window(start_ms, end_ms)
        keys = set(channels) | self._dms.get(nick, set())
        found: list[tuple[int, str]] = []
        for key in keys:
            entry = self._targets.get(key)
            if entry is None:
                continue
            newest = entry.newest_in(low, high)
            if newest is not None:
                found.append((newest, key))
        found.sort(reverse=newest_first)
        return [(key, t) for t, key in found[:limit]]

    def stored_targets(self) -> list[str]:
        """Every target with records, a renamed room's set-aside ones included (for tests
        that look at the whole store)."""
        return list(self._targets)

    def __len__(self) -> int:
        return sum(len(entry.seqs) for entry in self._targets.values())


def _keep_rules(
    rules: dict[str, list[tuple[int, str]]],
    keep: Callable[[int, str], bool],
    name: str | None = None,
) -> None:
    """Keep only the (time, key) rules that `keep` says to, of every name or of `name`."""
    for target in list(rules) if name is None else [name]:
        kept = [(time_ms, key) for time_ms, key in rules.get(target, ()) if keep(time_ms, key)]
        if kept:
            rules[target] = kept
        else:
            rules.pop(target, None)
