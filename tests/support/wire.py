"""The wire rules every line a server writes must follow, checked on every line a test sees.

The core harness (`tests/core`) checks each write to its fake links with `check_write`; the raw
test clients check each line they receive with `check_line`. The rules (Modern IRC, "Message
format"): a line is at most 512 bytes counting its CRLF but not its tags, the tag section at
most 8191 bytes counting the leading `@` and the space after it, the text is valid UTF-8 and no
NUL, CR or LF appears inside a line. The check is written here from the rules, not with
hubbub's own parser: a server bug must not hide behind the same bug in the checker.
"""

from __future__ import annotations

import re

MAX_LINE_BYTES = 512  # CRLF included, tags excluded
MAX_TAG_BYTES = 8191  # the leading "@" and the space after the tags included

COMMAND = re.compile(rb"[A-Za-z]+|\d{3}")
TAG_KEY = re.compile(rb"\+?(?:[A-Za-z0-9.\-]+/)?[A-Za-z0-9\-]+")


class WireError(AssertionError):
    """A line that breaks the wire rules (an AssertionError, so pytest reports it as one)."""


def problem(raw: bytes) -> str | None:
    """What is wrong with one line (without its CRLF), or None if it follows the rules."""
    for byte, name in ((b"\0", "NUL"), (b"\r", "CR"), (b"\n", "LF")):
        if byte in raw:
            return f"{name} inside a line"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 ({exc.reason} at byte {exc.start})"
    body = raw
    if raw.startswith(b"@"):
        tags, space, body = raw.partition(b" ")
        if not space:
            return "tags and nothing else"
        if len(tags) + 1 > MAX_TAG_BYTES:
            return f"tag section of {len(tags) + 1} bytes (at most {MAX_TAG_BYTES})"
        for item in tags[1:].split(b";"):
            key = item.partition(b"=")[0]
            if not TAG_KEY.fullmatch(key):
                return f"malformed tag key {key!r}"
    if len(body) + 2 > MAX_LINE_BYTES:
        return f"line of {len(body) + 2} bytes without tags (at most {MAX_LINE_BYTES})"
    if body.startswith(b":"):
        source, space, body = body[1:].partition(b" ")
        if not source or not space:
            return "empty source or a source without a command"
    head = body.partition(b" :")[0] if not body.startswith(b":") else b""
    words = head.split(b" ")
    if not COMMAND.fullmatch(words[0]):
        return f"malformed command {words[0]!r}"
    if any(not word for word in words[1:]):
        return "an empty middle parameter (two spaces in a row, or a trailing space)"
    return None


def check_line(raw: bytes) -> None:
    """Raise WireError unless `raw` (one line, CRLF removed) follows the wire rules."""
    found = problem(raw)
    if found is not None:
        raise WireError(f"{found}: {raw[:600]!r}")


def check_write(data: bytes) -> None:
    """Raise WireError unless `data`, one write to a client, is whole CRLF-ended valid lines."""
    if not isinstance(data, bytes):
        raise WireError(f"a write of {type(data).__name__}, not bytes")
    if not data.endswith(b"\r\n"):
        raise WireError(f"write does not end with CRLF: {data[-200:]!r}")
    for raw in data[:-2].split(b"\r\n"):
        if not raw:
            raise WireError(f"empty line in {data[:600]!r}")
        check_line(raw)
