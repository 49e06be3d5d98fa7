"""The chat network's nouns: a Session (one connection), a User (an identity) and a Channel.

Identity and connection are kept apart (as ergo does) so that accounts and several connections
per user can come later without reshaping the channel code: channels hold Users, and a User
reaches its connection through `user.session`.

Everything here is plain data with `__slots__`; the behaviour lives in the command modules.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import BuiltinMethodType
from typing import TYPE_CHECKING

from hubbub.core.ports import Link

if TYPE_CHECKING:
    from hubbub.core.multiline import OpenBatch
    from hubbub.core.registered import Registration
    from hubbub.core.reply import Reply
    from hubbub.core.sasl import SaslState
    from hubbub.core.server import ChatServer, Refused


_NO_CAPS: frozenset[str] = frozenset()


class Phase(enum.Enum):
    """Where a connection is in its life."""

    #: Connected; NICK/USER not both seen yet (and no CAP negotiation under way).
    UNREGISTERED = "unregistered"
    #: CAP LS/REQ was sent before registration finished: the welcome waits for CAP END.
    NEGOTIATING = "negotiating"
    #: Welcome burst sent; every command is open.
    REGISTERED = "registered"
    #: The core is done with it: QUIT, error, or the transport lost it.
    CLOSED = "closed"


# Tag profiles: which server tags a recipient gets on a relayed message. A message is formatted
# at most once per profile, so a fan-out to N members costs at most four formattings.
PROFILE_PLAIN = 0  # no tags at all
PROFILE_TIME = 1  # server-time only
PROFILE_TAGS = 2  # message-tags (msgid and client-only tags), no time
PROFILE_FULL = 3  # both
# account-tag: one more bit. The tag depends on the sender, so a fan-out from a user without an
# account formats profiles 4-7 the same as 0-3 (still at most once per profile, eight in all).
PROFILE_ACCOUNT = 4
PROFILE_COUNT = 8

# Channel modes without a parameter, and the Channel attribute each one sets.
FLAG_MODES = {
    "i": "invite_only",
    "m": "moderated",
    "n": "no_external",
    "s": "secret",
    "t": "topic_locked",
}


class Nowhere:
    """The link of a user on another node of the cluster (hubbub.core.network): it has no
    connection here, so what would be written to it goes nowhere (its own node delivers it)."""

    __slots__ = ()

    def write(self, data: bytes) -> None:
        return None

    def close(self) -> None:
        return None


#: The one link every remote user's session has; `Session.remote` tests for it.
NOWHERE = Nowhere()


class Session:
    """One client connection: its link, negotiated capabilities and registration progress."""

    __slots__ = (
        "address",
        "auth_strikes",
        "backlog",
        "batch_counter",
        "cap_version",
        "caps",
        "certfp",
        "holding",
        "host",
        "link",
        "metadata_bucket",
        "metadata_subs",
        "multiline",
        "output_lines",
        "pass_ok",
        "phase",
        "port",
        "profile",
        "sasl",
        "secure",
        "sent",
        "signon",
        "user",
        "waiting",
        "wanted_nick",
        "write",
    )

    def __init__(self, link: Link, host: str, port: int, now: float, secure: bool) -> None:
        self.link = link
        # The link's write, bound once: fan-out calls it for every member of a room.
        self.write = link.write
        self.host = host
        self.port = port
        self.address = host
        self.secure = secure
        self.signon = now
        self.phase = Phase.UNREGISTERED
        # Negotiated capabilities: replaced, never mutated, so that every session without any
        # shares one empty frozenset (an empty set is 216 bytes per connection).
        self.caps: frozenset[str] = _NO_CAPS
        self.cap_version = 0
        self.pass_ok = False
        self.profile = PROFILE_PLAIN
        self.batch_counter = 0
        # Accounts (hubbub.core.login, hubbub.core.sasl): the TLS client certificate's
        # SHA-256, the SASL exchange under way, and how many throttled login attempts this
        # connection has made.
        self.certfp: str | None = None
        self.sasl: SaslState | None = None
        self.auth_strikes = 0
        # The nick a client not yet registered asked for and was refused as in use: REGISTER *
        # then names it (ACCOUNT_EXISTS when it is an account) rather than NEED_NICK.
        self.wanted_nick = ""
        # Per-client order (ChatServer.receive): the replies not yet written because one of
        # them waits on a worker, and the lines received meanwhile. None while nothing waits.
        self.waiting: deque[Reply] | None = None
        self.backlog: deque[str | Refused] | None = None
        # REDACT (hubbub.core.redact): msgids of the messages this connection sent while not
        # logged in, and of the reactions it sent that were not stored (the newest ones,
        # bounded), so it may redact them; the value is an unstored reaction's target key ("" for
        # a stored message). None until the first.
        self.sent: OrderedDict[str, str] | None = None
        # Lines written in answer to this connection's own commands, not yet charged to its
        # flood bucket (hubbub.core.budget.take_output_cost).
        self.output_lines = 0
        # Metadata (hubbub.core.metadata): the keys this connection subscribed to, and its
        # METADATA SET rate bucket (tokens, time of the last refill); None until first used.
        self.metadata_subs: set[str] | None = None
        self.metadata_bucket: tuple[float, float] | None = None
        # The draft/multiline batch this connection is sending (hubbub.core.multiline).
        self.multiline: OpenBatch | None = None
        # While join replays are read for it (hubbub.core.history): the held bytes of each
        # one's reply, in order; live lines go to the last (`hold`). None otherwise.
        self.holding: list[list[bytes]] | None = None
        self.user = User(self)

    # The transport reads these two (see hubbub.core.ports).
    @property
    def registered(self) -> bool:
        return self.phase is Phase.REGISTERED

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def remote(self) -> bool:
        """A user of another cluster node, or a local one whose QUIT is being sequenced: no
        connection here (hubbub.core.network)."""
        return self.link is NOWHERE

    @property
    def nick(self) -> str:
        return self.user.nick

    def has(self, cap: str) -> bool:
        return cap in self.caps

    def update_profile(self) -> None:
        caps = self.caps
        self.profile = (
            ("server-time" in caps)
            | (("message-tags" in caps) << 1)
            | (("account-tag" in caps) << 2)
        )

    def next_batch_id(self) -> str:
        self.batch_counter += 1
        return f"b{self.batch_counter:x}"

    def hold(self, held: list[bytes]) -> None:
        """A join replay is being read for this connection: every live line for it (from
        any room, and other users' NICK, QUIT, AWAY) waits in `held`, which its reply writes
        after the replay, so the client sees the room's past, then all that happened since,
        in order. (Held in the room alone, a NICK overtook that room's lines held before
        it: a cluster fuzz finding, seed 7019675.) Fan-out writes through `write`; the
        rooms' cached writers are made again with it."""
        if self.holding is None:
            self.holding = [held]
            self.write = self._write_held
            self._regroup()
        else:
            self.holding.append(held)

    def release(self, held: list[bytes]) -> None:
        """That replay's reply is written (with `held`): live lines go where they did, or to
        the next replay still held."""
        holding = self.holding
        if holding is None or not any(kept is held for kept in holding):
            return
        holding[:] = [kept for kept in holding if kept is not held]
        if not holding:
            self.holding = None
            self.write = self.link.write
            self._regroup()

    def replay_skipped(self, held: list[bytes]) -> None:
        """The user left the room before its join replay came (PART, KICK): no replay will
        come. If nothing else is held, what was said meanwhile, the KICK included, is
        written now; else with its reply, in order."""
        holding = self.holding
        if holding is not None and len(holding) == 1 and holding[0] is held:
            if held:
                self.link.write(b"".join(held))
                held.clear()
            self.release(held)

    def take_held(self) -> bytes:
        """The connection is closing: its join replays' answers will not be written, and
        what was held behind them is taken out (to be written before its ERROR: a KILL, and
        what the rooms said before it)."""
        holding = self.holding
        if holding is None:
            return b""
        data = b"".join(b"".join(held) for held in holding)
        for held in holding:
            held.clear()
        self.holding = None
        self.write = self.link.write
        return data

    def _write_held(self, data: bytes) -> None:
        holding = self.holding
        if holding is None:  # (a writer cached before the release)
            self.link.write(data)
        else:
            holding[-1].append(data)

    def _regroup(self) -> None:
        for channel in self.user.channels.values():
            channel.groups = None


class User:
    """An identity on the network: names, modes, away state and channel memberships."""

    __slots__ = (
        "account",
        "account_id",
        "away",
        "bot",
        "channels",
        "claim_number",
        "fold",
        "hostname",
        "invisible",
        "last_active",
        "metadata",
        "network_id",
        "nick",
        "nick_since_ms",
        "nick_version",
        "nick_version_shown",
        "oper",
        "realname",
        "server",
        "service",
        "session",
        "username",
        "wallops",
    )

    def __init__(self, session: Session) -> None:
        self.session = session
        self.nick = "*"
        self.fold = ""  # casefolded nick; empty until a nick is accepted
        # When (ms) this user took its current nick: at registration, then at each nick
        # change. Nick-keyed private history is readable from here on (hubbub.core.privacy).
        self.nick_since_ms = int(session.signon * 1000)
        self.username = ""
        self.realname = ""
        # An IPv6 address may start with ':' (::1), which no middle parameter may: shown as
        # 0::1, as ircds do, so WHO and WHOIS replies keep their shape.
        self.hostname = "0" + session.host if session.host.startswith(":") else session.host
        self.away = ""
        self.invisible = False
        self.last_active = session.signon
        self.channels: dict[str, Channel] = {}  # casefolded name -> channel
        self.account = ""  # the account logged in to, as registered; "" for none
        # Its stable id (hubbub.accounts.model): what history is attributed to, never reused.
        self.account_id = ""
        # Operators (hubbub.core.operators): the [[operators]] name after OPER ("" for none,
        # user mode +o), and user mode +w (receives WALLOPS).
        self.oper = ""
        self.wallops = False
        # Bot mode (hubbub.core.botmode): user mode +B, shown in WHO and WHOIS and tagged
        # `bot` on its messages.
        self.bot = False
        # Pseudo-users (NickServ): what handles a PRIVMSG to them. None for people.
        self.service: Callable[[ChatServer, Reply, str], None] | None = None
        # Metadata keys and values (hubbub.core.metadata); None until one is set.
        self.metadata: dict[str, str] | None = None
        # In a cluster, who this user is on every node whatever its nick (its node gives it at
        # registration, hubbub.core.cluster_directory); "" on one server.
        self.network_id = ""
        # In a cluster, which of the user's nicks this is: its node numbers each change (its
        # NICK events and facts carry the number), so another node that sees the user under
        # two nicks, from rooms it applies each in its own order, tells the newer (hubbub.
        # core.cluster_rooms `remote_user`). 0 on one server, and from nodes that send none.
        self.nick_version = 0
        # In a cluster, the highest of those numbers whose NICK line this node showed for a
        # user of another node (hubbub.core.cluster_apply `_renamed`); 0 for none.
        self.nick_version_shown = 0
        # In a cluster, the number the bus gave its node's claim of the user's nick (claims
        # are numbered in the order the bus takes them: hubbub.core.ports `Network.claim`),
        # which its `online` carries; 0 unknown, and on one server.
        self.claim_number = 0
        # In a cluster, the name of the server (node) a user of another node is on, as its
        # node gave it; "" for this server's own users (and on one server).
        self.server = ""

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.username}@{self.hostname}"

    @property
    def mode_string(self) -> str:
        modes = "+"
        if self.bot:
            modes += "B"
        if self.invisible:
            modes += "i"
        if self.oper:
            modes += "o"
        if self.wallops:
            modes += "w"
        if self.session.secure:
            modes += "Z"
        return modes

    def __repr__(self) -> str:
        return f"<User {self.prefix}>"


class Membership:
    """A user's standing in one channel: operator and voice, and when it joined (ms; history
    access `since_join` reads only what came after it)."""

    __slots__ = ("joined_ms", "op", "voice")

    def __init__(self, op: bool = False, voice: bool = False, joined_ms: int = 0) -> None:
        self.op = op
        self.voice = voice
        self.joined_ms = joined_ms

    def prefixes(self, multi: bool) -> str:
        """The NAMES/WHO prefix characters, highest first ('@+' with multi-prefix)."""
        if multi:
            return ("@" if self.op else "") + ("+" if self.voice else "")
        if self.op:
            return "@"
        return "+" if self.voice else ""


@dataclass(slots=True)
class Topic:
    text: str
    setter: str
    set_at: int  # unix seconds


@dataclass(slots=True)
class Ban:
    mask: str
    setter: str
    set_at: int


class Channel:
    """A room: members with their standing, topic, modes and lists."""

    __slots__ = (
        "bans",
        "boxes",
        "created",
        "creator_address",
        "excepts",
        "flood_limit",
        "flood_seen",
        "fold",
        "groups",
        "history_access",
        "history_since_ms",
        "invex",
        "invite_only",
        "invited",
        "key",
        "limit",
        "members",
        "metadata",
        "moderated",
        "name",
        "no_external",
        "occupied",
        "old_names",
        "positions",
        "registered",
        "replaying",
        "secret",
        "topic",
        "topic_locked",
        "touches",
    )

    def __init__(self, name: str, fold: str, created: int) -> None:
        self.name = name
        self.fold = fold
        self.created = created
        self.members: dict[User, Membership] = {}
        # The members' write functions grouped by tag profile, for fan-out; rebuilt after a
        # member joins or leaves or changes capabilities (see writers_by_profile).
        self.groups: list[list[Callable[[bytes], None]]] | None = None
        # Made with the groups: each member's place in its group (to skip the sender), and the
        # links written by plain appends (`BatchLink.batch`), by the `touched` that flushes them.
        self.positions: dict[User, int] = {}
        self.touches: list[tuple[Callable[[list[Link]], None], list[Link]]] = []
        # Per profile, when every writer of its group is a list's own `append` (the usual case):
        # those lists, in the same order, so that fan-out appends through `list.append` itself
        # (one C call per member, not `operator.call` around a bound method); else None.
        self.boxes: list[list[list[bytes]] | None] = []
        # The profiles whose group has members, in order (fan-out visits only these).
        self.occupied: list[int] = []
        self.topic: Topic | None = None
        self.bans: list[Ban] = []
        # Ban exceptions (+e) and invite exceptions (+I) (hubbub.core.listmodes).
        self.excepts: list[Ban] = []
        self.invex: list[Ban] = []
        self.invited: set[str] = set()  # casefolded nicks invited while +i
        self.invite_only = False
        self.key = ""
        self.limit = 0
        # +f <messages>:<seconds> (hubbub.core.roomflood) and each member's recent messages.
        self.flood_limit: tuple[int, int] | None = None
        self.flood_seen: dict[User, deque[float]] | None = None
        self.moderated = False
        self.no_external = True
        self.secret = False
        self.topic_locked = True
        # Members whose join replay is still being read from the store, and their replies'
        # held bytes: what is said meanwhile is held for them (Session.hold), so the replay
        # is never overtaken by live lines.
        self.replaying: dict[User, list[bytes]] = {}
        # Who may read the room's history ("everyone", "since_join", "registered", or "" for
        # history.default_access; see hubbub.core.privacy), and its ChanServ registration
        # (hubbub.core.chanserv): a registered channel stays, empty, when its last member leaves.
        self.history_access = ""
        self.registered: Registration | None = None
        # The oldest history (ms) this room shows to anyone, its ops' REDACT included: history
        # is durable and keyed by name, but an unregistered room's modes are not, so a room
        # re-created under the same name (after emptying, or after a restart) must not open
        # what the room before it said (hubbub.core.privacy). A fresh room sets it to its
        # exact creation time; a registered room restored at start-up keeps its saved creation.
        self.history_since_ms = created * 1000
        # The address that created it, while it counts against that address
        # (limits.channels_per_address, hubbub.core.budget); "" for none.
        self.creator_address = ""
        # Metadata keys and values (hubbub.core.metadata); None until one is set.
        self.metadata: dict[str, str] | None = None
        # Cluster mode: members this node renamed by their NICK in another room, under the
        # (casefolded) nick this room's events still name them by until its own NICK comes
        # (hubbub.core.cluster_apply); None while there is none.
        self.old_names: dict[str, User] | None = None

    def writers_by_profile(self) -> list[list[Callable[[bytes], None]]]:
        """The members' writers grouped by tag profile (and `positions`, `touches` with them).

        A link that offers `batch` (hubbub.core.ports.BatchLink: the transports' connections)
        is written by a plain C-level append, so fan-out makes no Python call per recipient;
        its `touched` is then called once per fan-out with every such link."""
        groups = self.groups
        if groups is None:
            groups = [[] for _ in range(PROFILE_COUNT)]
            boxes: list[list[list[bytes]] | None] = [[] for _ in range(PROFILE_COUNT)]
            positions: dict[User, int] = {}
            by_touch: dict[Callable[[list[Link]], None], list[Link]] = {}
            for user in self.members:
                session = user.session
                if session.link is NOWHERE:  # on another node: delivered there
                    continue
                profile = session.profile
                group = groups[profile]
                positions[user] = len(group)
                link = session.link
                batch = getattr(link, "batch", None) if session.holding is None else None
                if batch is None:
                    group.append(session.write)
                    boxes[profile] = None
                else:
                    append, touched = batch()
                    group.append(append)
                    by_touch.setdefault(touched, []).append(link)
                    box = _list_of(append)
                    profile_boxes = boxes[profile]
                    if box is None or profile_boxes is None:
                        boxes[profile] = None
                    else:
                        profile_boxes.append(box)
            self.groups = groups
            self.boxes = boxes
            self.occupied = [profile for profile, group in enumerate(groups) if group]
            self.positions = positions
            self.touches = list(by_touch.items())
        return groups

    def mode_string(self, reveal_key: bool) -> tuple[str, list[str]]:
        flags = "+"
        args: list[str] = []
        if self.invite_only:
            flags += "i"
        if self.flood_limit is not None:
            flags += "f"
            args.append(f"{self.flood_limit[0]}:{self.flood_limit[1]}")
        if self.key:
            flags += "k"
            args.append(self.key if reveal_key else "*")
        if self.limit:
            flags += "l"
            args.append(str(self.limit))
        if self.moderated:
            flags += "m"
        if self.no_external:
            flags += "n"
        if self.secret:
            flags += "s"
        if self.topic_locked:
            flags += "t"
        return flags, args


@dataclass(frozen=True, slots=True)
class WhowasEntry:
    nick: str
    username: str
    hostname: str
    realname: str
    left_at: int
    server: str  # the name of the server the user was on (WHOWAS 312)


def _list_of(append: Callable[[bytes], None]) -> list[bytes] | None:
    """The list whose own C `append` this is (what `BatchLink.batch` usually hands out), or
    None for any other writer."""
    owner = getattr(append, "__self__", None)
    if (
        type(append) is BuiltinMethodType
        and isinstance(owner, list)
        and getattr(append, "__name__", "") == "append"
    ):
        return owner
    return None
