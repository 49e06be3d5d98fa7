"""The client's view of an IRC network, as a pure state machine (sans-IO).

`ClientState` is driven by three kinds of input and never touches a socket, a clock or a
terminal:

* `connected(now)` / `disconnected(reason, now)` — the transport's news;
* `receive(message, now)` — one parsed line from the server;
* `perform(action, now)` — something the user asked for (`hubbub.client.commands`).

Each call returns a list of `Event`s for the front end to render (lines added to a window, a
member list or topic that changed, …), and queues IRC lines for the server, which the
transport collects with `take_outgoing()`. Front ends read the rest (`buffers`, `active`,
`nick`) directly, between calls.

Theory of operation
-------------------
*Registration.* `connected` queues `CAP LS 302`, `NICK` and `USER` (and `PASS`). From the
capabilities the server offers we request the ones in `WANTED_CAPS` it has, then `CAP END`;
a server without CAP just registers us, and every feature below degrades: without
`echo-message` our own lines are shown as we send them, without `server-time` lines get the
local time, without `batch` the server's join replay is shown as the plain lines it sends. A
433 before registration moves to `nick_`, `nick__`, … and says so.

*Windows ("buffers").* One for the server, one per channel, one per private conversation,
keyed by the casefolded name (`CASEMAPPING` from ISUPPORT). Channels we want to be in are
`wanted`: they are re-joined after every (re)connection.

*History.* Lines inside a `chathistory` batch are collected until the batch ends, then inserted
as one block, in time order, behind a separator line and marked `history` (the UI dims them).
With `draft/chathistory` the server sends nothing by itself on join, so after our own JOIN we
ask: `CHATHISTORY LATEST #room * 50` the first time, `CHATHISTORY AFTER #room msgid=<last> 100`
after a reconnection (or `timestamp=` when the server gave no msgids). `/history N` asks for
`BEFORE` the oldest line shown.

*No duplicates.* Every msgid seen (live or history) is remembered (bounded, oldest forgotten
first); a line whose msgid was seen is dropped. That is what makes a replay after a reconnect,
or an overlap between a live line and a history page, invisible to the user.

*Unread and mentions.* Live messages in windows other than the active one count as unread;
those that name our nick (as a word, casefolded) or arrive in a private window count as
mentions. History never counts.
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubbub.client import commands as cmd
from hubbub.client.model import (
    CHAT_KINDS,
    Buffer,
    BufferKind,
    BuffersChanged,
    Disconnected,
    Event,
    Fatal,
    Joined,
    Kind,
    Line,
    LinesAdded,
    Member,
    MembersChanged,
    Registered,
    SwitchTo,
    TopicChanged,
)
from hubbub.protocol import Casemapping, Message
from hubbub.protocol import numerics as num
from hubbub.protocol.servertime import format_server_time, parse_server_time

__all__ = ["SERVER", "WANTED_CAPS", "ClientState", "strip_formatting"]

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
)
"""IRCv3 capabilities the client uses, requested when (and only when) the server offers them."""

HISTORY_BATCHES = frozenset({"chathistory", "draft/chathistory"})
MAX_LINES = 5000  # per window; older lines are forgotten
MAX_SEEN_MSGIDS = 50_000
MAX_NICK_ATTEMPTS = 6
MAX_PIECES = 8  # a long message is split into at most this many lines
LINE_LIMIT = 512  # bytes a relayed line may have, CRLF included
HOST_GUESS = 63  # bytes assumed for our host name until the server shows us our source
LATEST_ON_JOIN = 50
AFTER_ON_REJOIN = 100

_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_NICK_CHARS = r"A-Za-z0-9_\-\[\]\\^{}|`"


@dataclass(slots=True)
class _Batch:
    kind: str
    params: tuple[str, ...]
    messages: list[Message] = field(default_factory=list)


def strip_formatting(text: str) -> str:
    """Text without mIRC colour and formatting codes."""
    return _FORMATTING.sub("", text) if any(c < " " for c in text) else text


class ClientState:
    """Everything the client knows about its connection; see the module docstring."""

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
        self._batches: dict[str, _Batch] = {}
        self._ls_caps: list[str] = []
        self._names: dict[str, dict[str, Member]] = {}
        self._nick_attempt = 0
        self._switch_on_join: set[str] = set()
        self._closing: set[str] = set()
        self._names_requested: set[str] = set()
        self._history_requests: dict[str, str] = {}
        self._prefix_modes = "ov"
        self._prefix_chars = "@+"
        self._chantypes = "#&"
        self._statusmsg = ""
        self._chanmodes = ("beI", "k", "l", "")
        self._error: str | None = None
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

    @property
    def history_supported(self) -> bool:
        return "draft/chathistory" in self.caps

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

    # -- output -----------------------------------------------------------------------------

    def send(self, line: str) -> None:
        """Queue one raw line for the server."""
        self._outgoing.append(line)

    def take_outgoing(self) -> list[str]:
        """The lines queued for the server since the last call."""
        out, self._outgoing = self._outgoing, []
        return out

    def _send(self, command: str, *params: str) -> None:
        self._outgoing.append(Message(command, params).format())

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
        self._add(key if key in self.buffers else self.active, [Line(now_ms, kind, text)], events)
        return events

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

    def _server_info(
        self, text: str, now_ms: int, events: list[Event], kind: Kind = Kind.INFO
    ) -> None:
        self._add(SERVER, [Line(now_ms, kind, text)], events)

    def _seen_before(self, msgid: str | None) -> bool:
        """Whether `msgid` was already shown; remembers it otherwise."""
        if not msgid:
            return False
        if msgid in self._seen:
            return True
        self._seen[msgid] = None
        if len(self._seen) > MAX_SEEN_MSGIDS:
            self._seen.popitem(last=False)
        return False

    def _track_last(self, buffer: Buffer, line: Line) -> None:
        if line.time_ms >= buffer.last_time_ms:
            buffer.last_time_ms = line.time_ms
            if line.msgid:
                buffer.last_msgid = line.msgid

    # -- connection lifecycle ---------------------------------------------------------------

    def connected(self, now_ms: int) -> list[Event]:
        """A new connection is open: queue registration."""
        self.connected_now = True
        self.registered = False
        self.caps.clear()
        self.offered_caps.clear()
        self._ls_caps = []
        self._batches.clear()
        self._names.clear()
        self._nick_attempt = 0
        self._error = None
        self.awaiting_echo = 0
        self.nick = self.wanted_nick
        if self.password:
            self._send("PASS", self.password)
        self._send("CAP", "LS", "302")
        self._send("NICK", self.nick)
        self._send("USER", self.user, "0", "*", self.realname)
        return []

    def disconnected(self, reason: str, now_ms: int) -> list[Event]:
        """The connection is gone: channels are left (but still wanted), members forgotten."""
        if self._error:
            reason = f"{reason} ({self._error})"
        was = self.registered or self.connected_now
        self.connected_now = False
        self.registered = False
        self._outgoing.clear()
        self._batches.clear()
        events: list[Event] = []
        if not was:
            return events
        line = Line(now_ms, Kind.ERROR, f"disconnected: {reason}")
        for key, buffer in self.buffers.items():
            if buffer.kind is BufferKind.CHANNEL and buffer.joined:
                buffer.joined = False
                buffer.members.clear()
                events.append(MembersChanged(key))
                self._add(key, [line], events)
        self._add(SERVER, [line], events)
        events.append(Disconnected(reason))
        return events

    # -- incoming ---------------------------------------------------------------------------

    def receive(self, msg: Message, now_ms: int) -> list[Event]:
        """Take one line from the server."""
        events: list[Event] = []
        ref = msg.tags.get("batch")
        if ref is not None and msg.command != "BATCH":
            batch = self._batches.get(ref)
            if batch is not None and batch.kind in HISTORY_BATCHES:
                batch.messages.append(msg)
                return events
        handler = _HANDLERS.get(msg.command)
        if handler is not None:
            handler(self, msg, now_ms, events)
        elif msg.command.isdigit():
            self._numeric(msg, now_ms, events)
        return events

    def _time(self, msg: Message, now_ms: int) -> int:
        stamp = msg.tags.get("time")
        if stamp:
            parsed = parse_server_time(stamp)
            if parsed is not None:
                return parsed
        return now_ms

    def _on_ping(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        self._send("PONG", *(msg.params[:1] or ("hubbub",)))

    def _on_error(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        self._error = msg.params[0] if msg.params else "closing link"
        self._server_info(f"server: {self._error}", now_ms, events, Kind.ERROR)

    def _on_cap(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 3:
            return
        sub = msg.params[1].upper()
        if sub == "LS":
            more = len(msg.params) > 3 and msg.params[2] == "*"
            self._ls_caps += msg.params[-1].split()
            if more:
                return
            self.offered_caps = {c.partition("=")[0] for c in self._ls_caps}
            self._ls_caps = []
            wanted = [c for c in self.wanted_caps if c in self.offered_caps]
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
            elif not self.registered:
                self._send("CAP", "END")
        elif sub == "ACK":
            for cap in msg.params[-1].split():
                if cap.startswith("-"):
                    self.caps.discard(cap[1:])
                else:
                    self.caps.add(cap)
            if not self.registered:
                self._send("CAP", "END")
        elif sub == "NAK":
            if not self.registered:
                self._send("CAP", "END")
        elif sub == "NEW":
            new = {c.partition("=")[0] for c in msg.params[-1].split()}
            self.offered_caps |= new
            wanted = [c for c in self.wanted_caps if c in new and c not in self.caps]
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
        elif sub == "DEL":
            for cap in msg.params[-1].split():
                self.caps.discard(cap.partition("=")[0])
                self.offered_caps.discard(cap.partition("=")[0])

    def _on_batch(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if not msg.params:
            return
        ref = msg.params[0]
        if ref.startswith("+") and len(msg.params) >= 2:
            self._batches[ref[1:]] = _Batch(msg.params[1], msg.params[2:])
        elif ref.startswith("-"):
            batch = self._batches.pop(ref[1:], None)
            if batch is not None and batch.kind in HISTORY_BATCHES and batch.params:
                self._history_block(batch.params[0], batch.messages, now_ms, events)

    def _history_block(
        self, target: str, messages: list[Message], now_ms: int, events: list[Event]
    ) -> None:
        key, buffer = self._buffer(target, events)
        request = self._history_requests.pop(key, "")
        lines: list[Line] = []
        for msg in messages:
            if msg.command not in ("PRIVMSG", "NOTICE") or len(msg.params) < 2:
                continue
            line = self._chat_line(msg, now_ms, history=True)
            if line is not None and not self._seen_before(line.msgid):
                lines.append(line)
        if not lines:
            if request == "before":
                self._add(key, [Line(now_ms, Kind.INFO, "no earlier messages")], events)
            return
        lines.sort(key=lambda ln: ln.time_ms)
        for line in lines:
            self._track_last(buffer, line)
        label = "missed while disconnected" if request == "after" else "history"
        count = f"{len(lines)} message{'s' if len(lines) != 1 else ''}"
        block = [Line(lines[0].time_ms, Kind.SEPARATOR, f"{label}: {count}", history=True), *lines]
        at = bisect.bisect_right(buffer.lines, lines[0].time_ms, key=lambda ln: ln.time_ms)
        if at == len(buffer.lines):
            self._add(key, block, events)
        else:
            buffer.lines[at:at] = block
            events.append(LinesAdded(key, tuple(block), appended=False))

    def _chat_line(self, msg: Message, now_ms: int, *, history: bool = False) -> Line | None:
        text = msg.params[-1]
        kind = Kind.NOTICE if msg.command == "NOTICE" else Kind.MESSAGE
        if text.startswith("\x01"):
            ctcp = text.strip("\x01")
            name, _, rest = ctcp.partition(" ")
            if name.upper() != "ACTION" or msg.command != "PRIVMSG":
                return None  # other CTCP requests and replies are not shown
            kind, text = Kind.ACTION, rest
        nick = msg.nick or ""
        own = self.is_me(nick)
        text = strip_formatting(text)
        mention = not own and self._mentions_me(text)
        msgid = msg.tags.get("msgid") or None
        return Line(self._time(msg, now_ms), kind, text, nick, msgid, history, mention, own)

    def _mentions_me(self, text: str) -> bool:
        nick = re.escape(self.fold(self.nick))
        pattern = rf"(?<![{_NICK_CHARS}]){nick}(?![{_NICK_CHARS}])"
        return re.search(pattern, self.fold(text)) is not None

    def _message_window(self, msg: Message) -> str | None:
        """The window name a PRIVMSG/NOTICE belongs in, or None for the server window."""
        target = msg.params[0]
        bare = target.lstrip(self._statusmsg) if self._statusmsg else target
        if self.is_channel(bare):
            return bare
        source = msg.source
        if source is None or target == "*" or ("!" not in source and "." in source):
            return None
        if not self.registered:
            return None
        return target if self.is_me(msg.nick) else msg.nick

    def _on_message(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 2:
            return
        line = self._chat_line(msg, now_ms)
        if line is None or self._seen_before(line.msgid):
            return
        if line.own and self.awaiting_echo > 0:
            self.awaiting_echo -= 1
        window = self._message_window(msg)
        if window is None:
            self._add(SERVER, [line], events)
            return
        key, buffer = self._buffer(window, events)
        self._track_last(buffer, line)
        self._add(key, [line], events)

    def _on_join(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if not msg.params or msg.nick is None:
            return
        channel = msg.params[0]
        key, buffer = self._buffer(channel, events)
        time_ms = self._time(msg, now_ms)
        if self.is_me(msg.nick):
            self.source = msg.source
            buffer.name = channel
            buffer.joined = buffer.wanted = True
            buffer.members.clear()
            self._add(key, [Line(time_ms, Kind.JOIN, f"you joined {channel}", msg.nick)], events)
            events.append(Joined(key))
            events.append(BuffersChanged())
            if key in self._switch_on_join:
                self._switch_on_join.discard(key)
                events += self.switch(key)
                events.append(SwitchTo(key))
            self._request_join_history(key, buffer)
        else:
            buffer.members[self.fold(msg.nick)] = Member(msg.nick)
            events.append(MembersChanged(key))
            self._add(
                key, [Line(time_ms, Kind.JOIN, f"{msg.nick} joined {channel}", msg.nick)], events
            )

    def _request_join_history(self, key: str, buffer: Buffer) -> None:
        if not self.history_supported:
            return
        limit = self._history_limit(AFTER_ON_REJOIN)
        if buffer.last_msgid:
            self._history_requests[key] = "after"
            self._send(
                "CHATHISTORY", "AFTER", buffer.name, f"msgid={buffer.last_msgid}", str(limit)
            )
        elif buffer.last_time_ms:
            self._history_requests[key] = "after"
            stamp = format_server_time(buffer.last_time_ms)
            self._send("CHATHISTORY", "AFTER", buffer.name, f"timestamp={stamp}", str(limit))
        else:
            self._history_requests[key] = "latest"
            limit = self._history_limit(LATEST_ON_JOIN)
            self._send("CHATHISTORY", "LATEST", buffer.name, "*", str(limit))

    def _history_limit(self, wanted: int) -> int:
        advertised = self.isupport.get("CHATHISTORY", "")
        if advertised.isdigit() and int(advertised) > 0:
            return min(wanted, int(advertised))
        return wanted

    def _on_part(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if not msg.params or msg.nick is None:
            return
        key = self.fold(msg.params[0])
        buffer = self.buffers.get(key)
        if buffer is None:
            return
        reason = f" ({msg.params[1]})" if len(msg.params) > 1 and msg.params[1] else ""
        time_ms = self._time(msg, now_ms)
        if self.is_me(msg.nick):
            buffer.joined = buffer.wanted = False
            buffer.members.clear()
            if key in self._closing:
                self._close(key, events)
                return
            self._add(
                key, [Line(time_ms, Kind.PART, f"you left {buffer.name}{reason}", msg.nick)], events
            )
            events.append(MembersChanged(key))
        elif buffer.members.pop(self.fold(msg.nick), None) is not None:
            events.append(MembersChanged(key))
            text = f"{msg.nick} left {buffer.name}{reason}"
            self._add(key, [Line(time_ms, Kind.PART, text, msg.nick)], events)

    def _close(self, key: str, events: list[Event]) -> None:
        self._closing.discard(key)
        if key == SERVER or key not in self.buffers:
            return
        order = self.ordered()
        del self.buffers[key]
        if self.active == key:
            here = order.index(key)
            remaining = [k for k in order if k != key]
            events += self.switch(remaining[max(0, here - 1)])
            events.append(SwitchTo(self.active))
        events.append(BuffersChanged())

    def _on_quit(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if msg.nick is None or self.is_me(msg.nick):
            return
        folded = self.fold(msg.nick)
        reason = f" ({msg.params[0]})" if msg.params and msg.params[0] else ""
        line = Line(self._time(msg, now_ms), Kind.QUIT, f"{msg.nick} quit{reason}", msg.nick)
        for key, buffer in self.buffers.items():
            if buffer.members.pop(folded, None) is not None:
                events.append(MembersChanged(key))
                self._add(key, [line], events)
            elif buffer.kind is BufferKind.QUERY and key == folded:
                self._add(key, [line], events)

    def _on_kick(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 2:
            return
        key = self.fold(msg.params[0])
        buffer = self.buffers.get(key)
        if buffer is None:
            return
        victim = msg.params[1]
        reason = f" ({msg.params[2]})" if len(msg.params) > 2 and msg.params[2] else ""
        by = msg.nick or "the server"
        time_ms = self._time(msg, now_ms)
        if self.is_me(victim):
            buffer.joined = buffer.wanted = False
            buffer.members.clear()
            text = f"you were kicked from {buffer.name} by {by}{reason}"
        else:
            buffer.members.pop(self.fold(victim), None)
            text = f"{victim} was kicked by {by}{reason}"
        events.append(MembersChanged(key))
        self._add(key, [Line(time_ms, Kind.KICK, text, victim)], events)

    def _on_nick(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if not msg.params or msg.nick is None:
            return
        old, new = msg.nick, msg.params[0]
        old_key, new_key = self.fold(old), self.fold(new)
        time_ms = self._time(msg, now_ms)
        if self.is_me(old):
            self.nick = self.wanted_nick = new
            if self.source:
                self.source = new + self.source[len(old) :]
            line = Line(time_ms, Kind.NICK, f"you are now known as {new}", new)
            self._server_info(line.text, time_ms, events, Kind.NICK)
        else:
            line = Line(time_ms, Kind.NICK, f"{old} is now known as {new}", new)
        for key, buffer in list(self.buffers.items()):
            member = buffer.members.pop(old_key, None)
            if member is not None:
                member.nick = new
                buffer.members[new_key] = member
                events.append(MembersChanged(key))
                self._add(key, [line], events)
            elif buffer.kind is BufferKind.QUERY and key == old_key and new_key not in self.buffers:
                del self.buffers[key]
                buffer.name = new
                self.buffers[new_key] = buffer
                if self.active == old_key:
                    self.active = new_key
                events.append(BuffersChanged())
                self._add(new_key, [line], events)

    def _on_topic(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 2:
            return
        key, buffer = self._buffer(msg.params[0], events)
        buffer.topic = strip_formatting(msg.params[1])
        events.append(TopicChanged(key))
        text = (
            f"{msg.nick} set the topic: {buffer.topic}"
            if buffer.topic
            else f"{msg.nick} cleared the topic"
        )
        self._add(key, [Line(self._time(msg, now_ms), Kind.TOPIC, text, msg.nick or "")], events)

    def _on_mode(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 2:
            return
        target = msg.params[0]
        text = f"{msg.nick} sets mode {' '.join(msg.params[1:])}"
        if not self.is_channel(target):
            self._server_info(text, now_ms, events, Kind.MODE)
            return
        key, buffer = self._buffer(target, events)
        args = list(msg.params[2:])
        adding = True
        changed = False
        list_modes, always, on_set, _ = self._chanmodes
        for char in msg.params[1]:
            if char in "+-":
                adding = char == "+"
                continue
            if char in self._prefix_modes:
                if not args:
                    break
                nick = args.pop(0)
                member = buffer.members.get(self.fold(nick))
                if member is not None:
                    symbol = self._prefix_chars[self._prefix_modes.index(char)]
                    held = set(member.prefixes)
                    (held.add if adding else held.discard)(symbol)
                    member.prefixes = "".join(c for c in self._prefix_chars if c in held)
                    changed = True
            elif args and (char in list_modes or char in always or (adding and char in on_set)):
                args.pop(0)
        if changed:
            events.append(MembersChanged(key))
        self._add(key, [Line(self._time(msg, now_ms), Kind.MODE, text, msg.nick or "")], events)

    def _on_away(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if msg.nick is None:
            return
        folded = self.fold(msg.nick)
        for key, buffer in self.buffers.items():
            member = buffer.members.get(folded)
            if member is not None:
                member.away = bool(msg.params and msg.params[0])
                events.append(MembersChanged(key))

    def _on_invite(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) >= 2:
            text = f"{msg.nick} invites you to {msg.params[1]} (/join {msg.params[1]})"
            self._add(self.active, [Line(now_ms, Kind.INFO, text)], events)

    def _on_fail(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        # FAIL / WARN / NOTE <command> <code> [context…] <description>
        kind = Kind.ERROR if msg.command == "FAIL" else Kind.INFO
        text = (
            f"{msg.params[0]}: {msg.params[-1]}" if len(msg.params) >= 3 else " ".join(msg.params)
        )
        if msg.params[:1] == ("CHATHISTORY",) and len(msg.params) >= 4:
            self._history_requests.pop(self.fold(msg.params[3]), None)
        self._add(self.active, [Line(now_ms, kind, text)], events)

    # -- numerics ---------------------------------------------------------------------------

    def _numeric(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        code = msg.command
        params = msg.params
        if code == num.RPL_WELCOME:
            self._welcome(msg, now_ms, events)
        elif code == num.RPL_ISUPPORT:
            self._isupport(params[1:-1])
        elif code in (num.ERR_NICKNAMEINUSE, num.ERR_NICKCOLLISION, num.ERR_UNAVAILRESOURCE):
            self._nick_in_use(msg, now_ms, events)
        elif code == num.ERR_ERRONEUSNICKNAME and not self.registered:
            bad = params[1] if len(params) > 2 else self.nick
            events.append(Fatal(f"the server does not accept the nick {bad!r}: {params[-1]}"))
        elif code == num.ERR_PASSWDMISMATCH:
            events.append(Fatal("the server refused the password (use --password)"))
        elif code == num.ERR_YOUREBANNEDCREEP:
            events.append(Fatal(f"the server refused the connection: {params[-1]}"))
        elif code == num.RPL_NAMREPLY and len(params) >= 4:
            self._names_reply(params[2], params[3])
        elif code == num.RPL_ENDOFNAMES and len(params) >= 2:
            self._end_of_names(params[1], events)
        elif code == num.RPL_TOPIC and len(params) >= 3:
            key, buffer = self._buffer(params[1], events)
            buffer.topic = strip_formatting(params[2])
            events.append(TopicChanged(key))
            self._add(key, [Line(now_ms, Kind.TOPIC, f"topic: {buffer.topic}")], events)
        elif code == num.RPL_NOTOPIC and len(params) >= 2:
            key, buffer = self._buffer(params[1], events)
            buffer.topic = ""
            events.append(TopicChanged(key))
            self._add(key, [Line(now_ms, Kind.TOPIC, f"{buffer.name} has no topic")], events)
        elif code in (num.RPL_TOPICWHOTIME, num.RPL_CREATIONTIME, num.RPL_CHANNELMODEIS):
            return
        elif code in (num.RPL_NOWAWAY, num.RPL_UNAWAY):
            self._add(self.active, [Line(now_ms, Kind.INFO, params[-1])], events)
        elif code == num.RPL_AWAY and len(params) >= 3:
            key = self.fold(params[1])
            where = key if key in self.buffers else self.active
            self._add(where, [Line(now_ms, Kind.INFO, f"{params[1]} is away: {params[2]}")], events)
        elif code >= "400" and code < "600":
            self._error_numeric(msg, now_ms, events)
        else:
            text = " ".join(params[1:]) if len(params) > 1 else " ".join(params)
            self._server_info(strip_formatting(text), now_ms, events)

    def _welcome(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        self.registered = True
        if msg.params:
            self.nick = msg.params[0]
        self._server_info(msg.params[-1] if msg.params else "welcome", now_ms, events)
        events.append(Registered(self.nick))
        wanted = [
            b.name for b in self.buffers.values() if b.kind is BufferKind.CHANNEL and b.wanted
        ]
        for start in range(0, len(wanted), 10):
            self._send("JOIN", ",".join(wanted[start : start + 10]))

    def _isupport(self, tokens: Sequence[str]) -> None:
        for token in tokens:
            if token.startswith("-"):
                self.isupport.pop(token[1:], None)
                continue
            name, _, value = token.partition("=")
            self.isupport[name] = value
            if name == "CASEMAPPING":
                try:
                    casemap = Casemapping.from_name(value)
                except ValueError:
                    continue
                if casemap is not self.casemap:
                    self.casemap = casemap
                    self._refold()
            elif name == "PREFIX" and value.startswith("(") and ")" in value:
                modes, _, chars = value[1:].partition(")")
                if len(modes) == len(chars):
                    self._prefix_modes, self._prefix_chars = modes, chars
            elif name == "CHANTYPES":
                self._chantypes = value
            elif name == "STATUSMSG":
                self._statusmsg = value
            elif name == "CHANMODES":
                parts = [*value.split(","), "", "", ""][:4]
                self._chanmodes = (parts[0], parts[1], parts[2], parts[3])

    def _refold(self) -> None:
        active = self.buffers.get(self.active)
        rebuilt: dict[str, Buffer] = {}
        for key, buffer in self.buffers.items():
            buffer.members = {self.fold(m.nick): m for m in buffer.members.values()}
            rebuilt[key if key == SERVER else self.fold(buffer.name)] = buffer
        self.buffers = rebuilt
        self.active = next((k for k, b in rebuilt.items() if b is active), SERVER)

    def _nick_in_use(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        taken = msg.params[1] if len(msg.params) > 2 else self.nick
        if self.registered:
            text = f"the nick {taken} is already in use"
            self._add(self.active, [Line(now_ms, Kind.ERROR, text)], events)
            return
        self._nick_attempt += 1
        if self._nick_attempt >= MAX_NICK_ATTEMPTS:
            events.append(Fatal(f"the nick {self.wanted_nick} and its variants are all in use"))
            return
        self.nick = self.wanted_nick + "_" * self._nick_attempt
        nicklen = self.isupport.get("NICKLEN", "")
        if nicklen.isdigit() and len(self.nick) > int(nicklen):
            events.append(
                Fatal(f"the nick {self.wanted_nick} is in use (choose another with --nick)")
            )
            return
        text = f"the nick {taken} is in use; trying {self.nick}"
        for key in {SERVER, self.active}:
            self._add(key, [Line(now_ms, Kind.ERROR, text)], events)
        self._send("NICK", self.nick)

    def _names_reply(self, channel: str, names: str) -> None:
        pending = self._names.setdefault(self.fold(channel), {})
        for item in names.split():
            nick = item.lstrip(self._prefix_chars)
            prefixes = item[: len(item) - len(nick)]
            nick = nick.partition("!")[0]
            if nick:
                pending[self.fold(nick)] = Member(nick, prefixes)

    def _end_of_names(self, channel: str, events: list[Event]) -> None:
        key = self.fold(channel)
        pending = self._names.pop(key, {})
        buffer = self.buffers.get(key)
        if buffer is None:
            return
        if buffer.joined:
            buffer.members = pending
            events.append(MembersChanged(key))
        if key in self._names_requested:  # an explicit /names: show the list as a line too
            self._names_requested.discard(key)
            ranked = sorted(pending.values(), key=lambda m: self.fold(m.nick))
            listing = " ".join(m.prefix + m.nick for m in ranked) or "nobody"
            self._add(
                key, [Line(buffer.last_time_ms, Kind.INFO, f"in {buffer.name}: {listing}")], events
            )

    def _error_numeric(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        params = msg.params
        if msg.command == num.ERR_UNKNOWNCOMMAND and params[1:2] == ("CAP",):
            self._send("CAP", "END")  # a server without capabilities
            return
        middle = " ".join(params[1:-1])
        text = f"{middle}: {params[-1]}" if middle else params[-1]
        target = params[1] if len(params) > 2 else ""
        key = self.fold(target)
        where = key if target and key in self.buffers else self.active
        self._add(where, [Line(now_ms, Kind.ERROR, text)], events)

    # -- the user's actions -----------------------------------------------------------------

    def perform(self, action: cmd.Action, now_ms: int) -> list[Event]:
        """Carry out what the user asked for: queue lines, open windows, explain mistakes."""
        events: list[Event] = []
        handler, needs_connection = _ACTIONS[type(action)]
        if needs_connection and not self.registered:
            self._error_line("not connected: nothing was sent", now_ms, events)
        else:
            handler(self, action, now_ms, events)
        return events

    def _error_line(self, text: str, now_ms: int, events: list[Event]) -> None:
        self._add(self.active, [Line(now_ms, Kind.ERROR, text)], events)

    def _here(self, channel_only: bool = False) -> str | None:
        """The name of the active window, None for the server window (or a query)."""
        active = self.buffers[self.active]
        if active.kind is BufferKind.SERVER:
            return None
        if channel_only and active.kind is not BufferKind.CHANNEL:
            return None
        return active.name

    def _do_error(self, action: cmd.Error, now_ms: int, events: list[Event]) -> None:
        self._error_line(action.text, now_ms, events)

    def _do_help(self, action: cmd.Help, now_ms: int, events: list[Event]) -> None:
        lines = [Line(now_ms, Kind.INFO, text) for text in cmd.help_lines(action.topic)]
        self._add(self.active, lines, events)

    def _do_join(self, action: cmd.Join, now_ms: int, events: list[Event]) -> None:
        names = [self._channel_name(c) for c in action.channels]
        for name in names:
            self._switch_on_join.add(self._want_channel(name))
        events.append(BuffersChanged())
        first = self.fold(names[0])
        if self.buffers[first].joined:
            self._switch_on_join.discard(first)
            events += self.switch(first)
            events.append(SwitchTo(first))
        if self.registered:
            keys = [",".join(action.keys)] if action.keys else []
            self._send("JOIN", ",".join(names), *keys)
        else:
            self._error_line("not connected: will join when connected", now_ms, events)

    def _do_quit(self, action: cmd.Quit, now_ms: int, events: list[Event]) -> None:
        self._send("QUIT", action.reason or "Leaving")

    def _do_query(self, action: cmd.Query, now_ms: int, events: list[Event]) -> None:
        if self.is_channel(action.nick):
            self._error_line("/query takes a nick; use /join for rooms", now_ms, events)
            return
        key, _ = self._buffer(action.nick, events)
        events += self.switch(key)
        events.append(SwitchTo(key))
        if action.text:
            events += self.perform(cmd.Say(action.text), now_ms)

    def _do_say(self, action: cmd.Say, now_ms: int, events: list[Event]) -> None:
        destination = action.target or self._here()
        if destination is None:
            text = "this is the server window: /join a room or /query someone"
            self._error_line(text, now_ms, events)
            return
        buffer = self.buffers.get(self.fold(destination))
        if (
            action.target is None
            and buffer is not None
            and buffer.kind is BufferKind.CHANNEL
            and not buffer.joined
        ):
            self._error_line(f"you are not in {buffer.name} (/join {buffer.name})", now_ms, events)
            return
        self._say(destination, action.text, action.action, now_ms, events)

    def _do_part(self, action: cmd.Part, now_ms: int, events: list[Event]) -> None:
        name = action.channel or self._here()
        if name is None:
            self._error_line("usage: /part #room [reason]", now_ms, events)
            return
        key = self.fold(name)
        buffer = self.buffers.get(key)
        if buffer is not None and (buffer.kind is BufferKind.QUERY or not buffer.joined):
            self._close(key, events)
            return
        self._closing.add(key)
        if buffer is not None:
            buffer.wanted = False
        self._send("PART", name, *([action.reason] if action.reason else []))

    def _do_nick(self, action: cmd.Nick, now_ms: int, events: list[Event]) -> None:
        self._send("NICK", action.nick)

    def _do_topic(self, action: cmd.Topic, now_ms: int, events: list[Event]) -> None:
        name = action.channel or self._here(channel_only=True)
        if name is None:
            self._error_line("usage: /topic #room [text] (or use it in a room)", now_ms, events)
        elif action.text is None:
            self._send("TOPIC", name)
        else:
            self._send("TOPIC", name, action.text)

    def _do_names(self, action: cmd.Names, now_ms: int, events: list[Event]) -> None:
        name = action.channel or self._here(channel_only=True)
        if name is None:
            self._error_line("usage: /names #room (or use it in a room)", now_ms, events)
            return
        self._names_requested.add(self.fold(name))
        self._send("NAMES", name)

    def _do_away(self, action: cmd.Away, now_ms: int, events: list[Event]) -> None:
        self._send("AWAY", *([action.text] if action.text else []))

    def _do_raw(self, action: cmd.Raw, now_ms: int, events: list[Event]) -> None:
        self.send(action.line)

    def _say(self, target: str, text: str, action: bool, now_ms: int, events: list[Event]) -> None:
        # The server relays ":nick!user@host PRIVMSG target :text" and cuts what does not fit
        # in 512 bytes, so split to that budget (our real source once the server showed it).
        source = self.source or f"{self.nick}!~{self.user[:16]}@{'x' * HOST_GUESS}"
        overhead = len(f":{source} PRIVMSG {target} :\r\n".encode())
        if action:
            overhead += len("\x01ACTION \x01")
        budget = LINE_LIMIT - overhead
        pieces = cmd.split_text(text, budget) if budget >= 8 else []
        if not pieces or len(pieces) > MAX_PIECES:
            size = len(text.encode())
            limit = max(budget, 0) * MAX_PIECES
            text = f"message too long ({size} bytes; at most {limit}): nothing was sent"
            self._error_line(text, now_ms, events)
            return
        key, _ = self._buffer(target, events)
        echo = "echo-message" in self.caps
        for piece in pieces:
            self._send("PRIVMSG", target, f"\x01ACTION {piece}\x01" if action else piece)
            if echo:
                self.awaiting_echo += 1
        if not echo:
            kind = Kind.ACTION if action else Kind.MESSAGE
            self._add(key, [Line(now_ms, kind, p, self.nick, own=True) for p in pieces], events)

    def _do_history(self, action: cmd.History, now_ms: int, events: list[Event]) -> None:
        buffer = self.buffers[self.active]
        if buffer.kind is BufferKind.SERVER:
            self._error_line("/history works in a room or a query", now_ms, events)
            return
        if not self.history_supported:
            text = "this server does not offer chathistory; no older messages can be fetched"
            self._error_line(text, now_ms, events)
            return
        count = str(self._history_limit(action.count))
        oldest = next((ln for ln in buffer.lines if ln.msgid), None)
        self._history_requests[self.active] = "before"
        if oldest is not None:
            self._send("CHATHISTORY", "BEFORE", buffer.name, f"msgid={oldest.msgid}", count)
        elif buffer.lines:
            stamp = format_server_time(buffer.lines[0].time_ms)
            self._send("CHATHISTORY", "BEFORE", buffer.name, f"timestamp={stamp}", count)
        else:
            self._send("CHATHISTORY", "LATEST", buffer.name, "*", count)


_HANDLERS = {
    "PING": ClientState._on_ping,
    "ERROR": ClientState._on_error,
    "CAP": ClientState._on_cap,
    "BATCH": ClientState._on_batch,
    "PRIVMSG": ClientState._on_message,
    "NOTICE": ClientState._on_message,
    "JOIN": ClientState._on_join,
    "PART": ClientState._on_part,
    "QUIT": ClientState._on_quit,
    "KICK": ClientState._on_kick,
    "NICK": ClientState._on_nick,
    "TOPIC": ClientState._on_topic,
    "MODE": ClientState._on_mode,
    "AWAY": ClientState._on_away,
    "INVITE": ClientState._on_invite,
    "FAIL": ClientState._on_fail,
    "WARN": ClientState._on_fail,
    "NOTE": ClientState._on_fail,
}


# action type → (handler, whether it needs a registered connection)
_ACTIONS: dict[type[Any], tuple[Callable[[ClientState, Any, int, list[Event]], None], bool]] = {
    cmd.Error: (ClientState._do_error, False),
    cmd.Help: (ClientState._do_help, False),
    cmd.Join: (ClientState._do_join, False),
    cmd.Quit: (ClientState._do_quit, False),
    cmd.Query: (ClientState._do_query, False),
    cmd.Say: (ClientState._do_say, True),
    cmd.Part: (ClientState._do_part, True),
    cmd.Nick: (ClientState._do_nick, True),
    cmd.Topic: (ClientState._do_topic, True),
    cmd.Names: (ClientState._do_names, True),
    cmd.Away: (ClientState._do_away, True),
    cmd.History: (ClientState._do_history, True),
    cmd.Raw: (ClientState._do_raw, True),
}
