"""Applying sequenced room events, in each room's order (the "apply" side of each command).

`ClusterApply.apply` takes one event the bus numbered and gives back to this node: room
state, delivery to local members, history, and the waiting reply of the command that sent it.
One applier per event kind (APPLIERS). The QUITs this node sends for users that are gone (a
JOIN come back for a user that left meanwhile, a QUIT refused while the bus is away and sent
again when it is back) live here too, because leaving at once applies a QUIT locally.
See hubbub.core.network.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from hubbub.core.channels import enter, entry_refusal
from hubbub.core.chanserv import history_access_set
from hubbub.core.cluster_fields import (
    FULL,
    GIVEN_KEY,
    HISTORY_EVENT,
    LIST_MODES,
    NO_ROOM,
    NOT_PERMITTED,
    facts_prefix,
    invite_field,
    key_digest,
    load_state,
    local,
    member_leaves,
    nick_version,
    node_of,
    quit_event,
    released_with,
    start_afresh,
)
from hubbub.core.cluster_rooms import ClusterRooms, Echo, LostJoin, count_down
from hubbub.core.messaging import refused_as
from hubbub.core.metadata import joined_metadata
from hubbub.core.model import (
    FLAG_MODES,
    Ban,
    Channel,
    Membership,
    Topic,
    User,
)
from hubbub.core.registered import changed as save_registered
from hubbub.core.registered import registration_changed
from hubbub.core.registration import rename
from hubbub.core.roomflood import parse_limit, set_limit
from hubbub.history.record import Record
from hubbub.protocol import numerics as n
from hubbub.registry.model import HISTORY_ACCESS

if TYPE_CHECKING:
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer
    from hubbub.history.store import HistoryStore

log = logging.getLogger("hubbub.chat")

#: Applies one room event to a channel this node follows: (state, channel, event, time_ms, mine).
RoomApplier = Callable[[Any, Channel, dict[str, Any], int, bool], None]
#: Applies one event of a room that is no channel (every node follows it): (state, event,
#: time_ms, mine).
RoomlessApplier = Callable[[Any, dict[str, Any], int, bool], None]


#: The event that says a message or JOIN of the stream was refused in sequence (its msgid in
#: "x"; a JOIN's also the joiner's fold in "f", its prefix in "p" and why in "r").
VOID = "void"
#: A void's mark that the refused JOIN's invitation is written back (`join_refused`).
INVITATION_KEPT = "iv"

#: The reason shown where a JOIN Redis lost before its node read it back had been applied.
LOST_JOIN_REASON = "Join lost by the network"
#: Why a member leaves a room when another user joins it under its nick (`_displace`).
NICK_TAKEN_REASON = "Nick collision: another user has this nick now"


class Speaker(NamedTuple):
    """A room message's sender as its event carries it: what the room's bans, mutes and
    exceptions are matched against when the message is checked in the room's sequence."""

    prefix: str
    account: str


class ClusterApply(ClusterRooms):
    """Applies what the bus sends back, in each room's sequence order."""

    #: Appliers by event kind; each layer of hubbub.core.network adds its own.
    appliers: ClassVar[dict[str, RoomApplier]]
    roomless: ClassVar[dict[str, RoomlessApplier]] = {}

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Other nodes' room messages refused here in sequence: (room, msgid) by the node that
        # sent them, the last `cluster.held_messages` of each (`refused_in_sequence`).
        self.refused_of: dict[str, deque[tuple[str, str]]] = {}

    def apply(self, room: str, seq: int, time_ms: int, node: str, payload: bytes) -> None:
        """One sequenced event, in its room's order."""
        self._apply(room, seq, time_ms, node, payload)
        if self.burying and room in self.burying:
            self.bury_when_there(room)

    def bury_when_there(self, room: str) -> None:
        """The copy of `room` may reflect a burial's read of it now (hubbub.core.cluster_users
        overrides this)."""

    def _apply(self, room: str, seq: int, time_ms: int, node: str, payload: bytes) -> None:
        server = self.server
        if time_ms > server.now * 1000:  # the bus's clock: what happens now happens then
            server.now = time_ms / 1000
        channel = server.channels.get(room)
        try:
            event = json.loads(payload)
            kind = event["t"]
        except (ValueError, KeyError, TypeError):
            log.warning("room %s: event %d is not a hubbub event; skipped", room, seq)
            return
        mine = node == self.node
        echo = self.echoes.pop(str(event.get("k", "")), None) if mine else None
        if mine and self.came_back(room, seq, event):
            # Sent on by hubbub.core.cluster_rename (the room was renamed meanwhile); a room of
            # that name kept here for it (its last user of ours gone) is let go now.
            self.let_go_if_lingering(room)
            return
        start = self.fresh_from.get(room)
        if start is not None:
            if seq <= start:
                # An earlier room of this name's, before a rename brought this one. Of ours,
                # what waits for it is answered: a PART as done (its sender was told she left,
                # hubbub.core.cluster_rename `_forget_copy`), anything else as not done, as an
                # event meant for a room renamed away. (Never answered, its sender's later
                # commands waited behind it for good: a cluster fuzz finding, seed 4324064.)
                if mine and kind == "part":
                    complete = self.pending.pop(event.get("k", ""), None)
                    if complete is not None:
                        complete((time_ms, event))
                elif mine:
                    self._not_sent_on(room, event)
                return
            del self.fresh_from[room]
        if channel is not None or room in self.views:
            self.views[room] = max(seq, self.views.get(room, 0))
            self.view_times[room] = max(time_ms, self.view_times.get(room, 0))
        if "rn" in event:
            # Sent from a view of a room that was renamed away from this name since (the bus
            # changed nothing for it, hubbub.core.cluster_rename): not this room's. Its sender
            # sends it on to the room's new name; here (its sender's node, the room dropped
            # meanwhile), what waited for it is told it was not done.
            if mine:
                self._not_sent_on(room, event)
            return
        if NO_ROOM in event:
            self._into_no_room(room, channel, event, mine, echo)
            return
        if kind == "sync":  # a node's copy of the room written back (cluster_resync)
            self._sync_back(room, seq, time_ms, node, event, mine)
            return
        if kind == "dm":  # a private message, in the inbox room of the recipient's node
            try:
                self._apply_direct(event, time_ms, mine)
            except (KeyError, TypeError, ValueError):
                log.exception("%s: event %d could not be applied; skipped", room, seq)
            return
        complete = self.pending.pop(event.get("k", ""), None) if mine else None
        roomless = self.roomless.get(kind)
        if roomless is not None:
            try:
                roomless(self, event, time_ms, mine)
            except (KeyError, TypeError, ValueError):
                log.exception("%s: event %d could not be applied; skipped", room, seq)
            if complete is not None:
                complete((time_ms, event))
            return
        if (
            channel is None
            and kind == "join"
            and room in self.joining
            and room not in self.opening
            # (nor from a JOIN of a room that is there, where there is none: it wrote nothing)
            and not (room in self.unmade and ("cr" not in event or "kn" in event))
        ):
            # The room was empty when this node opened it: its first JOIN creates it here.
            # (Not while its state is being read, followed already for events of ours sent
            # there before a rename: that state will have this JOIN in it.)
            kept = self.emptied_state.pop(room, None)
            if kept is not None and "new" not in event:
                # Not made anew on the bus (its sender took the room for registered): the
                # emptied room's state stays, as there.
                channel = self.load_room(room, kept, kept=True)
            if channel is None:
                created, since = event.get("cr") or (int(self.server.now), time_ms)
                channel = Channel(event["nm"], room, created)
                channel.history_since_ms = since
                self.server.registry.attach(channel)  # a registered room's registration
                self.server.channels[room] = channel
            self.opened_empty.discard(room)
            self.unmade.discard(room)
        if kind == "cleanup":
            if "c" in event and "new" in event and channel is not None and not channel.members:
                # The bus deleted the room's creation fields, nobody being left there (an
                # event of ours sent on after a RENAME had made the room under the old
                # name, hubbub.core.cluster_rename `_send_on`): the room is unmade, as on
                # the bus, and a JOIN of the room that is there, kept here on its way, joins
                # none. (Kept, this empty copy took it in, which the bus wrote nothing for:
                # a cluster fuzz finding, seed 4489172.)
                del self.server.channels[room]
                self.unmade.add(room)
            return
        if channel is None and mine and kind == "join" and room in self.opening:
            # Back while the room's state is being read (followed already, for events of ours
            # sent there before a rename), after this JOIN: that state lists the joiner.
            self._joined_while_opening(room, seq, time_ms, event, complete)
            return
        if channel is not None:
            applier = self.appliers.get(kind)
            if applier is not None:
                writes = self.writes
                writes.applying(room, seq, node, kind, event.get("w"))
                try:
                    applier(self, channel, event, time_ms, mine)
                except (KeyError, TypeError, ValueError):
                    # A node of another version, or a bug: one event skipped, never a crash.
                    log.exception("room %s: event %d could not be applied; skipped", room, seq)
                writes.applied()
        elif kind == "join" and mine:
            self._joined_or_not(room)
        if complete is not None:
            complete((time_ms, event))
        if mine and room in self.lingering:
            self.let_go_if_lingering(room)
        if mine and self.speak_when_joined and room in self.speak_when_joined:
            self._speak_if_joined(room)  # (its JOIN in: hubbub.core.cluster_resync)
        after = event.get("after")
        if after is not None:
            after()
        if channel is not None and channel.replaying:
            # Other nodes write to the shared store while a newcomer's replay is being read:
            # what it gets live (held behind the replay) must not be replayed too.
            msgid = event.get("m", "")
            for user in channel.replaying:
                self.live.setdefault((room, user), set()).add(msgid)

    def _into_no_room(
        self,
        room: str,
        channel: Channel | None,
        event: dict[str, Any],
        mine: bool,
        echo: Echo | None,
    ) -> None:
        """A JOIN of the room that is there (`ONLY_IF_ROOM`), where the bus had none: it
        changed nothing there, and changes nothing here, on any node. A copy can be that room
        with nobody in it: after Redis lost its data, when the only copy with members had its
        write-back refused and then emptied (no other node wrote the room back). Taken in by
        that empty copy, as a JOIN creating the room, the joiner was in it on its node alone
        (a cluster fuzz finding, seed 6734327). The empty copy is unmade, as on the bus: a
        JOIN after this one makes the room anew. Its joiner is told to try again, as when the
        bus refuses an event (`echo`: ours, still waited for)."""
        if channel is not None and not channel.members:
            del self.server.channels[room]
            self.unmade.add(room)
        if not mine:
            return
        if echo is not None:
            self._refuse(str(event.get("k", "")), room, echo.refused)
        else:
            self._not_sent_on(room, event)
        self.let_go_if_lingering(room)

    def _joined_while_opening(
        self,
        room: str,
        seq: int,
        time_ms: int,
        event: dict[str, Any],
        complete: Callable[[Any], None] | None,
    ) -> None:
        """A JOIN of ours came back while the room's state is being read. This node takes its
        own users from their JOINs, never from a room's state (`remote_user`); skipped here, that
        JOIN left its joiner in the room on every node but this one, and without a reply (a
        cluster fuzz finding, seed 4624965). The state, if read after the JOIN, lists the
        joiner and has the room as it is since: the copy takes the joiner from it (`load_room`).
        Read before it, the JOIN is applied once the copy is there, as in its sequence."""
        identity = str(event["u"].get("id") or "")
        self.joined_opening.setdefault(room, set()).add(identity)

        def opened(loaded: bool) -> None:
            waiting = self.joined_opening.get(room)
            if waiting is not None:
                waiting.discard(identity)
                if not waiting:
                    del self.joined_opening[room]
            if not loaded:  # (the bus away: the room is not followed here, as before)
                if complete is not None:
                    complete((time_ms, event))
                self._joined_or_not(room)
                return
            channel = self.server.channels.get(room)
            user = self.user_of(event["f"], identity)
            read_after = self.views.get(room, 0) >= seq
            if not read_after or user is None or user.session.closed:
                # The state is older than the JOIN, or its joiner gone meanwhile: applied now
                # (a QUIT goes behind the JOIN of a joiner gone, `_apply_join`), creating
                # nothing that state has created already.
                if read_after:
                    event.pop("new", None)
                if complete is not None:
                    self.pending[str(event.get("k", ""))] = complete
                self.apply(room, seq, time_ms, self.node, json.dumps(event).encode())
                return
            self._entered(user, room)
            if complete is not None:
                complete((time_ms, event))  # its reply: in the room as the state has it
            self._joined_or_not(room)
            if channel is not None and user in channel.members:
                event["p"] = facts_prefix(event["u"])
                self._record(channel, "JOIN", (channel.name,), time_ms, event)

        self.opening[room].append(opened)

    def _sync_back(
        self, room: str, seq: int, time_ms: int, node: str, event: dict[str, Any], mine: bool
    ) -> None:
        """A `sync` event of `node` came back (hubbub.core.cluster_resync)."""

    def _speak_if_joined(self, fold: str) -> None:
        """This node may speak in the room now (hubbub.core.cluster_resync)."""

    def _not_sent_on(self, room: str, event: dict[str, Any]) -> None:
        complete = self.pending.pop(event.get("k", ""), None)
        if complete is not None:
            complete(None)
        kind = event["t"]
        if kind == "join":
            self._joined_or_not(room)
            count_down(self.quit_early, str(event["u"].get("id") or ""))
        elif kind == "nick":
            self.nick_back(event)
        self.let_go_if_lingering(room)

    def came_back(self, room: str, seq: int, event: dict[str, Any]) -> bool:
        """One of this node's events is back from the bus (at `seq` in `room`), before it is
        applied: True when it was taken care of otherwise (hubbub.core.cluster_rename
        overrides this)."""
        return False

    def _record(
        self,
        channel: Channel,
        command: str,
        params: tuple[str, ...],
        time_ms: int,
        event: dict[str, Any],
    ) -> None:
        """Store a membership or topic event (history.store_events)."""
        if self.server.config.history.store_events:
            record = Record(channel.fold, event["m"], time_ms, event["p"], command, params)
            self.server.history.append(record)

    def _apply_direct(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """A private message for a user of this node (its inbox room)."""
        server = self.server
        recipient = server.users.get(event["to"])
        if recipient is None or recipient.session.remote:
            return  # gone meanwhile, as if it had quit just before
        stored = event["st"]
        if stored is not None:  # under the sender's key: one conversation, never two copies
            params = tuple(event["pa"])
            record = Record(
                event["key"],
                event["m"],
                time_ms,
                event["p"],
                event["c"],
                params,
                stored,
                event["i"],
            )
            server.history.append(record)
        server.fanout(
            (recipient,),
            event["l"],
            time_ms,
            event["m"],
            event["ct"],
            tagged_only=event["c"] == "TAGMSG",
            account=event["a"],
        )

    def _apply_message(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        # By network id: in the instant a slow node knows the sender's nick under another
        # user too (its last holder's NICK or QUIT not applied here yet), the sender is not
        # taken for that one (`user_of`); and by this room's nick for it, which its NICK
        # applied first in another room of this node's does not change here (`room_sender`).
        sender = self.event_sender(channel, event)
        # Checked again here, in the room's sequence, against the room as every node has it
        # at this event: the sender's node checked its own copy, which may not have applied
        # yet a +m, a ban or a mute sequenced just before this message. Every node refuses it
        # alike (the room's state and the event are the same everywhere); the sender's node
        # answers 404 instead of the echo (hubbub.core.cluster_propose).
        if self.refused_in_sequence(channel, event, sender, mine):
            return
        cmd = event["c"]
        status = event["s"]
        members: Any = channel.members
        if status:
            members = [m for m, s in members.items() if s.op or (status == "+" and s.voice)]
        server.fanout(
            members,
            event["l"],
            time_ms,
            event["m"],
            event["ct"],
            exclude=local(sender),
            channel=None if status else channel,
            tagged_only=cmd == "TAGMSG",
            account=event["a"],
        )
        stored = event["st"]
        if stored is not None and not status:
            text = event["x"]
            params = (channel.name,) if cmd == "TAGMSG" else (channel.name, text)
            server.history.append(
                Record(
                    channel.fold, event["m"], time_ms, event["p"], cmd, params, stored, event["i"]
                )
            )
        if cmd != "TAGMSG" and mine:  # the line a single server writes, the same cheap way
            server.room_log(channel.name, event["p"].partition("!")[0], event["x"])

    def refused_in_sequence(
        self, channel: Channel, event: dict[str, Any], sender: User | None, mine: bool
    ) -> bool:
        """Whether the room, as it is at this event, refuses its sender's message (then the
        event is marked `refused` for the sender's reply). The sender's node also sequences a
        `void` of it: the message stays in the bus's stream, and a node that opens the room
        later leaves it out of the join replay it merges from there (hubbub.core.cluster_replay)."""
        member = channel.members.get(sender) if sender is not None else None
        if not refused_as(self.server, channel, member, Speaker(event["p"], event["a"] or "")):
            return False
        event["refused"] = True
        if mine:
            self.submit(None, channel.fold, {"t": VOID, "x": event["m"]}, None)
            # Nobody stores it, and the store is told so: a node that opened the room after
            # it and holds it from the stream, not yet knowing it was refused, may write it
            # (when it leaves the room before the void comes), and the store then ignores it
            # or deletes it (HistoryStore.void; a cluster fuzz finding, seed 6151145).
            fold, msgid, now = channel.fold, event["m"], self.server.stamp()
            self.server.history.change(lambda store: store.void(fold, msgid, now), ignore)
        else:
            # Its sender's node voids it; should that node die before it applied it (lagging),
            # nobody would, and a node that opens the room later, or its burier, writes it from
            # the stream (a cluster fuzz finding, seed 6759526). Remembered until then:
            # `void_refused_of`, at that node's burial.
            origin = node_of(str(event.get("id") or ""))
            if origin:
                refused = self.refused_of.get(origin)
                if refused is None:
                    limit = self.server.config.cluster.held_messages
                    refused = self.refused_of[origin] = deque(maxlen=limit)
                refused.append((channel.fold, str(event["m"])))
        return True

    def void_refused_of(self, dead: str) -> None:
        """Node `dead` is buried: the messages of its that this node refused in sequence are
        voided in the shared store, as their node would have done (a copy written from the
        stream meanwhile is deleted, a later one ignored: `HistoryStore.void`). Again for
        those it voided itself, to no effect."""
        refused = self.refused_of.pop(dead, None)
        if not refused:
            return
        now = self.server.stamp()

        def void(store: HistoryStore) -> None:
            for fold, msgid in refused:
                store.void(fold, msgid, now)

        self.server.history.change(void, ignore)

    def join_refused(self, channel: Channel, event: dict[str, Any], user: User, mine: bool) -> bool:
        """Whether the room, as it is at this JOIN, refuses it: a ban, `+i` or `+l` sequenced
        just before it, which the joiner's node had not applied when it let the JOIN go (the
        key it checked itself, but where it took the room for new: `GIVEN_KEY`). Every node
        decides alike, from the room at this place in the sequence, and `+l` from the bus's
        count of its members (`FULL`: hubbub.core.cluster_fields `only_if_room_for`).
        Refused: nobody shows it, the joiner gets the numeric (event `refused`), and its node
        sequences a `void` of it that deletes the member fields the JOIN wrote (a node that
        loaded them meanwhile lets the user part) and keeps it out of join replays merged
        from the stream (hubbub.core.cluster_replay)."""
        # The key, only for a JOIN whose node took the room for new (it had none to check
        # the key against); "" for a wrong one.
        given = event.get(GIVEN_KEY)
        key = None if given is None or given == key_digest(channel.key) else ""
        # (`+l` as the bus counted the room's members: every copy decides alike.)
        full = FULL in event
        refusal = entry_refusal(self.server, channel, user, key, joins_trusted(event), full)
        if refusal is None:
            return False
        event["refused"] = refusal
        # The JOIN's fields used the invitation up on the bus whatever a copy decides: here
        # too, as the bus has it. The joiner's node, if its copy refused the JOIN as well,
        # writes it back with its void, in every copy (`_apply_void`). (A copy that refused
        # a JOIN the joiner's node had let in, after Redis lost events, kept it alone when the
        # joiner left before its node's sync was taken: seed 4933719, a cluster fuzz finding.)
        # A JOIN the bus found the room full for wrote nothing there: its invitation stays,
        # here too, as on one server (were it used up here, a joiner's node that died before
        # its void left every copy without it and the bus with it: a cluster fuzz finding).
        had_invitation = user.fold in channel.invited and not full
        if not full:
            channel.invited.discard(user.fold)
        if not mine:
            self._refused_for_another(channel.fold, str(event["u"].get("node") or ""))
        if user.session.remote and not user.channels:
            self._forget(user)
        if mine:
            fold = user.fold
            void = {"t": VOID, "x": event["m"], "f": fold, "p": user.prefix, "r": refusal[1]}
            void["id"] = user.network_id
            void["m"] = self.server.next_msgid()  # of the PART a node may show (below)
            # The invitation the JOIN's fields used up, if it had one: kept, as on one server.
            invited = {invite_field(fold): str(channel.created)} if had_invitation else {}
            if invited:
                void[INVITATION_KEPT] = 1
            room, prefix = channel.fold, user.prefix

            identity = user.network_id

            def refused(now: str) -> None:  # the bus went away: the fields go when it is back
                self.unsent.append((now, fold, prefix, refusal[1], identity, True, ""))
                self._departing(now)
                if invited:  # and the invitation comes back then (a cluster fuzz finding)
                    self._keep_lost_join((now, void, invited, ()), now)

            # Only if the member field under that nick is still the joiner's: another user may
            # have taken the nick in between, by a NICK sequenced before this void, and her
            # fields stay (deleted whoever had them, she was in every copy and not on the bus:
            # a cluster fuzz finding, seed 4262683).
            delete = member_leaves(fold, identity)
            self.submit(None, room, void, None, invited, delete, refused=refused)
        return True

    def _refused_for_another(self, fold: str, home: str) -> None:
        """This copy refused a JOIN of a user of node `home`'s (hubbub.core.cluster_resync
        overrides this: its copy may have admitted it)."""

    def _lost_join(self, room: str, event: Mapping[str, Any]) -> None:
        # The nodes that read it let its joiner part again (`_apply_void`), and its member
        # fields go, once the bus is back (this is told before: `set_available`). Else the
        # joiner stayed listed there for good: its node, which does not list it, sends nothing
        # of it to that room, its QUIT included.
        facts = event["u"]
        fold, identity = str(event["f"]), str(facts.get("id") or "")
        void = {"t": VOID, "x": event["m"], "f": fold, "p": facts_prefix(facts), "id": identity}
        void["r"], void["m"] = LOST_JOIN_REASON, self.server.next_msgid()
        self.lost_joins.append((room, void, {}, member_leaves(fold, identity)))

    def _send_lost_joins(self) -> None:
        lost, self.lost_joins = self.lost_joins, []
        for entry in lost:
            self._send_void(entry)

    def _send_void(self, entry: LostJoin) -> None:
        room, void, restored, deleted = entry
        refused = partial(self._keep_lost_join, entry)
        # In a room this node does not follow (the joiner was its only user there), the void
        # never comes back here: done once sequenced. Kept waiting for it, it was taken as lost
        # at Redis's next loss of its data and sent again, and parted the joiner again from
        # the room she had joined since (a cluster fuzz finding, seed 4455258).
        unfollowed = room not in self.server.channels
        self.submit(
            None, room, void, None, restored, deleted, refused, answered_when_sequenced=unfollowed
        )

    def _keep_lost_join(self, entry: LostJoin, now: str) -> None:
        """The void was refused, or lost by Redis with the events around it: sent again when
        the bus is back, to the room's name now, as a new event (a new msgid). Nodes may have
        shown the lost one's PART already, and a copy written back since may list the joiner
        again (another node's copy that never read the void): its PART is another line then,
        not the same one twice (a cluster fuzz finding, seed 6769216)."""
        _room, void, restored, deleted = entry
        void = {**void, "m": self.server.next_msgid()}
        self.lost_joins.append((now, void, restored, deleted))

    def _apply_void(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        """A message or JOIN refused in sequence: nothing to do, unless this node opened the
        room after the refused JOIN and loaded its joiner from the room's fields; that user
        parts here. (Also a JOIN sent to a room renamed meanwhile and sent on to its new name,
        which nodes following a new room of the old name applied: hubbub.core.cluster_rename.)"""
        if event.get(INVITATION_KEPT):
            # Its invitation is written back on the bus: in every copy too (one that lost it
            # while Redis lost events kept the bus alone with it: a cluster fuzz finding,
            # seed 5642390).
            channel.invited.add(str(event["f"]))
        # (By its network id too: the nick may be another user's now, a cluster fuzz finding:
        # a node let its own user part, who had taken the nick of a joiner whose JOIN Redis
        # lost.)
        user = self.room_sender(channel, event.get("f", ""), event.get("id"))
        if user is None or user not in channel.members:
            return
        reason = event["r"]
        line = f":{event['p']} PART {channel.name}" + (f" :{reason}" if reason else "")
        self.server.fanout(channel.members, line, time_ms, event["m"], exclude=user)
        self.server.remove_member(channel, user)

    def _apply_join(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        fold = event["f"]
        self._displace(channel, fold, str(event["u"].get("id") or ""), time_ms)
        if server.channels.get(channel.fold) is not channel:
            return  # that was this node's last user there: the room is not followed any more
        if mine:
            facts = event["u"]
            identity = str(facts.get("id") or "")
            # (By network id too: its nick may be another user's of ours by now.)
            user = self.user_of(fold, identity)
            if user is not None:
                self._entered(user, channel.fold)
            if user is None or user.session.closed:
                # Gone while its JOIN was on its way: it leaves again, network-wide, and the
                # room closes here if nobody else of ours is in it. The bus wrote its member
                # fields, and the other nodes list it, until that QUIT: the room is not empty
                # for a JOIN in between here either (`departed`).
                prefix = facts_prefix(facts)
                room = channel.fold
                creating = self._creates(channel, event)
                if creating:
                    # It created the room all the same (the bus emptied its old state): so
                    # does this node's copy, kept for it (a cluster fuzz finding).
                    self._start_room(channel, event)
                joiner = user if user is not None else self.stand_in(fold, facts)
                trusted, full = joins_trusted(event), FULL in event
                admitted = (
                    creating or entry_refusal(server, channel, joiner, None, trusted, full) is None
                )
                # The invitation its fields used up on the bus (a cluster fuzz finding: this
                # copy kept it alone): used up here too if the other nodes let it in; if they
                # refused it, they keep it, and a void writes it back, as `join_refused`'s
                # does (deleting nothing: the QUIT takes the joiner's member fields). A JOIN
                # the bus found the room full for used nothing up.
                if admitted:
                    channel.invited.discard(fold)
                elif fold in channel.invited and not full:
                    void = {"t": VOID, "x": event["m"], "f": fold, "p": prefix, "id": identity}
                    void["r"], void["m"] = "Connection closed", server.next_msgid()
                    kept = {invite_field(fold): str(channel.created)}
                    void[INVITATION_KEPT] = 1
                    self._send_void((room, void, kept, ()))
                self.departed[room] = self.departed.get(room, 0) + 1
                early = bool(self.quit_early.get(identity))
                if early:  # sent when it left, behind this JOIN
                    count_down(self.quit_early, identity)
                if not early or "fw" in event:
                    # (A JOIN sent on after a rename: its early QUIT, sent to the room's new
                    # name when the user left, may have been sequenced there first; one more
                    # goes behind it, and finds nobody if that one came after. A cluster fuzz
                    # finding.)
                    self._send_quit(
                        room, fold, prefix, "Connection closed", identity=identity, gone=True
                    )
                self._joined_or_not(room)
                return
            self._joined_or_not_later(channel.fold)
            self._own_join_back(user, channel, facts)
        else:
            user = self.remote_user(fold, event["u"])
            if user is None:
                return
        if user in channel.members:
            event["dup"] = True  # a JOIN sent twice: its joiner hears it once
            # Its fields used the invitation up on the bus all the same (a copy that kept it
            # differed from the bus: a cluster fuzz finding, seed 7075274), unless the bus
            # found the room full and wrote none.
            if FULL not in event:
                channel.invited.discard(fold)
            return
        op = bool(event["o"])
        creating = self._creates(channel, event)
        if not creating and self.join_refused(channel, event, user, mine):
            if mine:  # the room was kept for this JOIN: closed if nobody of ours is in it
                self.drop_if_unused(channel)
            return
        if "cr" in event:
            if creating:  # the room's first member creates it
                if not self._start_room(channel, event):
                    op = True  # (a JOIN of a room its node knew finds it emptied: its creator)
            elif "rs" not in event and "kn" not in event:
                # Another node's JOIN created the room a moment before, sequenced first: this
                # one joins it, not opped (as the bus wrote its standing: cluster_propose).
                op = False
        membership = Membership(op=op)
        channel.invited.discard(fold)  # used up (its field went with the JOIN)
        if not mine and user.fold != fold:
            # Known here by a later nick (its NICK applied in another room first, and this
            # one held by a user of ours): the room's events name it by the JOIN's until its
            # own NICK comes (`renamed_elsewhere`). (Its message was refused here alone, its
            # sender found by no name there, a cluster fuzz finding.)
            self.known_here_as(channel, fold, user)
        enter(server, channel, user, membership, time_ms, event["m"])
        if not mine and user.metadata:  # the members here learn the newcomer's metadata
            joined_metadata(server, channel, user)

        def record() -> None:
            # After the joiner's replay was asked for (its reply completes first), so its own
            # JOIN is never part of its replay, as on a single server.
            facts = event["u"]
            event["p"] = facts_prefix(facts)
            self._record(channel, "JOIN", (channel.name,), time_ms, event)

        event["after"] = record
        if mine:
            log.info("%s joined %s", user.nick, channel.name)

    def _own_join_back(self, user: User, channel: Channel, facts: Mapping[str, Any]) -> None:
        """A JOIN of a local user came back sequenced, with the `facts` it was sent with: a
        change of its state that another user made meanwhile (a drop of its account logging
        it out) went to the rooms it was in then, not this one (hubbub.core.cluster_accounts).
        """

    def _displace(self, channel: Channel, fold: str, identity: str, time_ms: int) -> None:
        """A JOIN, NICK or sync under nick `fold` of the user `identity` took the nick's
        member fields on the bus from another user of that nick (a JOIN's: hubbub.core.
        cluster_fields `unless_same_user`): that one leaves the room here too, shown as a
        PART. Two users have one nick only for a moment after Redis lost its data: the nick
        taken before its holder's node claimed it again (that node then disconnects its user),
        or a lost node's user's, until its burial, which finds it gone from this room's
        fields."""
        if not identity:
            return
        old_names = channel.old_names
        holder = old_names.get(fold) if old_names else None
        if holder is not None and holder.network_id not in ("", identity):
            # The room's sequence gives the nick to this user now: no later event there names
            # by it the member this copy knew by it as an old nick (`renamed_elsewhere`).
            # (A NICK applied in another room left such a name in a copy opened after that
            # NICK's own event there, which it never reads: the next holder of the nick was
            # then taken for the old one, a cluster fuzz finding.)
            self.renamed_here(channel, fold)
        # (One pass over the members, as the JOIN's own fan-out makes; nothing copied.)
        displaced = [
            other
            for other in channel.members
            if other.fold == fold and other.network_id not in ("", identity)
        ]
        for other in displaced:
            line = f":{other.prefix} PART {channel.name} :{NICK_TAKEN_REASON}"
            self.server.fanout(channel.members, line, time_ms, self.server.next_msgid())
            self.server.remove_member(channel, other)

    def _creates(self, channel: Channel, event: dict[str, Any]) -> bool:
        """Whether a JOIN creates the room: one that may (`cr`) found nobody in it on the bus,
        which then wrote its creating fields and marked it (`new`). Every node's copy has the
        room's members as the bus has them (or has them on their way there, `departed`), but
        for a moment after Redis lost its data: a JOIN that found the room empty then creates
        it on every node, whoever their copies have in it (hubbub.core.cluster_resync)."""
        return "new" in event

    def _start_room(self, channel: Channel, event: dict[str, Any]) -> bool:
        """A JOIN creates the room (nobody was in it at its place in the sequence): its
        creation time, and its state afresh, or a registered room's saved state (True then,
        cluster_registry)."""
        channel.created, channel.history_since_ms = event["cr"]
        if "rs" in event:
            load_state(channel, event["rs"])
            return True
        start_afresh(channel)  # not the emptied room this node's copy was kept for
        return False

    def _apply_part(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        user = self.event_sender(channel, event)
        if user is None or user not in channel.members:
            return
        reason = event["r"]
        line = f":{user.prefix} PART {channel.name}" + (f" :{reason}" if reason else "")
        event["l"] = line  # for the sender's echo
        server.fanout(
            channel.members,
            line,
            time_ms,
            event["m"],
            exclude=local(user),
            channel=channel,
            account=user.account,
        )
        self._record(channel, "PART", (channel.name, reason), time_ms, event)
        server.remove_member(channel, user)

    def _apply_quit(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        identity = str(event.get("id") or "")
        if mine and "gone" in event:  # the QUIT of a JOIN's joiner gone (`departed`)
            count_down(self.departed, channel.fold)
        user = self.event_sender(channel, event)
        if (user is None or user not in channel.members) and event.get("lost") and identity:
            # A lost node's user, renamed by a NICK Redis lost (cluster_fields `quit_payload`).
            user = self.by_network_id.get(identity)
        if user is None or user not in channel.members:
            return
        # Each member hears the QUIT once: with the last room it shares with the user.
        elsewhere: set[User] = set()
        for other in user.channels.values():
            if other is not channel:
                elsewhere.update(other.members)
        recipients = [m for m in channel.members if m is not user and m not in elsewhere]
        line = f":{user.prefix} QUIT :{event['r']}"
        server.fanout(recipients, line, time_ms, event["m"], account=user.account)
        self._record(channel, "QUIT", (event["r"],), time_ms, event)
        # MONITOR: its watchers here hear it is offline from its node, through the network
        # room (hubbub.core.cluster_directory), not from the rooms this node follows with it.
        server.remove_member(channel, user)

    def privilege_refused(self, channel: Channel, event: dict[str, Any]) -> bool:
        """Whether the sender of a KICK, MODE, TOPIC or INVITE has lost, at this place in the
        room's sequence, the standing its node checked it had (an operator deopped, kicked or
        gone just before, by another node's event; for a TOPIC of a room without `+t` or an
        INVITE to one without `+i`, membership).
        The bus decides, from the room's fields just before the event, and marks the event
        if not (hubbub.core.cluster_fields `NOT_PERMITTED`): every node decides alike from
        that mark, as the bus changed the fields, even where its copy gives the sender
        another standing for a moment after Redis lost its data. Refused: nobody shows it,
        and the sender gets the numeric (event `refused`), as on one server where the deop
        came first."""
        if NOT_PERMITTED not in event:
            return False
        sender = self.event_sender(channel, event)
        member = channel.members.get(sender) if sender is not None else None
        kind = event["t"]
        if member is None and kind != "mode":
            event["refused"] = (n.ERR_NOTONCHANNEL, "You're not on that channel")
        else:
            event["refused"] = (n.ERR_CHANOPRIVSNEEDED, "You're not channel operator")
        return True

    def _apply_topic(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        if self.privilege_refused(channel, event):
            return
        server = self.server
        text = event["x"]
        prefix = event["p"]
        channel.topic = Topic(text, prefix, event["at"]) if text else None
        line = f":{prefix} TOPIC {channel.name} :{text}"
        sender = self.event_sender(channel, event)
        server.fanout(
            channel.members,
            line,
            time_ms,
            event["m"],
            exclude=local(sender),
            channel=channel,
            account=sender.account if sender is not None else "",
        )
        params = (channel.name, text)
        self._record(channel, "TOPIC", params, time_ms, event)
        save_registered(server, channel)  # (by every node: hubbub.core.registered `changed`)

    def _apply_history_access(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        """ChanServ SET HISTORY, on every node: the room's copy and its members here."""
        value = event["v"]
        if value not in HISTORY_ACCESS:
            return  # a node of another version, or a bug: the room keeps what it had
        server = self.server
        setter = local(self.event_sender(channel, event))
        history_access_set(server, channel, event["n"], value, setter)
        if mine:
            registration_changed(
                server, channel, lambda saved: replace(saved, history_access=value)
            )

    def _apply_kick(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        if self.privilege_refused(channel, event):
            return
        server = self.server
        # By nick, as on one server (whoever has it then in this room), as the bus deletes
        # its fields.
        target = self.member_named(channel, event["v"])
        if target is None:
            return
        sender = self.event_sender(channel, event)
        server.fanout(
            channel.members,
            event["l"],
            time_ms,
            event["m"],
            exclude=local(sender),
            channel=channel,
            account=sender.account if sender is not None else "",
        )
        params = (channel.name, event["tn"], event["r"])
        self._record(channel, "KICK", params, time_ms, event)
        server.remove_member(channel, target)

    def _apply_mode(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        if self.privilege_refused(channel, event):
            return
        server = self.server
        for sign, char, arg in event["ch"]:
            adding = sign == "+"
            if char in FLAG_MODES:
                setattr(channel, FLAG_MODES[char], adding)
            elif char in "ov":
                target = self.member_named(channel, server.fold(arg or ""))
                standing = channel.members.get(target) if target is not None else None
                if standing is not None:
                    setattr(standing, "op" if char == "o" else "voice", adding)
            elif char == "k":
                channel.key = arg if adding and arg else ""
            elif char == "l":
                channel.limit = int(arg) if adding and arg else 0
            elif char == "f":
                set_limit(channel, parse_limit(arg) if adding and arg else None)
            elif char in LIST_MODES and arg:
                entries: list[Ban] = getattr(channel, LIST_MODES[char])
                fold = server.fold(arg)
                existing = [entry for entry in entries if server.fold(entry.mask) == fold]
                if adding and not existing:
                    entries.append(Ban(arg, event["p"], event["at"]))
                elif not adding:
                    for entry in existing:
                        entries.remove(entry)
        sender = self.event_sender(channel, event)
        server.fanout(
            channel.members,
            event["l"],
            time_ms,
            event["m"],
            exclude=local(sender),
            channel=channel,
            account=sender.account if sender is not None else "",
        )
        if any(char not in "ov" for _, char, _ in event["ch"]):
            save_registered(server, channel)  # a registered channel's modes, by every node

    def _apply_nick(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        self._rename_member(channel, event, time_ms, mine)
        if mine and event.get("kept"):
            # One of our NICKs is back, its room kept followed for it (cluster_propose): let go
            # (closed now if nobody of ours is in it any more: a KICK came first). After the
            # rename: letting go may write the room back (`_speak_if_joined`), from this copy
            # as of this event, which renamed the user (before it, the sync wrote the old nick
            # back over the NICK's fields: a cluster fuzz finding).
            self._joined_or_not(channel.fold)
        if mine:
            self.nick_back(event)  # the old nick's claim

    def _rename_member(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        """A NICK in one room: the user renamed here unless its NICK in another room did it."""
        server = self.server
        nick = event["n"]
        user = self.renamed_here(channel, event["f"])
        renamed = user is not None  # already, by its NICK in another room this node follows
        if user is not None and server.fold(nick) != user.fold:
            # Renamed further already (its later NICK applied in another room, and its JOIN
            # here, applied after that, named it by an older nick): the room's events name it
            # by this nick until its next NICK here. (Its message in between was refused here
            # alone, its sender found by no name: found by varying a FOUND entry.)
            self.known_here_as(channel, server.fold(nick), user)
        if user is None:
            user = self.user_of(event["f"], event.get("id"))
            # (Its old nick but for case is its old nick: a change of case only, made in a room
            # this node does not follow, or not yet applied, did not rename it away. Compared
            # as it was, such a NICK was taken for done and dropped here, a cluster fuzz
            # finding.)
            renamed = user is None or user.fold != server.fold(event["on"])
            if renamed:  # already, by its event in a room this node does not follow (now)
                user = server.users.get(server.fold(nick))
            elif user is not None and 0 < nick_version(event) <= user.nick_version:
                # Already at a later nick (a room opened here after this user's later NICK
                # showed it, `remote_user`): renamed here only, where the room's events until
                # its next NICK name her by this one.
                renamed = True
                if server.fold(nick) != user.fold:
                    self.known_here_as(channel, server.fold(nick), user)
        if user is None:
            return
        self._record(channel, "NICK", (nick,), time_ms, event)
        if not renamed:
            line = f":{event['p']} NICK :{nick}"
            old_fold = user.fold
            if self._renamed(user, nick, line, time_ms, event["m"], nick_version(event)):
                self.renamed_elsewhere(user, channel, old_fold)
            event["done"] = True
        # The NICK's member fields replaced those of another user of that nick on the bus, as
        # a JOIN's do: that one leaves the room here too (a lost node's user, not buried yet,
        # whose burial then found it nowhere, stayed in every copy: a cluster fuzz finding).
        self._displace(channel, server.fold(nick), str(event.get("id") or ""), time_ms)

    def _renamed(
        self, user: User, nick: str, line: str, time_ms: int, msgid: str, version: int
    ) -> bool:
        """Remote `user` is `nick` now (its nick's `version`), its NICK `line` sent to the
        users sharing a room with it here; False if this node knew it under that nick too: one
        user again (`_merge`)."""
        server = self.server
        # (Lower, too, for a sync naming her by an older nick: the next NICK renames her again.)
        user.nick_version = version
        if 0 < version <= user.nick_version_shown:
            # This change was shown here, then undone (a sync named the user by its old nick:
            # Redis lost the change's events after this node read one) and is applied again
            # (its node sent them again, one per room, each under the msgid it had): a line
            # of its own, under a msgid of its own (a line was sent twice with the msgid of
            # the first: the mutants driver's `--others`, fifty-third session).
            msgid = server.next_msgid()
        user.nick_version_shown = max(user.nick_version_shown, version)
        server.fanout(server.neighbours(user), line, time_ms, msgid, account=user.account)
        fold = server.fold(nick)
        twin = server.users.get(fold)
        if twin is not None and twin is not user and same_remote_user(user, twin):
            self._merge(user, twin)
            return False
        # Known under the new nick by its network id only: another user's NICK to that nick,
        # applied here after this one was first known under it, took the nick's listing. (No
        # merge then, and the first stayed in the rooms that showed it, for good: a cluster
        # fuzz finding, seed 5687789.)
        # Or as a second user whose listing went to another user of the nick meanwhile
        # (`doubles`).
        identity = user.network_id
        known = next(
            (
                other
                for other in (self.by_network_id.get(identity), *self.doubles.get(identity, ()))
                if other is not None
                and other is not user
                and other.fold == fold
                and same_remote_user(user, other)
            ),
            None,
        )
        if known is not None:
            self._merge(user, known)
            if twin is None:
                server.users[fold] = known
            return False
        # A nick one of ours holds here (this node applies the NICK late: the nick was let go
        # and taken again meanwhile) stays ours in the index; the remote user is known by its
        # network id (`user_of`) until it moves on or quits.
        ours = twin is not None and twin is not user and not twin.session.remote
        rename(server, user, nick, server.fold(nick), time_ms, line, listed=not ours)
        return True

    def _merge(self, user: User, into: User) -> None:
        """This node knew one remote user twice, under its old nick and its new one: a room it
        opened (or a JOIN it applied) showed the new nick before this node had applied the
        NICK in another room it follows. Its NICK is here now: one user again, in both."""
        for fold, channel in list(user.channels.items()):
            standing = channel.members.pop(user)
            if into not in channel.members:
                channel.members[into] = standing
                into.channels[fold] = channel
            channel.groups = None
        user.channels.clear()
        self._forget(user)
        self.by_network_id[into.network_id] = into
        self.undouble(into)

    def _send_quit(
        self,
        room: str,
        fold: str,
        prefix: str,
        reason: str,
        release: str = "",
        then: Callable[[], None] | None = None,
        *,
        identity: str = "",
        gone: bool = False,
    ) -> None:
        """Sequence a QUIT of `fold` (network id `identity`) in `room`; `release`: a claim of
        this node released with it; `then()` once the bus answered; `gone`: of a JOIN's joiner
        gone while it was on its way (`departed`)."""
        event = quit_event(fold, prefix, reason, self.server.next_msgid(), identity)
        if gone:
            event["gone"] = 1

        def refused(now: str) -> None:  # (its new name, if renamed meanwhile)
            self.quit_refused(now, event, release)

        deleted: tuple[str, ...] = member_leaves(fold, identity)
        if release:
            deleted += (released_with(release),)
        self.submit(
            None, room, event, None, delete_fields=deleted, refused=refused, sequenced_then=then
        )

    def quit_refused(self, room: str, event: dict[str, Any], release: str = "") -> None:
        """A QUIT of ours the bus refused (unavailable): sent again when it is back
        (set_available), with the claim it was to release. Until then the user stays in the
        room here too, without a connection, as on the other nodes: its events sequenced
        before are applied here as there (it used to leave here at once, and a message of it
        this node had not applied yet was then refused here alone; a cluster fuzz finding)."""
        fold, prefix, reason = event["f"], event["p"], event["r"]
        identity = str(event.get("id") or "")
        self.unsent.append((room, fold, prefix, reason, identity, "gone" in event, release))

    def _awaited(self, fold: str) -> bool:
        # A QUIT of ours refused while the bus was away, to be sent again when it is back: its
        # user stays in the room until it comes back (`quit_refused`), and the room with her.
        # (Dropped, when a JOIN of this node's was refused there meanwhile, the QUIT went
        # again without this copy's view, so a RENAME before it took her member field to the
        # new name, where nothing removed it: a cluster fuzz finding.)
        return super()._awaited(fold) or any(entry[0] == fold for entry in self.unsent)

    def _departing(self, room: str) -> None:
        """The QUIT that takes a refused JOIN's member fields away is to be sent again when the
        bus is back: until it comes back, the bus has those fields (the joiner is in no copy
        of the room), so this node counts the room as occupied (a JOIN applied meanwhile does
        not create it here alone, a cluster fuzz finding)."""
        if room in self.server.channels:
            self.departed[room] = self.departed.get(room, 0) + 1

    def epoch_restarted(self) -> None:
        """Redis lost its data: the rooms' seqs start again from 1, and this node's copies
        reflect none of the new epoch's events: each view (the seq a copy reflects) is 0 until
        the room's next event is applied. (Told before those are applied.) So an event sent
        from a copy that a RENAME of the new epoch took away is marked by the bus as any other
        (hubbub.core.cluster_rename), and a `sync` from it is made if no event of the new
        epoch changed the room (hubbub.core.cluster_resync). After a mere reconnection the
        views hold: the seqs go on."""
        self.lost_views = dict(self.views)
        self.views = dict.fromkeys(self.views, 0)
        self.written_back.clear()
        self.furthest.clear()
        self.emptied_state.clear()  # (the old epoch's: its rooms are written back anew)
        self.lost_echoes()

    def set_available(self, available: bool) -> None:
        self.available = available
        self.writes.reset()  # a new epoch may restart the rooms' seqs
        self.fresh_from.clear()
        if available and self.lost_joins:
            self._send_lost_joins()
        if available and self.unsent:
            unsent, self.unsent = self.unsent, []
            for room, fold, prefix, reason, identity, gone, release in unsent:
                if release and self._nick_taken_again(fold, identity):
                    release = ""
                self._send_quit(room, fold, prefix, reason, release, identity=identity, gone=gone)

    def _nick_taken_again(self, fold: str, identity: str) -> bool:
        """Whether another user of this node holds, takes or asks for the nick a QUIT of
        `identity` sent again was to release. The claim is this node's, not a user's: that
        QUIT would release it from under its new holder. (A QUIT sequenced before Redis lost
        it had released the nick; the node took it as refused and sends it again after the
        nick went to another of its users: a cluster fuzz finding.)"""
        holder = self.server.users.get(fold) or self.taker(fold)
        if holder is not None:
            return not holder.session.remote and holder.network_id != identity
        return bool(self.claiming.get(fold))


APPLIERS: dict[str, RoomApplier] = {
    "msg": ClusterApply._apply_message,
    "join": ClusterApply._apply_join,
    "part": ClusterApply._apply_part,
    "quit": ClusterApply._apply_quit,
    "topic": ClusterApply._apply_topic,
    HISTORY_EVENT: ClusterApply._apply_history_access,
    "kick": ClusterApply._apply_kick,
    "nick": ClusterApply._apply_nick,
    "mode": ClusterApply._apply_mode,
    VOID: ClusterApply._apply_void,
}
ClusterApply.appliers = APPLIERS


def joins_trusted(event: Mapping[str, Any]) -> bool:
    """Whether a JOIN was let in by its node as trusted (a registered room's access list),
    past `+i`, `+k` and `+l`; one that lost a creation race was opped as a creator, not
    trusted."""
    return bool(event["o"]) and ("cr" not in event or "rs" in event or "kn" in event)


def same_remote_user(user: User, other: User) -> bool:
    """Whether two users this node knows are one user of another node (its network id)."""
    return (
        user.session.remote
        and other.session.remote
        and bool(user.network_id)
        and user.network_id == other.network_id
    )


def ignore(_result: object) -> None:
    """What a store call nobody waits for answers (a failure was logged by the history
    worker)."""
