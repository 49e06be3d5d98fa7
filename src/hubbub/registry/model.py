"""What the registry stores: a registered channel and a server ban (K-line or D-line)."""

from __future__ import annotations

from dataclasses import dataclass

# Who may read a room's history (history privacy; see docs/accounts.md).
HISTORY_ACCESS = ("everyone", "since_join", "registered")
#: A registered channel's registration (what ChanServ changes); the rest is its state.
REGISTRATION = ("owner", "ops", "history_access")


@dataclass(frozen=True, slots=True)
class ChannelBan:
    """One +b (or +e, +I) entry of a registered channel."""

    mask: str
    setter: str
    set_at: int  # unix seconds


@dataclass(frozen=True, slots=True)
class RegisteredChannel:
    """A channel registered with ChanServ, as last saved.

    `fold` (the casefolded name) is the key. `owner` is the owner's account name as registered;
    `ops` the account names that are opped on join besides the owner. `flags` holds the flag
    modes that are on (a subset of "imnst"); `key` and `limit` the +k / +l values ("" / 0: off);
    `bans`, `excepts` and `invex` the +b, +e and +I lists; `flood` the +f value.

    The owner, operators and history access are the registration (ChanServ changes them); the
    rest is the channel's state. `state_ms` and `state_seq` say which state this is: in a
    cluster, the time and place in the room's sequence of the last event the saving node's
    copy reflected, so a save that commits after a newer one (another node's, through its own
    registry worker) does not replace it; (0, 0) on one server, whose saves commit in order.
    """

    name: str
    fold: str
    owner: str
    registered_ms: int
    created: int = 0  # the channel's creation time (unix seconds), for 329
    ops: tuple[str, ...] = ()
    topic: str = ""
    topic_setter: str = ""
    topic_time: int = 0
    flags: str = "nt"
    key: str = ""
    limit: int = 0
    bans: tuple[ChannelBan, ...] = ()
    flood: str = ""  # +f "<messages>:<seconds>" ("": off)
    history_access: str = "everyone"
    excepts: tuple[ChannelBan, ...] = ()  # +e ban exceptions
    invex: tuple[ChannelBan, ...] = ()  # +I invite exceptions
    state_ms: int = 0  # the bus's time of the state's last event (cluster mode)
    state_seq: int = 0  # that event's place in the room's sequence

    @property
    def state_version(self) -> tuple[int, int]:
        """Which of two saved states is newer: the later time, then the later place."""
        return (self.state_ms, self.state_seq)

    def replaces_state_of(self, saved: RegisteredChannel) -> bool:
        """Whether this state may replace `saved`'s: not older, or unversioned (one server)."""
        return self.state_version == (0, 0) or self.state_version >= saved.state_version


#: How long a cluster node's record of a removed server ban stays in the store (`removal`).
REMOVAL_KEPT_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class ServerBan:
    """A K-line (`kind` "K": a user@host mask, checked at registration) or a D-line ("D": an
    IP address or CIDR network, checked at connection). `expires_ms` 0: never.

    `removed`: not a ban but the record of one's removal (`removal`), which the store keeps
    in its place and never lists among the bans."""

    kind: str
    mask: str
    reason: str
    setter: str
    set_ms: int
    expires_ms: int = 0
    removed: bool = False

    def expired(self, now_ms: int) -> bool:
        return bool(self.expires_ms) and self.expires_ms <= now_ms


def removal(kind: str, mask: str, setter: str, at_ms: int) -> ServerBan:
    """A cluster node's record of the ban of this kind and mask removed at `at_ms` by
    `setter`: stored in the ban's place for `REMOVAL_KEPT_MS` (`expire_bans` drops it then),
    so that a node applying an earlier event of that ban late (`BanStore.replace_ban`, from
    the ban as the events before it left it: none, before a first K-line) does not take the
    place for empty and write the ban back. Every node makes the same one from the removal's
    event (hubbub.core.cluster_users)."""
    return ServerBan(kind, mask, "", setter, at_ms, at_ms + REMOVAL_KEPT_MS, removed=True)
