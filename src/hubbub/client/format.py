"""How lines look: times, nick colours and the one-line text form used by `--plain`.

Pure functions of their arguments (the local time zone aside), shared by both front ends.
"""

from __future__ import annotations

import time
import zlib

from hubbub.client.model import Kind, Line

__all__ = ["NICK_COLOURS", "clock", "nick_colour", "plain_line"]

NICK_COLOURS = (
    "#e06c75",
    "#98c379",
    "#e5c07b",
    "#61afef",
    "#c678dd",
    "#56b6c2",
    "#d19a66",
    "#ff79c6",
    "#8be9fd",
    "#50fa7b",
    "#bd93f9",
    "#f1fa8c",
)
"""Distinct colours that read on dark and light backgrounds."""


def nick_colour(folded_nick: str) -> str:
    """The colour of a nick: the same on every run and every machine (crc32, not hash())."""
    return NICK_COLOURS[zlib.crc32(folded_nick.encode()) % len(NICK_COLOURS)]


def clock(time_ms: int, now_ms: int) -> str:
    """`HH:MM` in local time, or `YYYY-MM-DD HH:MM` when not on the same day as `now_ms`."""
    when = time.localtime(time_ms / 1000)
    today = time.localtime(now_ms / 1000)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


def plain_line(line: Line, now_ms: int, window: str | None = None) -> str:
    """The line as `--plain` prints it: `[HH:MM] <nick> text`, `[HH:MM] * nick text`, …

    `window` names the room or nick the line belongs to when that is not the current one.
    """
    where = f"{window} " if window else ""
    stamp = f"[{clock(line.time_ms, now_ms)}] {where}"
    # A multi-line message (draft/multiline): continuation lines indented under the first.
    body = line.text.replace("\n", "\n    ") + (" (edited)" if line.edited else "")
    if line.kind is Kind.MESSAGE:
        return f"{stamp}<{line.nick}> {body}"
    if line.kind is Kind.ACTION:
        return f"{stamp}* {line.nick} {body}"
    if line.kind is Kind.NOTICE:
        return f"{stamp}-{line.nick}- {body}"
    if line.kind is Kind.SEPARATOR:
        return f"{where}-- {line.text} --"
    if line.kind is Kind.ERROR:
        return f"{stamp}!! {line.text}"
    return f"{stamp}-- {line.text}"
