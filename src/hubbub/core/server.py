"""ChatServer: the chat network as a pure state machine, and the entry points transports call.

Theory of operation
-------------------
A transport calls `connect` once per connection, `receive` once per decoded line, and
`disconnect` when the connection goes away; each call carries the current wall-clock time. The
core answers by writing bytes to the connection's `Link` (and to the links of everyone else the
line concerns) and by appending records to the `HistoryService`. It never blocks, awaits or reads
a clock. The one asynchronous step, reading history, is a `HistoryService.query` whose answer
comes back later as a plain call (see `hubbub.core.history`).

Concurrency rules: every method runs on one thread (the event loop); no state is shared with
any other thread. The only other thread is the history worker, which sees nothing but records.

Fan-out is the hot path: a line for a room is formatted at most once per tag profile (see
`hubbub.core.model`) and the same bytes object goes to every member's link.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable

from hubbub import __version__
from hubbub.config import Config

# The handler modules fill the command table when imported.
from hubbub.core import channels, messaging, modes, queries, redact, registration, sasl  # noqa: F401
from hubbub.core.accounts import AccountState
from hubbub.core.accounts import tick as accounts_tick
from hubbub.core.budget import channel_removed
from hubbub.core.chanserv import RegistryState
from hubbub.core.commands import COMMANDS
from hubbub.core.history import store_event
from hubbub.core.histserv import HistServ
from hubbub.core.model import (
    PROFILE_ACCOUNT,
    PROFILE_TAGS,
    PROFILE_TIME,
    Channel,
    Phase,
    Session,
    User,
    WhowasEntry,
)
from hubbub.core.operators import OperState, apply_config, expire, refuse_connection
from hubbub.core.ports import AccountService, HistoryService, Link, RegistryService
from hubbub.core.reply import Reply, clip
from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import Casemapping
from hubbub.protocol.message import (
    ProtocolError,
    escape_tag_value,
    parse,
)
from hubbub.protocol.servertime import format_server_time

log = logging.getLogger("hubbub.chat")

NICK_SPECIAL = set("[]\\`_^{|}")
NICK_REST = NICK_SPECIAL | set("-")
# Characters that can never be part of a channel name: they delimit parameters or lists.
CHANNEL_FORBIDDEN = set(" ,\x07\x00\r\n:")


class ChatServer:
    """One IRC server's whole state, driven by its transports."""

    def __init__(
        self,
        config: Config,
        history: HistoryService,
        *,
        instance_id: str | None = None,
        accounts: AccountService | None = None,
        registry: RegistryService | None = None,
    ) -> None:
        self.config = config
        self.history = history
        self.name = config.server.name
        self.casemap = Casemapping.from_name(config.server.casemapping)
        self.fold = self.casemap.fold
        self.sessions: set[Session] = set()
        self.users: dict[str, User] = {}  # casefolded nick -> user (registered or reserving)
        self.channels: dict[str, Channel] = {}  # casefolded name -> channel
        self.channels_by_address: dict[str, int] = {}  # rooms created per address (budget)
        self.whowas: deque[WhowasEntry] = deque(maxlen=config.limits.whowas_entries)
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self.version = f"hubbub-{__version__}"
        self.max_users = 0
        # Kept up to date as users register, quit and change +i (LUSERS reads them).
        self.registered_count = 0
        self.invisible_count = 0
        self.now = 0.0
        self.deferred: list[Callable[[], None]] = []
        # msgids must be unique across restarts too: a random per-process prefix and a counter.
        self._msgid_prefix = instance_id if instance_id is not None else os.urandom(6).hex()
        self._msgid_counter = 0
        self._last_time_ms = 0
        self.isupport = self._isupport_tokens()
        # Accounts, NickServ and nick ownership (hubbub.core.accounts); without a service, a
        # memory store used synchronously (core tests).
        self.acc = AccountState(self, accounts)
        # Operators (hubbub.core.operators); registered channels and server bans, ChanServ
        # (hubbub.core.chanserv); HistServ (hubbub.core.histserv). Without a registry service,
        # a memory store used synchronously (core tests).
        self.opers = OperState()
        self.reg = RegistryState(self, registry)
        self.hist = HistServ(self)

    # ------------------------------------------------------------------ transport entry points

    def connect(
        self,
        link: Link,
        host: str,
        port: int,
        now: float,
        *,
        secure: bool = False,
        certfp: str | None = None,
    ) -> Session:
        session = Session(link, host, port, now, secure)
        session.certfp = certfp  # SHA-256 of a TLS client certificate (SASL EXTERNAL)
        self.now = now
        if not self.opers.started:
            self.opers.started = now
        if self.reg.bans and refuse_connection(self, session):  # D-lined
            session.phase = Phase.CLOSED
            return session
        self.sessions.add(session)
        return session

    def tick(self, now: float) -> None:
        """Time passes: the transport calls this periodically (nick ownership grace periods,
        expiring K-lines and D-lines)."""
        accounts_tick(self, now)
        expire(self, now)

    def rehash(self, config: Config) -> list[str]:
        """Use a configuration re-read by the application (REHASH, SIGHUP): operators, MOTD,
        limits and the other settings that can change while running. Returns the restart-only
        settings that changed and were kept (hubbub.core.operators.live_config)."""
        return apply_config(self, config)

    def receive(self, session: Session, line: str, now: float) -> None:
        if session.phase is Phase.CLOSED:
            return
        self.now = now
        try:
            msg = parse(line)
        except ProtocolError:
            # Malformed lines (no command, a bad command token) are dropped, as ircds do:
            # there is no command to name in an error reply.
            return
        spec = COMMANDS.get(msg.command)
        label = msg.tags.get("label") if msg.tags else None
        reply = Reply(session, self.name, label)
        if spec is None:
            if session.phase is Phase.REGISTERED:
                reply.numeric(n.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            else:
                reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif not spec.before_registration and session.phase is not Phase.REGISTERED:
            reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif len(msg.params) < spec.min_params:
            reply.numeric(n.ERR_NEEDMOREPARAMS, msg.command, "Not enough parameters")
        else:
            if spec.activity:
                session.user.last_active = now
            spec.handler(self, reply, msg)
        if not session.closed:  # the handler may have closed it (QUIT, bad password)
            reply.flush()
        if self.deferred:
            # Work that must follow the reply on the wire (a join's history replay).
            pending, self.deferred = self.deferred, []
            for action in pending:
                action()

    def line_too_long(self, session: Session) -> None:
        if session.phase is Phase.CLOSED:
            return
        reply = Reply(session, self.name, None)
        reply.numeric(n.ERR_INPUTTOOLONG, "Input line was too long")
        reply.flush()

    def invalid_utf8(self, session: Session) -> None:
        if session.phase is Phase.CLOSED:
            return
        reply = Reply(session, self.name, None)
        reply.fail("*", "INVALID_UTF8", text="Message rejected: it was not valid UTF-8")
        reply.flush()

    def disconnect(self, session: Session, reason: str, now: float) -> None:
        if session.phase is Phase.CLOSED:
            return
        self.now = now
        self.quit(session, reason)

    def shutdown(self, reason: str) -> None:
        data = f"ERROR :{reason}\r\n".encode()
        for session in list(self.sessions):
            session.phase = Phase.CLOSED
            session.link.write(data)
            session.link.close()
        self.sessions.clear()
        self.registered_count = self.invisible_count = 0
        self.users.clear()
        self.channels.clear()

    # ------------------------------------------------------------------ identity helpers

    def find_user(self, nick: str) -> User | None:
        user = self.users.get(self.fold(nick))
        if user is None or user.session.phase is not Phase.REGISTERED:
            return self.acc.services.get(self.fold(nick))  # NickServ, or None
        return user

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(self.fold(name))

    def valid_nick(self, nick: str) -> bool:
        if not nick or len(nick) > self.config.limits.nick_length:
            return False
        first = nick[0]
        if not (first.isascii() and first.isalpha()) and first not in NICK_SPECIAL:
            return False
        return all((c.isascii() and c.isalnum()) or c in NICK_REST for c in nick[1:])

    def valid_channel(self, name: str) -> bool:
        if len(name) < 2 or name[0] != "#" or len(name) > self.config.limits.channel_length:
            return False
        return not any(c in CHANNEL_FORBIDDEN for c in name)

    def registered_users(self) -> Iterable[User]:
        return (s.user for s in self.sessions if s.phase is Phase.REGISTERED)

    # ------------------------------------------------------------------ messages out

    def next_msgid(self) -> str:
        self._msgid_counter += 1
        return f"{self._msgid_prefix}-{self._msgid_counter:x}"

    def stamp(self) -> int:
        """Milliseconds for a new event; never earlier than the previous one (clocks step)."""
        time_ms = int(self.now * 1000)
        if time_ms < self._last_time_ms:
            time_ms = self._last_time_ms
        self._last_time_ms = time_ms
        return time_ms

    def fanout(
        self,
        users: Iterable[User],
        line: str,
        time_ms: int,
        msgid: str | None = None,
        client_tags: str = "",
        exclude: User | None = None,
        channel: Channel | None = None,
        tagged_only: bool = False,
        account: str = "",
    ) -> None:
        """Send one line to many users, formatted once per tag profile.

        `client_tags` (already escaped, without '@') go only to message-tags clients;
        `tagged_only` (TAGMSG) skips clients without message-tags entirely. Members of `channel`
        whose join replay is still being read get the bytes held instead of written.
        `account` (the sender's account) goes to account-tag clients.
        """
        base = (line + "\r\n").encode("utf-8", "replace")
        if len(base) > 512:
            base = (clip(line) + "\r\n").encode("utf-8", "replace")
        cache: list[bytes | None] = [base, None, None, None, None, None, None, None]
        held = channel.replaying if channel is not None and channel.replaying else None
        if held is None and channel is not None and users is channel.members:
            # The hot path: a whole room, nobody's replay loading. Members come pre-grouped by
            # profile as their links' write functions, so per member it is one identity test
            # and one call with shared bytes.
            skip = exclude.session.write if exclude is not None else None
            for profile, writers in enumerate(channel.writers_by_profile()):
                if not writers or (tagged_only and not profile & PROFILE_TAGS):
                    continue
                data = cache[profile]
                if data is None:
                    data = cache[profile] = self._tagged(
                        profile, base, time_ms, msgid, client_tags, account
                    )
                for write in writers:
                    if write is not skip:
                        write(data)
            return
        if held is None and not tagged_only:
            for user in users:
                if user is exclude:
                    continue
                session = user.session
                data = cache[session.profile]
                if data is None:
                    profile = session.profile
                    data = cache[profile] = self._tagged(
                        profile, base, time_ms, msgid, client_tags, account
                    )
                session.write(data)
            return
        for user in users:
            if user is exclude:
                continue
            session = user.session
            profile = session.profile
            if tagged_only and not profile & PROFILE_TAGS:
                continue
            data = cache[profile]
            if data is None:
                data = cache[profile] = self._tagged(
                    profile, base, time_ms, msgid, client_tags, account
                )
            if held is not None and user in held:
                held[user].append(data)
            else:
                session.link.write(data)

    def tags_for(
        self, profile: int, time_ms: int, msgid: str | None, client_tags: str, account: str = ""
    ) -> str:
        """The tag section (without '@') a client with this profile gets on an event."""
        parts = []
        if profile & PROFILE_TIME:
            parts.append("time=" + format_server_time(time_ms))
        if account and profile & PROFILE_ACCOUNT:
            parts.append("account=" + escape_tag_value(account))
        if profile & PROFILE_TAGS:
            if msgid is not None:
                parts.append("msgid=" + msgid)
            if client_tags:
                parts.append(client_tags)
        return ";".join(parts)

    def _tagged(
        self,
        profile: int,
        base: bytes,
        time_ms: int,
        msgid: str | None,
        client_tags: str,
        account: str = "",
    ) -> bytes:
        tags = self.tags_for(profile, time_ms, msgid, client_tags, account)
        if not tags:
            return base
        return b"@" + tags.encode("utf-8", "replace") + b" " + base

    def send_self(
        self,
        reply: Reply,
        line: str,
        time_ms: int,
        msgid: str | None = None,
        client_tags: str = "",
        account: str = "",
    ) -> None:
        """An event the requester sees about itself (its own JOIN, echo), tagged for its caps."""
        tags = self.tags_for(reply.session.profile, time_ms, msgid, client_tags, account)
        reply.add(line, tags)

    def neighbours(self, user: User) -> set[User]:
        """Everyone who shares at least one channel with `user` (not the user itself)."""
        seen: set[User] = set()
        for channel in user.channels.values():
            seen.update(channel.members)
        seen.discard(user)
        return seen

    # ------------------------------------------------------------------ leaving

    def quit(self, session: Session, reason: str) -> None:
        """Remove a connection from the network: QUIT to its neighbours, ERROR to it, close."""
        user = session.user
        was_registered = session.phase is Phase.REGISTERED
        session.phase = Phase.CLOSED
        self.sessions.discard(session)
        if was_registered:
            self.registered_count -= 1
            self.invisible_count -= user.invisible
            time_ms = self.stamp()
            msgid = self.next_msgid()
            self.fanout(self.neighbours(user), f":{user.prefix} QUIT :{reason}", time_ms, msgid)
            for channel in user.channels.values():
                store_event(self, channel, user, "QUIT", (reason,), time_ms, msgid)
            for channel in list(user.channels.values()):
                self.remove_member(channel, user)
            self.whowas.appendleft(
                WhowasEntry(user.nick, user.username, user.hostname, user.realname, int(self.now))
            )
            log.info("%s quit (%s)", user.prefix, reason)
        if user.fold and self.users.get(user.fold) is user:
            del self.users[user.fold]
        host = user.hostname
        error = clip(f"ERROR :Closing link: ({user.username or '*'}@{host}) [{reason}]")
        session.link.write((error + "\r\n").encode("utf-8", "replace"))
        session.link.close()

    def remove_member(self, channel: Channel, user: User) -> None:
        channel.members.pop(user, None)
        channel.groups = None
        held = channel.replaying.pop(user, None)
        if held and not user.session.closed:
            # Leaving (PART, KICK) before the join replay came: skip the replay, but deliver
            # what the room said meanwhile, the KICK included.
            user.session.link.write(b"".join(held))
        user.channels.pop(channel.fold, None)
        if not channel.members and channel.registered is None:  # registered ones stay, empty
            del self.channels[channel.fold]
            channel_removed(self, channel)

    # ------------------------------------------------------------------ ISUPPORT

    def _isupport_tokens(self) -> list[str]:
        limits = self.config.limits
        history = self.config.history
        tokens = [
            f"AWAYLEN={limits.away_length}",
            f"CASEMAPPING={self.casemap.value}",
            f"CHANLIMIT=#:{limits.channels_per_user}",
            "CHANMODES=b,k,l,imnst",
            f"CHANNELLEN={limits.channel_length}",
            "CHANTYPES=#",
            "ELIST=U",
            f"KICKLEN={limits.kick_length}",
            f"MAXLIST=b:{limits.list_modes}",
            f"MAXTARGETS={limits.max_targets}",
            f"MODES={limits.modes_per_command}",
            f"NETWORK={self.config.server.network}",
            f"NICKLEN={limits.nick_length}",
            "PREFIX=(ov)@+",
            "STATUSMSG=@+",
            f"TARGMAX=PRIVMSG:{limits.max_targets},NOTICE:{limits.max_targets},TAGMSG:"
            f"{limits.max_targets},JOIN:,PART:,KICK:{limits.max_targets},NAMES:1,WHOIS:1",
            f"TOPICLEN={limits.topic_length}",
            f"USERLEN={limits.user_length}",
            "WHOX",
        ]
        if history.replay_on_join >= 0:
            tokens.append(f"CHATHISTORY={history.chathistory_max}")
            tokens.append("MSGREFTYPES=msgid,timestamp")
        return sorted(tokens)
