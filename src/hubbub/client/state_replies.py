"""The server's numeric replies: which window each goes to, and what it changes.

`ReplyState._numeric` routes every three-digit reply: registration ones (001, 005, nick in
use, refusals that end the session) to `RegistrationState`; member lists (353/366) into the
channel's members; topics (332/331) into the window; away replies; errors (4xx/5xx) to the
window they name, else the active one; and anything else, as text, to the server window.
"""

from __future__ import annotations

from hubbub.client.model import Event, Fatal, Kind, Line, Member, MembersChanged
from hubbub.client.state_core import strip_formatting
from hubbub.client.state_modern import ModernState
from hubbub.client.state_registration import RegistrationState
from hubbub.protocol import Message
from hubbub.protocol import numerics as num

__all__ = ["ReplyState"]


class ReplyState(RegistrationState, ModernState):
    """Numeric replies; see the module docstring."""

    def _numeric(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        code = msg.command
        params = msg.params
        if code == num.RPL_WELCOME:
            self._welcome(msg, now_ms, events)
        elif code == num.RPL_ISUPPORT:
            self._isupport(params[1:-1])
            self._watch_wanted_nick()
        elif code == num.RPL_MONOFFLINE and len(params) >= 2:
            self._nicks_offline(params[1])
        elif code == num.RPL_MONONLINE:
            return  # our nick still taken: wait for 731
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
            key, buffer = self._set_topic(params[1], params[2], events)
            self._add(key, [Line(now_ms, Kind.TOPIC, f"topic: {buffer.topic}")], events)
        elif code == num.RPL_NOTOPIC and len(params) >= 2:
            key, buffer = self._set_topic(params[1], "", events)
            self._add(key, [Line(now_ms, Kind.TOPIC, f"{buffer.name} has no topic")], events)
        elif code in (num.RPL_TOPICWHOTIME, num.RPL_CREATIONTIME, num.RPL_CHANNELMODEIS):
            return
        elif code in (num.RPL_WHOREPLY, num.RPL_ENDOFWHO) and self._who_reply(params, events):
            return  # a WHO the client asked for itself: members updated, nothing to show
        elif code == num.RPL_LOGGEDIN:
            self._logged_in(msg, now_ms, events)
            self._server_info(params[-1], now_ms, events)
        elif code in (num.RPL_NOWAWAY, num.RPL_UNAWAY):
            self._note(None, params[-1], now_ms, events)
        elif code == num.RPL_AWAY and len(params) >= 3:
            self._note(self.fold(params[1]), f"{params[1]} is away: {params[2]}", now_ms, events)
        elif code >= "400" and code < "600":
            self._error_numeric(msg, now_ms, events)
        else:
            text = " ".join(params[1:]) if len(params) > 1 else " ".join(params)
            self._server_info(strip_formatting(text), now_ms, events)

    def _names_reply(self, channel: str, names: str) -> None:
        # 353 comes in pieces; the list is collected and replaces the members at 366.
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
        self._note(self.fold(target) if target else None, text, now_ms, events, Kind.ERROR)
