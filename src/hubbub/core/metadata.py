"""METADATA: key/value profiles of users and channels (IRCv3 metadata,
https://ircv3.net/specs/extensions/metadata, capability `draft/metadata-2`).

Users set keys on themselves (`METADATA * SET avatar :https://…`), channel operators on their
channel; only the keys in `limits.metadata_keys` may be set (avatar, display-name, pronouns,
homepage, color, status by default). Values live on the `User` / `Channel` (`metadata`), so a
guest's or an unregistered room's go with it. They are durable where there is somewhere to keep
them: a logged-in user's in the account store (loaded at login, merged with what the connection
set before), a registered channel's in the registry (loaded at start-up). Such a change is
answered once the store has it (`Reply.later`), so an acknowledged value is a kept one.

Subscriptions (`SUB` / `UNSUB` / `SUBS`) belong to the connection. Updates go, as `METADATA
<target> <key> * :<value>` lines, to the connections that negotiated the capability, subscribed to
the key and share a channel with the user (or are in the channel); the one who made the change
gets the `RPL_KEYVALUE` answer instead. On JOIN the newcomer gets the room's and its members'
subscribed keys (or `RPL_METADATASYNCLATER` above `limits.metadata_sync_members`, then `METADATA
#room SYNC`), and the members get the newcomer's.

Limits, advertised in the capability value (`hubbub.core.caps.metadata_value`): `max-subs`,
`max-keys`, `max-value-bytes`; `before-connect` (METADATA on `*` works before the welcome). SET
and CLEAR are rate limited per connection (a token bucket: `limits.metadata_set_burst`, one more
every `limits.metadata_set_seconds`): `FAIL METADATA RATE_LIMITED <target> <key> <seconds>`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hubbub.core.commands import command
from hubbub.core.model import Phase
from hubbub.core.ports import CallFailure
from hubbub.core.reply import safe_param

if TYPE_CHECKING:
    from hubbub.accounts.store import AccountStore
    from hubbub.core.model import Channel, Session, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message
    from hubbub.registry.store import RegistryStore

log = logging.getLogger("hubbub.chat")

CAP = "draft/metadata-2"
KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-/")

# Numerics of the metadata specification.
RPL_KEYVALUE = "761"
ERR_NOMATCHINGKEY = "766"
ERR_KEYNOTSET = "768"
RPL_METADATASUBOK = "770"
RPL_METADATAUNSUBOK = "771"
RPL_METADATASUBS = "772"
RPL_METADATASYNCLATER = "774"

# Keys per RPL_METADATASUBOK / UNSUBOK / SUBS line (keys are short; the line stays far below 512).
KEYS_PER_LINE = 10


def valid_key(key: str) -> bool:
    return 0 < len(key) <= 64 and all(c in KEY_CHARACTERS for c in key)


def metadata_line(source: str, target: str, key: str, value: str | None) -> str:
    """The METADATA server message (no value: the key was removed)."""
    line = f":{source} METADATA {target} {key} *"
    return line if value is None else f"{line} :{value}"


class Target:
    """What a METADATA command names: a user or a channel, and whether the sender may write."""

    __slots__ = ("channel", "name", "user", "writable")

    def __init__(self, name: str, user: User | None, channel: Channel | None, writable: bool):
        self.name = name
        self.user = user
        self.channel = channel
        self.writable = writable

    @property
    def values(self) -> dict[str, str]:
        holder = self.user if self.user is not None else self.channel
        assert holder is not None
        return holder.metadata or {}


def find_target(server: ChatServer, reply: Reply, name: str) -> Target | None:
    """The target named by `name` (`*`: oneself), or None after `FAIL METADATA INVALID_TARGET`."""
    me = reply.session.user
    if name == "*" or (me.fold and server.fold(name) == me.fold):
        return Target(me.nick if me.fold else "*", me, None, True)
    if reply.session.phase is Phase.REGISTERED:
        if name.startswith("#"):
            channel = server.find_channel(name)
            if channel is not None and (not channel.secret or me in channel.members):
                standing = channel.members.get(me)
                writable = standing is not None and standing.op
                return Target(channel.name, None, channel, writable)
        else:
            user = server.find_user(name)
            if user is not None and user.service is None:
                return Target(user.nick, user, None, False)
    reply.fail("METADATA", "INVALID_TARGET", name, text="Invalid metadata target")
    return None


def open_batch(reply: Reply) -> str:
    """Open a `metadata` batch for a client with `batch` (the tag for its lines), else ""."""
    if "batch" not in reply.session.caps:
        return ""
    ref = reply.session.next_batch_id()
    reply.add(f":{reply.server_name} BATCH +{ref} metadata")
    return "batch=" + ref


def close_batch(reply: Reply, tag: str) -> None:
    if tag:
        reply.add(f":{reply.server_name} BATCH -{tag[6:]}")


def key_value(reply: Reply, target: str, key: str, value: str | None, tag: str = "") -> None:
    """RPL_KEYVALUE: `<target> <key> <visibility>[ :<value>]` (every key is visible to all)."""
    start = f":{reply.server_name} {RPL_KEYVALUE} {reply.session.user.nick} {target} {key} *"
    reply.add(start if value is None else f"{start} :{value}", tag)


@command("METADATA", 2, before_registration=True)
def handle_metadata(server: ChatServer, reply: Reply, msg: Message) -> None:
    name, sub = msg.params[0], msg.params[1].upper()
    args = list(msg.params[2:])
    if sub in ("SUB", "UNSUB", "SUBS"):
        subscriptions(server, reply, sub, args)
        return
    handler = SUBCOMMANDS.get(sub)
    if handler is None:
        reply.fail("METADATA", "INVALID_SUBCOMMAND", sub, text="Invalid subcommand")
        return
    target = find_target(server, reply, name)
    if target is not None:
        handler(server, reply, target, args)


def do_get(server: ChatServer, reply: Reply, target: Target, keys: list[str]) -> None:
    if not keys:
        reply.fail("METADATA", "NEED_MORE_PARAMS", "GET", text="Missing keys")
        return
    values = target.values
    tag = open_batch(reply)
    nick = reply.session.user.nick
    for key in keys:
        if not valid_key(key):
            reply.fail("METADATA", "INVALID_KEY", key, text="Invalid key")
        elif key in values:
            key_value(reply, target.name, key, values[key], tag)
        else:
            line = f":{server.name} {ERR_NOMATCHINGKEY} {nick} {target.name} {key} :No matching key"
            reply.add(line, tag)
    close_batch(reply, tag)


def do_list(server: ChatServer, reply: Reply, target: Target, args: list[str]) -> None:
    tag = open_batch(reply)
    for key, value in sorted(target.values.items()):
        key_value(reply, target.name, key, value, tag)
    close_batch(reply, tag)


def do_sync(server: ChatServer, reply: Reply, target: Target, args: list[str]) -> None:
    session = reply.session
    subs = session.metadata_subs or set()
    tag = open_batch(reply)
    if target.channel is not None:
        send_subscribed(server, reply, target.channel.name, target.channel.metadata, subs, tag)
        for member in target.channel.members:
            send_subscribed(server, reply, member.nick, member.metadata, subs, tag)
    else:
        send_subscribed(server, reply, target.name, target.values, subs, tag)
    close_batch(reply, tag)


def send_subscribed(
    server: ChatServer,
    reply: Reply,
    name: str,
    values: dict[str, str] | None,
    subs: set[str],
    tag: str,
) -> None:
    for key, value in sorted((values or {}).items()):
        if key in subs:
            reply.add(metadata_line(server.name, name, key, value), tag)


def take_token(server: ChatServer, session: Session) -> int:
    """Spend one METADATA SET token; 0 if there was one, else the seconds until there is."""
    limits = server.config.limits
    burst, every = float(limits.metadata_set_burst), limits.metadata_set_seconds
    tokens, since = session.metadata_bucket or (burst, server.now)
    tokens = min(burst, tokens + (server.now - since) / every)
    if tokens < 1:
        session.metadata_bucket = (tokens, server.now)
        return max(1, math.ceil((1 - tokens) * every))
    session.metadata_bucket = (tokens - 1, server.now)
    return 0


def do_set(server: ChatServer, reply: Reply, target: Target, args: list[str]) -> None:
    if not args:
        reply.fail("METADATA", "NEED_MORE_PARAMS", "SET", text="Missing key")
        return
    key = args[0]
    value = args[1] if len(args) > 1 else None
    limits = server.config.limits
    if not valid_key(key):
        reply.fail("METADATA", "INVALID_KEY", key, text="Invalid key")
        return
    if not target.writable or key not in limits.metadata_keys:
        reply.fail(
            "METADATA",
            "KEY_NO_PERMISSION",
            target.name,
            key,
            text=f"You do not have permission to set '{key}' on '{target.name}'",
        )
        return
    values = dict(target.values)
    if value is None and key not in values:
        nick = reply.session.user.nick
        reply.add(f":{server.name} {ERR_KEYNOTSET} {nick} {target.name} {key} :Key not set")
        return
    if value is not None:
        if len(value.encode("utf-8", "surrogateescape")) > limits.metadata_max_value_bytes:
            reply.fail("METADATA", "VALUE_INVALID", key, text="Value too long")
            return
        if key not in values and len(values) >= limits.metadata_max_keys:
            reply.fail("METADATA", "LIMIT_REACHED", target.name, text="Metadata limit reached")
            return
    wait = take_token(server, reply.session)
    if wait:
        reply.fail("METADATA", "RATE_LIMITED", target.name, key, str(wait), text="Too many changes")
        return
    if value is None:
        del values[key]
    else:
        values[key] = value
    change(server, reply, target, values, [(key, value)], batch=False)


def do_clear(server: ChatServer, reply: Reply, target: Target, args: list[str]) -> None:
    if not target.writable:
        reply.fail("METADATA", "KEY_NO_PERMISSION", target.name, "*", text="Permission denied")
        return
    current = target.values
    wait = take_token(server, reply.session) if current else 0
    if wait:
        reply.fail("METADATA", "RATE_LIMITED", target.name, "*", str(wait), text="Too many changes")
        return
    change(server, reply, target, {}, [(key, None) for key in sorted(current)], batch=True)


def change(
    server: ChatServer,
    reply: Reply,
    target: Target,
    values: dict[str, str],
    changed: list[tuple[str, str | None]],
    *,
    batch: bool,
) -> None:
    """Make `values` the target's metadata (`changed`: the keys that change, a channel's
    applied and saved one by one): kept first where it is durable, then applied, answered
    (`RPL_KEYVALUE` per changed key) and announced."""

    def finish(later: Reply) -> None:
        apply(server, target, values, changed, later.session.user)
        tag = open_batch(later) if batch else ""
        for key, value in changed:
            key_value(later, target.name, key, value, tag)
        close_batch(later, tag)

    def saved(later: Reply, result: Any) -> None:
        if isinstance(result, CallFailure) or not result:
            later.fail(
                "METADATA", "INTERNAL_ERROR", target.name, text="Metadata could not be saved"
            )
            return
        finish(later)

    user, channel = target.user, target.channel
    if user is not None and user.account:
        account = server.fold(user.account)

        def save_account(store: AccountStore) -> bool:
            return store.save_metadata(account, values)

        server.accounts.call(save_account, reply.later(saved))
    elif channel is not None and channel.registered is not None and server.cluster is None:
        # (In a cluster the change is saved once it is sequenced, with the room's state, by
        # this node: hubbub.core.cluster_messages. Saved before, it stayed in the registry
        # when this node was taken for dead before it could sequence it: a cluster fuzz
        # finding, seed 100885.)
        fold = channel.fold
        # The changed keys only, not the map as seen here: a change of another key made
        # meanwhile (here, or on another node) is not undone.
        keys = list(changed)

        def save_channel(store: RegistryStore) -> bool:
            return store.change_channel_metadata(fold, keys)

        server.registry.service.call(save_channel, reply.later(saved))
    else:
        finish(reply)


def save_channel_changes(
    server: ChatServer, channel: Channel, changed: Sequence[tuple[str, str | None]]
) -> None:
    """Save these keys of a registered room's metadata in the registry (nothing if it is not
    registered), not waiting for it: the keys a room had when it was registered
    (hubbub.core.chanserv). (In cluster mode a change applied from the bus is saved with
    the room's state, whole and versioned: hubbub.core.registered `changed`.)"""
    if channel.registered is None:
        return
    fold = channel.fold
    keys = list(changed)
    server.registry.call(lambda store: store.change_channel_metadata(fold, keys))


def apply(
    server: ChatServer,
    target: Target,
    values: dict[str, str],
    changed: list[tuple[str, str | None]],
    author: User,
) -> None:
    """Set the values on the live user or channel and tell whoever follows them."""
    if target.user is not None:
        target.user.metadata = values or None
        audience: Iterable[User] = server.neighbours(target.user)
        name = target.user.nick
        source = target.user.prefix
    else:
        assert target.channel is not None
        # The changed keys onto the room's map as it is now, not `values` (the map when the
        # command came): another change applied while this one was being saved stays.
        current = dict(target.channel.metadata or {})
        for key, value in changed:
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        target.channel.metadata = current or None
        audience = target.channel.members
        name = target.channel.name
        source = author.prefix
    if target.user is None or target.user.session.registered:
        announce(server, audience, author, source, name, changed)
    if server.cluster is not None:  # the other nodes' copies follow
        if target.user is not None:
            server.cluster.user_metadata(target.user)
        elif target.channel is not None:
            server.cluster.channel_metadata(target.channel, author, changed)


def announce(
    server: ChatServer,
    audience: Iterable[User],
    skip: User | None,
    source: str,
    name: str,
    changed: list[tuple[str, str | None]],
) -> None:
    """METADATA lines to the users of `audience` (but `skip`) subscribed to each key."""
    watchers = [
        u for u in audience if u is not skip and CAP in u.session.caps and u.session.metadata_subs
    ]
    if not watchers:
        return
    for key, value in changed:
        keyed = [u for u in watchers if key in (u.session.metadata_subs or ())]
        if keyed:
            server.fanout(keyed, metadata_line(source, name, key, value), server.stamp())


def subscriptions(server: ChatServer, reply: Reply, sub: str, keys: list[str]) -> None:
    session = reply.session
    nick = session.user.nick
    subs = session.metadata_subs if session.metadata_subs is not None else set()
    if sub == "SUBS":
        listed = sorted(subs)
        for start in range(0, len(listed), KEYS_PER_LINE):
            chunk = " ".join(listed[start : start + KEYS_PER_LINE])
            reply.add(f":{server.name} {RPL_METADATASUBS} {nick} :{chunk}")
        return
    if not keys:
        reply.fail("METADATA", "NEED_MORE_PARAMS", sub, text="Missing keys")
        return
    done: list[str] = []
    limit = server.config.limits.metadata_max_subs
    for key in keys:
        if not valid_key(key):
            reply.fail("METADATA", "INVALID_KEY", safe_param(key), text="Invalid key")
        elif sub == "UNSUB":
            subs.discard(key)
            done.append(key)
        elif key in subs:
            done.append(key)
        elif len(subs) >= limit:
            reply.fail("METADATA", "TOO_MANY_SUBS", key, text="Too many subscriptions")
            break
        else:
            subs.add(key)
            done.append(key)
    session.metadata_subs = subs or None
    code = RPL_METADATASUBOK if sub == "SUB" else RPL_METADATAUNSUBOK
    for start in range(0, len(done), KEYS_PER_LINE):
        reply.add(f":{server.name} {code} {nick} :{' '.join(done[start : start + KEYS_PER_LINE])}")


SUBCOMMANDS = {
    "GET": do_get,
    "LIST": do_list,
    "SET": do_set,
    "CLEAR": do_clear,
    "SYNC": do_sync,
}


# ---------------------------------------------------------------------- hooks


def after_welcome(server: ChatServer, reply: Reply) -> None:
    """A client with the capability gets its own metadata at the end of the welcome (an empty
    batch when there is none: the spec asks for one either way)."""
    session = reply.session
    if CAP not in session.caps:
        return
    user = session.user
    tag = open_batch(reply)
    for key, value in sorted((user.metadata or {}).items()):
        reply.add(metadata_line(server.name, user.nick, key, value), tag)
    close_batch(reply, tag)


def on_login(server: ChatServer, reply: Reply, user: User) -> None:
    """A user logged in: its account's stored metadata becomes its own, merged with what the
    connection set before (stored keys win; the merged map is saved), before the login answer
    is written."""
    account = server.fold(user.account)
    before = dict(user.metadata or {})
    limit = server.config.limits.metadata_max_keys

    def load(store: AccountStore) -> dict[str, str]:
        stored = store.metadata(account)
        merged = dict(stored)
        for key, value in before.items():
            if key not in merged and len(merged) < limit:
                merged[key] = value
        if merged != stored:
            store.save_metadata(account, merged)
        return merged

    def loaded(later: Reply, result: Any) -> None:
        if isinstance(result, CallFailure):
            log.error("could not load the metadata of account %s", account)
            return
        changed: list[tuple[str, str | None]] = [
            (key, value) for key, value in sorted(result.items()) if before.get(key) != value
        ]
        target = Target(user.nick, user, None, True)
        apply(server, target, result, changed, user)

    server.accounts.call(load, reply.later(loaded))


def on_join(server: ChatServer, reply: Reply, channel: Channel, user: User) -> None:
    """After a JOIN's names: the newcomer gets the room's and the members' metadata (keys it
    subscribed to), and the members get the newcomer's."""
    joined_metadata(server, channel, user)
    session = reply.session
    subs = session.metadata_subs
    if CAP not in session.caps or not subs:
        return
    if len(channel.members) > server.config.limits.metadata_sync_members:
        reply.add(f":{server.name} {RPL_METADATASYNCLATER} {user.nick} {channel.name}")
        return
    if not channel.metadata and not any(m.metadata for m in channel.members if m is not user):
        return
    tag = open_batch(reply)
    send_subscribed(server, reply, channel.name, channel.metadata, subs, tag)
    for member in channel.members:
        if member is not user:
            send_subscribed(server, reply, member.nick, member.metadata, subs, tag)
    close_batch(reply, tag)


def joined_metadata(server: ChatServer, channel: Channel, user: User) -> None:
    """The members of `channel` learn the metadata of `user`, who joined it (in cluster mode,
    each node tells its own members)."""
    if user.metadata:
        changed: list[tuple[str, str | None]] = sorted(user.metadata.items())
        announce(server, channel.members, user, user.prefix, user.nick, changed)


def load_channels(server: ChatServer) -> None:
    """At start-up, after the registered channels are restored: their saved metadata."""

    def loaded(result: Any) -> None:
        if isinstance(result, CallFailure):
            log.error("could not load the registered channels' metadata")
            return
        for fold, values in result.items():
            channel = server.channels.get(fold)
            if channel is not None and channel.registered is not None:
                channel.metadata = dict(values) or None

    server.registry.service.call(lambda store: store.channel_metadata(), loaded)
