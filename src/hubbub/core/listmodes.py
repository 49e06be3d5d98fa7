"""A channel's list modes: bans (+b), ban exceptions (+e, EXCEPTS), invite exceptions (+I,
INVEX), and the extended bans in them (EXTBAN=,am).

An entry is a nick!user@host mask, or an extended ban: `a:<account mask>` matches users logged
in to a matching account; `m:<mask>` in the ban list mutes instead of banning (the user may
join but not speak). Extended bans have no prefix character, as the ISUPPORT form
`EXTBAN=,<types>` says: the type letter and a colon start the entry.

* A user is banned from joining when a +b entry (other than `m:`) matches it and no +e does.
* A user is muted when an `m:` +b entry matches it and no +e does.
* +I lets matching users join a +i channel without an INVITE.

Matching is hubbub.core.masks' linear-time glob on casefolded text; compiled masks are cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hubbub.core.masks import compile_mask
from hubbub.core.model import Ban, Channel
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

#: Mode letter -> the Channel attribute holding its list.
LIST_ATTRIBUTES = {"b": "bans", "e": "excepts", "I": "invex"}
#: Mode letter -> (entry numeric, end numeric, end text).
LIST_REPLIES = {
    "b": (n.RPL_BANLIST, n.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (n.RPL_EXCEPTLIST, n.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (n.RPL_INVEXLIST, n.RPL_ENDOFINVEXLIST, "End of channel invite list"),
}


class Identity(Protocol):
    """What an entry is matched against: a `User`, or a room event's sender as the event
    carries it (hubbub.core.cluster_apply checks a message in the room's sequence)."""

    @property
    def prefix(self) -> str: ...

    @property
    def account(self) -> str: ...


#: The extended ban types: account, mute.
EXTBAN_TYPES = "am"
ACCOUNT = "a:"
MUTE = "m:"


def normalize_mask(mask: str) -> str:
    """A ban mask in full nick!user@host form: 'bob' → 'bob!*@*', '*@host' → '*!*@host'."""
    if "!" not in mask and "@" not in mask:
        return f"{mask}!*@*"
    if "!" not in mask:
        return f"*!{mask}"
    if "@" not in mask:
        return f"{mask}@*"
    return mask


def is_extban(mask: str) -> bool:
    """Whether a mask is written as an extended ban: a letter and a colon (no nick has one)."""
    return len(mask) > 1 and mask[1] == ":" and mask[0].isalpha()


def normalize_entry(mask: str, mode: str) -> str | None:
    """The entry as stored and echoed, or None if it is not a valid one for `mode`."""
    if not is_extban(mask):
        return normalize_mask(mask)
    kind, rest = mask[:2], mask[2:]
    if kind == ACCOUNT and rest and not is_extban(rest):
        return ACCOUNT + rest
    if kind == MUTE and mode == "b" and rest and not rest.startswith(MUTE):
        inner = normalize_entry(rest, "e")
        return None if inner is None else MUTE + inner
    return None


def entry_matches(server: ChatServer, entry: str, user: Identity) -> bool:
    """Whether one entry (without an m: prefix) matches `user`."""
    if entry.startswith(ACCOUNT):
        return bool(user.account) and compile_mask(server.fold(entry[2:])).match(
            server.fold(user.account)
        )
    return compile_mask(server.fold(entry)).match(server.fold(user.prefix))


def is_exempt(server: ChatServer, channel: Channel, user: Identity) -> bool:
    return any(entry_matches(server, entry.mask, user) for entry in channel.excepts)


def is_banned(server: ChatServer, channel: Channel, user: Identity) -> bool:
    """Banned from joining: a +b entry (not a mute) matches, and no +e does."""
    if not channel.bans:
        return False
    hit = any(
        not ban.mask.startswith(MUTE) and entry_matches(server, ban.mask, user)
        for ban in channel.bans
    )
    return hit and not is_exempt(server, channel, user)


def is_muted(server: ChatServer, channel: Channel, user: Identity) -> bool:
    """May not speak: an m: entry of +b matches, and no +e does."""
    if not channel.bans:
        return False
    hit = any(
        ban.mask.startswith(MUTE) and entry_matches(server, ban.mask[2:], user)
        for ban in channel.bans
    )
    return hit and not is_exempt(server, channel, user)


def may_not_speak(server: ChatServer, channel: Channel, user: Identity) -> bool:
    """A banned or muted (unvoiced) member may not send to the channel."""
    return bool(channel.bans) and (
        is_banned(server, channel, user) or is_muted(server, channel, user)
    )


def is_invite_exempt(server: ChatServer, channel: Channel, user: Identity) -> bool:
    """+I: a matching user joins a +i channel without an INVITE."""
    return any(entry_matches(server, entry.mask, user) for entry in channel.invex)


def send_list(reply: Reply, channel: Channel, mode: str) -> None:
    entry_code, end_code, end_text = LIST_REPLIES[mode]
    for entry in getattr(channel, LIST_ATTRIBUTES[mode]):
        reply.numeric(entry_code, channel.name, entry.mask, entry.setter, str(entry.set_at))
    reply.numeric(end_code, channel.name, end_text)


def apply_list_mode(
    server: ChatServer, reply: Reply, channel: Channel, mode: str, adding: bool, arg: str
) -> tuple[bool, str | None]:
    """+b/-b, +e/-e, +I/-I with one mask: (whether it changed anything, argument to echo)."""
    if not arg or arg[0] == ":" or " " in arg:
        # A mask is one word: relayed, one with a space would split the MODE line.
        reply.numeric(n.ERR_INVALIDMODEPARAM, channel.name, mode, "*", "Invalid ban mask")
        return False, None
    mask = normalize_entry(arg, mode)
    if mask is None:
        reply.numeric(n.ERR_INVALIDMODEPARAM, channel.name, mode, arg, "Unknown extended ban type")
        return False, None
    if adding and len(mask) > server.config.limits.mask_length:
        reply.numeric(n.ERR_INVALIDMODEPARAM, channel.name, mode, mask, "Ban mask too long")
        return False, None
    entries: list[Ban] = getattr(channel, LIST_ATTRIBUTES[mode])
    fold = server.fold(mask)
    existing = [entry for entry in entries if server.fold(entry.mask) == fold]
    if adding:
        if existing:
            return False, None
        if len(entries) >= server.config.limits.list_modes:
            reply.numeric(n.ERR_BANLISTFULL, channel.name, mask, "Channel list is full")
            return False, None
        entries.append(Ban(mask, reply.session.user.prefix, int(server.now)))
        return True, mask
    if not existing:
        return False, None
    entries.remove(existing[0])
    return True, existing[0].mask
