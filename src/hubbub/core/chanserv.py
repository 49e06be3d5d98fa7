"""Persistent channels: the ChanServ pseudo-user and the registry the core keeps in memory.

A logged-in user who is an operator of a channel registers it with `/msg ChanServ REGISTER
#chan`. From then on the channel's topic, modes (+i +k +l +m +n +t +s), ban list, operator list
(account names, `ACCESS`) and history access survive restarts: they are saved through the
`RegistryService` (its own store on its own thread, `hubbub.registry`) each time they change —
asynchronously, the loop never waits — and loaded before the listeners open, so the channel
exists, empty, with its saved state from the start and does not vanish when its last member
leaves. Its owner and the accounts on its operator list are opped when they join (and pass +i,
+k, +l and bans).

`srv.reg` (`RegistryState`) also holds the server bans (K-lines, D-lines) loaded with the
channels; `hubbub.core.operators` manages them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.core.accounts import _service_user
from hubbub.core.budget import channel_removed
from hubbub.core.model import Ban, Channel, Topic
from hubbub.core.modes import FLAG_MODES
from hubbub.core.ports import RegistryService
from hubbub.core.privacy import access_of
from hubbub.core.reply import Reply
from hubbub.registry.model import HISTORY_ACCESS, ChannelBan, RegisteredChannel, ServerBan
from hubbub.registry.service import RegistryFailure, SyncRegistryService
from hubbub.registry.store import RegistryStore

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.chanserv")

SERVICE_NICK = "ChanServ"


class Registration:
    """The ChanServ registration of a live channel (`Channel.registered`)."""

    __slots__ = ("ops", "owner", "registered_ms")

    def __init__(self, owner: str, ops: list[str], registered_ms: int) -> None:
        self.owner = owner  # account name as registered
        self.ops = ops  # account names opped on join besides the owner
        self.registered_ms = registered_ms


class RegistryState:
    """Registered channels' and server bans' bookkeeping, one per ChatServer (`srv.reg`)."""

    def __init__(self, srv: ChatServer, service: RegistryService | None) -> None:
        if service is None:
            from hubbub.registry.memory import MemoryRegistryStore

            service = SyncRegistryService(MemoryRegistryStore())
        self.srv = srv
        self.service: RegistryService = service
        # K-lines and D-lines by (kind, mask) (hubbub.core.operators).
        self.bans: dict[tuple[str, str], ServerBan] = {}
        self.chanserv = _service_user(srv, SERVICE_NICK, "Channel services", chanserv)
        srv.acc.services[self.chanserv.fold] = self.chanserv
        service.call(lambda store: (store.channels(), store.bans()), self._loaded)

    def _loaded(self, result: Any) -> None:
        if isinstance(result, RegistryFailure):
            log.error("could not load the registered channels and server bans")
            return
        channels, bans = result
        for saved in channels:
            restore(self.srv, saved)
        for ban in bans:
            self.bans[(ban.kind, ban.mask)] = ban
        if channels or bans:
            log.info("loaded %d registered channels, %d server bans", len(channels), len(bans))

    def call(
        self, fn: Callable[[RegistryStore], Any], done: Callable[[Any], None] | None = None
    ) -> None:
        """Run `fn(store)` off the loop; a failure is logged (the change stays in memory)."""

        def finish(result: Any) -> None:
            if isinstance(result, RegistryFailure):
                log.error("saving to the registry failed; the change is kept in memory only")
            if done is not None:
                done(result)

        self.service.call(fn, finish)


# ---------------------------------------------------------------------- saved state


def restore(srv: ChatServer, saved: RegisteredChannel) -> Channel:
    """Make (or update) the live channel from its saved state."""
    fold = srv.fold(saved.name)
    channel = srv.channels.get(fold)
    if channel is None:
        channel = Channel(saved.name, fold, saved.created or int(srv.now))
        srv.channels[fold] = channel
    channel.topic = (
        Topic(saved.topic, saved.topic_setter, saved.topic_time) if saved.topic else None
    )
    for char, attr in FLAG_MODES.items():
        setattr(channel, attr, char in saved.flags)
    channel.key = saved.key
    channel.limit = saved.limit
    channel.bans = [Ban(b.mask, b.setter, b.set_at) for b in saved.bans]
    channel.history_access = saved.history_access if saved.history_access in HISTORY_ACCESS else ""
    channel.registered = Registration(saved.owner, list(saved.ops), saved.registered_ms)
    return channel


def snapshot(channel: Channel, registration: Registration) -> RegisteredChannel:
    topic = channel.topic
    return RegisteredChannel(
        name=channel.name,
        fold=channel.fold,
        owner=registration.owner,
        registered_ms=registration.registered_ms,
        created=channel.created,
        ops=tuple(registration.ops),
        topic=topic.text if topic is not None else "",
        topic_setter=topic.setter if topic is not None else "",
        topic_time=topic.set_at if topic is not None else 0,
        flags="".join(char for char, attr in FLAG_MODES.items() if getattr(channel, attr)),
        key=channel.key,
        limit=channel.limit,
        bans=tuple(ChannelBan(b.mask, b.setter, b.set_at) for b in channel.bans),
        history_access=channel.history_access,
    )


def changed(srv: ChatServer, channel: Channel) -> None:
    """The channel's topic, modes, bans or settings changed: save it if it is registered."""
    registration = channel.registered
    if registration is None:
        return
    saved = snapshot(channel, registration)
    srv.reg.call(lambda store: store.save_channel(saved))


def has_access(srv: ChatServer, channel: Channel, user: User) -> bool:
    """Whether `user` is logged in to the owner's account or one on the operator list."""
    registration = channel.registered
    if registration is None or not user.account:
        return False
    mine = srv.fold(user.account)
    return mine == srv.fold(registration.owner) or any(
        srv.fold(name) == mine for name in registration.ops
    )


def is_owner(srv: ChatServer, channel: Channel, user: User) -> bool:
    registration = channel.registered
    return (
        registration is not None
        and bool(user.account)
        and srv.fold(user.account) == srv.fold(registration.owner)
    )


# ---------------------------------------------------------------------- ChanServ

CHANSERV_HELP = (
    "ChanServ keeps registered channels: their topic, modes, bans and operators survive "
    "restarts. Commands:",
    "REGISTER <#channel> - register a channel you are an operator of (logged in)",
    "DROP <#channel> - unregister it (its owner)",
    "INFO <#channel> - who owns it, its operators, its history access",
    "ACCESS <#channel> LIST | ADD <account> | DEL <account> - accounts opped on join (ADD/DEL: "
    "its owner)",
    "SET <#channel> HISTORY everyone|since_join|registered - who may read the channel's "
    "history (its operators)",
)


def say(srv: ChatServer, reply: Reply, text: str) -> None:
    reply.add(f":{srv.reg.chanserv.prefix} NOTICE {reply.session.user.nick} :{text}")


def chanserv(srv: ChatServer, reply: Reply, text: str) -> None:
    """A PRIVMSG to ChanServ."""
    srv.reg.chanserv.last_active = srv.now
    words = text.split()
    sub = words[0].upper() if words else "HELP"
    args = words[1:]
    if sub == "HELP":
        for line in CHANSERV_HELP:
            say(srv, reply, line)
        return
    handler = {
        "REGISTER": cs_register,
        "DROP": cs_drop,
        "INFO": cs_info,
        "ACCESS": cs_access,
        "SET": cs_set,
    }.get(sub)
    if handler is None:
        say(srv, reply, f"Unknown command {sub}; try HELP")
        return
    if not args or not args[0].startswith("#"):
        say(srv, reply, f"Syntax: {sub} <#channel> …; try HELP")
        return
    channel = srv.find_channel(args[0])
    if channel is None:
        say(srv, reply, f"No such channel {args[0]}")
        return
    handler(srv, reply, channel, args[1:])


def _answer(
    srv: ChatServer, reply: Reply, done: Callable[[Reply, Any], None]
) -> Callable[[Any], None]:
    """A registry answer as a fresh reply for the same client (with the command's label)."""
    session = reply.session
    label = reply.label
    reply.label = None

    def finish(result: Any) -> None:
        if session.closed:
            return
        later = Reply(session, srv.name, label)
        done(later, result)
        later.flush()

    return finish


def cs_register(srv: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    account = user.account
    if not account:
        say(srv, reply, "You must be logged in to register a channel")
        return
    standing = channel.members.get(user)
    if standing is None or not standing.op:
        say(srv, reply, f"You must be an operator of {channel.name} to register it")
        return
    if channel.registered is not None:
        say(srv, reply, f"{channel.name} is already registered")
        return
    limit = srv.config.accounts.max_channels
    registration = Registration(account, [], int(srv.now * 1000))
    saved = snapshot(channel, registration)

    def fn(store: RegistryStore) -> str:
        if len(store.channels_of(account)) >= limit:
            return "limit"
        return "ok" if store.create_channel(saved) else "taken"

    def done(later: Reply, result: Any) -> None:
        if result == "ok":
            live = srv.channels.get(saved.fold)
            if live is None:  # everyone left meanwhile: it stays, empty, as saved
                restore(srv, saved)
            else:
                live.registered = registration
                changed(srv, live)  # what changed while the registration was being written
            log.info("%s registered %s (account %s)", user.nick, saved.name, account)
            say(srv, later, f"{saved.name} is now registered to {account}")
        elif result == "limit":
            say(srv, later, f"You may register at most {limit} channels")
        elif result == "taken":
            say(srv, later, f"{saved.name} is already registered")
        else:
            say(srv, later, "Channel registration is temporarily unavailable; try again later")

    srv.reg.call(fn, _answer(srv, reply, done))


def cs_drop(srv: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    if channel.registered is None:
        say(srv, reply, f"{channel.name} is not registered")
        return
    if not is_owner(srv, channel, user) and not user.oper:
        say(srv, reply, f"Only the owner of {channel.name} may drop it")
        return
    fold = channel.fold
    channel.registered = None
    if not channel.members:
        srv.channels.pop(fold, None)
        channel_removed(srv, channel)
    if user.oper and not is_owner(srv, channel, user):
        log.info("oper %s dropped the registration of %s", user.oper, channel.name)
    else:
        log.info("%s dropped the registration of %s", user.nick, channel.name)
    say(srv, reply, f"{channel.name} is no longer registered")
    srv.reg.call(lambda store: store.delete_channel(fold))


def cs_info(srv: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    registration = channel.registered
    hidden = channel.secret and user not in channel.members and not user.oper
    if registration is None or hidden:
        say(srv, reply, f"{channel.name} is not registered")
        return
    since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(registration.registered_ms / 1000))
    say(srv, reply, f"{channel.name} is registered to {registration.owner} since {since}")
    ops = ", ".join(registration.ops) or "(none besides the owner)"
    say(srv, reply, f"Operators: {ops}")
    say(srv, reply, f"History access: {access_of(srv, channel)}")


def cs_access(srv: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    registration = channel.registered
    if registration is None:
        say(srv, reply, f"{channel.name} is not registered")
        return
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        if not has_access(srv, channel, user) and not user.oper:
            say(srv, reply, f"Only the operators of {channel.name} may see its access list")
            return
        say(srv, reply, f"Owner: {registration.owner}")
        for name in registration.ops:
            say(srv, reply, f"Operator: {name}")
        return
    if sub not in ("ADD", "DEL") or len(args) != 2:
        say(srv, reply, "Syntax: ACCESS <#channel> LIST | ADD <account> | DEL <account>")
        return
    if not is_owner(srv, channel, user):
        say(srv, reply, f"Only the owner of {channel.name} may change its access list")
        return
    name = args[1]
    fold = srv.fold(name)
    present = [n for n in registration.ops if srv.fold(n) == fold]
    if sub == "ADD":
        if fold not in srv.acc.names:
            say(srv, reply, f"There is no account {name}")
            return
        if present or fold == srv.fold(registration.owner):
            say(srv, reply, f"{name} is already an operator of {channel.name}")
            return
        if len(registration.ops) >= srv.config.limits.list_modes:
            say(srv, reply, f"The access list of {channel.name} is full")
            return
        registration.ops.append(name)
        say(srv, reply, f"{name} is now an operator of {channel.name}")
    else:
        if not present:
            say(srv, reply, f"{name} is not on the access list of {channel.name}")
            return
        registration.ops.remove(present[0])
        say(srv, reply, f"{present[0]} is no longer an operator of {channel.name}")
    log.info("%s changed the access list of %s: %s %s", user.nick, channel.name, sub, name)
    changed(srv, channel)


def may_set(srv: ChatServer, channel: Channel, user: User) -> bool:
    """Registered channels: the owner and access list; others: the channel's operators."""
    if channel.registered is not None:
        return has_access(srv, channel, user)
    standing = channel.members.get(user)
    return standing is not None and standing.op


def cs_set(srv: ChatServer, reply: Reply, channel: Channel, args: list[str]) -> None:
    user = reply.session.user
    if not args or args[0].upper() != "HISTORY":
        say(srv, reply, "Syntax: SET <#channel> HISTORY everyone|since_join|registered")
        return
    if len(args) == 1:
        say(srv, reply, f"History access of {channel.name}: {access_of(srv, channel)}")
        return
    value = args[1].lower()
    if value not in HISTORY_ACCESS:
        say(srv, reply, "History access is one of: " + ", ".join(HISTORY_ACCESS))
        return
    if not may_set(srv, channel, user):
        say(srv, reply, f"Only the operators of {channel.name} may change that")
        return
    channel.history_access = value
    log.info("%s set the history access of %s to %s", user.nick, channel.name, value)
    say(srv, reply, f"History access of {channel.name} is now {value}")
    if channel.members:
        srv.fanout(
            channel.members,
            f":{srv.reg.chanserv.prefix} NOTICE {channel.name} :{user.nick} set who may read "
            f"this channel's history: {value}",
            srv.stamp(),
            exclude=user,
            channel=channel,
        )
    changed(srv, channel)
