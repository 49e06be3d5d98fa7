"""The modern IRCv3 features, each used only when the server offers it.

* **Read markers** (`draft/read-marker`): switching to a window sends `MARKREAD <target>
  timestamp=<newest message>` (only when that moves the marker forward); messages arriving in
  the window being looked at move it at the next `tick` (at most once a tick, not once per
  message: each move is a write on the server and a line to every device); a `MARKREAD` from the
  server (another device of the account read it) sets the window's unread and mention counts to
  the messages of others after the marker, and history arriving after it counts as unread
  (`HistoryState._after_marker`). A server that refuses markers (no account:
  `FAIL MARKREAD ACCOUNT_REQUIRED`) is not asked again until we log in (900); then the client
  asks for the marker of each window (`MARKREAD <target>`).
* **Edits** (`draft/message-edit`): `EDIT` from the server replaces the text of the line with
  the target msgid and marks it edited; `edit_last` sends an EDIT of our last message here.
* **Typing** (`+typing` client tag, needs `message-tags`): `composing` / `tick` send
  `active` at most every 3 s while the user types, `paused` after 5 s without a key, `done` when
  the input is cleared; what others send is kept per window and expires (active after 6 s,
  paused after 30 s), as https://ircv3.net/specs/client-tags/typing says.
* **WHO flags**: after our JOIN the client asks `WHO #room` (when the server has away-notify or
  bot mode) and marks members away (`G`) and bots (the `BOT` ISUPPORT flag), without showing
  the replies.
"""

from __future__ import annotations

import dataclasses

from hubbub.client.model import (
    BufferKind,
    BuffersChanged,
    Event,
    Kind,
    Line,
    LinesChanged,
    MembersChanged,
    TypingChanged,
)
from hubbub.client.state_core import strip_formatting
from hubbub.client.state_history import HistoryState
from hubbub.protocol import Message
from hubbub.protocol.servertime import format_server_time, parse_server_time

__all__ = [
    "EDITED_TAG",
    "TYPING_ACTIVE_EVERY_MS",
    "TYPING_ACTIVE_EXPIRES_MS",
    "TYPING_PAUSED_AFTER_MS",
    "TYPING_PAUSED_EXPIRES_MS",
    "ModernState",
]

EDITED_TAG = "hubbub/edited"
"""hubbub's marker on a replayed message whose text was edited."""
TYPING_ACTIVE_EVERY_MS = 3000  # the spec: `active` no more often than every 3 seconds
TYPING_PAUSED_AFTER_MS = 5000  # no key for this long: `paused`
TYPING_ACTIVE_EXPIRES_MS = 6000  # receivers forget an `active` after 6 s
TYPING_PAUSED_EXPIRES_MS = 30000  # ... and a `paused` after 30 s


class ModernState(HistoryState):
    """Read markers, edits, typing and WHO flags; see the module docstring."""

    # -- read markers -----------------------------------------------------------------------

    @property
    def markers_supported(self) -> bool:
        return "draft/read-marker" in self.caps and not self._markers_refused

    def switch(self, key: str) -> list[Event]:
        left = self.buffers.get(self.active)
        if key != self.active and left is not None and self.active in self._typing_sent:
            # The half-typed line now belongs to another window: we stopped typing here.
            self._send_typing(left.name, "done")
            del self._typing_sent[self.active]
        events = super().switch(key)
        if events:
            self._marker_due.discard(key)
            self._mark_read(key)
        return events

    def _mark_read(self, key: str) -> None:
        """The user sees window `key`: move its read marker to its newest message."""
        buffer = self.buffers.get(key)
        if buffer is None or not self.registered or not self.markers_supported:
            return
        if buffer.kind is BufferKind.SERVER or (
            buffer.kind is BufferKind.CHANNEL and not buffer.joined
        ):
            return
        if buffer.last_time_ms > buffer.read_ms:
            buffer.read_ms = buffer.last_time_ms
            stamp = "timestamp=" + format_server_time(buffer.last_time_ms)
            self._send("MARKREAD", buffer.name, stamp)

    def _on_markread(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 2 or not msg.params[1].startswith("timestamp="):
            return
        key = self.fold(msg.params[0])
        buffer = self.buffers.get(key)
        marker = parse_server_time(msg.params[1].removeprefix("timestamp="))
        if buffer is None or marker is None or marker <= buffer.read_ms:
            return
        buffer.read_ms = marker
        if key == self.active:
            return
        unread, mentions = self._after_marker(buffer, buffer.lines)
        if (unread, mentions) != (buffer.unread, buffer.mentions):
            buffer.unread, buffer.mentions = unread, mentions
            events.append(BuffersChanged())

    def _markread_failed(self, msg: Message) -> None:
        # No account, or the server cannot keep markers: stop asking (until we log in).
        if msg.params[1:2] in (("ACCOUNT_REQUIRED",), ("INTERNAL_ERROR",)):
            self._markers_refused = True

    def _logged_in(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        """Logged in (900): the account's markers now apply; ask for those of our windows."""
        self._markers_refused = False
        if not self.markers_supported or not self.registered:
            return
        for buffer in self.buffers.values():
            if buffer.joined or buffer.kind is BufferKind.QUERY:
                self._send("MARKREAD", buffer.name)
        self._mark_read(self.active)

    # -- edits ------------------------------------------------------------------------------

    @property
    def edit_supported(self) -> bool:
        return {"draft/message-edit", "message-tags"} <= self.caps

    def last_own(self, key: str) -> Line | None:
        """Our newest message in window `key` that the server gave a msgid (editable)."""
        buffer = self.buffers.get(key)
        if buffer is None:
            return None
        for line in reversed(buffer.lines):
            if line.own and line.kind is Kind.MESSAGE and line.msgid:
                return line
        return None

    def _on_edit(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        target_msgid = msg.tags.get("draft/target-msgid")
        text = msg.tags.get("draft/edit-text")
        if not target_msgid or text is None:
            return
        self._seen_before(msg.tags.get("msgid") or None)
        for key, buffer in self.buffers.items():
            for index, line in enumerate(buffer.lines):
                if line.msgid == target_msgid:
                    new_text = strip_formatting(text)
                    mention = not line.own and self._mentions_me(new_text)
                    changed = dataclasses.replace(line, text=new_text, edited=True, mention=mention)
                    buffer.lines[index] = changed
                    events.append(LinesChanged(key, changed))
                    return

    # -- typing -----------------------------------------------------------------------------

    @property
    def typing_supported(self) -> bool:
        return "message-tags" in self.caps

    def composing(self, text: str, now_ms: int) -> None:
        """The input line of the active window now reads `text` (the user typed)."""
        key = self.active
        buffer = self.buffers.get(key)
        if not self.typing_supported or not self.registered or buffer is None:
            return
        if buffer.kind is BufferKind.SERVER or (
            buffer.kind is BufferKind.CHANNEL and not buffer.joined
        ):
            return
        sent = self._typing_sent.get(key)
        if text.strip() and not (text.startswith("/") and not text.startswith("//")):
            if sent is None or sent[0] != "active" or now_ms - sent[1] >= TYPING_ACTIVE_EVERY_MS:
                self._send_typing(buffer.name, "active")
                self._typing_sent[key] = ("active", now_ms, now_ms)
            else:
                self._typing_sent[key] = (sent[0], sent[1], now_ms)
        elif sent is not None:
            self._send_typing(buffer.name, "done")
            del self._typing_sent[key]

    def tick(self, now_ms: int) -> list[Event]:
        """Time passed (the UI calls this every second): move the read marker of the window
        shown past what arrived in it, send `paused` for an idle input, forget others' stale
        typing notices."""
        events: list[Event] = []
        if self.active in self._marker_due:
            self._mark_read(self.active)
        self._marker_due.clear()
        for key, (state, _, key_ms) in list(self._typing_sent.items()):
            buffer = self.buffers.get(key)
            if buffer is None or not self.registered:
                del self._typing_sent[key]
            elif state == "active" and now_ms - key_ms >= TYPING_PAUSED_AFTER_MS:
                self._send_typing(buffer.name, "paused")
                self._typing_sent[key] = ("paused", now_ms, key_ms)
        for key, buffer in self.buffers.items():
            stale = [
                folded
                for folded, (_, state, heard) in buffer.typing.items()
                if now_ms - heard
                >= (TYPING_ACTIVE_EXPIRES_MS if state == "active" else TYPING_PAUSED_EXPIRES_MS)
            ]
            for folded in stale:
                del buffer.typing[folded]
            if stale:
                events.append(TypingChanged(key))
        return events

    def typing_nicks(self, key: str) -> list[str]:
        """Who is typing in window `key` (active or paused), in the order they started."""
        buffer = self.buffers.get(key)
        return [nick for nick, _, _ in buffer.typing.values()] if buffer else []

    def _send_typing(self, target: str, state: str) -> None:
        self._send("TAGMSG", target, tags={"+typing": state})

    def _message_sent(self, key: str) -> None:
        """A message went to window `key`: it implies `done` for our typing notice."""
        self._typing_sent.pop(key, None)

    def _typing_heard(self, key: str, nick: str, state: str, now_ms: int) -> bool:
        """Record `nick`'s typing notice in window `key`; whether anything changed."""
        buffer = self.buffers.get(key)
        if buffer is None:
            return False
        folded = self.fold(nick)
        if state in ("active", "paused"):
            buffer.typing[folded] = (nick, state, now_ms)
            return True
        return buffer.typing.pop(folded, None) is not None

    # -- WHO flags --------------------------------------------------------------------------

    def _request_who(self, name: str) -> None:
        """After our JOIN: ask for members' away and bot flags, when the server has them."""
        if "away-notify" in self.caps or "BOT" in self.isupport:
            self._who_requested.add(self.fold(name))
            self._send("WHO", name)

    def _who_reply(self, params: tuple[str, ...], events: list[Event]) -> bool:
        """A 352 (`<me> <channel> <user> <host> <server> <nick> <flags> :…`) or 315 for a WHO
        we asked for: members updated; whether it was ours (then it is not shown)."""
        if len(params) < 2 or self.fold(params[1]) not in self._who_requested:
            return False
        key = self.fold(params[1])
        if len(params) < 7:  # 315: the end
            self._who_requested.discard(key)
            events.append(MembersChanged(key))
            return True
        buffer = self.buffers.get(key)
        member = buffer.members.get(self.fold(params[5])) if buffer else None
        if member is not None:
            flags = params[6]
            member.away = flags.startswith("G")
            bot_flag = self.isupport.get("BOT", "")
            member.bot = bool(bot_flag) and bot_flag in flags[1:]
        return True

    def _bot_tag(self, key: str, nick: str) -> None:
        """A message tagged `bot`: its sender is a bot."""
        buffer = self.buffers.get(key)
        member = buffer.members.get(self.fold(nick)) if buffer else None
        if member is not None:
            member.bot = True
