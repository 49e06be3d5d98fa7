"""ChatServer: the chat network as a pure state machine, and the entry points transports call.

Theory of operation
-------------------
A transport calls `connect` once per connection, `receive` once per decoded line, and
`disconnect` when the connection goes away; each call carries the current wall-clock time. The
core answers by writing bytes to the connection's `Link` (and to the links of everyone else the
line concerns) and by appending records to the `HistoryService`. It never blocks, awaits or reads
a clock; everything it needs from outside comes through `hubbub.core.ports.Ports`.

Per client, replies come in the order of its commands. A command that waits on a worker (a
password check, a history read) answers through `Reply.later`; until that answer is written,
the client's next lines wait in its own bounded queue (`limits.pending_lines`; more is "Excess
Flood") and run, in order, once it is (`resume`). Other clients never wait.

Concurrency rules: every method runs on one thread (the event loop); no state is shared with
any other thread. Workers see only the functions and records handed to them.

Fan-out is the hot path: a line for a room is formatted at most once per tag profile (see
`hubbub.core.model`) and the same bytes object goes to every member's link.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable
from itertools import repeat
from operator import call
from typing import Any

from hubbub import __version__
from hubbub.config import Config

# The handler modules fill the command table when imported.
from hubbub.core import (  # noqa: F401
    bans,
    channels,
    edit,
    help,
    messaging,
    metadata,
    modes,
    monitor,
    multiline,
    operators,
    queries,
    readmarker,
    redact,
    register,
    registration,
    rename,
    sasl,
    whowas,
)
from hubbub.core.accounts import AccountState
from hubbub.core.bans import expire, refuse_connection
from hubbub.core.botmode import BOT_MODE
from hubbub.core.budget import channel_removed, take_output_cost
from hubbub.core.chanserv import CHANSERV
from hubbub.core.commands import COMMANDS
from hubbub.core.counters import FANOUT_BUCKETS, Counters
from hubbub.core.elist import ELIST
from hubbub.core.history import store_event
from hubbub.core.histserv import HISTSERV, HistServ
from hubbub.core.listmodes import EXTBAN_TYPES
from hubbub.core.liveconfig import apply_config
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
from hubbub.core.monitor import MonitorIndex, went_offline
from hubbub.core.network import ClusterState
from hubbub.core.nickserv import NICKSERV
from hubbub.core.operators import RehashHook
from hubbub.core.ownership import tick as ownership_tick
from hubbub.core.ports import Census, Link, Ports
from hubbub.core.registered import RegistryState
from hubbub.core.reply import Reply, clip, encode_line
from hubbub.core.services import service_user
from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import Casemapping
from hubbub.protocol.message import (
    ProtocolError,
    escape_tag_value,
    parse,
)
from hubbub.protocol.servertime import Zone, format_server_time, format_utc

log = logging.getLogger("hubbub.chat")

NICK_SPECIAL = set("[]\\`_^{|}")
NICK_REST = NICK_SPECIAL | set("-")
# Characters that can never be part of a channel name: they delimit parameters or lists.
CHANNEL_FORBIDDEN = set(" ,\x07\x00\r\n:")
# IRCv3 message-tags: a client's tag data (between '@' and the space) is at most 4094 bytes.
MAX_CLIENT_TAG_DATA = 4094


def too_many_tags(line: str) -> bool:
    """Whether a line's tag data (between '@' and the first space) is over 4094 bytes. Only a
    tag section long enough to possibly be is encoded (a character is at most 4 bytes)."""
    end = line.find(" ")
    return end > MAX_CLIENT_TAG_DATA // 4 and len(line[1:end].encode()) > MAX_CLIENT_TAG_DATA


class Refused:
    """A line the transport had to refuse, waiting in a client's queue like a line."""

    __slots__ = ("invalid_utf8",)

    def __init__(self, invalid_utf8: bool) -> None:
        self.invalid_utf8 = invalid_utf8


# Runs an iterator to its end in C, keeping nothing (fan-out's calls through `map`).
_run: Callable[[Iterable[object]], None] = deque[object](maxlen=0).extend
# A list's own append, called with the list: fan-out's per-member call (Channel.boxes).
_append = list.append
# Takes the sender's own line in its place during a room fan-out (see `fanout`), emptied after.
_SCRATCH: list[bytes] = []

TOO_LONG = Refused(False)
NOT_UTF8 = Refused(True)


class ChatServer:
    """One IRC server's whole state, driven by its transports."""

    def __init__(self, config: Config, ports: Ports, *, instance_id: str | None = None) -> None:
        self.config = config
        self.history = ports.history
        self.randomness = ports.randomness
        self.started = ports.started
        self.zones = ports.zones
        #: Logs a room message at INFO: (room, nick, text) (hubbub.core.messaging).
        self.room_log = ports.room_log or messaging.log_room
        self.name = config.server.name
        self.casemap = Casemapping.from_name(config.server.casemapping)
        self.fold = self.casemap.fold
        self.sessions: set[Session] = set()
        self.users: dict[str, User] = {}  # casefolded nick -> user (registered or reserving)
        self.channels: dict[str, Channel] = {}  # casefolded name -> channel
        self.channels_by_address: dict[str, int] = {}  # rooms created per address (budget)
        self.whowas: deque[WhowasEntry] = deque(maxlen=config.limits.whowas_entries)
        self.created = format_utc(ports.started, "%Y-%m-%d %H:%M:%S UTC")
        self.version = f"hubbub-{__version__}"
        self.max_users = 0
        # The most users of the whole network LUSERS has counted (on one node: max_users).
        self.max_network_users = 0
        # Kept up to date as users register, quit and change +i (LUSERS reads them).
        self.registered_count = 0
        self.invisible_count = 0
        self.now = ports.started
        # msgids must be unique across restarts too: a random per-process prefix and a counter.
        self._msgid_prefix = (
            instance_id if instance_id is not None else ports.randomness.token_hex(6)
        )
        self._msgid_counter = 0
        self._last_time_ms = 0
        self.isupport = self.isupport_tokens()
        # While a handler runs, sessions whose late answers came in meanwhile wait here to be
        # resumed (a handler never runs inside another one).
        self._dispatching = False
        self._stalled: list[Session] = []
        # Pseudo-users (hubbub.core.services), by casefolded nick: found by find_user, never in
        # self.users or self.sessions (they have no connection).
        self.services: dict[str, User] = {}
        self.nickserv = service_user(self, NICKSERV)
        service_user(self, CHANSERV)
        service_user(self, HISTSERV)
        # Accounts and nick ownership (hubbub.core.accounts); registered channels and server
        # bans (hubbub.core.registered); HistServ's pending deletions.
        self.accounts = AccountState(config.accounts, ports.accounts, ports.passwords)
        self.registry = RegistryState(self, ports.registry, ports.network is not None)
        metadata.load_channels(self)  # after the registered channels it belongs to
        self.histserv = HistServ()
        #: Integers for operators (hubbub.core.counters), read by hubbub.metrics when scraped.
        self.counters = Counters()
        # MONITOR (hubbub.core.monitor): casefolded nick -> its watchers, and each watcher's list.
        self.monitor = MonitorIndex()
        #: Set by the application: how REHASH re-reads the configuration (None: it cannot).
        self.rehash_hook: RehashHook | None = None
        #: Cluster mode (hubbub.core.network): room events are sequenced network-wide through
        #: the `Network` port. None on a single node, where nothing else changes.
        self.cluster = ClusterState(self, ports.network) if ports.network is not None else None
        #: Users that fan-out skips while a room event they were shown already is applied
        #: again (hubbub.core.cluster_rename: a renamed copy replacing one opened meanwhile).
        self.heard: Collection[User] = ()

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
        if self.registry.bans and refuse_connection(self, session):  # D-lined
            session.phase = Phase.CLOSED
            return session
        self.sessions.add(session)
        return session

    def tick(self, now: float) -> None:
        """Time passes: the transport calls this periodically (nick ownership grace periods,
        expiring K-lines and D-lines)."""
        ownership_tick(self, now)
        expire(self, now)

    def rehash(self, config: Config) -> list[str]:
        """Use a configuration re-read by the application (REHASH, SIGHUP): operators, MOTD,
        limits and the other settings that can change while running. Returns the restart-only
        settings that changed and were kept (hubbub.core.liveconfig.live_config)."""
        return apply_config(self, config)

    def receive(self, session: Session, line: str, now: float) -> None:
        if session.phase is Phase.CLOSED:
            return
        self.now = now
        if session.waiting is not None:  # a command of this client waits on a worker
            self._hold(session, line)
            return
        self._dispatch(session, line)

    def line_too_long(self, session: Session) -> None:
        if session.phase is Phase.CLOSED:
            return
        if session.waiting is not None:
            self._hold(session, TOO_LONG)
            return
        self._refuse(session, TOO_LONG)

    def invalid_utf8(self, session: Session) -> None:
        if session.phase is Phase.CLOSED:
            return
        if session.waiting is not None:
            self._hold(session, NOT_UTF8)
            return
        self._refuse(session, NOT_UTF8)

    def _refuse(self, session: Session, refused: Refused) -> None:
        reply = Reply(self, session, None)
        if refused.invalid_utf8:
            reply.fail("*", "INVALID_UTF8", text="Message rejected: it was not valid UTF-8")
        else:
            reply.numeric(n.ERR_INPUTTOOLONG, "Input line was too long")
        reply.flush()

    def _dispatch(self, session: Session, line: str) -> None:
        """Run one command: parse, check, call the handler, write (or queue) its reply."""
        try:
            msg = parse(line)
        except ProtocolError:
            # Malformed lines (no command, a bad command token) are dropped, as ircds do:
            # there is no command to name in an error reply.
            return
        spec = COMMANDS.get(msg.command)
        label = msg.tags.get("label") if msg.tags else None
        reply = Reply(self, session, label)
        if msg.tags and too_many_tags(line):
            # IRCv3 message-tags: more than 4094 bytes of tag data is refused, never cut.
            reply.label = None
            reply.numeric(n.ERR_INPUTTOOLONG, "Input line was too long")
        elif spec is None:
            if session.phase is Phase.REGISTERED:
                reply.numeric(n.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            else:
                reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif not spec.before_registration and session.phase is not Phase.REGISTERED:
            reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif len(msg.params) < spec.min_params:
            reply.numeric(n.ERR_NEEDMOREPARAMS, msg.command, "Not enough parameters")
        elif spec.oper and not session.user.oper:
            reply.numeric(n.ERR_NOPRIVILEGES, "Permission Denied - You're not an IRC operator")
        else:
            if spec.activity:
                session.user.last_active = self.now
            counters = self.counters
            commands_in = counters.commands_in
            commands_in[msg.command] = commands_in.get(msg.command, 0) + 1
            counters.command = msg.command
            self._dispatching = True
            try:
                # A line of an open draft/multiline batch is collected, not run (only then
                # does the hot path look further than this one attribute).
                if session.multiline is None or not multiline.collect(self, reply, msg):
                    spec.handler(self, reply, msg)
            finally:
                self._dispatching = False
                counters.command = ""
        if reply.pending or reply.followers:
            # Part of the answer waits on a worker: the client's next lines wait behind it.
            waiting = session.waiting
            if waiting is None:
                waiting = session.waiting = deque()
            # (Its followers stay with it, and go right behind it when it is written, with any
            # made meanwhile after them: queued now, one made later went in front of them.)
            waiting.append(reply)
        elif not session.closed:  # the handler may have closed it (QUIT, bad password)
            reply.flush()
        if self._stalled:
            stalled, self._stalled = self._stalled, []
            for other in stalled:
                self.resume(other)
        if session.waiting is not None:
            self.resume(session)

    def _hold(self, session: Session, item: str | Refused) -> None:
        backlog = session.backlog
        if backlog is None:
            backlog = session.backlog = deque()
        if len(backlog) >= self.config.limits.pending_lines:
            log.info("%s sent too much while a command waited: Excess Flood", session.host)
            self.quit(session, "Excess Flood")
            return
        backlog.append(item)

    def resume(self, session: Session) -> None:
        """A late answer came in (`Reply.later`): write the replies that are complete, in
        order; once none waits, run the lines the client sent meanwhile, in order."""
        if self._dispatching:
            self._stalled.append(session)  # after the running handler
            return
        waiting = session.waiting
        if waiting is None:
            return
        if session.closed:
            session.waiting = session.backlog = None
            return
        while waiting and not waiting[0].pending:
            reply = waiting.popleft()
            if reply.followers:  # its followers go right behind it, in the order made
                waiting.extendleft(reversed(reply.followers))
                reply.followers = None
            reply.flush()
        if waiting:
            return
        session.waiting = None
        backlog = session.backlog
        while backlog and session.waiting is None and not session.closed:
            item = backlog.popleft()
            if isinstance(item, Refused):
                self._refuse(session, item)
            else:
                self._dispatch(session, item)
        if not backlog:
            session.backlog = None

    def disconnect(self, session: Session, reason: str, now: float) -> None:
        if session.phase is Phase.CLOSED:
            return
        self.now = now
        self.counters.command = "QUIT"
        try:
            self.quit(session, reason)
        finally:
            self.counters.command = ""

    def apply_sequenced(self, room: str, seq: int, time_ms: int, node: str, payload: bytes) -> None:
        """Cluster mode: a room event sequenced network-wide (by any node), given by the node
        for every subscribed room in sequence order (hubbub.core.network)."""
        if self.cluster is not None:
            self.cluster.apply(room, seq, time_ms, node, payload)

    def network_available(self, available: bool) -> None:
        """Cluster mode: the bus was lost (False: room events are refused meanwhile) or is back
        (True: what could not be sequenced meanwhile is sent again)."""
        if self.cluster is not None:
            self.cluster.set_available(available)

    def output_cost(self, session: Session) -> float:
        """The flood tokens `session` owes for the size of its answers since the last call
        (hubbub.core.budget); the transport charges them to its flood bucket. Called after
        every line: most answer nothing (a room message) or one line, which cost nothing."""
        if session.output_lines <= 1:
            session.output_lines = 0
            return 0.0
        return take_output_cost(self, session)

    def shutdown(self, reason: str) -> None:
        for session in list(self.sessions):
            link = session.link
            if self.cluster is not None and session.phase is Phase.REGISTERED:
                # The other nodes' users see this node's users leave (hubbub.core.network).
                self.cluster.quit(session.user, reason, True)
            session.phase = Phase.CLOSED
            session.waiting = session.backlog = None
            link.write(encode_line(clip(f"ERROR :{reason}") + "\r\n"))
            link.close()
        self.sessions.clear()
        self.registered_count = self.invisible_count = 0
        self.users.clear()
        self.channels.clear()

    def disconnect_users(self, reason: str, now: float) -> None:
        """Cluster mode: disconnect every registered user (QUIT, ERROR with `reason`). For a
        node declared dead while it was cut off from the bus: every other node has seen its
        users QUIT and their nicks may have been given to others, so they leave here too and
        their clients reconnect, rather than stay in rooms where nobody else sees them."""
        # (In one order, the users' network ids', wherever the sessions are kept in memory:
        # their QUITs reach the bus in it.)
        registered = [s for s in self.sessions if s.phase is Phase.REGISTERED]
        for session in sorted(registered, key=lambda session: session.user.network_id):
            self.disconnect(session, reason, now)

    # ------------------------------------------------------------------ identity helpers

    def find_user(self, nick: str) -> User | None:
        user = self.users.get(self.fold(nick))
        if user is None or user.session.phase is not Phase.REGISTERED:
            return self.services.get(self.fold(nick))  # NickServ, ChanServ, HistServ, or None
        return user

    @property
    def replay_zone(self) -> Zone:
        """The zone of the [HH:MM] replay prefix (history.replay_time_zone; REHASH may change
        it, and the application has looked it up already, so this reads nothing)."""
        return self.zones(self.config.history.replay_time_zone)

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

    def census(self) -> Census | None:
        """The rest of the network as this node last counted it (LUSERS, LINKS, WHOIS); None
        on one server, or before a cluster node's first count."""
        return self.cluster.network.census() if self.cluster is not None else None

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
        `tagged_only` (TAGMSG) skips clients without message-tags entirely. Users whose join
        replay is still being read get the bytes held instead of written (Session.hold).
        `account` (the sender's account) goes to account-tag clients.
        """
        if self.heard:
            heard = self.heard
            users = [user for user in users if user not in heard]
        base = encode_line(line + "\r\n")
        if len(base) > 512:
            base = encode_line(clip(line) + "\r\n")
        cache: list[bytes | None] = [base, None, None, None, None, None, None, None]
        if channel is not None and users is channel.members:
            # The hot path: a whole room. Members come pre-grouped by profile as their links'
            # writers (mostly plain list appends, see Channel.writers_by_profile; a member whose
            # join replay is being read has its hold's, Session.hold), called by `map` without
            # a Python loop: per member one C-level call with shared bytes. The sender is
            # skipped by its position.
            groups = channel.writers_by_profile()
            boxes = channel.boxes
            position = channel.positions.get(exclude) if exclude is not None else None
            skip_profile = exclude.session.profile if exclude is not None else -1
            sent = 0
            for profile in channel.occupied:  # the profiles with members, not all eight
                if tagged_only and not profile & PROFILE_TAGS:
                    continue
                writers = groups[profile]
                data = cache[profile]
                if data is None:
                    data = cache[profile] = self._tagged(
                        profile, base, time_ms, msgid, client_tags, account
                    )
                # The lists themselves through `list.append` when the group has them (see
                # Channel.boxes), else each writer through `operator.call`: same order.
                box = boxes[profile]
                function: Callable[..., object] = call if box is None else _append
                targets: list[Any] = writers if box is None else box
                if position is not None and profile == skip_profile:
                    sent += len(targets) - 1
                    if box is not None:
                        # The sender's outbox swapped for a scratch list for the one pass
                        # (nothing a list append does can see it): no copies of the group.
                        own = box[position]
                        box[position] = _SCRATCH
                        try:
                            _run(map(_append, box, repeat(data)))
                        finally:
                            box[position] = own
                            _SCRATCH.clear()
                    else:
                        _run(map(function, targets[:position], repeat(data)))
                        _run(map(function, targets[position + 1 :], repeat(data)))
                else:
                    sent += len(targets)
                    _run(map(function, targets, repeat(data)))
            for touched, links in channel.touches:
                touched(links)
            # Counters.fanout, inlined: this runs for every room message.
            counters = self.counters
            counters.fanouts += 1
            counters.fanout_sizes[min(sent.bit_length(), FANOUT_BUCKETS - 1)] += 1
            deliveries = counters.deliveries
            command = counters.command
            deliveries[command] = deliveries.get(command, 0) + sent
            return
        # Off the room hot path (a few users): the loop is per recipient anyway, and counting
        # there is one local add.
        sent = 0
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
            session.write(data)  # (into its hold while its join replay is read: Session.hold)
            sent += 1
        self.counters.fanout(sent)

    def send_to(self, user: User, line: str) -> None:
        """One line for one user outside any reply to it (a notice from a service, a KILL, a
        MODE change the server made): through fan-out, so clipped and tagged like any event."""
        self.fanout((user,), line, self.stamp())

    def write_line(self, session: Session, line: str) -> None:
        """One line to a connection that is being closed (ERROR), clipped to 512 bytes."""
        session.link.write(encode_line(clip(line) + "\r\n"))

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
        link = session.link  # cluster mode: the session's link is NOWHERE once it quits
        was_registered = session.phase is Phase.REGISTERED
        session.phase = Phase.CLOSED
        session.waiting = session.backlog = None
        held = session.take_held()  # (behind a join replay that will not come now)
        if held:
            link.write(held)
        self.sessions.discard(session)
        if self.cluster is not None:
            # Its QUITs are sequenced and its nick claim released with the last (one bus
            # round trip), then it leaves: once anyone saw it go (its ERROR, its QUIT on any
            # node), the nick is free everywhere (hubbub.core.cluster_propose).
            def leave() -> None:
                self._leave(session, user, link, reason, was_registered)

            self.cluster.release_claim(user, reason, was_registered, leave)
            return
        self._leave(session, user, link, reason, was_registered)

    def _leave(
        self, session: Session, user: User, link: Link, reason: str, was_registered: bool
    ) -> None:
        """The rest of `quit`: QUIT to its neighbours (in cluster mode: sequenced in its
        rooms), ERROR to it, close."""
        forget = True
        if self.cluster is not None:
            # The QUIT is sequenced in each of its rooms; the user stays there, without a
            # connection, until it comes back (hubbub.core.network).
            forget = self.cluster.quit(user, reason, was_registered)
        if was_registered:
            self.registered_count -= 1
            self.invisible_count -= user.invisible
            if self.cluster is None:
                time_ms = self.stamp()
                msgid = self.next_msgid()
                line = f":{user.prefix} QUIT :{reason}"
                self.fanout(self.neighbours(user), line, time_ms, msgid, account=user.account)
                for channel in user.channels.values():
                    store_event(self, channel, user, "QUIT", (reason,), time_ms, msgid)
                for channel in list(user.channels.values()):
                    self.remove_member(channel, user)
            whowas.remember(self, user, user.nick)
            log.info("%s quit (%s)", user.prefix, reason)
            went_offline(self, user.nick, user.fold, user.network_id)
        self.monitor.forget(user)
        if forget and user.fold and self.users.get(user.fold) is user:
            del self.users[user.fold]
        host = user.hostname
        error = f"ERROR :Closing link: ({user.username or '*'}@{host}) [{reason}]"
        link.write(encode_line(clip(error) + "\r\n"))
        link.close()

    def remove_member(self, channel: Channel, user: User) -> None:
        channel.members.pop(user, None)
        channel.groups = None
        held = channel.replaying.pop(user, None)
        if held is not None and not user.session.closed:
            # Leaving (PART, KICK) before the join replay came: the replay is skipped.
            user.session.replay_skipped(held)
        user.channels.pop(channel.fold, None)
        if self.cluster is not None:  # remote members stay until the last local one leaves
            self.cluster.removed(channel, user)
        elif not channel.members and channel.registered is None:  # registered ones stay, empty
            del self.channels[channel.fold]
            channel_removed(self, channel)

    # ------------------------------------------------------------------ ISUPPORT

    def isupport_tokens(self) -> list[str]:
        limits = self.config.limits
        history = self.config.history
        tokens = [
            f"AWAYLEN={limits.away_length}",
            f"BOT={BOT_MODE}",
            f"CASEMAPPING={self.casemap.value}",
            f"CHANLIMIT=#:{limits.channels_per_user}",
            "CHANMODES=beI,k,fl,imnst",
            f"CHANNELLEN={limits.channel_length}",
            "CHANTYPES=#",
            f"ELIST={ELIST}",
            "EXCEPTS=e",
            f"EXTBAN=,{EXTBAN_TYPES}",
            "INVEX=I",
            f"KICKLEN={limits.kick_length}",
            f"MAXLIST=b:{limits.list_modes},e:{limits.list_modes},I:{limits.list_modes}",
            f"MAXTARGETS={limits.max_targets}",
            f"MODES={limits.modes_per_command}",
            f"MONITOR={limits.monitor_entries}",
            f"NETWORK={self.config.server.network}",
            f"NICKLEN={limits.nick_length}",
            "PREFIX=(ov)@+",
            "STATUSMSG=@+",
            f"TARGMAX=PRIVMSG:{limits.max_targets},NOTICE:{limits.max_targets},TAGMSG:"
            f"{limits.max_targets},JOIN:,PART:,KICK:{limits.max_targets},NAMES:{limits.max_targets},WHOIS:1",
            f"TOPICLEN={limits.topic_length}",
            f"USERLEN={limits.user_length}",
            "WHOX",
        ]
        if limits.invalid_utf8 == "reject":
            # UTF8ONLY: "Servers publishing this token MUST NOT relay content ... containing
            # non-UTF-8 data"; with "reject" such a line is refused with FAIL INVALID_UTF8.
            tokens.append("UTF8ONLY")
        if history.replay_on_join >= 0:
            tokens.append(f"CHATHISTORY={history.chathistory_max}")
            tokens.append("MSGREFTYPES=msgid,timestamp")
        return sorted(tokens)
