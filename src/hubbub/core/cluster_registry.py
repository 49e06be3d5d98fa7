"""Registered rooms (ChanServ) network-wide: every node knows every registration, at any time.

On one server a registered room is a live channel from the start and never vanishes. A cluster
node holds a live channel only while it follows the room on the bus (its own users are in it,
hubbub.core.cluster_rooms), so what it keeps of the others is the registration alone
(`RegistryState.known`: owner, operator list, history access), and a room it opens or creates
gets its `registered` from there (`RegistryState.attach`).

* **Which rooms are registered, and their registration**, concern every node (ops on join,
  +i/+k/+l and bans passed by the access list, ChanServ commands), whether or not it follows
  the room at the moment. So a REGISTER, DROP, ACCESS ADD/DEL or SET HISTORY is announced in the
  room every node follows, `~accounts` (as account registrations are: hubbub.core.
  cluster_accounts), once the registry committed it: `chanreg` with the whole registration,
  `chandrop`. Every node updates what it knows and, if it follows the room, the live channel.
  An announcement the bus refused is sent again when it is back (the latest per room), and a
  node that lost the bus reads the registrations from the registry again on its return (a
  restarted Redis may have lost the room's stream).
* **The room's state** (topic, modes and lists, creation time, metadata) is the bus's while the
  room exists: a registered room's state fields stay on the bus when its last member leaves
  (nobody deletes them), so a node that opens it empty loads it from there with no members,
  and the JOIN is checked against it and keeps it, as on one server where the room never
  vanished (`ClusterRooms.load_room`). When the bus has no state for it (never created since
  the registry had it, or a Redis that lost its data), the joining node reads the saved state
  from the registry and its creating JOIN carries it into the room's state fields atomically,
  and in the event (`rs`) for the nodes that apply that JOIN (hubbub.core.cluster_fields
  `saved_state`, `load_state`). A DROP forgets the registration on its own node at once, so a
  JOIN of that node opening the emptied room then may take it for a new one while another
  node's JOIN, sequenced first, joins the room the bus kept: the copy is made from the state
  read, as the bus kept it, when the first JOIN applied is not marked new (ClusterRooms
  `emptied_state`). The bus itself marks a registered room (`chanreg` and `chandrop` set and
  delete its `registered` field, hubbub.core.cluster_fields `REGISTERED_FIELD`): a JOIN from
  a node that has not learned the registration yet joins the emptied room as it is, and a
  RENAME onto its name is refused.
* **The registry's copy of the state** is saved by the node whose user changed the room, with
  the room's place in its sequence, and kept only if newer (two nodes' saves, each through
  its own registry worker, may commit in either order); a ChanServ change is made to the
  registration the registry has, in one transaction (hubbub.core.registered
  `registration_changed`): two nodes' changes at once both stay. A node that learns a
  registration of a room it does not follow saves the bus's state of it: changes it applied
  before it knew, in a room it left since, are in it.

See hubbub.core.network for the rest of the cluster's core.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_accounts import ACCOUNTS_ROOM
from hubbub.core.cluster_fields import registration_mark, room_from_fields
from hubbub.core.cluster_resync import ClusterResync
from hubbub.core.ports import CallFailure
from hubbub.core.registered import KnownRegistration, Registration, changed, snapshot

if TYPE_CHECKING:
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.chanserv")


class ClusterRegistry(ClusterResync):
    """Announces this node's ChanServ registrations and applies the other nodes'."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Announcements the bus refused, the latest per room: sent when it is back.
        self.registry_unsent: dict[str, dict[str, Any]] = {}
        # While the registrations are read again from the registry: those announced meanwhile
        # (None: dropped), which win over what the registry answers.
        self.registry_announced: dict[str, KnownRegistration | None] | None = None

    # ------------------------------------------------------------------ announcing

    def registration_saved(self, fold: str, result: Any) -> None:
        """The registry committed a registration made here, or a change of one (ChanServ
        REGISTER, ACCESS, SET): every node learns it."""
        known = self.server.registry.known.get(fold)
        if isinstance(result, CallFailure) or known is None:
            return  # kept here only (the failure is logged), or dropped meanwhile
        # (The nodes read the registration from the registry when they apply it,
        # `_read_registration`; it travels whole for nodes of an older version.)
        event = {
            "t": "chanreg",
            "f": fold,
            "n": known.name,
            "o": known.owner,
            "ops": list(known.ops),
            "ms": known.registered_ms,
            "h": known.history_access,
        }
        self._announce_registration(fold, event)

    def registration_dropped(self, fold: str, result: Any) -> None:
        """The registry deleted a registration here (ChanServ DROP): every node forgets it."""
        if not isinstance(result, CallFailure):
            self._announce_registration(fold, {"t": "chandrop", "f": fold})

    def _announce_registration(self, fold: str, event: dict[str, Any]) -> None:
        self.registry_unsent.pop(fold, None)  # this one is newer

        def refused(_room: str) -> None:
            log.warning("the registration of %s could not be announced; sent again later", fold)
            self.registry_unsent[fold] = event

        # The room's mark on the bus changes with the announcement, in the order every node
        # learns it (hubbub.core.cluster_fields `REGISTERED_FIELD`).
        mark = registration_mark(fold)
        if event["t"] == "chanreg":
            self.submit(None, ACCOUNTS_ROOM, event, None, {mark: "1"}, refused=refused)
        else:
            self.submit(None, ACCOUNTS_ROOM, event, None, delete_fields=(mark,), refused=refused)

    # ------------------------------------------------------------------ applying

    # What a `chanreg` or `chandrop` says is what the registry held when its node committed
    # it; two nodes' changes of one registration (a DROP on one, REGISTER again on another,
    # while the bus was away) may be sequenced in the other order than they committed, and
    # the nodes then knew the room dropped while the registry had it registered (a cluster
    # fuzz finding, seed 100741). So each node learns the registration as the registry has it
    # once the event is applied: read after both commits, the same everywhere.

    def _apply_chanreg(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        self._read_registration(str(event["f"]), mine, announced=True)

    def _apply_chandrop(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        self._read_registration(str(event["f"]), mine, announced=False)

    def _read_registration(self, fold: str, mine: bool, announced: bool) -> None:
        def read(result: Any) -> None:
            if isinstance(result, CallFailure):
                log.error("could not read the registration of %s; kept as it was", fold)
                return  # (known as it was, until its next change or the bus's return)
            known = KnownRegistration.saved(result) if result is not None else None
            self._learn(fold, known, mine)
            if mine and (known is not None) != announced:
                # Sequenced after the other node's change it crossed, which the registry
                # committed later: the room's mark on the bus says what this one did (kept
                # on a dropped room, no JOIN would ever make it anew). Announced again as the
                # registry has it, the mark follows.
                if known is None:
                    self.registration_dropped(fold, None)
                else:
                    self.registration_saved(fold, None)

        self.server.registry.service.call(lambda store: store.get_channel(fold), read)

    def _learn(self, fold: str, known: KnownRegistration | None, mine: bool) -> None:
        # Applied here too when it is this node's own: a reload of the registrations that
        # crossed it may have answered with what the registry held before it.
        if self.registry_announced is not None:
            self.registry_announced[fold] = known
        registry = self.server.registry
        learnt = known is not None and fold not in registry.known
        if known is None:
            registry.known.pop(fold, None)
        else:
            registry.known[fold] = known
        channel = self.server.channels.get(fold)
        if channel is None and learnt:
            self._save_bus_state_of(fold)
        if channel is not None:
            if known is None:
                channel.registered = None
            else:
                new = channel.registered is None
                registry.attach(channel)
                if new:
                    # Changes this node applied before it knew the room registered were
                    # saved by nobody (the registering node saved its copy as it was then):
                    # its copy (state and metadata) is saved now, kept if it is the newest
                    # (cluster fuzz seeds 2026, 100097).
                    changed(self.server, channel)

    def _save_bus_state_of(self, fold: str) -> None:
        """A registration this node learns of a room it does not follow: changes it applied
        before it knew the room registered, in a room it left since, were saved by nobody (their
        own node may have left it before it knew too), and this node's copy is gone. The bus's
        state is at least as new: saved, versioned (a cluster fuzz finding, seed 104573)."""
        self.network.read_state(fold, lambda state: self._save_bus_state(fold, state))

    def _save_bus_state(self, fold: str, state: tuple[int, int, Mapping[str, str]] | None) -> None:
        """Save the room's state as the bus had it (`read_state`) in the registry's copy, if
        the room is registered still and the bus has its state."""
        if state is None:
            return  # (the bus went away: its return reads every registration again)
        time_ms, seq, fields = state
        known = self.server.registry.known.get(fold)
        copy = room_from_fields(fold, fields)
        if known is None or copy is None:
            return  # (dropped meanwhile, or no state on the bus: the registry's is the room's)
        registration = Registration(known.owner, list(known.ops), known.registered_ms)
        saved = snapshot(copy, registration, (time_ms, seq))
        metadata = dict(copy.metadata or {})
        self.server.registry.call(lambda store: store.save_state(saved, metadata))

    def renamed_registration(self, old_fold: str, new_name: str, new_fold: str) -> None:
        """A registered room this node follows was renamed (hubbub.core.cluster_rename): what
        this node knows of it goes with it (the operator's node announces it to the others)."""
        known = self.server.registry.known
        entry = known.pop(old_fold, None)
        if entry is not None:
            known[new_fold] = replace(entry, name=new_name)

    def reload_registrations(self) -> None:
        """Read every registration from the registry again (an announcement may be lost)."""
        if self.registry_announced is not None:
            return  # one is on its way: it answers with what the registry holds then
        self.registry_announced = {}
        server = self.server
        registry = server.registry

        def loaded(result: Any) -> None:
            announced, self.registry_announced = self.registry_announced or {}, None
            if isinstance(result, CallFailure):
                log.error("could not reload the registered channels from the registry")
                return
            current = {saved.fold: KnownRegistration.saved(saved) for saved in result}
            for fold, known in announced.items():
                if known is None:
                    current.pop(fold, None)
                else:
                    current[fold] = known
            learnt = current.keys() - registry.known.keys()
            registry.known = current
            for fold in learnt - server.channels.keys():
                # (As when one is applied, `_learn`: a room this node does not follow.)
                self._save_bus_state_of(fold)
            for fold, channel in server.channels.items():
                if fold in current:
                    new = channel.registered is None
                    registry.attach(channel)
                    if new:  # (its announcement lost: as when one is applied, `_learn`)
                        changed(server, channel)
                else:
                    channel.registered = None

        registry.service.call(lambda store: store.channels(), loaded)

    # ------------------------------------------------------------------ the bus comes back

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if not available:
            return
        self.reload_registrations()
        unsent, self.registry_unsent = self.registry_unsent, {}
        for fold, event in unsent.items():
            self._announce_registration(fold, event)


#: Events applied outside any channel (in ACCOUNTS_ROOM), by kind.
REGISTRY_EVENTS = {
    "chanreg": ClusterRegistry._apply_chanreg,
    "chandrop": ClusterRegistry._apply_chandrop,
}
