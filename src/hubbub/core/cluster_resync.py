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
would decide them from an empty room.

Redis may have lost events some nodes had read and others had not (a lagging node's): a PART,
KICK, QUIT or NICK of another node's user, say, which the lagging node's copy lacks. So a
node's sync is the last word on its own users: the bus deletes every member of that node
before it sets those the sync has (`members_of`), and no later sync of another node writes
one back (`unless_written_back`); every node's copy does the same (a member its node does not
list parts, one it lists under another nick is renamed). A node that does not follow a room
sends no sync there, though a lagging node's copy may list its users in it (their PART lost,
or a RENAME that took the room to a name it never followed): a node whose own sync is done
asks each node its copy lists users of and that has not spoken there (`_ask_silent`; where
Redis lost the room's end, each node the bus's member fields name too: one that never read a
lost KICK of its user was not told of the loss, and lists her still), and
one that does not follow the room says so with a sync of no member (`_say_gone`). A RENAME
before its answer puts that answer under the old name, where the bus changes nothing: the
nodes asked are asked again under the new one (`_sync_moved`).

The room's own state (topic, modes, lists, metadata) differs between such copies too: after a
new epoch, each sync names how far its copy had read the room before (`read_up_to`, the copy's
view then, `lost_views`), and the room's own fields are those of the copy that had read
furthest, whichever sync comes first (`furthest`); a node whose copy had read further than the
syncs before its own keeps its room state, and refuses its users' events there, until its
own is in.

docs/cluster.md, "Writing rooms back after Redis lost its data", says why each of these is
needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_apply import ClusterApply, RoomlessApplier
from hubbub.core.cluster_fields import (
    PLACE_UNKNOWN,
    REPLACES_ROOM,
    encode,
    furthest,
    homes_named,
    if_absent,
    invitation_fields,
    invite_field,
    is_room_field,
    load_invitations,
    load_membership,
    load_room_state,
    member_field,
    member_fields,
    members_facts,
    members_of,
    metadata_field,
    mode_fields,
    nick_version,
    read_up_to,
    speak_event,
    standing_field,
    standing_text,
    start_afresh,
    unchanged_since,
    unless_written_back,
    user_facts,
    written_back,
)
from hubbub.core.cluster_rooms import unanswered
from hubbub.core.extended_join import join_fanout
from hubbub.core.ports import inbox

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

#: The PART reason shown for a member whose own node does not list it in the room: its PART,
#: KICK or QUIT there was lost with Redis's data before this node read it.
LOST_DEPARTURE_REASON = "Departure lost by the network"


class ClusterResync(ClusterApply):
    """This node's members and rooms written back to the bus, each from a copy with every event
    of the room applied."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Rooms being written back: fold -> (the seq the last sync sent names, attempts so far).
        self.syncing: dict[str, tuple[int, int]] = {}
        # Rooms where this node was refused saying that it has no member there (`_say_gone`),
        # and (node, room) where it was refused asking a node to speak (`_ask_silent`; True:
        # asked `again`): sent again when the bus is back.
        self.unsaid: dict[str, None] = {}
        self.unasked: dict[tuple[str, str], bool] = {}
        # Rooms where this node asked other nodes to speak since Redis last lost its data:
        # fold -> the nodes asked (`_ask_silent`). A RENAME may come before their answers,
        # which then fall on the old name: they are asked again under the new one.
        self.asked: dict[str, set[str]] = {}
        # Rooms whose end Redis lost: fold -> the nodes whose syncs this node has applied
        # there since it was told (`_sync_back`). A node that wrote the room back in an
        # earlier round keeps its `w:` field on the bus, yet its word there may be wanted
        # again: it is asked `again` (`_ask_silent`).
        self.spoken_since_loss: dict[str, set[str]] = {}
        # Rooms whose end Redis lost: fold -> the nodes the bus's member fields there named as
        # homes when this node was told (`lost_written_back`). A node that never read a lost
        # KICK of its user was not told of the loss, and still lists her, as the bus does,
        # while copies that had read it do not: it is asked to speak (`_ask_silent`).
        self.homes_on_bus: dict[str, set[str]] = {}
        # Rooms whose rename Redis lost, undone here as the bus was back, until this node is
        # told who has written them back (`lost_written_back`): their copies read what it lost.
        self.undone_renames: set[str] = set()
        # Rooms whose end Redis lost without losing its data (restarted from a file missing
        # its last writes): their syncs are not ranked (`read_up_to`), as the copies' places
        # there are not known; the last one written gives the room's own fields.
        self.unranked: set[str] = set()
        # Renames this node applied in this epoch, and in the one Redis lost last: new fold ->
        # (old fold, the rename's seq in the old room). After a new epoch, a node asked to
        # speak in a renamed room is told where it came from (`_ask`): one whose copy of the
        # old room had not read that far never read the rename, lost with Redis's data, and
        # takes it now (hubbub.core.cluster_rename `_catch_up_rename`).
        self.renamed_in_epoch: dict[str, tuple[str, int]] = {}
        self.renamed_before: dict[str, tuple[str, int]] = {}

    def resync(self, rooms: Collection[str] | None = None) -> None:
        """Write this node's members back to the bus in `rooms` (None: every room it follows),
        with each room's state as its copy has it."""
        if rooms is None:
            self.unranked.clear()  # (a new epoch: every copy's place is its `lost_views`)
        else:
            # Only channels: the network room and the nodes' inboxes have no members to write
            # back (Redis may have lost their end too: the bus says so of every room).
            rooms = [room for room in rooms if not room.startswith("~")]
            self.unranked.update(rooms)
        for fold in list(self.server.channels) if rooms is None else rooms:
            if fold in self.server.channels:
                self.unrestored.add(fold)
            self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), 1)

    def write_room_back(self, fold: str) -> None:
        """Write this node's members of one room back (a sync, ranked as every other), unless
        a sync of it is on its way already."""
        if fold not in self.syncing:
            self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), 1)

    def _say_gone(self, fold: str) -> None:
        """Tell the room that none of this node's users is in it: its `sync` with no member
        (unconditional: whatever happens in the room meanwhile, none of this node's users
        comes into it but by a JOIN, which this node sends after this, or by a RENAME of
        another room to this name, after which this node speaks again: `_sync_back`)."""
        if self.joining.get(fold) or fold in self.opening:
            # A JOIN of ours on its way: not after it, which would take its joiner out again;
            # once it is in (or refused), this node's copy speaks (`_joined_or_not`, and
            # cluster_propose `_take_turns` for one the copy it opened refused).
            self.unsaid.pop(fold, None)
            self.speak_when_joined.add(fold)
            return
        self.unsaid[fold] = None

        def said(time_ms: int | None, _seq: int) -> None:
            if time_ms is not None:
                self.unsaid.pop(fold, None)

        payload = encode({"t": "sync", "at": UNKNOWN_SEQ, "fs": {}})
        self.network.sequence(fold, payload, {}, (members_of(self.node),), said)

    def _sync(self, fold: str, at: int, attempt: int) -> None:
        channel = self.server.channels.get(fold)
        fields = self.room_fields(channel) if channel is not None else {}
        if not fields:  # no member of ours there any more: nothing of ours to write
            self._stop_syncing(fold)
            self._say_gone(fold)
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
        sync: dict[str, Any] = {"t": "sync", "at": at, "fs": fields}
        deleted = [unchanged_since(at), members_of(self.node)]
        if fold not in self.unranked:
            # Its place among the copies written back: the room's own fields end up as the
            # copy that had read furthest has them, whichever sync comes first.
            sync["rd"] = rank = self._own_rank(fold)
            deleted.append(read_up_to(rank))
        else:
            deleted.append(REPLACES_ROOM)
        payload = encode(sync)
        self.network.sequence(fold, payload, bus_names(fields), deleted, unanswered)

    def _sync_back(
        self, room: str, seq: int, time_ms: int, node: str, event: dict[str, Any], mine: bool
    ) -> None:
        """A sync came back: once one has changed the room's fields, they are all there (its
        node's copy had every change applied, its members, and the room's state). One of this
        node's: everything before it is applied here now."""
        fields = event.get("fs")
        if "un" not in event and isinstance(fields, dict):
            # Ranked (`read_up_to`): its room fields replace the room's if its copy had read
            # at least as far as the one whose fields the room has, as the bus decided. But
            # this node's copy, if it had read further and its own sync is still to come,
            # keeps its own room state: that sync replaces the room's with it (taken in now,
            # this copy would lose what only it had read, and write back the other's).
            rank = event.get("rd")
            replaces = rank is None or int(rank) >= self.furthest.get(room, PLACE_UNKNOWN)
            if rank is not None and replaces:
                self.furthest[room] = int(rank)
            keeps_own = (
                not mine
                and rank is not None
                and self.node not in self.written_back.get(room, ())
                and self._own_rank(room) > int(rank)
            )
            self.written_back.setdefault(room, set()).add(node)
            if room in self.spoken_since_loss:
                self.spoken_since_loss[room].add(node)
            # (Not a sync of no member, `_say_gone`.) Another node's only if it lists every
            # member of ours: its copy may lack one whose PART or QUIT it read and Redis lost,
            # while this node, which had not, has the last word on it. Taken for restored
            # then, the room let this node's users' events through to copies without them,
            # which refused them where this one applied them (a cluster fuzz finding). Never
            # another node's in a room whose end Redis lost: the bus kept its older member
            # fields there, which another node's sync sets only if absent (`?`), so one of
            # ours may have a standing there that a MODE it lost had changed (the bus then
            # refused an operator's change that every copy applied, another finding).
            others = room not in self.unranked and self._lists_ours(room, fields)
            speaks_again = False
            if "room" in fields and not keeps_own and (mine or others):
                self.unrestored.discard(room)
                self._restored(room)
            elif (
                not mine
                and "room" in fields
                and room not in self.syncing
                and not self._lists_ours(room, fields)
            ):
                # A user of this node's has come in, admitted by its copy: the sender's copy,
                # which had read further before Redis lost its data (a +l this one never
                # read), refused that JOIN. (A sync that changed the fields had every change
                # before it applied, that JOIN's included.) This node speaks (again, if it
                # had), so that every copy takes its users in (a cluster fuzz finding). Also
                # if it never had: it opened the room after the loss, from the bus's state,
                # never told of it, and its copy admitted the JOIN that the sender's refused
                # (another, seed 5719788). (Not after a sync of no member, `_say_gone`: no
                # copy, it changed none of ours, and each answer of a node asked by several
                # had every other node speak again.)
                self.unrestored.add(room)
                speaks_again = True
            if not mine:
                try:
                    taken = replaces and not keeps_own
                    self._take_sync(room, node, fields, time_ms, taken)
                except (KeyError, TypeError, ValueError):  # a node of another version, or a bug
                    log.exception("room %s: a sync could not be taken in; skipped", room)
            if speaks_again:
                # (Its copy with this sync taken in, as its `at` says: made before, an
                # unranked one put the room's fields back as they were before this sync,
                # another finding.)
                self._sync(room, self.views.get(room, UNKNOWN_SEQ), 1)
        if not mine:
            return
        channel = self.server.channels.get(room)
        if fields == {} and room not in self.syncing and channel is not None:
            # Ours of no member (`_say_gone`), back to a room this node follows: a RENAME
            # sequenced before it brought users of ours in under this name (their room's),
            # whose member fields it deleted on the bus, as every other node's copy took them
            # out (a cluster fuzz finding). This copy speaks again, with them.
            if self.room_fields(channel):
                self.write_room_back(room)
            return
        sent = self.syncing.get(room)
        if sent is None or event.get("at") != sent[0]:
            return  # an earlier one, sent again since
        if "un" not in event:  # nothing changed the room meanwhile: the bus made its changes
            del self.syncing[room]
            self._ask_silent(room)
            return
        self._sync(room, seq, sent[1] + 1)

    def _lists_ours(self, fold: str, fields: Mapping[str, str]) -> bool:
        """Whether another node's sync names every member of ours in this copy of the room,
        with the standing this copy gives it (another node's members are `?m:` and `?s:` in
        a sync's fields). One with another standing (a MODE this node never read, lost with
        Redis's data) is no copy of this one's: taken for one, it let an operator of this
        copy alone set the topic, applied here and refused everywhere else, a cluster fuzz
        finding."""
        channel = self.server.channels.get(fold)
        if channel is None:
            return True
        return all(
            if_absent(member_field(user.fold)) in fields
            and fields.get(if_absent(standing_field(user.fold)), "") == standing_text(standing)
            for user, standing in channel.members.items()
            if self._ours(user)
        )

    def _own_rank(self, fold: str) -> int:
        """This node's copy's place among those written back (`read_up_to`)."""
        if fold in self.unranked:
            return PLACE_UNKNOWN
        return self.lost_views.get(fold, PLACE_UNKNOWN)

    def _ask_silent(self, fold: str) -> None:
        """This node's copy lists users of nodes that have not written the room back: each such
        node is asked to speak there (`_apply_speak`). One that follows the room does anyway;
        one that does not may never have (a RENAME it missed, lost with Redis's data, took the
        room to a name it never followed) and says it has nobody there."""
        channel = self.server.channels.get(fold)
        if channel is None:
            return
        silent = self.homes_listed(channel)
        silent |= self.homes_on_bus.pop(fold, set())
        self._ask_each(fold, silent - self._spoken(fold), self.written_back.get(fold, set()))

    def _spoken(self, fold: str) -> set[str]:
        """The nodes that have written the room back in this round: since Redis lost its
        end, if it did; else (a new epoch) as the bus has them. A node that spoke in an
        earlier round (a room whose end Redis lost twice) had not the members this copy
        lists now: one that came in by a RENAME Redis lost stayed in this copy alone, her
        node, not following the new name, never asked (a cluster fuzz finding)."""
        since = self.spoken_since_loss.get(fold)
        return since if since is not None else self.written_back.get(fold, set())

    def _joined_or_not(self, fold: str) -> None:
        super()._joined_or_not(fold)
        if fold in self.speak_when_joined:  # (refused: the room may be closed now)
            self._speak_if_joined(fold)

    def _speak_if_joined(self, fold: str) -> None:
        """Asked to speak in the room while a JOIN of ours was on its way there: once none is,
        this node's copy speaks (the joiner in it, after every event before), or it says it
        has nobody there."""
        if self.joining.get(fold) or fold in self.opening:
            return
        self.speak_when_joined.discard(fold)
        self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), 1)

    def _refused_for_another(self, fold: str, home: str) -> None:
        """This copy refused another node's user's JOIN while it lists users of nodes it
        asked to speak that have not yet: members the bus may lack, and so may the copy of
        the joiner's node if it opened the room from the bus. That copy may have admitted
        the JOIN (Redis lost the JOIN of a lost node's user, read here, and the room had
        `+l`: a cluster fuzz finding, seed 5666736). Its node is asked to speak: its sync is
        the last word on its users, and every copy takes the joiner in if it did."""
        channel = self.server.channels.get(fold)
        asked = self.asked.get(fold)
        if channel is None or not asked or not home or home == self.node:
            return
        if self.homes_listed(channel) & (asked - self._spoken(fold)):
            asked.add(home)
            self._ask(home, fold, again=True)

    def _ask_each(self, fold: str, homes: set[str], again: Container[str] = ()) -> None:
        """Ask each node of `homes` but this one (and "", a node not known) to speak in the
        room, noted as asked there; those in `again` even if they have written it back."""
        for home in sorted(homes - {"", self.node}):
            self.asked.setdefault(fold, set()).add(home)
            self._ask(home, fold, again=home in again)

    def _ask(self, home: str, fold: str, again: bool = False) -> None:
        """Ask node `home` to speak in the room (`_apply_speak`); `again`: even if it has
        written the room back already."""

        def refused(_inbox: str) -> None:
            self.unasked[(home, fold)] = self.unasked.get((home, fold), False) or again

        event = speak_event(fold)
        if again:
            event["again"] = 1
        origin = self.renamed_before.get(fold)
        channel = self.server.channels.get(fold)
        if origin is not None and channel is not None:
            event["from"], event["s"] = origin
            event["n"] = channel.name
        self.submit(None, inbox(home), event, None, refused=refused, answered_when_sequenced=True)

    def _apply_speak(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """Another node's copy of a room lists users of this node, which has not written it
        back: it does now (its copy, or none of its users), unless it has meanwhile or is
        about to. (A room it follows now may be one its user joined after it wrote its rooms
        back: it had not spoken there, a cluster fuzz finding.) Asked `again` (a copy that a
        lost RENAME took back to this name, `lost_renames`, lists users who came into it
        after the rename), it speaks even if it had written the room back before."""
        fold = str(event["r"])
        # (Having taken a rename, its copy speaks even if this node had said before that it
        # had nobody there.)
        caught_up = "from" in event and self._catch_up_rename(event)
        spoken = (
            self.node in self.written_back.get(fold, ()) and "again" not in event and not caught_up
        )
        if spoken or fold in self.syncing:
            return
        self.speak_when_joined.add(fold)
        self._speak_if_joined(fold)

    def _catch_up_rename(self, event: dict[str, Any]) -> bool:
        """Asked to speak in a room renamed in the epoch Redis lost (`_ask`): this node's copy
        of the old room may be one that never read the rename (hubbub.core.cluster_rename).
        Whether it took the rename."""
        return False

    def _sync_moved(self, old_fold: str, new_fold: str) -> None:
        """A room being written back was renamed (its fields moved to the new name, without
        this node's members if its sync had not been made): written back under the new one."""
        sent = self.syncing.pop(old_fold, None)
        homes = self.homes_on_bus.pop(old_fold, None)
        if homes is not None:  # (the bus moved its member fields with the room)
            self.homes_on_bus[new_fold] = homes
        if old_fold in self.unrestored:
            self.unrestored.discard(old_fold)
            self.unrestored.add(new_fold)
        if sent is not None:
            self._sync(new_fold, self.views.get(new_fold, UNKNOWN_SEQ), sent[1] + 1)
        # The nodes asked to speak under the old name that have not yet: their answers fall
        # after the RENAME there, where the bus changes nothing. Asked again under the new
        # name, or a user of theirs that only this copy still lists (a QUIT lost for it) would
        # stay in the renamed room (a cluster fuzz finding).
        silent = self.asked.pop(old_fold, set()) - self._spoken(new_fold)
        for home, fold in [key for key in self.unasked if key[1] == old_fold]:
            del self.unasked[(home, fold)]
            silent.add(home)
        self._ask_each(new_fold, silent, self.written_back.get(new_fold, set()))

    def _wanted_unrestored(self, fold: str) -> None:
        # (Given up after SYNC_ATTEMPTS: one more round. Not before the core hears the bus is
        # back, `lost_echoes`: `resync` then writes every room back.)
        if fold not in self.syncing and self.available:
            self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), 1)

    def _stop_syncing(self, fold: str) -> None:
        """Nothing more of this node's to write back in the room, nor to wait for there."""
        self.syncing.pop(fold, None)
        self.unrestored.discard(fold)

    def epoch_restarted(self) -> None:
        super().epoch_restarted()
        # (A rename's seq names a place in its epoch's old room only.)
        self.renamed_before, self.renamed_in_epoch = self.renamed_in_epoch, {}
        self.asked.clear()  # (a new round: every node speaks again)
        self.spoken_since_loss.clear()
        self.homes_on_bus.clear()

    def lost_echoes(
        self,
        rooms: Collection[str] | None = None,
        unread: Mapping[str, Mapping[int, int]] | None = None,
    ) -> None:
        super().lost_echoes(rooms, unread)
        if rooms is not None:
            # Unranked from now on: a sync of this node's refused while the bus was away is
            # sent again before `resync` (set_available), and sent ranked it would not give
            # the room its own fields, yet would end the round as the last one sent (the
            # same `at`) came back (a cluster fuzz finding).
            self.unranked.update(room for room in rooms if not room.startswith("~"))
            for room in rooms:
                if room in self.server.channels:  # (a new round there)
                    self.spoken_since_loss[room] = set()

    def lost_written_back(
        self, rooms: Mapping[str, Mapping[str, str]], lost_from: Mapping[str, int]
    ) -> None:
        """Redis lost the end of these rooms: the nodes that have written each back, and how
        far the copy whose room fields it has had read, are as the bus has them now (`w:`
        fields, as `Network.open` reads them out), not as the syncs this node applied before
        had made them (the lost ones among them: a cluster fuzz finding). Told before the
        events after these are applied. A copy that had read nothing Redis lost there (no
        further than `lost_from`: it was lagging) keeps its own: the bus's are those of
        events it has not applied yet, which come to it next. (A RENAME among those had moved
        them to the new name; the copy took none there when it applied it: a cluster fuzz
        finding, seed 5656676.) A copy whose rename Redis lost read what it lost."""
        undone, self.undone_renames = self.undone_renames, set()
        for fold, fields in rooms.items():
            if fold in self.server.channels:
                if fold in undone or self.views.get(fold, 0) > lost_from.get(fold, -1):
                    self.written_back[fold] = written_back(fields)
                    self.furthest[fold] = furthest(fields)
                self.homes_on_bus[fold] = homes_named(fields)

    def lost_after(self, rooms: Mapping[str, int]) -> None:
        """Redis lost the end of these rooms: their events after these seqs are new to this
        node (sequenced since it was back), though it may have read others at those seqs
        before, which Redis lost. This copy's place there (`views`) goes back to that seq:
        a sync made from it then asks that no event since has changed the room. Made from the
        place it had read, the sync of a copy that had not applied a node's sync sequenced
        at a reused seq passed, and its room fields were not those its own copy kept (a
        cluster fuzz finding). Told before the events after these are applied (the bus
        delivers them from there)."""
        for fold, after in rooms.items():
            if fold in self.views:
                self.views[fold] = min(self.views[fold], after)

    def load_room(self, fold: str, fields: Mapping[str, str], kept: bool = False) -> Channel | None:
        channel = super().load_room(fold, fields, kept)
        spoken = written_back(fields)
        if channel is not None and spoken:
            # The room was written back (Redis lost its data or its end): a member field of a
            # node that has not spoken there may be another node's word only, from a lagging
            # copy (a user who had quit), and the node that wrote it may have died before it
            # asked hers to speak (a cluster fuzz finding, seed 4746544). Each such node is
            # asked once: having spoken, it is among those that have.
            self._ask_each(fold, self.homes_listed(channel) - spoken)
        return channel

    def _drop_room(self, fold: str, channel: Channel | None) -> None:
        # Its last users gone while its sync was still to come: this copy asks nobody once
        # that sync is done (`_ask_silent`, from a copy it no longer has), so it asks now the
        # nodes it lists users of that have not spoken. Another node's sync may have brought
        # them in, from a lagging copy, and that node died before it asked them: a user who
        # had quit stayed in the room on the bus and every copy for good (a cluster fuzz
        # finding, seed 4746544).
        silent: set[str] = set()
        if channel is not None and fold in self.syncing:
            silent = self.homes_listed(channel) - self._spoken(fold) - {"", self.node}
        written = self.written_back.get(fold, set())
        super()._drop_room(fold, channel)
        for home in sorted(silent):
            self._ask(home, fold, again=home in written)

    def close(self, fold: str) -> None:
        syncing = fold in self.syncing
        self._stop_syncing(fold)
        self.unranked.discard(fold)
        self.asked.pop(fold, None)
        self.spoken_since_loss.pop(fold, None)
        self.homes_on_bus.pop(fold, None)
        self.renamed_in_epoch.pop(fold, None)
        self.renamed_before.pop(fold, None)
        super().close(fold)
        if syncing:
            # Its last sync, made before its users left, may come back undone (`un`) to a
            # node that no longer follows the room, and never be sent again: its members
            # there would stay as a lagging copy had them (a cluster fuzz finding).
            self._say_gone(fold)

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if available:
            # Syncs refused while the bus was away (or whose answer was lost with it): again.
            for fold, (_, attempt) in list(self.syncing.items()):
                self._sync(fold, self.views.get(fold, UNKNOWN_SEQ), attempt)
            unsaid, self.unsaid = self.unsaid, {}
            for fold in unsaid:
                if fold not in self.server.channels:  # (else its sync speaks)
                    self._say_gone(fold)
            unasked, self.unasked = self.unasked, {}
            for (home, fold), again in unasked.items():
                self._ask(home, fold, again)

    def _take_sync(
        self,
        fold: str,
        node: str,
        fields: Mapping[str, str],
        time_ms: int,
        replaces: bool = True,
    ) -> None:
        """Another node's sync changed the room's fields: this copy changes as the bus did.
        The room's own state: a ranked sync's (`read_up_to`) replaces it if `replaces` (its
        copy had read furthest so far, and not less far than this node's, whose own sync is
        still to come), else stays out; an unranked one's (a room whose end Redis lost, a
        rename's marker) replaces it always, as the bus's `^W` and RENAME do (it used to
        replace only the fields of the same names: an invitation its JOIN had used, which
        Redis lost, stayed in a lagging copy alone, a cluster fuzz finding).
        It has every change of the room's as its sender's copy had (a room this node follows
        all along); but one made here while Redis had lost it differs: the room created anew
        by a JOIN of this node's user that found it empty (its old members' node had not
        written it back yet) learns its members and state, as does a room opened here then,
        found empty, with that JOIN on its way. The sender's word on its own members is the
        last (`_last_word`); others' are taken only where this copy has none of that name and
        their own node has not spoken (this node's own: never, its copy is its word)."""
        server = self.server
        spoken = self.written_back.get(fold, set())
        taken = {
            name: value
            for name, value in fields.items()
            if not name.startswith(("?m:", "?s:")) or self._taken(fields, name, spoken)
        }
        channel = server.channels.get(fold)
        if channel is None:
            if fold in self.opened_empty and "room" in taken:
                self.opened_empty.discard(fold)
                state = {name.lstrip("?"): value for name, value in taken.items()}
                if self.load_room(fold, state) is None:
                    self.emptied_state[fold] = state  # (the room's state now, still empty)
            return
        if "room" in taken and replaces:
            state = {
                name: value
                for name, value in self.state_of(channel).items()
                if not name.startswith(("m:", "s:")) and not is_room_field(name)
            }
            state.update((name, value) for name, value in taken.items() if name[:1] != "?")
            room = json.loads(state["room"])
            channel.created, channel.history_since_ms = int(room["created"]), int(room["since"])
            access = channel.history_access
            start_afresh(channel)
            channel.history_access = access
            load_room_state(channel, state)
            # Invitations are the room's state too: the sync's replace this copy's (a copy that
            # kept one the bus lost let the invitee in alone: a fuzz finding).
            load_invitations(channel, state)
        self._last_word(channel, node, taken, time_ms)
        # Its members: those this copy lacks join it; the sender's own take their standing.
        for name, value in taken.items():
            absent_only = name.startswith("?")
            name = name.lstrip("?")
            if not name.startswith("m:"):
                continue
            member_fold = name[2:]
            facts = json.loads(value)
            standing = taken.get(standing_field(member_fold))
            if standing is None:
                standing = taken.get(if_absent(standing_field(member_fold)))
            if not absent_only:
                # The sender's own member: its field replaced another user's of that nick on
                # the bus (that one leaves here too), and is not that user's (its standing was
                # given to the other, who stayed while the sender's user never came in: a
                # cluster fuzz finding).
                self._displace(channel, member_fold, str(facts.get("id") or ""), time_ms)
                if server.channels.get(fold) is not channel:
                    return  # that was this node's last user there: the room is not followed
            known = self.member_named(channel, member_fold)
            if known is None:
                user = self.remote_user(member_fold, facts)
                if user is None or user in channel.members:
                    continue
                # (This copy missed it: a KICK read here and lost for its node, or a room this
                # node created anew while Redis had lost it. Its members see it come in.)
                line = f":{user.prefix} JOIN {channel.name}"
                join_fanout(server, channel, user, line, time_ms, server.next_msgid())
                channel.members[user] = load_membership(facts, standing)
                channel.groups = None
                user.channels[fold] = channel
                if not absent_only and invite_field(member_fold) not in taken:
                    # Its JOIN used its invitation up, as the JOIN's fields did on the bus:
                    # this copy, which refused that JOIN (a +l its lagging copy still filled,
                    # after Redis lost events), kept it alone (seed 4505819, a cluster fuzz
                    # finding). (Unless the sender's copy has it too: then its sync wrote it
                    # to the bus, as this copy just loaded it; seed 5615834.)
                    channel.invited.discard(member_fold)
            elif not absent_only:
                channel.members[known] = load_membership(facts, standing)

    def _taken(self, fields: Mapping[str, str], name: str, spoken: set[str]) -> bool:
        """Whether another node's member (`?m:`, `?s:` in a sync) is taken in, as the bus
        does (`unless_written_back`): not if its node has written the room back, nor one of
        this node's."""
        home = absent_member_home(fields, name)
        return home not in spoken and home != self.node

    def _last_word(
        self, channel: Channel, node: str, fields: Mapping[str, str], time_ms: int
    ) -> None:
        """`node`'s sync lists its members in the room: one of its users this copy has there
        that it does not list left (its PART, KICK or QUIT lost before this node read it);
        one it lists under another nick has that nick (its NICK lost so); the room's next
        events name each by the nick listed."""
        listed = {
            str(facts.get("id") or member_fold): facts
            for member_fold, facts in members_facts(fields)  # (`?` names are not `m:` names)
        }
        server = self.server
        for user in list(channel.members):
            if not user.session.remote or self.homes.get(user) != node:
                continue
            facts = listed.get(user.network_id or user.fold)
            if facts is None:
                line = f":{user.prefix} PART {channel.name} :{LOST_DEPARTURE_REASON}"
                server.fanout(channel.members, line, time_ms, server.next_msgid(), exclude=user)
                server.remove_member(channel, user)
                continue
            # (Its state as its node had it: a change of it that Redis lost after some nodes
            # had read it, and this one had not, was never shown here: a cluster fuzz finding.)
            self._state_from_facts(user, facts, time_ms)
            if facts["n"] == user.nick:
                # Not by an old name a NICK this node applied in another room left here, for
                # this room's NICK, which Redis lost before this node read it (kept for good,
                # that name hid her from a KICK naming her nick, a cluster fuzz finding).
                self.forget_old_names(channel, user)
            else:
                line = f":{user.prefix} NICK :{facts['n']}"
                for other in user.channels.values():  # (no NICK of it is on its way any more)
                    self.forget_old_names(other, user)
                version = nick_version(facts)
                self._renamed(user, facts["n"], line, time_ms, server.next_msgid(), version)

    def state_of(self, channel: Channel) -> dict[str, str]:
        """The room's state fields as this copy has them: every member, its modes, topic,
        invitations and metadata. Of two members with one nick, this node's user: the other
        is a lost node's, not buried yet, whose claim Redis lost with its data (a member field
        is per nick, and this node has the last word on its users)."""
        fields: dict[str, str] = {}
        # (This node's users last, so that theirs are the fields a nick ends with.)
        members = sorted(channel.members.items(), key=lambda item: self._ours(item[0]))
        for user, standing in members:
            if self._ours(user):  # (with the change numbers of its state: `own_facts`)
                facts = self.own_facts(user)
            else:
                facts = user_facts(user, self.homes.get(user, ""), self.server.name)
            fields.update(member_fields(user.fold, facts, standing))
        fields["room"] = json.dumps(
            {"name": channel.name, "created": channel.created, "since": channel.history_since_ms}
        )
        fields.update(mode_fields(channel, self.server.fold))
        fields.update(invitation_fields(channel))
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
        ours = {user.fold for user in channel.members if self._ours(user)}
        for user in channel.members:
            if not self._ours(user) and user.fold not in ours:
                for name in (member_field(user.fold), standing_field(user.fold)):
                    if name in fields:
                        fields[if_absent(name)] = fields.pop(name)
        return fields


def bus_names(fields: Mapping[str, str]) -> dict[str, str]:
    """A sync's fields as the bus is asked to set them: another node's member (`?`) only
    unless that node has written the room back itself (`unless_written_back`)."""
    names: dict[str, str] = {}
    for name, value in fields.items():
        if name.startswith(("?m:", "?s:")):
            name = unless_written_back(absent_member_home(fields, name), name[1:])
        names[name] = value
    return names


def absent_member_home(fields: Mapping[str, str], name: str) -> str:
    """The node of another node's member named by `?m:<fold>` or `?s:<fold>` in a sync's
    fields, from its member field ("" if none is named)."""
    home = json.loads(fields["?m:" + name[3:]]).get("node")
    return home if isinstance(home, str) else ""


#: Its event for nodes rather than rooms, in a node's inbox.
RESYNC_EVENTS: dict[str, RoomlessApplier] = {"speak": ClusterResync._apply_speak}
