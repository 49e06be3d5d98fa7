"""Measurement primitives of the load generator: latency histograms, percentiles, and the
per-(receiver, sender) sequence check that finds lost, duplicated and out-of-order deliveries.

Everything here is pure and synchronous, so the statistics are unit-tested on synthetic data.

Latencies go into a log-linear histogram (`Histogram`): values below 128 µs are exact, larger
ones are kept with 7 significant bits (under 1 % error), which bounds its size whatever the
number of deliveries and lets workers ship it to the coordinator as a small dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "FlowCheck",
    "Histogram",
    "bucket_floor",
    "bucket_of",
    "percentile",
]

_SIGNIFICANT = 7  # bits kept per histogram value: relative error < 2**-6 (~1.6 %, ~0.8 % mean)


def bucket_of(value: int) -> int:
    """The histogram bucket of a non-negative integer (negative values count as 0)."""
    if value < (1 << _SIGNIFICANT):
        return value if value > 0 else 0
    shift = value.bit_length() - _SIGNIFICANT
    return (shift << _SIGNIFICANT) + (value >> shift)


def bucket_floor(bucket: int) -> int:
    """The smallest value that falls into `bucket` (the inverse of `bucket_of`)."""
    if bucket < (1 << _SIGNIFICANT):
        return bucket
    shift = bucket >> _SIGNIFICANT
    return (bucket & ((1 << _SIGNIFICANT) - 1)) << shift


class Histogram:
    """Counts of integer values (µs latencies) in log-linear buckets, plus the exact maximum."""

    __slots__ = ("buckets", "count", "max", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.max = 0

    def add(self, value: int, times: int = 1) -> None:
        # Called per run of equal send times by every checked receiver: `bucket_of` inlined.
        if value < 128:  # 1 << _SIGNIFICANT: exact
            if value < 0:
                value = 0
            b = value
        else:
            shift = value.bit_length() - _SIGNIFICANT
            b = (shift << _SIGNIFICANT) + (value >> shift)
        buckets = self.buckets
        buckets[b] = buckets.get(b, 0) + times
        self.count += times
        self.total += value * times
        if value > self.max:
            self.max = value

    def merge(self, other: Histogram) -> None:
        buckets = self.buckets
        for b, n in other.buckets.items():
            buckets[b] = buckets.get(b, 0) + n
        self.count += other.count
        self.total += other.total
        if other.max > self.max:
            self.max = other.max

    def percentile(self, p: float) -> int | None:
        """The value at percentile `p` (0 to 100, nearest rank), to the histogram's precision.

        The answer is the lower bound of the bucket holding that rank, except that it never
        exceeds the exact maximum. None when empty.
        """
        if self.count == 0:
            return None
        rank = max(1, math.ceil(p / 100 * self.count))
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return min(bucket_floor(b), self.max)
        return self.max

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def to_dict(self) -> dict[str, object]:
        """A picklable / JSON-able form (bucket keys as they are)."""
        return {
            "buckets": dict(self.buckets),
            "count": self.count,
            "total": self.total,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Histogram:
        hist = cls()
        buckets = data["buckets"]
        assert isinstance(buckets, dict)
        hist.buckets = {int(k): int(v) for k, v in buckets.items()}
        hist.count = int(str(data["count"]))
        hist.total = int(str(data["total"]))
        hist.max = int(str(data["max"]))
        return hist

    @classmethod
    def of(cls, values: Iterable[int]) -> Histogram:
        hist = cls()
        for value in values:
            hist.add(value)
        return hist


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of `values` (any order); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# A gap wider than this is counted as lost without remembering each missing number (so a
# pathological server cannot make the checker's memory explode); a late arrival from such a gap
# is then counted as a duplicate instead of out of order.
MAX_TRACKED_GAP = 100_000


# The decimal forms of 0, 1, 2, … as bytes, shared by every FlowCheck of the process, so that
# `feed` compares a sequence number as text instead of converting it. Grown only when a sender
# reached the end of the table in order (a wild number does not grow it), and never beyond
# DECIMAL_LIMIT entries (about 11 MB): higher numbers are converted, as they all were before.
DECIMAL_LIMIT = 1 << 18
_DECIMAL: list[bytes] = []


def _extend_decimal(upto: int) -> None:
    start = len(_DECIMAL)
    stop = min(DECIMAL_LIMIT, max(upto + 1, 2 * start, 1024))
    _DECIMAL.extend(b"%d" % n for n in range(start, stop))


class FlowCheck:
    """The sequence check of one receiver over every sender it hears.

    A sender numbers its messages 0, 1, 2, … and the server relays them over one TCP stream, so
    a correct server delivers each sender's numbers to each receiver exactly once and in order.
    `feed` takes (sender, sequence) pairs in arrival order. It keeps, per sender, the next number
    expected and the numbers skipped so far: a number above the expected one opens a gap (the
    skipped numbers are missing, for now); a number below it is *out of order* if it fills a gap
    and a *duplicate* otherwise. `lost(sent)` counts what never arrived, given how many messages
    each sender sent.
    """

    __slots__ = ("duplicates", "expected", "missing", "out_of_order", "received")

    def __init__(self) -> None:
        self.expected: dict[bytes, int] = {}
        self.missing: dict[bytes, set[int]] = {}
        self.duplicates = 0
        self.out_of_order = 0
        self.received = 0

    def feed(
        self,
        found: Sequence[tuple[bytes, bytes, bytes]],
        now: int,
        latency: Histogram,
        remote: frozenset[bytes] | None = None,
        remote_latency: Histogram | None = None,
    ) -> int:
        """Check (sender id, sequence number, send time) triples, as bytes, in arrival order.

        Each latency `now - send time` goes to `latency`; consecutive triples with the same
        send time (a sender's batch) are added at once. With `remote` (the ids of senders on
        another server than this receiver's) and `remote_latency`, their latencies go there
        instead. Returns how many triples there were.
        """
        if remote is not None and remote_latency is not None:
            return self._feed_split(found, now, latency, remote, remote_latency)
        expected = self.expected
        add = latency.add
        decimal = _DECIMAL
        if not decimal:
            _extend_decimal(0)
        known = len(decimal)
        # The current sender's next number is kept in `want` while its lines follow one
        # another (the server relays a batch as consecutive lines) and stored on a change of
        # sender; it is compared as text with the decimal form it must have, so a number is
        # converted only when it is not the expected one (then checked as before).
        current = b""
        want = 0
        last = b""
        run = 0
        for sender, seq_text, stamp in found:
            if sender != current:
                if current:
                    expected[current] = want
                current = sender
                want = expected.get(sender, 0)
            if want < known and seq_text == decimal[want]:
                want += 1
            else:
                seq = int(seq_text)
                if seq == want:
                    want += 1
                    if want >= known and want < DECIMAL_LIMIT:
                        _extend_decimal(want)
                        known = len(decimal)
                else:
                    expected[sender] = want
                    self._anomaly(sender, seq, want)
                    want = expected[sender]
            if stamp == last:
                run += 1
            else:
                if run:
                    add(now - int(last), run)
                last = stamp
                run = 1
        if current:
            expected[current] = want
        if run:
            add(now - int(last), run)
        n = len(found)
        self.received += n
        return n

    def _feed_split(
        self,
        found: Sequence[tuple[bytes, bytes, bytes]],
        now: int,
        latency: Histogram,
        remote: frozenset[bytes],
        remote_latency: Histogram,
    ) -> int:
        """`feed` with each latency in the histogram of its sender's side (kept apart from
        `feed`'s loop, which stays as cheap as it was for runs against one server)."""
        expected = self.expected
        get = expected.get
        last = b""
        target = latency
        run = 0
        for sender, seq_text, stamp in found:
            seq = int(seq_text)
            want = get(sender, 0)
            if seq == want:
                expected[sender] = seq + 1
            else:
                self._anomaly(sender, seq, want)
            side = remote_latency if sender in remote else latency
            if stamp == last and side is target:
                run += 1
            else:
                if run:
                    target.add(now - int(last), run)
                last = stamp
                target = side
                run = 1
        if run:
            target.add(now - int(last), run)
        n = len(found)
        self.received += n
        return n

    def _anomaly(self, sender: bytes, seq: int, want: int) -> None:
        if seq > want:
            if seq - want <= MAX_TRACKED_GAP:
                self.missing.setdefault(sender, set()).update(range(want, seq))
            self.expected[sender] = seq + 1
            return
        gaps = self.missing.get(sender)
        if gaps is not None and seq in gaps:
            gaps.discard(seq)
            self.out_of_order += 1
        else:
            self.duplicates += 1

    def unique(self, sender: bytes) -> int:
        """How many distinct numbers of `sender` arrived (assuming gaps were tracked)."""
        return self.expected.get(sender, 0) - len(self.missing.get(sender, ()))

    def lost(self, sent: Mapping[bytes, int]) -> int:
        """Messages that never arrived, given the count each sender (this receiver's peers) sent.

        Numbers a sender never sent but that arrived anyway (impossible from a correct server)
        are not subtracted: they show up as received beyond expected.
        """
        return sum(max(0, count - self.unique(sender)) for sender, count in sent.items())
