"""Glob masks (`*` any run of characters, `?` exactly one), matched without backtracking.

IRC masks (WHO patterns, channel bans, K-lines) used to become regular expressions, and a
mask such as `*a*a*a*a*a*a*c` against a long run of `a`s made Python's backtracking regex
engine try every way to split the subject: exponential time, one line froze the server.

Here a mask is split at its stars into segments (runs of literal characters and `?`). The
first segment must match the start of the subject, the last one its end, and each one in
between is found at its *leftmost* place after the previous one. Taking the leftmost place is
never wrong: a later place leaves less room for the segments after it, never more. So each
segment is looked for once, from left to right, and never revisited: at most
O(len(subject) * len(segment)) character comparisons per segment, O(len(subject) * len(mask))
for the whole mask, with no exponential case. Segments without `?` are found with `str.find`
(C speed); a segment made only of `?` fits anywhere there is room.

Matching is exact on what it is given: callers fold both mask and subject with the server's
casemapping first (`ChatServer.fold`), which is what makes it casemapping-aware. There is no
escape character: `*` and `?` are always wildcards, as in most ircds' ban masks.

This module is a leaf: it imports nothing from hubbub.
"""

from __future__ import annotations

import functools

__all__ = ["Mask", "StepCounter", "compile_mask", "mask_matches"]

STAR = "*"
ANY = "?"


class StepCounter:
    """Counts character comparisons made by `Mask.match` (for tests: the work is bounded)."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0


def _fits_at(segment: str, subject: str, start: int) -> bool:
    """Does `segment` (literals and `?`) match `subject` at `start`? The caller has checked
    that the subject is long enough."""
    for offset, char in enumerate(segment):
        if char != ANY and subject[start + offset] != char:
            return False
    return True


class Mask:
    """One compiled mask: its segments, and whether it starts or ends with a star."""

    __slots__ = ("anchored_end", "anchored_start", "minimum", "segments", "text")

    def __init__(self, folded_mask: str) -> None:
        self.text = folded_mask
        parts = folded_mask.split(STAR)
        # parts[0] must sit at the start and parts[-1] at the end; with no star at all,
        # both at once (the one part is the whole subject).
        self.anchored_start = parts[0]
        self.anchored_end = parts[-1] if len(parts) > 1 else None
        self.segments = tuple(part for part in parts[1:-1] if part)
        self.minimum = sum(len(part) for part in parts)  # the shortest subject that can match

    def match(self, subject: str, counter: StepCounter | None = None) -> bool:
        """Does the whole of `subject` match this mask?"""
        if len(subject) < self.minimum:
            return False
        head = self.anchored_start
        if self.anchored_end is None:  # no star: same length, every character fits
            if counter is not None:
                counter.steps += len(head)
            return len(subject) == len(head) and _fits_at(head, subject, 0)
        tail = self.anchored_end
        tail_start = len(subject) - len(tail)
        if counter is not None:
            counter.steps += len(head) + len(tail)
        if not _fits_at(head, subject, 0) or not _fits_at(tail, subject, tail_start):
            return False
        # The middle segments, each at its leftmost place in what the head and tail leave.
        position = len(head)
        for segment in self.segments:
            found = self._find(segment, subject, position, tail_start, counter)
            if found < 0:
                return False
            position = found + len(segment)
        return True

    @staticmethod
    def _find(segment: str, subject: str, start: int, end: int, counter: StepCounter | None) -> int:
        """The leftmost index ≥ start where `segment` fits entirely before `end`, or -1."""
        last = end - len(segment)  # the last index where it could begin
        if last < start:
            return -1
        if ANY not in segment:
            if counter is not None:
                counter.steps += (last - start + 1) * len(segment)
            return subject.find(segment, start, end)
        if segment.count(ANY) == len(segment):
            return start  # only '?': fits wherever there is room
        for candidate in range(start, last + 1):
            if counter is not None:
                counter.steps += len(segment)
            if _fits_at(segment, subject, candidate):
                return candidate
        return -1

    def __repr__(self) -> str:
        return f"Mask({self.text!r})"


@functools.lru_cache(maxsize=4096)
def compile_mask(folded_mask: str) -> Mask:
    """The compiled form of a mask already folded by the caller (cached: ban lists are checked
    on every JOIN and message)."""
    return Mask(folded_mask)


def mask_matches(folded_mask: str, folded_subject: str) -> bool:
    """Whether a folded subject matches a folded mask."""
    return compile_mask(folded_mask).match(folded_subject)
