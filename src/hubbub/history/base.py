"""What every back-end shares: turning the contract's queries into one primitive, `Select`.

Each record has a position: its append sequence number `seq` (increasing across the store).
The contract's queries (latest, before, after, around, between) all reduce to one range
selection over a target's records, which a back-end implements once (`_select`):

* a msgid ref becomes an exclusive bound on `seq` (the referenced record's position);
* a timestamp ref becomes an exclusive bound on `time_ms`;
* "the `limit` records closest to a ref" are the first `limit` in the order of that ref's kind:
  append order for a msgid ref, time order (then append order) for a timestamp ref;
* the chosen records always come back in append order.

When a target's times never decrease in append order (the normal case: the server stamps
records with its clock as it appends them), time order and append order coincide and all this
is simply "positions in the history". The rules above only pin down what happens when the
clock stepped back, so that every back-end gives the same answer then too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

from hubbub.history.record import Record, Ref

__all__ = ["PlannedStore", "Select", "window"]


@dataclass(frozen=True, slots=True)
class Select:
    """Records of one target with seq_lo < seq < seq_hi and t_lo < time_ms < t_hi (each bound
    optional); the first `limit` in the order `(time_ms, seq)` if `by_time` else `seq`,
    descending if `desc`; returned in append order."""

    limit: int
    seq_lo: int | None = None
    seq_hi: int | None = None
    t_lo: int | None = None
    t_hi: int | None = None
    by_time: bool = False
    desc: bool = False

    def with_bound(self, ref: Ref, pos: tuple[int, int] | None, upper: bool) -> Select:
        """This selection, further bounded by `ref` (resolved to `pos` if a msgid ref)."""
        if ref.msgid is not None:
            assert pos is not None
            if upper:
                return replace(self, seq_hi=pos[0])
            return replace(self, seq_lo=pos[0])
        assert ref.time_ms is not None
        if upper:
            return replace(self, t_hi=ref.time_ms)
        return replace(self, t_lo=ref.time_ms)


class PlannedStore(ABC):
    """The contract's read queries, built on `_position` and `_select`."""

    @abstractmethod
    def _position(self, target: str, msgid: str) -> tuple[int, int] | None:
        """(seq, time_ms) of the record with this msgid in this target, if stored."""

    @abstractmethod
    def _select(self, target: str, sel: Select) -> list[tuple[int, Record]]:
        """(seq, record) pairs chosen by `sel`, in append order."""

    def _resolve(self, target: str, ref: Ref) -> tuple[bool, tuple[int, int] | None]:
        """(known, position): a timestamp ref is always known; a msgid ref if stored."""
        if ref.msgid is None:
            return True, None
        pos = self._position(target, ref.msgid)
        return pos is not None, pos

    def _records(self, target: str, sel: Select) -> list[Record]:
        return [record for _, record in self._select(target, sel)]

    def latest(self, target: str, limit: int, after: Ref | None = None) -> list[Record]:
        if limit <= 0:
            return []
        sel = Select(limit, desc=True)
        if after is not None:
            known, pos = self._resolve(target, after)
            if not known:
                return []
            sel = sel.with_bound(after, pos, upper=False)
        return self._records(target, sel)

    def before(self, target: str, ref: Ref, limit: int) -> list[Record]:
        return [r for _, r in self._side(target, ref, limit, upper=True)]

    def after(self, target: str, ref: Ref, limit: int) -> list[Record]:
        return [r for _, r in self._side(target, ref, limit, upper=False)]

    def _side(self, target: str, ref: Ref, limit: int, upper: bool) -> list[tuple[int, Record]]:
        if limit <= 0:
            return []
        known, pos = self._resolve(target, ref)
        if not known:
            return []
        sel = Select(limit, by_time=ref.time_ms is not None, desc=upper)
        return self._select(target, sel.with_bound(ref, pos, upper=upper))

    def around(self, target: str, ref: Ref, limit: int) -> list[Record]:
        """With a msgid ref: that record, (limit-1)//2 before it and the rest after it.
        With a timestamp ref: limit//2 before it and the rest after it (exclusive bounds, so
        records stamped exactly at that time are not included)."""
        if limit <= 0:
            return []
        if ref.msgid is not None:
            centre = self.find(target, ref.msgid)
            if centre is None:
                return []
            pos = self._position(target, ref.msgid)
            assert pos is not None
            n_before = (limit - 1) // 2
            middle = [(pos[0], centre)]
        else:
            n_before = limit // 2
            middle = []
        n_after = limit - n_before - len(middle)
        found = self._side(target, ref, n_before, upper=True) + middle
        found += self._side(target, ref, n_after, upper=False)
        found.sort(key=lambda pair: pair[0])
        return [record for _, record in found]

    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[Record]:
        if limit <= 0:
            return []
        known_start, pos_start = self._resolve(target, start)
        known_end, pos_end = self._resolve(target, end)
        if not (known_start and known_end):
            return []
        backwards = _later(start, pos_start, end, pos_end)
        sel = Select(limit, by_time=start.time_ms is not None, desc=backwards)
        sel = sel.with_bound(start, pos_start, upper=backwards)
        sel = sel.with_bound(end, pos_end, upper=not backwards)
        return self._records(target, sel)

    @abstractmethod
    def find(self, target: str, msgid: str) -> Record | None: ...


def _later(a: Ref, pos_a: tuple[int, int] | None, b: Ref, pos_b: tuple[int, int] | None) -> bool:
    """Whether ref `a` is later than ref `b`: by position if both are msgids, else by time."""
    if pos_a is not None and pos_b is not None:
        return pos_a[0] > pos_b[0]
    time_a = pos_a[1] if pos_a is not None else a.time_ms
    time_b = pos_b[1] if pos_b is not None else b.time_ms
    assert time_a is not None and time_b is not None
    return time_a > time_b


def window(start_ms: int, end_ms: int) -> tuple[int, int, bool]:
    """(low, high, newest_first) of a TARGETS time window given in either direction."""
    if start_ms > end_ms:
        return end_ms, start_ms, True
    return start_ms, end_ms, False
