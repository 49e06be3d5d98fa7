"""What the registry stores: a registered channel and a server ban (K-line or D-line)."""

from __future__ import annotations

from dataclasses import dataclass

# Who may read a room's history (history privacy; see docs/accounts.md).
HISTORY_ACCESS = ("everyone", "since_join", "registered")


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


@dataclass(frozen=True, slots=True)
class ServerBan:
    """A K-line (`kind` "K": a user@host mask, checked at registration) or a D-line ("D": an
    IP address or CIDR network, checked at connection). `expires_ms` 0: never."""

    kind: str
    mask: str
    reason: str
    setter: str
    set_ms: int
    expires_ms: int = 0

    def expired(self, now_ms: int) -> bool:
        return bool(self.expires_ms) and self.expires_ms <= now_ms
