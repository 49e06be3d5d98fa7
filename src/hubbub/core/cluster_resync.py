"""Writing this node's copy of a room back to the bus where Redis lost it: the `sync` event.

When Redis comes back without its data (a new epoch), or without the end of a room (restarted
from an append-only file that missed its last writes), the room's state fields on the bus lack
this node's users there (their member fields) and maybe the room's own state (its modes, topic,
metadata). Each node writes back its own members, with the room's state as its copy has it
(`resync`, called by hubbub.cluster.node once the bus is back).

Written from a copy that has not applied the room's last events yet, those fields would undo
them: a member kicked, or an operator made, by an event sequenced after the first node wrote
the room back and before a slower node did, would be back in (or out of) the room's fields,
and every node that opened the room later would have it so. So a `sync` is made only from a
copy with every change of the room applied: it names the seq of the last event its copy
reflects (`unchanged_since`), and the bus changes its fields only if no event after that one
changed them. If one did, the sync is sequenced all the same, with no change and marked
(`"un"`); when it comes back here, this node's copy has applied every event before it, and
the node sends it again from there. Messages change no field, so a busy room does not hold a
sync back, and neither does another node's sync that changed nothing: two nodes writing one
room back at once do not keep failing each other's. A sync whose copy's seq is not known (no
event applied since the bus came back) is sent first from seq -1, which no room has: its
echo gives the seq.

A sync writes every member of its copy (other nodes' only where the bus has none of that
name), so the first one made restores the whole room; every node takes in the others' syncs
that changed the fields (`_take_sync`), as the bus did. Until one has, the node refuses its
users' events in the room but their leaving (hubbub.core.cluster_rooms `unrestored`): the bus
would decide them from an empty room. docs/cluster.md, "Writing rooms back after Redis lost
its data", says why each of these is needed.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_apply import ClusterApply
from hubbub.core.cluster_fields import (
    encode,
    if_absent,
    load_membership,
    load_room_state,
    member_field,
    member_fields,
    metadata_field,
    mode_fields,
    standing_field,
    start_afresh,
    unchanged_since,
    user_facts,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from hubbub.core.model import Channel, User
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.cluster")

#: How many times a room's sync is sent (each time another event changed the room between the
#: copy it was made from and its place in the room's sequence) before this node stops trying
#: until one of its users there wants the room again: one changed (JOIN, PART, MODE...) in
#: every bus round trip all along. Each attempt is one event of the room.
SYNC_ATTEMPTS = 64

#: The seq a sync names when its copy's is not known: no room has it, so it changes nothing,
#: and its echo says where the room is.
UNKNOWN_SEQ = -1


class ClusterResync(ClusterApply):
    """This node's members and rooms written back to the bus, each from a copy with every event
    of the room applied."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Rooms being written back: fold -> (the seq the last sync sent names, attempts so far).
        self.syncing: dict[str, tuple[int, int]] = {}

    def resync(self, rooms: Collection[str] | None = None) -> None:
        """Write this node's members back to the bus in `rooms` (None: every room it follows),
        with each room's state as its copy has it."""
        for fold in list(self.server.channels) if rooms is None else rooms:
            if fold in self.server.channels:
                self.unrestored.add(fold)
            self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), 1)

    def _sync(self, fold: str, at: int, attempt: int) -> None:
        channel = self.server.channels.get(fold)
        fields = self.room_fields(channel) if channel is not None else {}
        if not fields:  # no member of ours there any more: nothing of ours to write
            self._stop_syncing(fold)
            return
        if attempt > SYNC_ATTEMPTS:
            # Still refused here (`unrestored`): the bus has not this node's members. The next
            # event of theirs there that is refused starts another round (`_wanted_unrestored`),
            # so the room is not given up for good, nor written to the stream all along.
            log.warning(
                "%s: this node's members were not written back to the bus: the room changed"
                " before each of %d attempts; tried again when one of them wants the room",
                fold,
                SYNC_ATTEMPTS,
            )
            self.syncing.pop(fold, None)
            return
        self.syncing[fold] = (at, attempt)
        # (Refused, the bus gone: it stays in `syncing`, and is sent again when the bus is back.)
        # (The fields travel in the event too: the nodes apply them as the bus does, `_take_sync`.)
        payload = encode({"t": "sync", "at": at, "fs": fields})
        condition = (unchanged_since(at),)
        self.network.sequence(fold, payload, fields, condition, lambda _time_ms: None)

    def _sync_back(self, room: str, seq: int, event: dict[str, Any], mine: bool) -> None:
        """A sync came back: once one has changed the room's fields, they are all there (its
        node's copy had every change applied, its members, and the room's state). One of this
        node's: everything before it is applied here now."""
        if "un" not in event:
            self.unrestored.discard(room)
            fields = event.get("fs")
            if not mine and isinstance(fields, dict):
                try:
                    self._take_sync(room, fields)
                except (KeyError, TypeError, ValueError):  # a node of another version, or a bug
                    log.exception("room %s: a sync could not be taken in; skipped", room)
        if not mine:
            return
        sent = self.syncing.get(room)
        if sent is None or event.get("at") != sent[0]:
            return  # an earlier one, sent again since
        if "un" not in event:  # nothing changed the room meanwhile: the bus made its changes
            del self.syncing[room]
            return
        self._sync(room, seq, sent[1] + 1)

    def _sync_moved(self, old_fold: str, new_fold: str) -> None:
        """A room being written back was renamed (its fields moved to the new name, without
        this node's members if its sync had not been made): written back under the new one."""
        sent = self.syncing.pop(old_fold, None)
        if old_fold in self.unrestored:
            self.unrestored.discard(old_fold)
            self.unrestored.add(new_fold)
        if sent is not None:
            self._sync(new_fold, self.views.get(new_fold, UNKNOWN_SEQ), sent[1] + 1)

    def _wanted_unrestored(self, fold: str) -> None:
        if fold not in self.syncing:  # given up after SYNC_ATTEMPTS: one more round
            self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), 1)

    def _stop_syncing(self, fold: str) -> None:
        """Nothing more of this node's to write back in the room, nor to wait for there."""
        self.syncing.pop(fold, None)
        self.unrestored.discard(fold)

    def close(self, fold: str) -> None:
        self._stop_syncing(fold)
        super().close(fold)

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if available:
            # Syncs refused while the bus was away (or whose answer was lost with it): again.
            for fold, (_, attempt) in list(self.syncing.items()):
                self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), attempt)

    def _take_sync(self, fold: str, fields: Mapping[str, str]) -> None:
        """Another node's sync changed the room's fields: this copy changes as the bus did.
        It has every change of the room's as its sender's copy had (a room this node follows
        all along); but one made here while Redis had lost it differs: the room created anew
        by a JOIN of this node's user that found it empty (its old members' node had not
        written it back yet) learns its members and state, as does a room opened here then,
        found empty, with that JOIN on its way."""
        server = self.server
        channel = server.channels.get(fold)
        if channel is None:
            if fold in self.opened_empty:
                self.opened_empty.discard(fold)
                self.load_room(fold, {name.lstrip("?"): value for name, value in fields.items()})
            return
        # The room's own state: every field the sync names replaces this copy's.
        state = {
            name: value
            for name, value in self.state_of(channel).items()
            if not name.startswith(("m:", "s:"))
        }
        state.update((name, value) for name, value in fields.items() if name[:1] != "?")
        room = json.loads(state["room"])
        channel.created, channel.history_since_ms = int(room["created"]), int(room["since"])
        invited, access = set(channel.invited), channel.history_access
        start_afresh(channel)
        channel.invited, channel.history_access = invited, access
        load_room_state(channel, state)
        # Its members: those this copy lacks join it; the sender's own take their standing.
        for name, value in fields.items():
            absent_only = name.startswith("?")
            name = name.lstrip("?")
            if not name.startswith("m:"):
                continue
            member_fold = name[2:]
            standing = fields.get(standing_field(member_fold))
            if standing is None:
                standing = fields.get(if_absent(standing_field(member_fold)))
            known = self.member_named(channel, member_fold)
            if known is None:
                user = self.remote_user(member_fold, json.loads(value))
                if user is None or user in channel.members:
                    continue
                channel.members[user] = load_membership(json.loads(value), standing)
                user.channels[fold] = channel
            elif not absent_only:
                channel.members[known] = load_membership(json.loads(value), standing)

    def state_of(self, channel: Channel) -> dict[str, str]:
        """The room's state fields as this copy has them: every member, its modes, topic and
        metadata."""
        fields: dict[str, str] = {}
        for user, standing in channel.members.items():
            node = self.node if self._ours(user) else self.homes.get(user, "")
            fields.update(member_fields(user.fold, user_facts(user, node), standing))
        fields["room"] = json.dumps(
            {"name": channel.name, "created": channel.created, "since": channel.history_since_ms}
        )
        fields.update(mode_fields(channel, self.server.fold))
        for key, value in (channel.metadata or {}).items():
            fields[metadata_field(key)] = value
        if channel.topic is not None:
            topic = channel.topic
            fields["topic"] = json.dumps(
                {"text": topic.text, "setter": topic.setter, "at": topic.set_at}
            )
        return fields

    def _ours(self, user: User) -> bool:
        """Whether `user` is this node's: connected here, or gone with its QUIT on its way (it
        stays in its rooms until then, as on every node); not another node's."""
        return not user.session.remote or user not in self.homes

    def room_fields(self, channel: Channel) -> dict[str, str]:
        """What this node's sync of the room writes ({} when none of its users is there): the
        room's state fields as this copy has them (`state_of`), other nodes' members only if
        the bus has no field of that name (their own node's sync has the last word on what it
        knows of them). Those are written too, so that the room's members are all on the bus
        after its first sync, whichever node makes it: one joining meanwhile sees them, and
        the burial of a node that died before its own sync finds its users."""
        if not any(self._ours(user) for user in channel.members):
            return {}
        fields = self.state_of(channel)
        for user in channel.members:
            if not self._ours(user):
                for name in (member_field(user.fold), standing_field(user.fold)):
                    if name in fields:
                        fields[if_absent(name)] = fields.pop(name)
        return fields
