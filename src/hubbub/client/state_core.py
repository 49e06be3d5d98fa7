"""What every part of `ClientState` stands on: its fields, names, windows and outgoing queue.

`StateCore` holds everything the client knows (set up in one constructor, so the whole state
can be read in one place) and the plumbing the handlers share: casefolding and channel names,
finding or opening a window, adding lines to one (with unread and mention counts), switching
and closing windows, and queueing IRC lines. The handlers themselves live in the other
`state_*` modules; `hubbub.client.state` puts them together.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from hubbub.client.model import (
    CHAT_KINDS,
    Buffer,
    BufferKind,
    BuffersChanged,
    Event,
    Kind,
    Line,
    LinesAdded,
    Member,
    SwitchTo,
    TopicChanged,
)
from hubbub.protocol import Casemapping, Message
from hubbub.protocol.servertime import parse_server_time

if TYPE_CHECKING:  # only for the annotation of `_batches`; state_history imports this module
    from hubbub.client.state_history import Batch

__all__ = ["MAX_LINES", "MODERN_CAPS", "SERVER", "WANTED_CAPS", "StateCore", "strip_formatting"]

SERVER = "*"
"""The key of the server window (no channel or nick can be called `*`)."""

WANTED_CAPS = (
    "batch",
    "server-time",
    "message-tags",
    "echo-message",
    "draft/chathistory",
    "multi-prefix",
    "away-notify",
    "draft/read-marker",
    "draft/multiline",
    "draft/message-edit",
)
"""IRCv3 capabilities the client uses, requested when (and only when) the server offers them."""
MODERN_CAPS = ("draft/read-marker", "draft/multiline", "draft/message-edit")
"""The drafts among them (read markers, multiline messages, edits)."""

MAX_LINES = 5000  # per window; older lines are forgotten

_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def strip_formatting(text: str) -> str:
    """Text without mIRC colour and formatting codes."""
    return _FORMATTING.sub("", text) if any(c < " " for c in text) else text


class StateCore:
    """The client's fields and the helpers its handlers share; see the module docstring."""

    def __init__(
        self,
        nick: str,
        rooms: Iterable[str] = (),
        *,
        user: str | None = None,
        realname: str = "hubbub chat",
        password: str | None = None,
        wanted_caps: Sequence[str] = WANTED_CAPS,
    ) -> None:
        self.nick = nick
        self.wanted_nick = nick
        self.user = user or nick
        self.realname = realname
        self.password = password
        self.wanted_caps = tuple(wanted_caps)
        self.casemap = Casemapping.RFC1459
        self.isupport: dict[str, str] = {}
        self.caps: set[str] = set()
        self.offered_caps: set[str] = set()
        self.cap_values: dict[str, str] = {}
        """The values the server gave its capabilities in CAP LS 302 (`draft/multiline`'s
        limits)."""
        self.registered = False
        self.connected_now = False
        self.awaiting_echo = 0
        """Messages sent with echo-message on whose echo has not come back yet."""
        self.source: str | None = None
        """Our own nick!user@host, once the server has shown it (for line-length budgets)."""
        self.buffers: dict[str, Buffer] = {SERVER: Buffer("server", BufferKind.SERVER)}
        self.active = SERVER
        self._outgoing: list[str] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._batches: dict[str, Batch] = {}
        self._ls_caps: list[str] = []
        self._names: dict[str, dict[str, Member]] = {}
        self._nick_attempt = 0
        self._regain: str | None = None
        """The nick we wait for (MONITOR) to take back: ours, taken when we registered."""
        self._switch_on_join: set[str] = set()
        self._closing: set[str] = set()
        self._names_requested: set[str] = set()
        self._history_requests: dict[str, str] = {}
        self._catch_up_since: dict[str, int] = {}
        """Window key → the time of the last line seen, while a CHATHISTORY AFTER its msgid is
        out (an empty answer is asked again by time: the server may not know that msgid)."""
        self._prefix_modes = "ov"
        self._prefix_chars = "@+"
        self._chantypes = "#&"
        self._statusmsg = ""
        self._chanmodes = ("beI", "k", "l", "")
        self._error: str | None = None
        self._markers_refused = False
        self._marker_due: set[str] = set()
        """Windows whose read marker should move at the next tick (lines arrived in view)."""
        self._typing_sent: dict[str, tuple[str, int, int]] = {}
        """Window key → (typing state we sent, when we sent it, when the user last typed)."""
        self._who_requested: set[str] = set()
        self._batch_number = 0
        first: str | None = None
        for room in rooms:
            key = self._want_channel(self._channel_name(room))
            first = first or key
        if first is not None:
            self.active = first

    # -- names ------------------------------------------------------------------------------

    def fold(self, name: str) -> str:
        return self.casemap.fold(name)

    def is_channel(self, name: str) -> bool:
        return bool(name) and name[0] in self._chantypes

    def is_me(self, nick: str | None) -> bool:
        return nick is not None and self.fold(nick) == self.fold(self.nick)

    def ordered(self) -> list[str]:
        """Window keys in display order: the server, then channels, then conversations."""
        rank = {BufferKind.SERVER: 0, BufferKind.CHANNEL: 1, BufferKind.QUERY: 2}
        return sorted(self.buffers, key=lambda key: rank[self.buffers[key].kind])

    def members(self, key: str) -> list[Member]:
        """The window's members, highest prefix first, then by name."""
        buffer = self.buffers.get(key)
        if buffer is None:
            return []
        ranks = self._prefix_chars

        def order(member: Member) -> tuple[int, str]:
            rank = ranks.find(member.prefix) if member.prefix else len(ranks)
            return (rank, self.fold(member.nick))

        return sorted(buffer.members.values(), key=order)

    def _channel_name(self, name: str) -> str:
        return name if self.is_channel(name) else "#" + name

    def _want_channel(self, name: str) -> str:
        key = self.fold(name)
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = Buffer(name, BufferKind.CHANNEL)
        buffer.wanted = True
        return key

    def _buffer(self, name: str, events: list[Event]) -> tuple[str, Buffer]:
        key = self.fold(name)
        buffer = self.buffers.get(key)
        if buffer is None:
            kind = BufferKind.CHANNEL if self.is_channel(name) else BufferKind.QUERY
            buffer = self.buffers[key] = Buffer(name, kind)
            events.append(BuffersChanged())
        return key, buffer

    def _time(self, msg: Message, now_ms: int) -> int:
        """When the server says `msg` was sent (server-time), else now."""
        stamp = msg.tags.get("time")
        if stamp:
            parsed = parse_server_time(stamp)
            if parsed is not None:
                return parsed
        return now_ms

    # -- output -----------------------------------------------------------------------------

    def send(self, line: str) -> None:
        """Queue one raw line for the server."""
        self._outgoing.append(line)

    def take_outgoing(self) -> list[str]:
        """The lines queued for the server since the last call."""
        out, self._outgoing = self._outgoing, []
        return out

    def _send(self, command: str, *params: str, tags: dict[str, str] | None = None) -> None:
        self._outgoing.append(Message(command, params, tags=tags or {}).format())

    # -- windows ----------------------------------------------------------------------------

    def switch(self, key: str) -> list[Event]:
        """Make `key` the active window; its unread counts are cleared."""
        if key not in self.buffers:
            return []
        self.active = key
        buffer = self.buffers[key]
        buffer.unread = buffer.mentions = 0
        return [BuffersChanged()]

    def switch_relative(self, step: int) -> list[Event]:
        order = self.ordered()
        here = order.index(self.active) if self.active in order else 0
        return self.switch(order[(here + step) % len(order)])

    def info(self, key: str | None, text: str, now_ms: int, kind: Kind = Kind.INFO) -> list[Event]:
        """Add a local line (help, an error) to window `key` (None: the active one)."""
        events: list[Event] = []
        self._note(key, text, now_ms, events, kind)
        return events

    def _note(
        self, key: str | None, text: str, now_ms: int, events: list[Event], kind: Kind = Kind.INFO
    ) -> None:
        """`info` for the handlers: a local line in window `key`, or the active one if none."""
        self._add(key if key in self.buffers else self.active, [Line(now_ms, kind, text)], events)

    def _server_info(
        self, text: str, now_ms: int, events: list[Event], kind: Kind = Kind.INFO
    ) -> None:
        self._note(SERVER, text, now_ms, events, kind)

    def _error_line(self, text: str, now_ms: int, events: list[Event]) -> None:
        """Tell the user, in the window they are looking at, what went wrong."""
        self._note(None, text, now_ms, events, Kind.ERROR)

    def _add(self, key: str, lines: list[Line], events: list[Event]) -> None:
        if not lines:
            return
        buffer = self.buffers[key]
        buffer.lines.extend(lines)
        if len(buffer.lines) > MAX_LINES:
            del buffer.lines[: len(buffer.lines) - MAX_LINES]
        events.append(LinesAdded(key, tuple(lines)))
        if key != self.active:
            counted = [ln for ln in lines if ln.kind in CHAT_KINDS and not ln.history]
            if counted:
                buffer.unread += len(counted)
                private = buffer.kind is BufferKind.QUERY
                buffer.mentions += sum(1 for ln in counted if ln.mention or private)
                events.append(BuffersChanged())

    def _show(self, key: str, events: list[Event]) -> None:
        """Switch to `key` and tell the front end to show it (the user asked for it)."""
        events += self.switch(key)
        events.append(SwitchTo(key))

    def _close(self, key: str, events: list[Event]) -> None:
        self._closing.discard(key)
        if key == SERVER or key not in self.buffers:
            return
        order = self.ordered()
        del self.buffers[key]
        if self.active == key:
            here = order.index(key)
            remaining = [k for k in order if k != key]
            self._show(remaining[max(0, here - 1)], events)
        events.append(BuffersChanged())

    def _set_topic(self, channel: str, topic: str, events: list[Event]) -> tuple[str, Buffer]:
        """Record `channel`'s topic (TOPIC or a 332/331 reply); the caller adds its own line."""
        key, buffer = self._buffer(channel, events)
        buffer.topic = strip_formatting(topic)
        events.append(TopicChanged(key))
        return key, buffer
