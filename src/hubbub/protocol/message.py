"""One IRC line as a value: `Message`, and the text codec for it (`parse`, `Message.format`).

The grammar is the one in https://modern.ircdocs.horse/#message-format plus IRCv3 message tags
(https://ircv3.net/specs/extensions/message-tags):

    [ '@' tags SPACE ] [ ':' source SPACE ] command [ params ]

Lines are handled *without* their CRLF; splitting a byte stream into lines, the length limits and
decoding live in `hubbub.protocol.framing`.

`parse` sits on the hot path (every line every client sends), so it is written with
`str.partition`/`str.split`/`str.find`, which run in C, and it only looks at tags when the line
starts with '@'. It raises `ProtocolError` and nothing else, whatever the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Message",
    "ProtocolError",
    "client_only_tags",
    "escape_tag_value",
    "format_tags",
    "parse",
    "unescape_tag_value",
]


class ProtocolError(ValueError):
    """A line a peer sent cannot be understood as an IRC message."""


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message: optional tags and source, a command, and its parameters.

    `tags` maps each key to its *unescaped* value; a tag sent without a value has value "".
    The dict is excluded from `hash()` (a dict is unhashable) but takes part in `==`.
    Parameters are stored without the ':' that marks a trailing parameter on the wire.
    """

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def nick(self) -> str | None:
        """The nickname part of `source` (all of it for a server name), or None."""
        source = self.source
        if source is None:
            return None
        # partition twice rather than a regex: a source is "nick", "nick!user@host" or
        # "nick@host", and a server name has neither separator.
        return source.partition("!")[0].partition("@")[0]

    def format(self) -> str:
        """The wire form of this message, without CRLF.

        Raises ValueError when the message cannot be written faithfully: a middle parameter
        that is empty, holds a space or starts with ':'; a bad command, source or tag key; or
        a CR, LF or NUL anywhere (that would let one message smuggle in another).
        """
        parts: list[str] = []
        if self.tags:
            parts.append("@" + format_tags(self.tags))
        source = self.source
        if source is not None:
            if not source or " " in source:
                raise ValueError(f"source {source!r} is empty or contains a space")
            parts.append(":" + source)
        command = self.command
        if not _is_command(command):
            raise ValueError(f"command {command!r} is neither letters nor a 3-digit numeric")
        parts.append(command)
        params = self.params
        if params:
            last = len(params) - 1
            for i, param in enumerate(params):
                if not param or " " in param or param[0] == ":":
                    if i != last:
                        raise ValueError(
                            f"middle parameter {param!r} is empty, contains a space or "
                            "starts with ':'; only the last parameter may"
                        )
                    parts.append(":" + param)
                else:
                    parts.append(param)
        line = " ".join(parts)
        if "\r" in line or "\n" in line or "\0" in line:
            raise ValueError(f"message contains CR, LF or NUL: {line!r}")
        return line


def _is_command(command: str) -> bool:
    # isalpha()/isdigit() accept non-ASCII letters and digits, hence the isascii() guard.
    return command.isascii() and (command.isalpha() or (len(command) == 3 and command.isdigit()))


def parse(line: str) -> Message:
    """Parse one line (without its CRLF; a trailing CR/LF is tolerated and stripped).

    Parameters are separated by one or more spaces (as RFC 1459 allows and real servers
    send); a parameter starting with ':' is the trailing one and runs to the end of the line.
    The command is returned uppercased. Raises ProtocolError for anything malformed, including
    a CR, LF or NUL inside the line, which no IRC message may carry.
    """
    if line.endswith("\n"):
        line = line[:-2] if line.endswith("\r\n") else line[:-1]
    elif line.endswith("\r"):
        line = line[:-1]
    if "\r" in line or "\n" in line or "\0" in line:
        raise ProtocolError("line contains CR, LF or NUL")

    tags: dict[str, str]
    if line.startswith("@"):
        raw_tags, sep, rest = line.partition(" ")
        if not sep:
            raise ProtocolError("line has tags but no command")
        tags = _parse_tags(raw_tags[1:])
        rest = rest.lstrip(" ")
    else:
        tags = {}
        rest = line

    source: str | None = None
    if rest.startswith(":"):
        raw_source, sep, rest = rest.partition(" ")
        if not sep:
            raise ProtocolError("line has a source but no command")
        source = raw_source[1:]
        if not source:
            raise ProtocolError("empty source after ':'")
        rest = rest.lstrip(" ")

    # Tags and source are gone, so the first " :" marks the trailing parameter; a ':' inside
    # a middle word is ordinary text, and a leading ':' here is a malformed command.
    head, sep, trailing = rest.partition(" :")
    words = head.split(" ")
    if "" in words:
        # Runs of spaces between words, and spaces at the end, do not make empty params.
        words = [w for w in words if w]
    if not words:
        raise ProtocolError("line has no command")
    command = words[0]
    if not _is_command(command):
        raise ProtocolError(f"invalid command {command!r}: must be letters or 3 digits")
    params = words[1:]
    if sep:
        params.append(trailing)
    return Message(command.upper(), tuple(params), source, tags)


def _parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if not key:
            # "@;a" or "@=x": nothing to name; skipping is kinder than refusing the line.
            continue
        # Assignment in order makes a later duplicate win, as IRCv3 asks.
        tags[key] = unescape_tag_value(value) if "\\" in value else value
    return tags


_ESCAPE_TABLE = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})
_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_BAD_KEY_CHARS = frozenset("=; \r\n\0")
# IRCv3 message tags: <key> ::= [ '+' ] [ <vendor> '/' ] <key_name>, a key_name being ASCII
# letters, digits and hyphens, a vendor a host name; here with the client prefix required.
_CLIENT_ONLY_KEY = re.compile(r"\+(?:[A-Za-z0-9.\-]+/)?[A-Za-z0-9\-]+")


def client_only_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The client-only tags (`+` keys) among a message's tags that a server may relay: those
    whose key follows IRCv3's grammar. The parser keeps any key that does not break framing;
    relayed as it came, a key such as `+0.0` reached every receiver, whose parser may refuse the
    whole line (a fuzz finding)."""
    fullmatch = _CLIENT_ONLY_KEY.fullmatch
    return {key: value for key, value in tags.items() if key[:1] == "+" and fullmatch(key)}


def escape_tag_value(value: str) -> str:
    """Escape a tag value for the wire (IRCv3: `;` space `\\` CR LF)."""
    return value.translate(_ESCAPE_TABLE)


def unescape_tag_value(value: str) -> str:
    r"""Undo `escape_tag_value`, with IRCv3's rules for sloppy input.

    A backslash before any other character is dropped (`\b` → `b`), and a lone backslash at the
    end is dropped. Scanning is left to right, so `\\n` is a backslash then `n`.
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    pos = 0
    end = len(value)
    while True:
        slash = value.find("\\", pos)
        if slash < 0:
            out.append(value[pos:])
            break
        out.append(value[pos:slash])
        if slash + 1 == end:
            break
        char = value[slash + 1]
        out.append(_UNESCAPES.get(char, char))
        pos = slash + 2
    return "".join(out)


def format_tags(tags: Mapping[str, str]) -> str:
    """The tag section without its leading '@' and trailing space; empty values as bare keys.

    Raises ValueError for a key that is empty or holds a character that would break framing.
    """
    items: list[str] = []
    for key, value in tags.items():
        if not key or not _BAD_KEY_CHARS.isdisjoint(key):
            raise ValueError(f"invalid tag key {key!r}")
        items.append(f"{key}={escape_tag_value(value)}" if value else key)
    return ";".join(items)
