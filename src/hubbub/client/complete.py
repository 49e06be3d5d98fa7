"""Nick completion for the input line (Tab): pure, no widgets.

`complete(value, cursor, names, previous)` completes the word before the cursor to the first
name (in the order given) that starts with it, casefolded; at the start of the line the nick is
followed by `": "`, elsewhere by a space (unless one follows already). Pressing Tab again
right after a completion (the input unchanged since) replaces it with the next match, cycling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Completion", "complete"]


@dataclass(frozen=True, slots=True)
class Completion:
    """A completion made: the new input and cursor, and what the next Tab cycles through."""

    value: str
    cursor: int
    start: int
    """Where the completed word starts."""
    matches: tuple[str, ...]
    index: int
    rest: str
    """What followed the cursor when completion began."""


def complete(
    value: str,
    cursor: int,
    names: Sequence[str],
    previous: Completion | None,
    fold: Callable[[str], str] = str.lower,
) -> Completion | None:
    """Complete the nick before `cursor` in `value`, or cycle `previous`; None: no match."""
    if previous is not None and previous.value == value and previous.cursor == cursor:
        index = (previous.index + 1) % len(previous.matches)
        return _apply(
            value[: previous.start], previous.start, previous.matches, index, previous.rest
        )
    start = value.rfind(" ", 0, cursor) + 1
    prefix = fold(value[start:cursor])
    if not prefix:
        return None
    matches = tuple(name for name in names if fold(name).startswith(prefix))
    if not matches:
        return None
    return _apply(value[:start], start, matches, 0, value[cursor:])


def _apply(head: str, start: int, matches: tuple[str, ...], index: int, rest: str) -> Completion:
    suffix = ": " if start == 0 else ("" if rest.startswith(" ") else " ")
    word = matches[index] + suffix
    return Completion(head + word + rest, start + len(word), start, matches, index, rest)
