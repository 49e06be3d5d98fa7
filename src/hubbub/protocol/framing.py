"""From a byte stream to lines: `LineReader` (framing with hard limits) and `decode_line`.

Transports own sockets; they push whatever bytes arrive into one `LineReader` per connection and
get back complete lines (still bytes, so the length limits are checked on what was actually sent)
or a `LineTooLong` marker where a line broke the limits. Then `decode_line` turns each line into
text for `hubbub.protocol.message.parse`.

Limits follow https://modern.ircdocs.horse/#message-format and IRCv3 message-tags: at most 512
bytes for the message proper including its CRLF, and at most 8191 bytes for the tag section
including the leading '@' and the space after it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LINE_TOO_LONG",
    "MAX_LINE_BYTES",
    "MAX_TAGS_BYTES",
    "LineReader",
    "LineTooLong",
    "decode_line",
    "whole_lines",
]

MAX_LINE_BYTES = 512
"""The non-tag part of a line, including CRLF (Modern IRC)."""

MAX_TAGS_BYTES = 8191
"""The tag section, including the leading '@' and the space after it (IRCv3 message-tags)."""

_MAX_BUFFERED = MAX_TAGS_BYTES + MAX_LINE_BYTES
_MAX_BODY = MAX_LINE_BYTES - 2  # the CRLF is not part of what LineReader hands out


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """Stands in for a line that broke the length limits; the line itself was dropped.

    All instances are equal; `LINE_TOO_LONG` is the one the reader hands out.
    """


LINE_TOO_LONG = LineTooLong()


class LineReader:
    """Splits a byte stream into lines, with bounded memory whatever the peer sends.

    Lines end with LF, optionally preceded by CR; both are removed and empty lines are
    dropped. Only bytes that arrived in the current `feed` are scanned for a newline, and at
    most `MAX_TAGS_BYTES + MAX_LINE_BYTES` bytes of an unfinished line are ever kept.
    """

    __slots__ = ("_buffer", "_discarding")

    def __init__(self) -> None:
        self._buffer = bytearray()
        # True after an unterminated flood was reported: drop input up to the next LF.
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held in the buffer."""
        return len(self._buffer)

    @property
    def discarding(self) -> bool:
        """Whether an over-long line was reported and its rest is being dropped (up to LF)."""
        return self._discarding

    def feed(self, data: bytes | bytearray) -> list[bytes | LineTooLong]:
        """Take newly received bytes; return the lines they completed, in order."""
        out: list[bytes | LineTooLong] = []
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return out
            self._discarding = False
            data = data[newline + 1 :]
        buffer = self._buffer
        last = data.rfind(b"\n")
        if last >= 0:
            # The buffer holds no LF (it is only ever the tail after the last one), so joining
            # it with the new bytes and splitting once looks at every byte a single time.
            complete = bytes(buffer) + data[:last] if buffer else bytes(data[:last])
            buffer[:] = data[last + 1 :]
            _split(complete, out)
        else:
            buffer += data
        if len(buffer) > _MAX_BUFFERED:
            # This line can no longer fit whatever follows (see _fits), so report it now and
            # forget it rather than hold an unbounded amount for a peer that never sends LF.
            buffer.clear()
            self._discarding = True
            out.append(LINE_TOO_LONG)
        return out


def whole_lines(data: bytes) -> list[bytes | LineTooLong]:
    """The lines of `data` that ends with LF, when nothing unfinished came before it: what a
    new `LineReader` would return from `feed(data)` (and it would then hold nothing), without
    making one. The TCP transport reads most clients' input this way: a client sends whole
    lines, and a reader per read was a cost per message."""
    out: list[bytes | LineTooLong] = []
    _split(data, out)
    return out


def _split(complete: bytes, out: list[bytes | LineTooLong]) -> None:
    """Append the lines of `complete` (LF-separated; a CR before the LF is dropped, empty lines
    are skipped) to `out`, each one too long replaced by LINE_TOO_LONG."""
    for line in complete.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line:
            # Up to _MAX_BODY bytes always fits, tags or not (see _fits): asked only beyond.
            out.append(line if len(line) <= _MAX_BODY or _fits(line) else LINE_TOO_LONG)


def _fits(line: bytes) -> bool:
    # A line longer than _MAX_BUFFERED never fits either way, which keeps the reader's output
    # the same whether a flood is caught in the buffer or arrives whole with its LF.
    if line[:1] == b"@":
        space = line.find(b" ")
        if space < 0:
            return len(line) <= MAX_TAGS_BYTES
        return space + 1 <= MAX_TAGS_BYTES and len(line) - space - 1 <= _MAX_BODY
    return len(line) <= _MAX_BODY


def decode_line(raw: bytes, policy: str = "replace") -> str | None:
    """Decode one line as UTF-8.

    On invalid UTF-8, policy "replace" substitutes U+FFFD for the bad bytes and policy
    "reject" returns None. Any other policy raises ValueError.
    """
    if policy != "replace" and policy != "reject":
        raise ValueError(f"unknown decode policy {policy!r}; use 'replace' or 'reject'")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if policy == "reject":
            return None
        return raw.decode("utf-8", "replace")
