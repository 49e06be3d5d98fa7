"""Chat lines as the user sees them: de-duplication by msgid, and chathistory.

`HistoryState` turns a PRIVMSG or NOTICE into a `Line` (CTCP ACTIONs as actions, other CTCP
hidden, formatting stripped, mentions of our nick found), drops a line whose msgid was shown
before, collects the lines of a `chathistory` batch until it ends and inserts them as one
block behind a separator, and asks the server for history (`CHATHISTORY LATEST` / `AFTER` on
join, `BEFORE` for /history).

Catching up after a reconnect asks for what came `AFTER` the msgid of the last line seen. The
server we come back to may not know that msgid: a server killed with -9 loses the records of
its last commit window (lines it had already delivered, the last one we saw among them), and
a store answers an anchor it does not know with an empty batch. An empty answer to a msgid
anchor is therefore asked again by time (`AFTER timestamp=` one millisecond before that line,
so lines stamped in the same millisecond come too): what we saw comes back and is dropped by
msgid, what we missed is shown once. A full page asks for the next one, after the page's last
message, until a page is not full.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from hubbub.client.model import (
    CHAT_KINDS,
    Buffer,
    BufferKind,
    BuffersChanged,
    Event,
    Kind,
    Line,
    LinesAdded,
)
from hubbub.client.state_core import StateCore, strip_formatting
from hubbub.protocol import Message
from hubbub.protocol.servertime import format_server_time

__all__ = [
    "AFTER_ON_REJOIN",
    "HISTORY_BATCHES",
    "LATEST_ON_JOIN",
    "MAX_SEEN_MSGIDS",
    "Batch",
    "HistoryState",
]

HISTORY_BATCHES = frozenset({"chathistory", "draft/chathistory"})
MULTILINE_BATCH = "draft/multiline"
CONCAT_TAG = "draft/multiline-concat"
MAX_SEEN_MSGIDS = 50_000
LATEST_ON_JOIN = 50
AFTER_ON_REJOIN = 100

_NICK_CHARS = r"A-Za-z0-9_\-\[\]\\^{}|`"


@dataclass(slots=True)
class Batch:
    """An open BATCH: its type, parameters and (for history) the messages collected so far."""

    kind: str
    params: tuple[str, ...]
    messages: list[Message] = field(default_factory=list)
    opening: Message | None = None
    """The `BATCH +ref` line (a multiline message's msgid, time and source are on it)."""


def _combine(batch: Batch) -> Message | None:
    """One PRIVMSG/NOTICE holding a multiline batch's lines, joined by newlines (lines tagged
    `draft/multiline-concat` joined directly), with the tags and source of its opening line."""
    text: str | None = None
    first: Message | None = None
    for message in batch.messages:
        if message.command not in ("PRIVMSG", "NOTICE") or len(message.params) < 2:
            continue
        if first is None:
            first, text = message, message.params[-1]
        elif CONCAT_TAG in message.tags:
            text = f"{text}{message.params[-1]}"
        else:
            text = f"{text}\n{message.params[-1]}"
    if first is None or text is None:
        return None
    opening = batch.opening
    tags = dict(opening.tags) if opening is not None else {}
    for name, value in first.tags.items():  # client tags may ride on the lines too
        if name != "batch":
            tags.setdefault(name, value)
    source = (opening.source if opening is not None else None) or first.source
    return Message(first.command, (batch.params[0], text.strip("\n")), source, tags)


def _anchor(msgid: str | None, time_ms: int) -> str:
    """Where a CHATHISTORY BEFORE/AFTER starts: the msgid when we have one, else the time."""
    return f"msgid={msgid}" if msgid else f"timestamp={format_server_time(time_ms)}"


class HistoryState(StateCore):
    """Chat lines, msgid de-duplication and chathistory; see the module docstring."""

    @property
    def history_supported(self) -> bool:
        return "draft/chathistory" in self.caps

    # -- chat lines -------------------------------------------------------------------------

    def _fresh_line(self, msg: Message, now_ms: int, *, history: bool = False) -> Line | None:
        """The line a PRIVMSG/NOTICE shows, or None: not shown (other CTCP), or seen before."""
        if len(msg.params) < 2:
            return None
        line = self._chat_line(msg, now_ms, history=history)
        if line is None or self._seen_before(line.msgid):
            return None
        return line

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
        time_ms = self._time(msg, now_ms)
        edited = "hubbub/edited" in msg.tags
        return Line(time_ms, kind, text, nick, msgid, history, mention, own, edited)

    def _mentions_me(self, text: str) -> bool:
        nick = re.escape(self.fold(self.nick))
        pattern = rf"(?<![{_NICK_CHARS}]){nick}(?![{_NICK_CHARS}])"
        return re.search(pattern, self.fold(text)) is not None

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

    def _after_marker(self, buffer: Buffer, lines: list[Line]) -> tuple[int, int]:
        """(unread, mentions) among `lines` after `buffer`'s read marker: messages of others
        (draft/read-marker)."""
        after = [
            ln
            for ln in lines
            if ln.kind in CHAT_KINDS and not ln.own and ln.time_ms > buffer.read_ms
        ]
        private = buffer.kind is BufferKind.QUERY
        return len(after), sum(1 for ln in after if ln.mention or private)

    def _track_last(self, buffer: Buffer, line: Line) -> None:
        if line.time_ms >= buffer.last_time_ms:
            buffer.last_time_ms = line.time_ms
            if line.msgid:
                buffer.last_msgid = line.msgid

    # -- batches ----------------------------------------------------------------------------

    def _collected(self, msg: Message) -> bool:
        """Whether `msg` belongs to an open history batch (it is kept for the batch's end)."""
        ref = msg.tags.get("batch")
        if ref is not None and msg.command != "BATCH":
            batch = self._batches.get(ref)
            if batch is not None and (
                batch.kind in HISTORY_BATCHES or batch.kind == MULTILINE_BATCH
            ):
                batch.messages.append(msg)
                return True
        return False

    def _end_batch(self, msg: Message, now_ms: int, events: list[Event]) -> Message | None:
        """A BATCH line. Returns the message a live multiline batch adds up to (to be shown
        like a PRIVMSG); one inside a history batch joins that batch's messages instead."""
        if not msg.params:
            return None
        ref = msg.params[0]
        if ref.startswith("+") and len(msg.params) >= 2:
            self._batches[ref[1:]] = Batch(msg.params[1], msg.params[2:], opening=msg)
        elif ref.startswith("-"):
            batch = self._batches.pop(ref[1:], None)
            if batch is None or not batch.params:
                return None
            if batch.kind in HISTORY_BATCHES:
                self._history_block(batch.params[0], batch.messages, now_ms, events)
            elif batch.kind == MULTILINE_BATCH:
                combined = _combine(batch)
                outer = self._batches.get(combined.tags.get("batch", "")) if combined else None
                if combined is not None and outer is not None and outer.kind in HISTORY_BATCHES:
                    outer.messages.append(combined)
                    return None
                return combined
        return None

    def _history_block(
        self, target: str, messages: list[Message], now_ms: int, events: list[Event]
    ) -> None:
        key, buffer = self._buffer(target, events)
        request = self._history_requests.pop(key, "")
        since = self._catch_up_since.pop(key, None)
        if request == "after":
            self._catch_up_further(key, buffer, messages, since)
        lines: list[Line] = []
        for msg in messages:
            if msg.command not in ("PRIVMSG", "NOTICE"):
                continue
            line = self._fresh_line(msg, now_ms, history=True)
            if line is not None:
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
        if key != self.active and buffer.read_ms and request != "before":
            # What came after the account's read marker is unread, history or not.
            unread, mentions = self._after_marker(buffer, lines)
            buffer.unread += unread
            buffer.mentions += mentions
            if unread:
                events.append(BuffersChanged())
        at = bisect.bisect_right(buffer.lines, lines[0].time_ms, key=lambda ln: ln.time_ms)
        if at == len(buffer.lines):
            self._add(key, block, events)
        else:
            # Older than lines already shown: insert in place, not at the end.
            buffer.lines[at:at] = block
            events.append(LinesAdded(key, tuple(block), appended=False))

    # -- requests ---------------------------------------------------------------------------

    def _request_join_history(self, key: str, buffer: Buffer) -> None:
        """After our JOIN: what we missed since the last line seen, or the latest page."""
        if not self.history_supported:
            return
        if buffer.last_msgid or buffer.last_time_ms:
            self._history_requests[key] = "after"
            if buffer.last_msgid:
                # When that line was said: asked by time if the server does not know the msgid.
                self._catch_up_since[key] = buffer.last_time_ms
            else:
                self._catch_up_since.pop(key, None)
            anchor = _anchor(buffer.last_msgid, buffer.last_time_ms)
            limit = self._history_limit(AFTER_ON_REJOIN)
            self._send("CHATHISTORY", "AFTER", buffer.name, anchor, str(limit))
        else:
            self._history_requests[key] = "latest"
            limit = self._history_limit(LATEST_ON_JOIN)
            self._send("CHATHISTORY", "LATEST", buffer.name, "*", str(limit))

    def _catch_up_further(
        self, key: str, buffer: Buffer, messages: list[Message], since: int | None
    ) -> None:
        """After an answer to CHATHISTORY AFTER. A full page: more was missed, so ask for the
        next page after the page's own last message (not the newest line shown: a live line
        may have come meanwhile, and what lies between would be skipped). An empty answer to
        a msgid (`since` is that line's time): nothing was missed, or the server does not
        have that msgid; ask by time."""
        said = [msg for msg in messages if msg.command in ("PRIVMSG", "NOTICE")]
        if len(said) >= self._history_limit(AFTER_ON_REJOIN):
            last = next((m.tags["msgid"] for m in reversed(said) if m.tags.get("msgid")), None)
            if last is not None:
                self._history_requests[key] = "after"
                limit = str(self._history_limit(AFTER_ON_REJOIN))
                self._send("CHATHISTORY", "AFTER", buffer.name, f"msgid={last}", limit)
        elif not messages and since is not None:
            self._catch_up_by_time(key, buffer, since)

    def _catch_up_by_time(self, key: str, buffer: Buffer, since_ms: int) -> None:
        """What came after `since_ms` (the time of the last line seen), that millisecond
        included: duplicates are dropped by msgid, lines said in the same millisecond are not
        lost."""
        self._history_requests[key] = "after"
        anchor = _anchor(None, max(since_ms - 1, 0))
        limit = self._history_limit(AFTER_ON_REJOIN)
        self._send("CHATHISTORY", "AFTER", buffer.name, anchor, str(limit))

    def _request_older(self, key: str, buffer: Buffer, wanted: int) -> None:
        """/history: up to `wanted` messages before the oldest line shown (the latest if none)."""
        count = str(self._history_limit(wanted))
        self._history_requests[key] = "before"
        if buffer.lines:
            oldest = next((ln.msgid for ln in buffer.lines if ln.msgid), None)
            anchor = _anchor(oldest, buffer.lines[0].time_ms)
            self._send("CHATHISTORY", "BEFORE", buffer.name, anchor, count)
        else:
            self._send("CHATHISTORY", "LATEST", buffer.name, "*", count)

    def _history_limit(self, wanted: int) -> int:
        advertised = self.isupport.get("CHATHISTORY", "")
        if advertised.isdigit() and int(advertised) > 0:
            return min(wanted, int(advertised))
        return wanted
