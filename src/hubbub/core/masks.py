"""Glob masks (`*` any run of characters, `?` exactly one), matched without backtracking.

IRC masks (WHO patterns, channel bans, K-lines) used to become regular expressions, and a
mask such as `*a*a*a*a*a*a*c` against a long run of `a`s made Python's backtracking regex
engine try every way to split the subject: exponential time, one line froze the server.

Here a mask is split at its stars into segments (runs of literal characters and `?`). The
first segment must match the start of the subject, the last one its end, and each one in
between is found at its *leftmost* place after the previous one. Taking the leftmost place is
never wrong: a later place leaves less room for the segments after it, never more. So each
segment is looked for once, from left to right, and never revisited; no exponential case.

How a segment is looked for:

* without `?`: `str.find` (C speed; at most len(subject) * len(segment) comparisons);
* only `?`: it fits wherever there is room;
* literals and `?`: the bit-parallel Shift-And algorithm, one step per subject character
  whatever the segment's length (bit i of the state: the last i+1 characters match the
  segment's first i+1), so the scans of all such segments together read each subject
  character about once: O(len(subject) + len(mask)) steps.

Matching is exact on what it is given: callers fold both mask and subject with the server's
casemapping first (`ChatServer.fold`), which is what makes it casemapping-aware. There is no
escape character: `*` and `?` are always wildcards, as in most ircds' ban masks.

This module is a leaf: it imports nothing from hubbub.
"""

from __future__ import annotations

import functools

__all__ = ["Mask", "Segment", "StepCounter", "compile_mask", "mask_matches"]

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


class Segment:
    """A run of literals and `?` between two stars, ready to be looked for."""

    __slots__ = ("accept", "any_bits", "bits", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # Shift-And tables: bit i set where the segment's character i is `?` (any_bits), or is
        # `?` or that character (bits[char]). Only used when the segment mixes both.
        self.any_bits = sum(1 << i for i, char in enumerate(text) if char == ANY)
        self.bits = {
            char: self.any_bits | sum(1 << i for i, other in enumerate(text) if other == char)
            for char in set(text) - {ANY}
        }
        self.accept = 1 << (len(text) - 1)

    def find(self, subject: str, start: int, end: int, counter: StepCounter | None) -> int:
        """The leftmost index ≥ start where the segment fits entirely before `end`, or -1."""
        text = self.text
        if end - len(text) < start:
            return -1
        if not self.any_bits:
            if counter is not None:
                counter.steps += (end - len(text) - start + 1) * len(text)
            return subject.find(text, start, end)
        if not self.bits:
            return start  # only '?': fits wherever there is room
        bits, any_bits, accept = self.bits, self.any_bits, self.accept
        state = 0
        for index in range(start, end):
            state = ((state << 1) | 1) & bits.get(subject[index], any_bits)
            if state & accept:
                if counter is not None:
                    counter.steps += index - start + 1
                return index - len(text) + 1
        if counter is not None:
            counter.steps += end - start
        return -1


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
        self.segments = tuple(Segment(part) for part in parts[1:-1] if part)
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
            found = segment.find(subject, position, tail_start, counter)
            if found < 0:
                return False
            position = found + len(segment.text)
        return True

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
