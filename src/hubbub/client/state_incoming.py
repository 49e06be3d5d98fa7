"""What the server tells us: one parsed line in, the windows, members and topics it changes.

`IncomingState.receive` holds back lines that belong to an open history batch, then hands
each command to its handler in `_HANDLERS` (numerics go to `ReplyState`). The handlers here
are the channel and conversation traffic: messages and notices (into which window, echoes of
our own), JOIN/PART/QUIT/KICK (members, and our own membership), NICK (members and private
windows renamed), TOPIC, MODE (member prefixes), AWAY, INVITE and FAIL/WARN/NOTE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hubbub.client.model import (
    CHAT_KINDS,
    BufferKind,
    BuffersChanged,
    Event,
    Joined,
    Kind,
    Line,
    Member,
    MembersChanged,
    TypingChanged,
)
from hubbub.client.state_core import SERVER
from hubbub.client.state_modern import ModernState
from hubbub.client.state_replies import ReplyState
from hubbub.protocol import Message

__all__ = ["IncomingState"]


def _reason(params: Sequence[str], index: int) -> str:
    """` (reason)` from a PART/QUIT/KICK's parameter `index`, or nothing when there is none."""
    return f" ({params[index]})" if len(params) > index and params[index] else ""


class IncomingState(ReplyState, ModernState):
    """Lines from the server; see the module docstring."""

    def receive(self, msg: Message, now_ms: int) -> list[Event]:
        """Take one line from the server."""
        events: list[Event] = []
        if self._collected(msg):
            return events
        handler = _HANDLERS.get(msg.command)
        if handler is not None:
            handler(self, msg, now_ms, events)
        elif msg.command.isdigit():
            self._numeric(msg, now_ms, events)
        return events

    # -- messages ---------------------------------------------------------------------------

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
        line = self._fresh_line(msg, now_ms)
        if line is None:
            return
        if line.own and self.awaiting_echo > 0:
            self.awaiting_echo -= 1
        window = self._message_window(msg)
        if window is None:
            self._add(SERVER, [line], events)
            return
        key, buffer = self._buffer(window, events)
        if line.nick and self._typing_heard(key, line.nick, "done", now_ms):
            events.append(TypingChanged(key))  # a message ends its author's typing notice
        if "bot" in msg.tags and line.nick:
            self._bot_tag(key, line.nick)
        self._track_last(buffer, line)
        self._add(key, [line], events)

    def _add(self, key: str, lines: list[Line], events: list[Event]) -> None:
        super()._add(key, lines, events)
        if key == self.active and any(ln.kind in CHAT_KINDS for ln in lines):
            self._marker_due.add(key)  # the user is looking at it: read at the next tick

    def _on_batch(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        combined = self._end_batch(msg, now_ms, events)
        if combined is not None:
            self._on_message(combined, now_ms, events)

    def _on_tagmsg(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        state = msg.tags.get("+typing")
        if state is None or not msg.params or not msg.nick or self.is_me(msg.nick):
            return
        window = self._message_window(msg)
        if window is not None and self._typing_heard(self.fold(window), msg.nick, state, now_ms):
            events.append(TypingChanged(self.fold(window)))

    # -- membership -------------------------------------------------------------------------

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
                self._show(key, events)
            self._request_join_history(key, buffer)
            self._request_who(channel)
        else:
            buffer.members[self.fold(msg.nick)] = Member(msg.nick)
            events.append(MembersChanged(key))
            self._add(
                key, [Line(time_ms, Kind.JOIN, f"{msg.nick} joined {channel}", msg.nick)], events
            )

    def _on_part(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if not msg.params or msg.nick is None:
            return
        key = self.fold(msg.params[0])
        buffer = self.buffers.get(key)
        if buffer is None:
            return
        reason = _reason(msg.params, 1)
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

    def _on_quit(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if msg.nick is None or self.is_me(msg.nick):
            return
        folded = self.fold(msg.nick)
        reason = _reason(msg.params, 0)
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
        reason = _reason(msg.params, 2)
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
            self._stop_watching_nick()
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
                # The private window follows the nick (unless one with the new nick is open).
                del self.buffers[key]
                buffer.name = new
                self.buffers[new_key] = buffer
                if self.active == old_key:
                    self.active = new_key
                events.append(BuffersChanged())
                self._add(new_key, [line], events)

    # -- channel state ----------------------------------------------------------------------

    def _on_topic(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 2:
            return
        key, buffer = self._set_topic(msg.params[0], msg.params[1], events)
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
            # Other modes that take an argument (CHANMODES types A, B, and C when set) use
            # one up, so that the next prefix mode gets its own nick.
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
            self._note(None, text, now_ms, events)

    def _on_fail(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        # FAIL / WARN / NOTE <command> <code> [context…] <description>
        kind = Kind.ERROR if msg.command == "FAIL" else Kind.INFO
        text = (
            f"{msg.params[0]}: {msg.params[-1]}" if len(msg.params) >= 3 else " ".join(msg.params)
        )
        if msg.params[:1] == ("CHATHISTORY",) and len(msg.params) >= 4:
            self._history_requests.pop(self.fold(msg.params[3]), None)
        if msg.params[:1] == ("MARKREAD",):
            self._markread_failed(msg)  # markers are a convenience: not worth an error line
            return
        self._note(None, text, now_ms, events, kind)


# command → its handler (the handlers come from the parts IncomingState is made of)
_HANDLERS: dict[str, Callable[[IncomingState, Message, int, list[Event]], None]] = {
    "PING": IncomingState._on_ping,
    "ERROR": IncomingState._on_error,
    "CAP": IncomingState._on_cap,
    "BATCH": IncomingState._on_batch,
    "PRIVMSG": IncomingState._on_message,
    "NOTICE": IncomingState._on_message,
    "JOIN": IncomingState._on_join,
    "PART": IncomingState._on_part,
    "QUIT": IncomingState._on_quit,
    "KICK": IncomingState._on_kick,
    "NICK": IncomingState._on_nick,
    "TOPIC": IncomingState._on_topic,
    "MODE": IncomingState._on_mode,
    "AWAY": IncomingState._on_away,
    "INVITE": IncomingState._on_invite,
    "TAGMSG": IncomingState._on_tagmsg,
    "MARKREAD": IncomingState._on_markread,
    "EDIT": IncomingState._on_edit,
    "FAIL": IncomingState._on_fail,
    "WARN": IncomingState._on_fail,
    "NOTE": IncomingState._on_fail,
}
