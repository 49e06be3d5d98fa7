"""Getting onto a server and staying there: the connection's lifecycle, CAP and ISUPPORT.

`RegistrationState` queues `PASS`/`CAP LS 302`/`NICK`/`USER` when a connection opens,
negotiates the capabilities in `WANTED_CAPS` the server offers (and later `CAP NEW`/`DEL`),
answers PING, re-joins the wanted channels on 001, learns the server's names and limits from
005 (`CASEMAPPING`, `PREFIX`, `CHANTYPES`, …), moves to `nick_`, `nick__`, … while our nick is
taken — and takes it back when the server says it is free (MONITOR; after a move to another
node of a network, our nick is held by our own lost connection until the network drops it) —
and marks every channel left when the connection goes away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hubbub.client.model import (
    Buffer,
    BufferKind,
    Disconnected,
    Event,
    Fatal,
    Kind,
    Line,
    MembersChanged,
    Registered,
)
from hubbub.client.state_core import SERVER, StateCore
from hubbub.protocol import Casemapping, Message

__all__ = ["MAX_NICK_ATTEMPTS", "RegistrationState"]

MAX_NICK_ATTEMPTS = 6
JOINS_PER_LINE = 10  # channels named in one JOIN when re-joining after registration


def _cap_names(caps: Iterable[str]) -> set[str]:
    """Capability names without their values (`sasl=PLAIN` → `sasl`)."""
    return {cap.partition("=")[0] for cap in caps}


def _cap_values(caps: Iterable[str]) -> dict[str, str]:
    """Capability name → its value (`draft/multiline=max-bytes=4096,…`), "" when none."""
    return {name: value for name, _, value in (cap.partition("=") for cap in caps)}


class RegistrationState(StateCore):
    """Connection lifecycle, CAP negotiation, 001/005 and nick fallback; see the docstring."""

    # -- connection lifecycle ---------------------------------------------------------------

    def connected(self, now_ms: int) -> list[Event]:
        """A new connection is open: queue registration."""
        self.connected_now = True
        self.registered = False
        self.caps.clear()
        self.offered_caps.clear()
        self.cap_values.clear()
        self._ls_caps = []
        self._batches.clear()
        self._names.clear()
        self._nick_attempt = 0
        self._regain = None  # a MONITOR list lives as long as its connection
        self._error = None
        self._markers_refused = False
        self._typing_sent.clear()
        self._who_requested.clear()
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
        for buffer in self.buffers.values():
            buffer.typing.clear()  # nobody's notice will be ended now
        for key, buffer in self.buffers.items():
            if buffer.kind is BufferKind.CHANNEL and buffer.joined:
                buffer.joined = False
                buffer.members.clear()
                events.append(MembersChanged(key))
                self._add(key, [line], events)
        self._add(SERVER, [line], events)
        events.append(Disconnected(reason))
        return events

    def _on_ping(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        self._send("PONG", *(msg.params[:1] or ("hubbub",)))

    def _on_error(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        self._error = msg.params[0] if msg.params else "closing link"
        self._server_info(f"server: {self._error}", now_ms, events, Kind.ERROR)

    # -- capabilities -----------------------------------------------------------------------

    def _on_cap(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        if len(msg.params) < 3:
            return
        sub = msg.params[1].upper()
        if sub == "LS":
            more = len(msg.params) > 3 and msg.params[2] == "*"
            self._ls_caps += msg.params[-1].split()
            if more:
                return
            self.offered_caps = _cap_names(self._ls_caps)
            self.cap_values = _cap_values(self._ls_caps)
            self._ls_caps = []
            wanted = [c for c in self.wanted_caps if c in self.offered_caps]
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
            else:
                self._cap_end()
        elif sub == "ACK":
            for cap in msg.params[-1].split():
                if cap.startswith("-"):
                    self.caps.discard(cap[1:])
                else:
                    self.caps.add(cap)
            self._cap_end()
        elif sub == "NAK":
            self._cap_end()
        elif sub == "NEW":
            new = _cap_names(msg.params[-1].split())
            self.offered_caps |= new
            self.cap_values.update(_cap_values(msg.params[-1].split()))
            wanted = [c for c in self.wanted_caps if c in new and c not in self.caps]
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
        elif sub == "DEL":
            gone = _cap_names(msg.params[-1].split())
            self.caps -= gone
            self.offered_caps -= gone

    def _cap_end(self) -> None:
        # The server holds registration until CAP END; a reply to a later REQ (after CAP NEW)
        # comes when we are registered and must not send it again.
        if not self.registered:
            self._send("CAP", "END")

    # -- registration -----------------------------------------------------------------------

    def _welcome(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        self.registered = True
        if msg.params:
            self.nick = msg.params[0]
        self._server_info(msg.params[-1] if msg.params else "welcome", now_ms, events)
        events.append(Registered(self.nick))
        wanted = [
            b.name for b in self.buffers.values() if b.kind is BufferKind.CHANNEL and b.wanted
        ]
        for start in range(0, len(wanted), JOINS_PER_LINE):
            self._send("JOIN", ",".join(wanted[start : start + JOINS_PER_LINE]))

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
        # The keys of windows and members are casefolded names: a new CASEMAPPING rekeys them.
        active = self.buffers.get(self.active)
        rebuilt: dict[str, Buffer] = {}
        for key, buffer in self.buffers.items():
            buffer.members = {self.fold(m.nick): m for m in buffer.members.values()}
            rebuilt[key if key == SERVER else self.fold(buffer.name)] = buffer
        self.buffers = rebuilt
        self.active = next((k for k, b in rebuilt.items() if b is active), SERVER)

    # -- our nick back ----------------------------------------------------------------------

    def _watch_wanted_nick(self) -> None:
        """Registered under a fallback nick: ask the server (MONITOR, when it has it) to say
        when ours is free, to take it back."""
        if (
            self.registered
            and self._regain is None
            and "MONITOR" in self.isupport
            and self.fold(self.nick) != self.fold(self.wanted_nick)
        ):
            self._regain = self.wanted_nick
            self._send("MONITOR", "+", self._regain)

    def _nicks_offline(self, targets: str) -> None:
        """731 RPL_MONOFFLINE: these nicks are free; ours among them is taken back."""
        wanted = self._regain
        if wanted is None or self.fold(self.nick) == self.fold(wanted):
            return
        if any(self.fold(t.partition("!")[0]) == self.fold(wanted) for t in targets.split(",")):
            self._send("NICK", wanted)

    def _stop_watching_nick(self) -> None:
        """Our nick changed (taken back, or the user chose another): nothing left to wait for."""
        if self._regain is not None:
            self._send("MONITOR", "-", self._regain)
            self._regain = None

    def _nick_in_use(self, msg: Message, now_ms: int, events: list[Event]) -> None:
        taken = msg.params[1] if len(msg.params) > 2 else self.nick
        if self.registered:
            self._error_line(f"the nick {taken} is already in use", now_ms, events)
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
