"""ChanServ: registering channels by private message (REGISTER, DROP, INFO, ACCESS, SET).

What a registration keeps, and how it is saved and restored, is `hubbub.core.registered`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hubbub.core.budget import channel_removed
from hubbub.core.metadata import save_channel_changes
from hubbub.core.model import Channel
from hubbub.core.ports import CallFailure
from hubbub.core.privacy import access_of
from hubbub.core.registered import (
    KnownRegistration,
    Registration,
    changed,
    has_access,
    is_owner,
    registration_changed,
    restore,
    saved_channel,
    snapshot,
    state_version,
    with_operator,
    without_operator,
)
from hubbub.core.services import ServiceTable
from hubbub.protocol.servertime import format_utc
from hubbub.registry.model import HISTORY_ACCESS, RegisteredChannel
from hubbub.registry.store import RegistryStore

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.chanserv")

CHANSERV = ServiceTable(
    "ChanServ",
    "Channel services",
    "ChanServ keeps registered channels: their topic, modes, bans and operators survive "
    "restarts. Commands:",
    "You must be logged in for that",
)

ChannelHandler = Callable[["ChatServer", "Reply", Channel, list[str]], None]


def say(server: ChatServer, reply: Reply, text: str) -> None:
    CHANSERV.say(server, reply, text)


def on_channel(handler: ChannelHandler) -> Callable[[ChatServer, Reply, list[str]], None]:
    """A ChanServ command whose first argument names a channel: the handler gets the channel."""

    def run(server: ChatServer, reply: Reply, args: list[str]) -> None:
        if not args[0].startswith("#"):
            say(server, reply, "Syntax: <command> <#channel> …; try HELP")
            return
        channel = server.find_channel(args[0])
        if channel is not None:
            handler(server, reply, channel, args[1:])
        elif server.cluster is not None and server.fold(args[0]) in server.registry.known:
            unfollowed(server, reply, handler, args)
        else:
            say(server, reply, f"No such channel {args[0]}")

    return run


def unfollowed(server: ChatServer, reply: Reply, handler: ChannelHandler, args: list[str]) -> None:
    """Cluster mode: a registered room nobody here is in (so not a live channel on this node,
    hubbub.core.cluster_registry). The handler gets a copy of the room as the registry saved
    it, as on one server where the room stays, empty, as saved: what it changes of the
    registration is saved from it and announced to every node."""
    fold = server.fold(args[0])

    def done(later: Reply, saved: Any) -> None:
        if isinstance(saved, CallFailure):
            say(server, later, "Channel registration is temporarily unavailable; try again later")
        elif saved is None:
            say(server, later, f"No such channel {args[0]}")
        else:
            handler(server, later, saved_channel(server, saved, {}), args[1:])

    server.registry.service.call(lambda store: store.get_channel(fold), reply.later(done))


@CHANSERV.command(
    "REGISTER", "<#channel>", "register a channel you are an operator of (logged in)", min_args=1
)
@on_channel
def cs_register(server: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    account = user.account
    if not account:
        say(server, reply, "You must be logged in to register a channel")
        return
    standing = channel.members.get(user)
    if standing is None or not standing.op:
        say(server, reply, f"You must be an operator of {channel.name} to register it")
        return
    if channel.registered is not None:
        say(server, reply, f"{channel.name} is already registered")
        return
    limit = server.config.accounts.max_channels
    registration = Registration(account, [], int(server.now * 1000))
    saved = snapshot(channel, registration, state_version(server, channel))
    # In a cluster, its metadata as it is now, with the registration: the room may be gone
    # from this node by the time that is committed (a node taken for dead meanwhile: cluster
    # fuzz seed 100885), while it lives on, with it, elsewhere. (On one server it stays, and
    # what it has then is saved below.)
    metadata = sorted((channel.metadata or {}).items()) if server.cluster is not None else []

    def fn(store: RegistryStore) -> str:
        if len(store.channels_of(account)) >= limit:
            return "limit"
        if not store.create_channel(saved):
            return "taken"
        if metadata:
            store.change_channel_metadata(saved.fold, metadata)
        return "ok"

    def done(later: Reply, result: Any) -> None:
        if result == "ok":
            say(server, later, f"{saved.name} is now registered to {account}")
        elif result == "limit":
            say(server, later, f"You may register at most {limit} channels")
        elif result == "taken":
            say(server, later, f"{saved.name} is already registered")
        else:
            say(server, later, "Channel registration is temporarily unavailable; try again later")

    answer = reply.later(done)

    def stored(result: Any) -> None:
        # The registration holds whether or not its author is still there to hear of it.
        if result == "ok":
            live = server.channels.get(saved.fold)
            cluster = server.cluster
            if cluster is not None:  # known on every node (hubbub.core.cluster_registry)
                server.registry.known[saved.fold] = KnownRegistration.saved(saved)
            if live is None:  # everyone left meanwhile: it stays, empty, as saved
                if cluster is None:  # (in a cluster: its state stays on the bus)
                    restore(server, saved)
            else:
                live.registered = registration
                changed(server, live)  # what changed while the registration was being written
                # What it had before, from now on saved key by key (in a cluster `changed`
                # saved it whole, with the state).
                if live.metadata and cluster is None:
                    save_channel_changes(server, live, sorted(live.metadata.items()))
            if cluster is not None:
                cluster.registration_saved(saved.fold, result)
            log.info("%s registered %s (account %s)", user.nick, saved.name, account)
        answer(result)

    server.registry.call(fn, stored)


@CHANSERV.command("DROP", "<#channel>", "unregister it (its owner)", min_args=1)
@on_channel
def cs_drop(server: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    if channel.registered is None:
        say(server, reply, f"{channel.name} is not registered")
        return
    if not is_owner(server, channel, user) and not user.oper:
        say(server, reply, f"Only the owner of {channel.name} may drop it")
        return
    fold = channel.fold
    channel.registered = None
    cluster = server.cluster
    if cluster is not None:  # forgotten on every node once the registry has it
        server.registry.known.pop(fold, None)
    elif not channel.members:  # (in a cluster the node keeps the rooms it follows)
        server.channels.pop(fold, None)
        channel_removed(server, channel)
    if user.oper and not is_owner(server, channel, user):
        log.info("oper %s dropped the registration of %s", user.oper, channel.name)
    else:
        log.info("%s dropped the registration of %s", user.nick, channel.name)
    say(server, reply, f"{channel.name} is no longer registered")
    if cluster is not None:
        server.registry.call(
            lambda store: store.delete_channel(fold),
            lambda result: cluster.registration_dropped(fold, result),
        )
        return
    server.registry.call(lambda store: store.delete_channel(fold))


@CHANSERV.command(
    "INFO", "<#channel>", "who owns it, its operators, its history access", min_args=1
)
@on_channel
def cs_info(server: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    registration = channel.registered
    hidden = channel.secret and user not in channel.members and not user.oper
    if registration is None or hidden:
        say(server, reply, f"{channel.name} is not registered")
        return
    since = format_utc(registration.registered_ms / 1000, "%Y-%m-%d %H:%M UTC")
    say(server, reply, f"{channel.name} is registered to {registration.owner} since {since}")
    ops = ", ".join(registration.ops) or "(none besides the owner)"
    say(server, reply, f"Operators: {ops}")
    say(server, reply, f"History access: {access_of(server, channel)}")


@CHANSERV.command(
    "ACCESS",
    "<#channel> LIST | ADD <account> | DEL <account>",
    "accounts opped on join (ADD/DEL: its owner)",
    min_args=1,
)
@on_channel
def cs_access(server: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    registration = channel.registered
    if registration is None:
        say(server, reply, f"{channel.name} is not registered")
        return
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        if not has_access(server, channel, user) and not user.oper:
            say(server, reply, f"Only the operators of {channel.name} may see its access list")
            return
        say(server, reply, f"Owner: {registration.owner}")
        for name in registration.ops:
            say(server, reply, f"Operator: {name}")
        return
    if sub not in ("ADD", "DEL") or len(args) != 2:
        say(server, reply, "Syntax: ACCESS <#channel> LIST | ADD <account> | DEL <account>")
        return
    if not is_owner(server, channel, user):
        say(server, reply, f"Only the owner of {channel.name} may change its access list")
        return
    name = args[1]
    fold = server.fold(name)
    present = [n for n in registration.ops if server.fold(n) == fold]
    if sub == "ADD":
        if fold not in server.accounts.names:
            say(server, reply, f"There is no account {name}")
            return
        if present or fold == server.fold(registration.owner):
            say(server, reply, f"{name} is already an operator of {channel.name}")
            return
        limit = server.config.limits.list_modes
        if len(registration.ops) >= limit:
            say(server, reply, f"The access list of {channel.name} is full")
            return
        log.info("%s changed the access list of %s: ADD %s", user.nick, channel.name, name)
        casefold = server.fold
        added = f"{name} is now an operator of {channel.name}"

        def add(saved: RegisteredChannel) -> RegisteredChannel:
            return with_operator(saved, name, casefold, limit)

        if server.cluster is None:
            registration.ops.append(name)
            say(server, reply, added)
            registration_changed(server, channel, add)
            return

        # In a cluster another node's ADD may have filled the list since this node checked
        # its copy: the registry's transaction checks the limit again (`with_operator`).
        def answer(committed: RegisteredChannel) -> str:
            if fold in map(casefold, committed.ops):
                return added
            return f"The access list of {channel.name} is full"

        committed_then_answered(server, reply, channel, add, answer)
        return
    if not present:
        say(server, reply, f"{name} is not on the access list of {channel.name}")
        return
    log.info("%s changed the access list of %s: DEL %s", user.nick, channel.name, name)
    casefold = server.fold
    removed = f"{present[0]} is no longer an operator of {channel.name}"

    def remove(saved: RegisteredChannel) -> RegisteredChannel:
        return without_operator(saved, name, casefold)

    if server.cluster is None:
        registration.ops.remove(present[0])
        say(server, reply, removed)
        registration_changed(server, channel, remove)
        return
    committed_then_answered(server, reply, channel, remove, lambda committed: removed)


def committed_then_answered(
    server: ChatServer,
    reply: Reply,
    channel: Channel,
    change: Callable[[RegisteredChannel], RegisteredChannel],
    answer: Callable[[RegisteredChannel], str],
) -> None:
    """Cluster mode: a ChanServ change of the registration, made in the registry's
    transaction (`registration_changed`), is answered once committed, as `answer` says of
    the registration as committed; this node's copy, as every other node's, takes the change
    as committed, not before. So nothing is answered done that the registry did not keep (it
    was unreachable, or another node's change came first), and a JOIN here meanwhile is not
    opped for an entry that may not stay."""

    def answered(later: Reply, committed: Any) -> None:
        if isinstance(committed, CallFailure):
            say(server, later, "Channel registration is temporarily unavailable; try again later")
        elif committed is None:  # dropped meanwhile
            say(server, later, f"{channel.name} is not registered")
        else:
            say(server, later, answer(committed))

    registration_changed(server, channel, change, reply.later(answered))


def may_set(server: ChatServer, channel: Channel, user: User) -> bool:
    """Registered channels: the owner and access list; others: the channel's operators."""
    if channel.registered is not None:
        return has_access(server, channel, user)
    standing = channel.members.get(user)
    return standing is not None and standing.op


@CHANSERV.command(
    "SET",
    "<#channel> HISTORY everyone|since_join|registered",
    "who may read the channel's history (its operators)",
    min_args=1,
)
@on_channel
def cs_set(server: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    if not args or args[0].upper() != "HISTORY":
        say(server, reply, "Syntax: SET <#channel> HISTORY everyone|since_join|registered")
        return
    if len(args) == 1:
        say(server, reply, f"History access of {channel.name}: {access_of(server, channel)}")
        return
    value = args[1].lower()
    if value not in HISTORY_ACCESS:
        say(server, reply, "History access is one of: " + ", ".join(HISTORY_ACCESS))
        return
    if not may_set(server, channel, user):
        say(server, reply, f"Only the operators of {channel.name} may change that")
        return
    log.info("%s set the history access of %s to %s", user.nick, channel.name, value)
    if server.cluster is not None and server.channels.get(channel.fold) is channel:
        # Every node's copy of the room changes, in the room's sequence (its state field
        # `history` too, for a node that opens the room later): hubbub.core.cluster_apply.
        # (A registered room nobody here is in is the registry's copy: saved and announced
        # below, as its other settings.)

        def answered(later: Reply, sequenced: bool) -> None:
            if sequenced:
                say(server, later, f"History access of {channel.name} is now {value}")
            else:
                say(server, later, "Channel settings are temporarily unavailable; try again")

        server.cluster.history_access(reply, channel, user, value, answered)
        return
    now = f"History access of {channel.name} is now {value}"

    def change(saved: RegisteredChannel) -> RegisteredChannel:
        return replace(saved, history_access=value)

    if server.cluster is not None:  # a registered room nobody here is in: the registry's copy
        committed_then_answered(server, reply, channel, change, lambda committed: now)
        return
    say(server, reply, now)
    history_access_set(server, channel, user.nick, value, exclude=user)
    registration_changed(server, channel, change)


def history_access_set(
    server: ChatServer, channel: Channel, nick: str, value: str, exclude: User | None
) -> None:
    """`nick` set the room's history access to `value`: the room has it, and its members
    (this node's, in cluster mode) are told, but `exclude` (the setter, answered apart)."""
    channel.history_access = value
    if channel.members:
        server.fanout(
            channel.members,
            f":{CHANSERV.prefix(server)} NOTICE {channel.name} :{nick} set who may read "
            f"this channel's history: {value}",
            server.stamp(),
            exclude=exclude,
            channel=channel,
        )
