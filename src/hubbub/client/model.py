"""The client's data: windows, lines, members, and the events `ClientState` reports.

Plain values only; `hubbub.client.state` changes them, front ends read them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "CHAT_KINDS",
    "Buffer",
    "BufferKind",
    "BuffersChanged",
    "Disconnected",
    "Event",
    "Fatal",
    "Joined",
    "Kind",
    "Line",
    "LinesAdded",
    "LinesChanged",
    "Member",
    "MembersChanged",
    "Registered",
    "SwitchTo",
    "TopicChanged",
    "TypingChanged",
]


class Kind(enum.StrEnum):
    """What a line in a window is, which decides how it is drawn."""

    MESSAGE = "message"
    ACTION = "action"
    NOTICE = "notice"
    JOIN = "join"
    PART = "part"
    QUIT = "quit"
    KICK = "kick"
    NICK = "nick"
    TOPIC = "topic"
    MODE = "mode"
    INFO = "info"
    ERROR = "error"
    SEPARATOR = "separator"
    """Marks the start of a block of history."""


CHAT_KINDS = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.NOTICE})


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a window. `time_ms` is the server's time when it sent one."""

    time_ms: int
    kind: Kind
    text: str
    nick: str = ""
    msgid: str | None = None
    history: bool = False
    mention: bool = False
    own: bool = False
    edited: bool = False
    """The author changed the text after sending it (draft/message-edit)."""


class BufferKind(enum.Enum):
    SERVER = "server"
    CHANNEL = "channel"
    QUERY = "query"


@dataclass(slots=True)
class Member:
    nick: str
    prefixes: str = ""
    """Membership prefixes held, highest first (`@+` with multi-prefix)."""
    away: bool = False
    bot: bool = False
    """Marked as a bot (WHO flag `B`, or the `bot` tag on its messages)."""

    @property
    def prefix(self) -> str:
        return self.prefixes[:1]


@dataclass(eq=False, slots=True)
class Buffer:
    """A window: the server, a channel, or a private conversation."""

    name: str
    kind: BufferKind
    lines: list[Line] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    topic: str = ""
    unread: int = 0
    mentions: int = 0
    joined: bool = False
    wanted: bool = False
    last_msgid: str | None = None
    last_time_ms: int = 0
    read_ms: int = 0
    """The read marker (draft/read-marker): chat lines up to this time were read."""
    typing: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """Casefolded nick → (nick, `active` or `paused`, when we heard it), from `+typing`."""


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinesAdded:
    """`lines` were added to the window `buffer` (a key of `ClientState.buffers`).

    `appended` is False when they went in before existing lines (older history arrived after
    newer lines): a front end that keeps a rendered copy of the window must redraw it.
    """

    buffer: str
    lines: tuple[Line, ...]
    appended: bool = True


@dataclass(frozen=True, slots=True)
class BuffersChanged:
    """Windows were opened, closed or renamed, or their unread counts changed."""


@dataclass(frozen=True, slots=True)
class LinesChanged:
    """A line already shown in window `buffer` changed (an edit): redraw it if shown.
    `line` is the line as it is now."""

    buffer: str
    line: Line


@dataclass(frozen=True, slots=True)
class TypingChanged:
    """Who is typing in window `buffer` changed."""

    buffer: str


@dataclass(frozen=True, slots=True)
class MembersChanged:
    buffer: str


@dataclass(frozen=True, slots=True)
class TopicChanged:
    buffer: str


@dataclass(frozen=True, slots=True)
class SwitchTo:
    """The user asked for this window (/join, /query): show it."""

    buffer: str


@dataclass(frozen=True, slots=True)
class Joined:
    """The server confirmed that we are in the channel `buffer`."""

    buffer: str


@dataclass(frozen=True, slots=True)
class Registered:
    nick: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Fatal:
    """Connecting again would not help (bad password, no usable nick): give up."""

    reason: str


Event = (
    LinesAdded
    | LinesChanged
    | TypingChanged
    | BuffersChanged
    | MembersChanged
    | TopicChanged
    | SwitchTo
    | Joined
    | Registered
    | Disconnected
    | Fatal
)
