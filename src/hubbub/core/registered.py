"""Registered channels: the registry the core keeps in memory, and saving a channel's state.

A channel registered with ChanServ (hubbub.core.chanserv) keeps its topic, modes (+i +k +l +m
+n +t +s), ban, ban exception and invite exception lists, operator list (account names) and
history access across restarts: they are saved through the `RegistryService` (its own store on
its own thread, `hubbub.registry`) each time they change — asynchronously, the loop never
waits — and loaded before the listeners open,
so the channel exists, empty, with its saved state from the start and does not vanish when its
last member leaves. Its owner and the accounts on its operator list are opped when they join
(and pass +i, +k, +l and bans).

`server.registry` (`RegistryState`) also holds the server bans (K-lines, D-lines) loaded with the
channels; `hubbub.core.bans` manages them.

In cluster mode a node holds a live channel only while it follows the room on the bus
(hubbub.core.cluster_rooms), so the registrations are kept here by casefolded name instead
(`RegistryState.known`: owner, operator list, history access), and a room gets its
`registered` when the node opens or creates it (`attach`). The registrations change on every
node at once: hubbub.core.cluster_registry. A node saves a room's state and its registration
apart, the state with its version (`state_version`), so that the registry keeps the newest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hubbub.core.model import FLAG_MODES, Ban, Channel, Topic
from hubbub.core.ports import CallFailure, RegistryService
from hubbub.core.roomflood import format_limit, parse_limit, set_limit
from hubbub.registry.model import HISTORY_ACCESS, ChannelBan, RegisteredChannel, ServerBan
from hubbub.registry.store import RegistryStore

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.chanserv")


class Registration:
    """The ChanServ registration of a live channel (`Channel.registered`)."""

    __slots__ = ("ops", "owner", "registered_ms")

    def __init__(self, owner: str, ops: list[str], registered_ms: int) -> None:
        self.owner = owner  # account name as registered
        self.ops = ops  # account names opped on join besides the owner
        self.registered_ms = registered_ms


@dataclass(frozen=True, slots=True)
class KnownRegistration:
    """A room's registration as every node of a cluster knows it (`RegistryState.known`): what
    ChanServ keeps besides the room's state (topic, modes and lists, which the room's state on
    the bus carries while it exists, and the registry when it does not)."""

    name: str
    owner: str
    ops: tuple[str, ...]
    registered_ms: int
    history_access: str

    @classmethod
    def of(cls, channel: Channel, registration: Registration) -> KnownRegistration:
        return cls(
            channel.name,
            registration.owner,
            tuple(registration.ops),
            registration.registered_ms,
            channel.history_access,
        )

    @classmethod
    def saved(cls, saved: RegisteredChannel) -> KnownRegistration:
        return cls(saved.name, saved.owner, saved.ops, saved.registered_ms, saved.history_access)


class RegistryState:
    """Registered channels' and server bans' bookkeeping, one per ChatServer (`server.registry`)."""

    def __init__(
        self, server: ChatServer, service: RegistryService, clustered: bool = False
    ) -> None:
        self.server = server
        self.service = service
        # Cluster mode: the registered rooms are not live channels here (a node holds only the
        # rooms it follows), their registrations are kept here by casefolded name.
        self.clustered = clustered
        self.known: dict[str, KnownRegistration] = {}
        # K-lines and D-lines by (kind, mask) (hubbub.core.bans).
        self.bans: dict[tuple[str, str], ServerBan] = {}
        service.call(lambda store: (store.channels(), store.bans()), self._loaded)

    def _loaded(self, result: Any) -> None:
        if isinstance(result, CallFailure):
            log.error("could not load the registered channels and server bans")
            return
        channels, bans = result
        for saved in channels:
            if self.clustered:
                self.known[saved.fold] = KnownRegistration.saved(saved)
            else:
                restore(self.server, saved)
        for ban in bans:
            self.bans[(ban.kind, ban.mask)] = ban
        cluster = getattr(self.server, "cluster", None)  # (None while the server is made)
        if cluster is not None:
            cluster.bans_loaded(bans)
        if channels or bans:
            log.info("loaded %d registered channels, %d server bans", len(channels), len(bans))

    def attach(self, channel: Channel) -> None:
        """Cluster mode: a room this node just opened or created gets its registration (and
        its history access, a registration setting) from what the node knows."""
        known = self.known.get(channel.fold)
        if known is None:
            return
        channel.registered = Registration(known.owner, list(known.ops), known.registered_ms)
        access = known.history_access
        channel.history_access = access if access in HISTORY_ACCESS else ""

    def call(
        self, fn: Callable[[RegistryStore], Any], done: Callable[[Any], None] | None = None
    ) -> None:
        """Run `fn(store)` off the loop; a failure is logged (the change stays in memory)."""

        def finish(result: Any) -> None:
            if isinstance(result, CallFailure):
                log.error("saving to the registry failed; the change is kept in memory only")
            if done is not None:
                done(result)

        self.service.call(fn, finish)


# ---------------------------------------------------------------------- saved state


def restore(server: ChatServer, saved: RegisteredChannel) -> Channel:
    """Make (or update) the live channel from its saved state."""
    fold = server.fold(saved.name)
    channel = server.channels.get(fold)
    if channel is None:
        channel = Channel(saved.name, fold, saved.created or int(server.now))
        server.channels[fold] = channel
    load_saved(channel, saved)
    return channel


def saved_channel(
    server: ChatServer, saved: RegisteredChannel, metadata: Mapping[str, str]
) -> Channel:
    """A channel with the saved state (and metadata) of a registered room, not made live: what
    a cluster node recreating the room checks a JOIN against and sends to the others."""
    channel = Channel(saved.name, server.fold(saved.name), saved.created or int(server.now))
    load_saved(channel, saved)
    channel.metadata = dict(metadata) or None
    return channel


def load_saved(channel: Channel, saved: RegisteredChannel) -> None:
    """The channel takes the saved state and registration."""
    channel.topic = (
        Topic(saved.topic, saved.topic_setter, saved.topic_time) if saved.topic else None
    )
    for char, attr in FLAG_MODES.items():
        setattr(channel, attr, char in saved.flags)
    channel.key = saved.key
    channel.limit = saved.limit
    set_limit(channel, parse_limit(saved.flood) if saved.flood else None)
    channel.bans = [Ban(b.mask, b.setter, b.set_at) for b in saved.bans]
    channel.excepts = [Ban(e.mask, e.setter, e.set_at) for e in saved.excepts]
    channel.invex = [Ban(i.mask, i.setter, i.set_at) for i in saved.invex]
    channel.history_access = saved.history_access if saved.history_access in HISTORY_ACCESS else ""
    channel.registered = Registration(saved.owner, list(saved.ops), saved.registered_ms)


def snapshot(
    channel: Channel, registration: Registration, version: tuple[int, int] = (0, 0)
) -> RegisteredChannel:
    """The channel and its registration as the registry saves them; `version`: which state of
    the room it is (`state_version`)."""
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
        flood=format_limit(channel.flood_limit) if channel.flood_limit is not None else "",
        bans=tuple(ChannelBan(b.mask, b.setter, b.set_at) for b in channel.bans),
        history_access=channel.history_access,
        excepts=tuple(ChannelBan(e.mask, e.setter, e.set_at) for e in channel.excepts),
        invex=tuple(ChannelBan(i.mask, i.setter, i.set_at) for i in channel.invex),
        state_ms=version[0],
        state_seq=version[1],
    )


def state_version(server: ChatServer, channel: Channel) -> tuple[int, int]:
    """Which state of the room `channel` has, for the registry to keep the newest saved: in
    cluster mode the bus's time and seq of the last event this node's copy reflects; (0, 0)
    on one server (its saves commit in order) and for a copy read from the registry."""
    cluster = server.cluster
    if cluster is None or server.channels.get(channel.fold) is not channel:
        return (0, 0)
    return cluster.state_version(channel.fold)


def changed(server: ChatServer, channel: Channel) -> None:
    """The channel's topic, modes, bans or settings changed: save it if it is registered (its
    registration changed by ChanServ: `registration_changed`).

    In cluster mode the registration and the state are saved apart: nodes save their copies
    through their own registry workers, and one's save may commit after another's later one.
    A state change is saved with its version (`state_version`), and the registry keeps the
    newer (the metadata with it, whole: a node that saved one value of a key and left the
    room before the next would leave its value last, a cluster fuzz finding, seed 100097).
    So every node that applies it may save it, and does: the one it was made on may not
    know the room registered yet, and leave it before it learns (seed 101376). A
    registration change (ChanServ, possibly on a node where nobody is in the room, from the
    registry's copy) changes the registration alone, so it never writes an older state back
    (`registration_changed`)."""
    registration = channel.registered
    if registration is None:
        return
    registry = server.registry
    cluster = server.cluster
    if cluster is None:
        whole = snapshot(channel, registration)
        registry.call(lambda store: store.save_channel(whole))
        return
    fold = channel.fold
    # What this node knows of it (its operators, its history access).
    registry.known[fold] = KnownRegistration.of(channel, registration)
    if server.channels.get(fold) is channel:
        state = snapshot(channel, registration, state_version(server, channel))
        metadata = dict(channel.metadata or {})  # (with the state: the same version)
        registry.call(lambda store: store.save_state(state, metadata))


def registration_changed(
    server: ChatServer,
    channel: Channel,
    change: Callable[[RegisteredChannel], RegisteredChannel],
    done: Callable[[Any], None] | None = None,
) -> None:
    """ChanServ changed the channel's registration (ACCESS ADD or DEL, SET HISTORY), as
    `change` makes it of a registration. On one server the channel is saved (`changed`). In
    cluster mode `change` is made to the registration the registry has, in one transaction
    (`RegistryStore.change_registration`), not written whole from this node's copy: another
    node's change committed meanwhile, which this node may not have learned yet, stays (two
    ACCESS ADDs on two nodes at once each wrote the list as its node had it, and the one
    committed last undid the other). Every node then learns the registration as committed
    (hubbub.core.cluster_registry), and `done` (cluster mode only) gets it: the registration
    as committed, None if it was dropped meanwhile, or the store's CallFailure."""
    registration = channel.registered
    cluster = server.cluster
    if registration is None:
        if done is not None and cluster is not None:
            done(None)
        return
    if cluster is None:
        changed(server, channel)
        return
    fold = channel.fold
    registry = server.registry
    registry.known[fold] = KnownRegistration.of(channel, registration)  # (here, at once)

    def committed(result: Any) -> None:
        if isinstance(result, RegisteredChannel):
            # As committed, with any other node's change in it (its own announcement tells
            # the other nodes; this one learns it now).
            registry.known[fold] = KnownRegistration.saved(result)
            live = server.channels.get(fold)
            if live is not None:
                registry.attach(live)
            cluster.registration_saved(fold, result)
        # (None: dropped meanwhile, announced by the node that dropped it; a failure: logged.)
        if done is not None:
            done(result)

    registry.call(lambda store: store.change_registration(fold, change), committed)


def with_operator(
    saved: RegisteredChannel, name: str, fold: Callable[[str], str], limit: int
) -> RegisteredChannel:
    """`saved` with account `name` on its access list (unless it is there, or the owner, or
    the list already has `limit` names: checked here too, in the registry's transaction, as
    another node's ADD may have filled it since this node checked its copy)."""
    if fold(name) in {fold(saved.owner), *map(fold, saved.ops)} or len(saved.ops) >= limit:
        return saved
    return replace(saved, ops=(*saved.ops, name))


def without_operator(
    saved: RegisteredChannel, name: str, fold: Callable[[str], str]
) -> RegisteredChannel:
    """`saved` without account `name` on its access list."""
    return replace(saved, ops=tuple(op for op in saved.ops if fold(op) != fold(name)))


def has_access(server: ChatServer, channel: Channel, user: User) -> bool:
    """Whether `user` is logged in to the owner's account or one on the operator list."""
    registration = channel.registered
    if registration is None or not user.account:
        return False
    mine = server.fold(user.account)
    return mine == server.fold(registration.owner) or any(
        server.fold(name) == mine for name in registration.ops
    )


def is_owner(server: ChatServer, channel: Channel, user: User) -> bool:
    registration = channel.registered
    return (
        registration is not None
        and bool(user.account)
        and server.fold(user.account) == server.fold(registration.owner)
    )
