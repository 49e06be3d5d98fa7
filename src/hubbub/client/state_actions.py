"""What the user asked for: an `Action` from `hubbub.client.commands` in, IRC lines out.

`ActionState.perform` looks the action up in `_ACTIONS`, refuses those that need a connection
while there is none (one line saying nothing was sent), and otherwise queues the lines it
means: JOIN, PART, PRIVMSG split to fit the server's line, NICK, TOPIC, NAMES, AWAY,
CHATHISTORY, raw lines. Mistakes (a /topic in the server window, a message too long) become
one error line in the active window; no action raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubbub.client import commands as cmd
from hubbub.client.model import BufferKind, BuffersChanged, Event, Kind, Line
from hubbub.client.state_history import CONCAT_TAG, MULTILINE_BATCH
from hubbub.client.state_modern import ModernState

__all__ = ["HOST_GUESS", "LINE_LIMIT", "MAX_PIECES", "ActionState"]

MAX_PIECES = 8  # a long message is split into at most this many lines
LINE_LIMIT = 512  # bytes a relayed line may have, CRLF included
HOST_GUESS = 63  # bytes assumed for our host name until the server shows us our source
MAX_SEPARATE_LINES = 40  # a multi-line message sent as separate lines: at most this many


class ActionState(ModernState):
    """The user's actions; see the module docstring."""

    def perform(self, action: cmd.Action, now_ms: int) -> list[Event]:
        """Carry out what the user asked for: queue lines, open windows, explain mistakes."""
        events: list[Event] = []
        handler, needs_connection = _ACTIONS[type(action)]
        if needs_connection and not self.registered:
            self._error_line("not connected: nothing was sent", now_ms, events)
        else:
            handler(self, action, now_ms, events)
        return events

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
            self._show(first, events)
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
        self._show(key, events)
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

    def _budget(self, target: str, action: bool) -> int:
        # The server relays ":nick!user@host PRIVMSG target :text" and cuts what does not fit
        # in 512 bytes, so split to that budget (our real source once the server showed it).
        source = self.source or f"{self.nick}!~{self.user[:16]}@{'x' * HOST_GUESS}"
        overhead = len(f":{source} PRIVMSG {target} :\r\n".encode())
        if action:
            overhead += len("\x01ACTION \x01")
        return LINE_LIMIT - overhead

    def _say(self, target: str, text: str, action: bool, now_ms: int, events: list[Event]) -> None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if action:
            text = " ".join(text.split("\n"))
        text = text.strip("\n")
        self._message_sent(self.fold(target))
        if "\n" in text:
            self._say_lines(target, text, now_ms, events)
            return
        budget = self._budget(target, action)
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

    def _multiline_limits(self) -> tuple[int, int] | None:
        """(max-bytes, max-lines) when the server takes draft/multiline batches, else None."""
        if not {MULTILINE_BATCH, "batch"} <= self.caps:
            return None
        limits = dict(
            item.partition("=")[::2] for item in self.cap_values.get(MULTILINE_BATCH, "").split(",")
        )
        max_bytes = limits.get("max-bytes", "")
        max_lines = limits.get("max-lines", "")
        if not max_bytes.isdigit():
            return None  # the spec makes max-bytes mandatory
        return int(max_bytes), int(max_lines) if max_lines.isdigit() else 10**6

    def _say_lines(self, target: str, text: str, now_ms: int, events: list[Event]) -> None:
        """A message of several lines: one draft/multiline batch when the server takes it and
        it fits the advertised limits, else each line as messages of its own."""
        budget = self._budget(target, False)  # tags do not count against the 512 bytes
        if budget < 8:
            self._error_line("the target name is too long to send to", now_ms, events)
            return
        batch: list[tuple[str, bool]] = []  # (text, concatenated to the previous line)
        for line in text.split("\n"):
            pieces = _concat_pieces(line, budget) if line else [""]
            batch += [(piece, n > 0) for n, piece in enumerate(pieces)]
        limits = self._multiline_limits()
        size = len(text.encode())
        key, _ = self._buffer(target, events)
        echo = "echo-message" in self.caps
        if limits is not None and size <= limits[0] and len(batch) <= limits[1]:
            self._batch_number += 1
            ref = f"hubbub{self._batch_number}"
            self._send("BATCH", "+" + ref, MULTILINE_BATCH, target)
            for piece, concat in batch:
                tags = {"batch": ref, **({CONCAT_TAG: ""} if concat else {})}
                self._send("PRIVMSG", target, piece, tags=tags)
            self._send("BATCH", "-" + ref)
            if echo:
                self.awaiting_echo += 1
            else:
                self._add(key, [Line(now_ms, Kind.MESSAGE, text, self.nick, own=True)], events)
            return
        pieces = [p for line in text.split("\n") if line for p in cmd.split_text(line, budget)]
        if len(pieces) > MAX_SEPARATE_LINES:
            why = f"message too long ({len(pieces)} lines; at most {MAX_SEPARATE_LINES})"
            self._error_line(f"{why}: nothing was sent", now_ms, events)
            return
        for piece in pieces:
            self._send("PRIVMSG", target, piece)
            if echo:
                self.awaiting_echo += 1
        if not echo:
            self._add(
                key, [Line(now_ms, Kind.MESSAGE, p, self.nick, own=True) for p in pieces], events
            )

    def _do_edit(self, action: cmd.Edit, now_ms: int, events: list[Event]) -> None:
        buffer = self.buffers[self.active]
        if buffer.kind is BufferKind.SERVER:
            self._error_line("/edit works in a room or a query", now_ms, events)
            return
        if not self.edit_supported:
            text = "this server does not offer message editing (draft/message-edit)"
            self._error_line(text, now_ms, events)
            return
        line = self.last_own(self.active)
        if line is None or line.msgid is None:
            self._error_line("no message of yours to edit here", now_ms, events)
            return
        if "\n" in action.text or len(action.text.encode()) > self._budget(buffer.name, False):
            self._error_line(
                "an edit is one line that fits one message: nothing was sent", now_ms, events
            )
            return
        tags = {"draft/target-msgid": line.msgid, "draft/edit-text": action.text}
        self._send("EDIT", buffer.name, tags=tags)
        self._message_sent(self.active)

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
        # The window closes when the server confirms the PART (see IncomingState._on_part).
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

    def _do_history(self, action: cmd.History, now_ms: int, events: list[Event]) -> None:
        buffer = self.buffers[self.active]
        if buffer.kind is BufferKind.SERVER:
            self._error_line("/history works in a room or a query", now_ms, events)
            return
        if not self.history_supported:
            text = "this server does not offer chathistory; no older messages can be fetched"
            self._error_line(text, now_ms, events)
            return
        self._request_older(self.active, buffer, action.count)


def _concat_pieces(line: str, max_bytes: int) -> list[str]:
    """Cut `line` into pieces of at most `max_bytes` UTF-8 bytes that give `line` back when
    joined directly (draft/multiline-concat): a cut after the last space that fits when there
    is one in the second half of the piece (the space stays), else between characters."""
    pieces: list[str] = []
    rest = line
    while len(rest.encode()) > max_bytes:
        cut = len(rest.encode()[:max_bytes].decode("utf-8", "ignore"))
        space = rest.rfind(" ", 0, cut)
        if space + 1 > cut // 2:
            cut = space + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


# action type → (handler, whether it needs a registered connection)
_ACTIONS: dict[type[Any], tuple[Callable[[ActionState, Any, int, list[Event]], None], bool]] = {
    cmd.Error: (ActionState._do_error, False),
    cmd.Help: (ActionState._do_help, False),
    cmd.Join: (ActionState._do_join, False),
    cmd.Quit: (ActionState._do_quit, False),
    cmd.Query: (ActionState._do_query, False),
    cmd.Say: (ActionState._do_say, True),
    cmd.Edit: (ActionState._do_edit, True),
    cmd.Part: (ActionState._do_part, True),
    cmd.Nick: (ActionState._do_nick, True),
    cmd.Topic: (ActionState._do_topic, True),
    cmd.Names: (ActionState._do_names, True),
    cmd.Away: (ActionState._do_away, True),
    cmd.History: (ActionState._do_history, True),
    cmd.Raw: (ActionState._do_raw, True),
}
