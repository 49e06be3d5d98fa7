"""RENAME of a room (draft/channel-rename) across nodes: sequenced once, in the old room's order.

The design, and why:

* **One atomic step on the bus.** The operator's node checks the RENAME against its copy of the
  room (hubbub.core.rename: operator, valid name, not a room it follows), then asks the bus to
  rename (`Network.rename`, one Redis script, hubbub.cluster.bus_scripts.RENAME): refused when
  the new name's room has members anywhere on the network (`FAIL RENAME CHANNEL_NAME_IN_USE`,
  as on one server), the old room is not there any more (renamed away by another operator in
  the same instant) or the renamer is no operator of it at that instant (deopped by another
  node: 482); otherwise, in one step, the old room's state fields (members with their
  node, topic, modes, lists, metadata, invitations) move to the new name's, the new room gets a
  first event, the *marker* (`moved`, with the moved fields), and the old room gets the
  `rename` event, which carries the marker's seq in the new room (`ns`). So every node applies
  the rename at the same point of the room's history (its place in the old room's order), and a
  node that opens the new name later reads the moved state — the right one — from its fields.
* **Every node renames its copy**, in place (members, modes, lists, topic and who is replaying
  stay), moves what it keeps per room name (JOINs on their way, rooms users are entering), then
  follows the new room from the marker on (`Network.follow(new, ns)`: the events other nodes
  sequenced in the new room in the meantime are read from its stream first, so none is missed)
  and stops following the old name. Its members get `RENAME` (or the spec's fallback, PART and
  JOIN with topic and NAMES, for those without the capability), as on one server
  (hubbub.core.rename.fallback), at the rename's bus time, with its msgid.
* **Once, not per node**: the operator's node alone moves the stored history
  (`HistoryStore.rename_target`, queued behind every write it made for the old room, so
  all of the room's events up to the rename are in the store by then: that node writes what
  it holds of the room first, and the others let go of it, hubbub.core.cluster_history) and
  the registered room's registry entry. Other nodes may have written the renamed room's first
  events under the new name before that move: `before_ms` (the rename's time) keeps them, and
  sets aside only what an earlier room of the new name left.
* **Events sequenced in the old room after the rename** come from a node that sent them before
  it applied the rename (checked against its copy then). Each node remembers its own room events
  on their way (`in_flight`: room and state fields); when it applies a rename, those sent to the
  old room are marked, and the node keeps following the old room until they are back; each is
  then sent on to the new room (re-sequenced there, with the room's new name in its line and
  its state fields set there), and its sender's reply waits for that. Each carries the seq
  of the room's events its node's copy reflected (`from_view`): the bus, which keeps the seq
  of the last rename away from each name, changes none of its fields under the old name and
  marks it (`"rn"`), and every node ignores it there, a new room made under that name in the
  same instant included (hubbub.core.cluster_apply). So a message, JOIN, PART, QUIT, KICK,
  MODE or TOPIC sent in the same instant as the rename is neither lost nor applied to a room
  of the old name. (Every room a node follows has a view: its state's seq when opened, then
  each event's as it is applied; 0 after Redis lost its data, before the new epoch's first.)
* **A node that opened the new name in that same instant** (a user's JOIN of a then empty room)
  keeps one view of it: its renamed copy, fed from the marker on. The JOIN's subscription may
  have started after the marker (its state read later): `follow` takes the feed back to the
  marker, so the events in between reach the renamed copy. If that subscription delivered the
  marker before the rename came here, the node loads the moved state from it until then.
  When the rename itself comes late (its room's feed filling a gap), the copy the JOIN opened
  has applied events after the marker already: the renamed copy applies them again, sparing
  the node's users shown them there (`shown`).
  Events of its own sent to a room renamed twice before they came back go to the last name.

A change of case only (`#Lobby` to `#lobby`) is one ordinary event in the room (the `room`
field rewritten with it): no state moves.

Redis may lose a rename: restarted from a file missing its last writes, it is undone on the
nodes that had applied it (`lost_renames`); restarted empty (a new epoch), it is taken by a
node that had not read it when another node asks it to speak under the new name
(`_catch_up_rename`, hubbub.core.cluster_resync `_ask`).

Not handled (docs/cluster.md "Not yet"): the bus unavailable between sequencing the rename
and following the new room (retried when it is back, from the marker: nothing is missed
unless the stream was trimmed past it). (That instant's JOIN of the new name, sent as the
room's creation, joins the renamed room as a plain member and writes none of the creation's
fields: hubbub.core.cluster_apply, cluster_propose.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_apply import VOID, ignore
from hubbub.core.cluster_fields import (
    FULL,
    GUARD,
    NO_ROOM,
    ONLY_IF_ROOM,
    PLACE_UNKNOWN,
    RELEASES_CLAIM,
    ROOM_FOR_PREFIX,
    UNAVAILABLE,
    encode,
    facts_prefix,
    from_view,
    if_creating,
    only_if_creating,
    only_if_operator,
    written_field,
)
from hubbub.core.cluster_propose import ClusterPropose, answered_refusal
from hubbub.core.cluster_rooms import Echo, unanswered
from hubbub.core.registered import KnownRegistration, Registration
from hubbub.core.registered import changed as save_registered
from hubbub.core.rename import CAPABILITY, fallback
from hubbub.core.reply import Reply
from hubbub.history.store import aside_key
from hubbub.protocol import numerics as n
from hubbub.registry.model import RegisteredChannel

if TYPE_CHECKING:
    from hubbub.core.model import Channel, User
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer
    from hubbub.history.store import HistoryStore
    from hubbub.registry.store import RegistryStore

log = logging.getLogger("hubbub.chat")

#: The events of a change of a user's state (hubbub.core.cluster_users, cluster_messages,
#: cluster_accounts): each writes the user's member field with its facts. (A `login` sent
#: on was left out, and wrote back the facts it was sent with over a later login's: a
#: cluster fuzz finding, seed 111233.)
USER_STATE_EVENTS = frozenset({"user", "umeta", "login"})

#: What an event's sending took or was given that its sending on must not carry: its token
#: (`k`, a new one is given), and the marks the bus added (`rn`: meant for the room renamed
#: away; `nr`: no room was there; `new`: it created the room there).
BUS_MARKS = ("k", "rn", NO_ROOM, "new")

#: The bus's answers to a rename (hubbub.cluster.bus.Bus.rename).
NAME_TAKEN = 0
RENAMED = 1
OLD_GONE = 2
NOT_OPERATOR = 3

#: The reason of the RENAME back that members see where Redis lost a rename (`lost_renames`).
LOST_RENAME_REASON = "The rename was lost by the network"

#: The PART reason a user of this node sees for a room she had left, on the bus, when another
#: room was renamed to its name before her leaving came back here (`_forget_copy`).
EARLIER_ROOM_REASON = "Left before another room was renamed to this name"

#: The reason members see where their node takes a rename it never read, which Redis lost
#: with its data and other nodes had applied (`_catch_up_rename`).
CAUGHT_UP_REASON = "Renamed on the network while this server was behind"

#: One of this node's room events on its way: (room, fields set, fields deleted, refused).
InFlight = tuple[str, Mapping[str, str], tuple[str, ...], Callable[[str], None] | None]


def facts_identity(event: dict[str, Any]) -> str | None:
    """The network id in an event's user facts (`u`: a JOIN's, a `user` event's), if any."""
    facts = event.get("u")
    return facts.get("id") if isinstance(facts, dict) else None


def renamed_line(line: str, old_name: str, new_name: str) -> str:
    """`:source COMMAND [status]#old ...` with the room's new name (a line sent on)."""
    parts = line.split(" ", 2)
    if len(parts) < 3:
        return line
    rest = parts[2]
    status = rest[: len(rest) - len(rest.lstrip("~&@%+"))]
    after = rest[len(status) :]
    if after != old_name and not after.startswith(old_name + " "):
        return line
    return f"{parts[0]} {parts[1]} {status}{new_name}{after[len(old_name) :]}"


class ClusterRename(ClusterPropose):
    """RENAME of a room, sequenced in its order and applied by every node."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # This node's events to channel rooms on their way to the bus, by token.
        self.in_flight: dict[str, InFlight] = {}
        # Tokens of this node's events sent to a room before it applied that room's rename:
        # token -> the room's new name (casefolded).
        self.forwarding: dict[str, str] = {}
        # Renamed rooms this node follows until its events sent there are back: old fold ->
        # [how many are still on their way, the room's old name].
        self.draining: dict[str, list[Any]] = {}
        # Renamed rooms this node could not follow yet (bus unavailable): new fold -> the seq
        # after which their events are wanted.
        self.unfollowed: dict[str, int] = {}
        # Renamed copies applying again what a copy they replaced had applied (`_move`): new
        # fold -> (the seq that copy had reached, the users of this node it showed them to).
        self.shown: dict[str, tuple[int, set[User]]] = {}

    def apply(self, room: str, seq: int, time_ms: int, node: str, payload: bytes) -> None:
        shown = self.shown.get(room)
        if shown is None:
            super().apply(room, seq, time_ms, node, payload)
            return
        until, heard = shown
        if seq > until:
            del self.shown[room]
            super().apply(room, seq, time_ms, node, payload)
            return
        server = self.server
        server.heard = heard
        try:
            super().apply(room, seq, time_ms, node, payload)
        finally:
            server.heard = ()
        # A user of ours joining with it joined the copy replaced too, with the same event:
        # she was shown what followed there.
        try:
            event = json.loads(payload)
            joiner = self.user_of(str(event["f"]), str(event["u"].get("id") or ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if event.get("t") != "join" or joiner is None or joiner.session.remote:
            return
        channel = server.channels.get(room)
        if channel is not None and joiner in channel.members:
            heard.add(joiner)

    # ------------------------------------------------------------------ propose

    def rename(
        self, reply: Reply, channel: Channel, new_name: str, new_fold: str, reason: str
    ) -> None:
        """RENAME checked here (hubbub.core.rename.handle_rename): the bus renames the room."""
        server = self.server
        user = reply.session.user
        old_name, old_fold = channel.name, channel.fold
        event: dict[str, Any] = {
            "t": "rename",
            "id": user.network_id,
            "f": user.fold,
            "p": user.prefix,
            "a": user.account,
            "on": old_name,
            "nn": new_name,
            "nf": new_fold,
            "r": reason,
            "m": server.next_msgid(),
        }
        room = json.dumps(
            {"name": new_name, "created": channel.created, "since": channel.history_since_ms}
        )

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("RENAME", "TEMPORARILY_UNAVAILABLE", old_name, text=UNAVAILABLE)
            elif result == NAME_TAKEN:
                later.fail(
                    "RENAME",
                    "CHANNEL_NAME_IN_USE",
                    old_name,
                    new_name,
                    text="The channel name is already taken",
                )
            elif result == OLD_GONE:
                later.fail(
                    "RENAME", "CANNOT_RENAME", old_name, new_name, text="The channel was renamed"
                )
            elif result == NOT_OPERATOR:  # deopped by another node in that instant
                later.numeric(n.ERR_CHANOPRIVSNEEDED, old_name, "You're not channel operator")
            else:
                time_ms, sent = result
                if answered_refusal(later, sent, channel):  # a change of case, refused
                    return
                self._answer_rename(later, sent, time_ms)

        guard = only_if_operator(user.fold)
        if new_fold == old_fold or old_fold in self.unrestored:
            # A change of case: one event in the room (refused by `submit` while the room's
            # fields are not written back, as a rename to another name is then).
            self.submit(reply, old_fold, event, done, {"room": room}, (guard,))
            return
        self.token += 1
        token = event["k"] = f"{self.token:x}"
        self.pending[token] = reply.later(done)
        payload = encode(event)
        marker = encode({"t": "moved", "to": new_fold, "fr": old_fold})

        def answered(outcome: int | None) -> None:
            if outcome == RENAMED:
                return  # the event comes back through apply_sequenced
            self.echoes.pop(token, None)
            complete = self.pending.pop(token, None)
            if complete is not None:
                complete(outcome)

        # (Lost with Redis's data before it came back: `FAIL`, as refused. `lost_echoes`)
        self.echoes[token] = Echo(old_fold, None, event)

        self.network.rename(
            old_fold,
            new_fold,
            (payload[:-1] + b',"ns":', b"}"),
            (marker[:-1] + b',"st":', b"}"),
            # Only if the renamer is still an operator of the room when the bus renames it.
            {"room": room, guard: ""},
            answered,
        )

    def _answer_rename(self, reply: Reply, event: dict[str, Any], time_ms: int) -> None:
        """The operator's own lines, once the rename is applied here."""
        server = self.server
        channel = server.channels.get(event["nf"])
        if channel is None or not event.get("done"):
            return
        user = reply.session.user
        old_name, reason = event["on"], event["r"]
        if CAPABILITY in reply.session.caps:
            line = f":{event['p']} RENAME {old_name} {channel.name} :{reason}"
            server.send_self(reply, line, time_ms, event["m"], account=event["a"])
        elif server.fold(old_name) != channel.fold and user in channel.members:
            fallback(server, reply, channel, user, old_name, reason, time_ms)

    # ------------------------------------------------------------------ events on their way

    def submit(
        self,
        reply: Reply | None,
        room: str,
        event: dict[str, Any],
        done: Callable[[Reply, Any], None] | None,
        set_fields: Mapping[str, str] | None = None,
        delete_fields: tuple[str, ...] = (),
        refused: Callable[[str], None] | None = None,
        answered_when_sequenced: bool = False,
        sequenced_then: Callable[[], None] | None = None,
    ) -> None:
        """Hand one room event to the bus, remembering a channel room's event (its room and
        fields) until it is back, in case the room is renamed before it is sequenced."""
        # Not for inboxes and the rooms every node follows (never renamed), nor for a room this
        # node does not follow (a QUIT sent again after the bus came back, its user's room
        # closed here meanwhile): it would not see that event come back, nor its rename. Nor
        # for one done once sequenced (a void in a room not followed, kept open for a JOIN
        # meanwhile): what comes back is not waited for, and kept here, a lost one held the
        # room followed for good (a cluster fuzz finding, seed 5703085).
        if (
            not answered_when_sequenced
            and not room.startswith("~")
            and (room in self.server.channels or room in self.opening or self.joining.get(room))
        ):
            token = f"{self.token + 1:x}"  # the one `submit` gives it
            self.in_flight[token] = (room, set_fields or {}, delete_fields, refused)
            given = refused

            def refused_here(now: str) -> None:  # (its room's name now: `lost_renames`)
                self.in_flight.pop(token, None)
                target = self.forwarding.pop(token, None)
                if target is not None:
                    # Sent to a name the room has left, to be sent on to it: it waits for
                    # this event no longer, nor does the old name's following; what the
                    # refusal undoes or keeps for later is the renamed room's.
                    self._drained(room)
                    self.let_go_if_lingering(target)
                self.let_go_if_lingering(room)
                if given is not None:
                    given(target or now)

            refused = refused_here
            view = self.views.get(room)
            if view is not None and room in self.server.channels:
                # Meant for this node's copy of the room (not whatever room has its name when
                # the event is sequenced): ignored if that room was renamed away meanwhile.
                delete_fields = (*delete_fields, from_view(view))
        super().submit(
            reply,
            room,
            event,
            done,
            set_fields,
            delete_fields,
            refused,
            answered_when_sequenced,
            sequenced_then,
        )

    def came_back(self, room: str, seq: int, event: dict[str, Any]) -> bool:
        token = str(event.get("k", ""))
        entry = self.in_flight.pop(token, None)
        new_fold = self.forwarding.pop(token, None)
        if entry is None or new_fold is None:
            return False
        start = self.fresh_from.get(room)
        if new_fold == room and (start is None or seq > start) and "rn" not in event:
            # Renamed away and back again before it was sequenced, and sequenced after the
            # room came back under this name (past the marker): where it was meant to be.
            # (Unless it was sent from a view before the first rename: then the bus ignored
            # it, and it is sent again here.)
            self._drained(room)
            return False
        self._send_on(room, new_fold, token, event, entry)
        return True

    def _send_on(
        self, old_fold: str, new_fold: str, token: str, event: dict[str, Any], entry: InFlight
    ) -> None:
        """An event of ours sequenced in a room after its rename: sequenced again in the
        renamed room (its sender's reply waits for that one), and its fields taken back from
        the old name's state (where the bus set them)."""
        _, set_fields, delete_fields, refused = entry
        complete = self.pending.pop(token, None)
        draining = self.draining.get(old_fold)
        old_name = draining[1] if draining is not None else ""
        self._drained(old_fold)
        # A KICK, MODE, TOPIC or INVITE changed no field there (its condition, the sender's
        # standing, moved with the room: hubbub.core.cluster_fields.only_if_operator); a JOIN
        # did if a room was made under the old name meanwhile (its `ONLY_IF_ROOM` held, and
        # its `only_if_room_for` unless the bus marked it `FULL`).
        privileged = (
            name
            for name in delete_fields
            if name != ONLY_IF_ROOM and not name.startswith(ROOM_FOR_PREFIX)
        )
        # Applied in a room made under the old name meanwhile: a JOIN that changed fields
        # there (below), or a QUIT the bus did not mark as meant for the renamed room (its
        # user was in that room too, and left it).
        shown_there = event.get("t") == "quit" and "rn" not in event
        if (
            "rn" not in event  # (marked by the bus: it changed nothing there, and is ignored)
            and NO_ROOM not in event  # (nor: no room was there)
            and FULL not in event  # (nor: that room was full)
            and set_fields
            and not any(name.startswith(GUARD) for name in privileged)
        ):
            cleanup = {"t": "cleanup"}  # no node applies it: it only deletes fields
            if event.get("t") == "join":
                # Nodes following a room made under the old name in that instant applied it
                # there: its joiner leaves that room again (hubbub.core.cluster_apply).
                facts = event["u"]
                prefix = facts_prefix(facts)
                cleanup = {"t": VOID, "x": event["m"], "f": event["f"], "p": prefix, "r": ""}
                cleanup["id"] = str(facts.get("id") or "")
                cleanup["m"] = self.server.next_msgid()
                shown_there = True
            # The fields themselves, whatever the condition they were set on; but what a JOIN
            # wrote only if it created the room there (its `+` fields) goes only if nobody is
            # left in that room then: another JOIN may have made it first, this one joining.
            creation = [name for name in set_fields if only_if_creating(name)]
            written = [name for name in set_fields if not only_if_creating(name)]
            names = tuple(written_field(name) for name in written)
            self.network.sequence(old_fold, encode(cleanup), {}, names, unanswered)
            if creation:
                made = tuple(if_creating(written_field(name)) for name in creation)
                # (`c`: the creation's fields; marked `new` by the bus when nobody is left, so
                # they went, and a node keeping an empty copy there lets it go: `apply`.)
                unmake = encode({"t": "cleanup", "c": 1})
                self.network.sequence(old_fold, unmake, {}, made, unanswered)
        if event.get("t") == "rename":
            # A change of case of a name the room does not have any more: refused, as a
            # RENAME of a room renamed away in that instant (it used to be sent on, and
            # then skipped by every node as a rename without its marker: never answered).
            if complete is not None:
                complete(OLD_GONE)
            return
        if event.get("t") == "join" and self._joiner_gone(event):
            # Its joiner is gone since (KILLed, or quit): sent on, it joined the renamed room
            # after its QUITs and left it again, a JOIN and a second QUIT shown to members
            # that had seen it quit (a cluster fuzz finding, seed 6734447). Refused instead,
            # as the bus refuses a JOIN.
            if refused is not None:
                refused(new_fold)
            if complete is not None:
                complete(None)
            return
        channel = self.server.channels.get(new_fold)
        if channel is None:  # nobody of ours is in the renamed room any more
            if event.get("t") == "nick":
                self.nick_back(event)  # dropped: counted back
            if complete is not None:
                complete(None)
            return
        if self._after_its_nick(event):
            if complete is not None:
                complete(None)
            return
        # (Without the marks the bus gave it where it was sequenced first: it gives its own.)
        event = {key: value for key, value in event.items() if key not in BUS_MARKS}
        event["fw"] = new_fold
        if shown_there:
            # Another line than the one shown there: a msgid of its own (under the same one,
            # a member of both rooms was sent two lines with one msgid, which a client may
            # take for one and drop: a cluster fuzz finding, seed 4587781; a QUIT's, placed
            # late in the renamed room, was taken for that room's by a client that had it
            # from the other, seed 6734447).
            event["m"] = self.server.next_msgid()
        if isinstance(event.get("l"), str) and old_name:
            event["l"] = renamed_line(event["l"], old_name, channel.name)
        if complete is not None:  # waiting under the token `submit` gives it
            self.pending[f"{self.token + 1:x}"] = complete
        # A claim it released (`!`) went with its first sequencing: not released again (the
        # nick may be someone else's by now).
        deleted = tuple(name for name in delete_fields if not name.startswith(RELEASES_CLAIM))
        if event.get("t") == "quit":  # refused now, it is sent again later (not its claim)
            refused = partial(self.quit_refused, event=event)
        if event.get("t") in USER_STATE_EVENTS:
            # Its member field with the user's facts as they are now: a later change of the
            # user's, sent to the new name, came there first, and the facts this one was sent
            # with put the field back as it was before (a cluster fuzz finding, seed
            # 6565139). (Nodes apply the state itself by its change number.)
            user = self.server.users.get(str(event.get("f")))
            if user is not None and not user.session.remote and user in channel.members:
                set_fields = self.own_member_field(user, channel)
        self.submit(None, new_fold, event, None, set_fields, deleted, refused)

    def _after_its_nick(self, event: dict[str, Any]) -> bool:
        """Whether this change of a local user's state, to be sent on, waits for the user's
        NICK to settle instead (`after_nick_by_kind`), and is sent then, as the state is, to
        every room of the user (`_nick_settled`). A NICK sent to the new name meanwhile comes
        first there: sent on, the change named the old nick after it, which the nodes
        following the room only under its new name knew nobody by (they kept the old state),
        and the bus wrote the member field the NICK had moved (found by varying a FOUND
        entry, forty-ninth session)."""
        waiting = self.after_nick_by_kind.get(str(event.get("t")))
        identity = event.get("id") or facts_identity(event)  # (a `user` event: its facts')
        user = self.by_network_id.get(str(identity or ""))
        if waiting is None or user is None or user.session.remote or not self._renaming(user):
            return False
        waiting[user] = None
        return True

    def _joiner_gone(self, event: dict[str, Any]) -> bool:
        """Whether the user of a JOIN of this node's has disconnected since it was sent."""
        user = self.server.users.get(str(event.get("f")))
        return user is None or user.session.closed or user.network_id != facts_identity(event)

    def _send_on_from(self, old_fold: str, old_name: str, new_fold: str) -> None:
        """The room is renamed here: events of ours sent to the old name and not back yet are
        sent on to the new one once they are (`came_back`), the old name followed until then;
        with none, it is followed no more."""
        ours = [token for token, entry in self.in_flight.items() if entry[0] == old_fold]
        for token in ours:
            self.forwarding[token] = new_fold
        # Ours sent to an earlier name of this room, not back yet: sent on to this one.
        for token, target in self.forwarding.items():
            if target == old_fold:
                self.forwarding[token] = new_fold
        if ours:
            self.draining[old_fold] = [len(ours), old_name]
        else:
            self._let_go_of_name(old_fold)

    def _drained(self, old_fold: str) -> None:
        """One of our events sent to a renamed room is back: stop following the old name
        once none is left (unless a room of that name is followed here again)."""
        draining = self.draining.get(old_fold)
        if draining is None:
            return
        draining[0] -= 1
        if draining[0] > 0:
            return
        del self.draining[old_fold]
        self._let_go_of_name(old_fold)

    def _let_go_of_name(self, old_fold: str) -> None:
        """Stop following a name a room was renamed away from, unless a room of that name is
        followed here again or a JOIN of it is on its way. (A JOIN of the old name waiting
        for its turn behind an earlier room of its command makes a room of that name anew,
        whose echo comes back through this subscription: closed at the rename, it never did,
        and its user waited for good, a cluster fuzz finding, seed 7030732.)"""
        if (
            old_fold not in self.server.channels
            and old_fold not in self.opening
            and not self.joining.get(old_fold)
        ):
            self.close(old_fold)

    def _awaited(self, fold: str) -> bool:
        # Also those sent to an earlier name of the room, to be sent on to this one.
        return (
            super()._awaited(fold)
            or any(entry[0] == fold for entry in self.in_flight.values())
            or any(target == fold for target in self.forwarding.values())
        )

    def _draining(self, fold: str) -> bool:
        return fold in self.draining

    def _drop_room(self, fold: str, channel: Channel | None) -> None:
        super()._drop_room(fold, channel)
        self.shown.pop(fold, None)
        # Not followed any more: what this node sent there will not come back here. Not those
        # sent on to the room this one was renamed to: that room waits for them (its NICK's
        # refusal counted down the old name, and the renamed room stayed kept for good when
        # a JOIN refused there dropped the old name first: a cluster fuzz finding).
        for token, entry in list(self.in_flight.items()):
            if entry[0] == fold and token not in self.forwarding:
                del self.in_flight[token]

    # ------------------------------------------------------------------ apply

    def _apply_rename(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        old_name, old_fold = channel.name, channel.fold
        new_name, new_fold = str(event["nn"]), str(event["nf"])
        case_only = new_fold == old_fold
        if case_only and self.privilege_refused(channel, event):
            return  # (the bus checks a move to another name itself: NOT_OPERATOR)
        if not case_only:
            marker = int(event["ns"])
            self._move(channel, new_name, new_fold, marker)
            self.fresh_from[new_fold] = marker
            self.views[new_fold] = max(marker, self.views.get(new_fold, 0))
            # The bus moves the nodes that have written the room back with it too, in place
            # of an earlier room's of the new name, and names them in the event (`w`): this
            # copy's record may not be the bus's, told of after a lost end that the bus read
            # once the rename was made (seed 5803575, a cluster fuzz finding).
            notes = event.get("w")
            written = self.written_back.pop(old_fold, set())
            place = self.furthest.pop(old_fold, PLACE_UNKNOWN)
            if isinstance(notes, dict):
                self.take_notes(new_fold, notes)
            else:  # (sequenced before events named them)
                self.written_back[new_fold] = written
                self.furthest[new_fold] = place
            if old_fold in self.lost_views:
                self.lost_views[new_fold] = self.lost_views.pop(old_fold)
            self.spoken_since_loss.pop(new_fold, None)
            if old_fold in self.spoken_since_loss:
                self.spoken_since_loss[new_fold] = self.spoken_since_loss.pop(old_fold)
            self._follow(new_fold, marker)
            # (Checked at the bus's next reconnection: Redis may lose it, `lost_renames`.)
            current = self.writes.current
            if current is not None:
                self.network.renamed(old_fold, old_name, new_fold, current[1], time_ms, current[2])
                self.renamed_in_epoch.pop(old_fold, None)
                self.renamed_in_epoch[new_fold] = (old_fold, current[1])
            if old_fold in self.renamed_before:  # (renamed again: asked under this name now)
                self.renamed_before[new_fold] = self.renamed_before.pop(old_fold)
            self._sync_moved(old_fold, new_fold)
            self._send_on_from(old_fold, old_name, new_fold)
        else:
            channel.name = new_name
            self.renamed_registration(old_fold, new_name, new_fold)
        event["done"] = True
        if not case_only:
            # The room's stored records follow it. Every node that applies the rename asks
            # the shared store for it, and the first one asking makes it (the store remembers
            # it): so the moves of a room's renames are made in the order of the room's
            # events, as each node applies them. Made only by the operator's node, the move
            # of a rename that node applied late came after another node's move of the next
            # one (the room renamed back, or on), which set the room's records aside as an
            # earlier room's (a cluster fuzz finding, seed 4956784). Each node writes what it
            # holds of the two names first: a message another node has inserted but not
            # committed yet is among it, and its insert here waits for that commit, so the
            # move finds it (PostgreSQL's move sees only committed rows); written after the
            # move, a record goes where the move sent its name's (`HistoryStore.append`).
            # (An earlier room's records set aside under a key of this rename's, to go back
            # if Redis loses it: `_move_stored_back`. Only the records up to the rename's time
            # move: applied late, a node may find those of a room made anew under the old
            # name there, which the bus timed after it.)
            self.writes.replaced(new_fold)
            self.writes.forget(old_fold)
            current = self.writes.current
            aside = renamed_aside(new_fold, old_fold, current[1]) if current else None
            server.history.query(
                lambda store: store.rename_target(
                    old_fold, new_fold, time_ms, aside, through_ms=time_ms
                ),
                ignore,
            )
            # A node may have written the old room's last events after the move all the same
            # (PostgreSQL: an insert in the same instant as the move; or a store written by an
            # older hubbub, which sent nothing on): records the move wrote under the new name
            # already, left under the old name too, where a room made anew there would show
            # them (a cluster fuzz finding, seed 4590950).
            limit = server.config.cluster.replay_window
            server.history.change(
                lambda store: drop_moved_copies(store, old_fold, new_fold, limit), ignore
            )
        if mine:
            # Once for the network: the registry is shared.
            if not case_only:
                self._move_registration(old_fold, new_name, new_fold, channel.registered)
            if channel.registered is not None:
                save_registered(server, channel)
        self._tell_members(channel, event, old_name, time_ms, mine)
        if not case_only and server.channels.get(new_fold) is channel:
            # A copy kept only for a JOIN of the old name waiting its turn behind an earlier
            # room of its command: that JOIN goes to the old name (a room made anew there),
            # and nobody of ours is in the renamed room (kept, it stayed followed for good: a
            # cluster fuzz finding, seed 5639709).
            self.drop_if_unused(channel)
        log.info("%s renamed %s to %s (%s)", event["p"], old_name, new_name, event["r"])

    def _move_registration(
        self, old_fold: str, new_name: str, new_fold: str, known: Registration | None
    ) -> None:
        """The operator's node of a rename moves the room's registration in the registry.
        Also when this node does not know the room registered (`known` None): a registration
        committed on another node just before the rename, whose announcement this node had
        not applied yet, stayed under the old name, the room and its mark on the bus under
        the new (cluster fuzz seed 110970); the registry says whether it had one. The nodes
        learn it from the registry's announcements (hubbub.core.cluster_registry), also that
        it had none."""
        server = self.server

        def move(store: RegistryStore) -> RegisteredChannel | None:
            if not store.rename_channel(old_fold, new_name, new_fold):
                return None
            return store.get_channel(new_fold)

        def moved(result: Any) -> None:
            if isinstance(result, RegisteredChannel) and known is None:
                # (Learnt here only now, under its new name, as the others learn it.)
                registry = server.registry
                registry.known.pop(old_fold, None)
                registry.known[new_fold] = KnownRegistration.saved(result)
                live = server.channels.get(new_fold)
                if live is not None:
                    registry.attach(live)
                    save_registered(server, live)
            elif result is None and known is None:
                # Not registered, as the registry has it: but another node may have taken the
                # room for registered under its old name, and moved that with the rename, as
                # the bus moved its mark (a DROP on this node crossing the rename: a cluster
                # fuzz finding, seed 111233). A `chandrop` of the new name has every node
                # read the registry for it, and takes the mark away.
                self.registration_dropped(new_fold, result)
                return
            self.registration_dropped(old_fold, result)
            self.registration_saved(new_fold, result)

        server.registry.call(move, moved)

    def lost_renames(self, renames: Sequence[tuple[str, str, str, int, bool, int]]) -> None:
        """Redis lost these RENAMEs, the latest first, each as (new fold, old fold, old name,
        the seq of the old room after which its events are new to this node, whether this
        node made the rename, the rename's seq in the old room): restarted from a file
        missing its last writes, it has the room under its old name, as the nodes that had
        not read the rename do, and every event sequenced under the new name went with it.
        This node's copy takes the old name back (its members are told, as of a rename) and
        follows it again after that seq (what was sequenced there since, another node's word
        on its members, comes to it); it is one of the rooms whose end was lost, written back
        there (`lost_echoes`, `resync`). Left as it was, the room would be two, each node's
        users in the one its node has (a cluster fuzz finding). Where this node made the
        rename, the stored history and the registry entry it moved go back too (the history
        even where its copy stays: below). Told before any event after the loss is
        applied."""
        server = self.server
        for new_fold, old_fold, old_name, after, mine, seq in renames:
            channel = server.channels.get(new_fold)
            if channel is None or old_fold in server.channels:
                # None of this node's users is in it any more (or they are in a room made
                # anew under the old name too): its copy stays as it is. The history this
                # node moved goes back all the same, as the other nodes' copies take the old
                # name back; left, the earlier room of the new name lacked its records, and
                # a node that opened that room again wrote one there a second time (a
                # cluster fuzz finding, seed 5924520).
                if mine:
                    self._move_history_back(new_fold, old_fold, seq)
                continue
            new_name = channel.name
            self._move(channel, old_name, old_fold)
            self.undone_renames.add(old_fold)
            self.fresh_from[old_fold] = after  # (those up to it are applied)
            self.views[old_fold] = after
            self.written_back[old_fold] = self.written_back.pop(new_fold, set())
            self.furthest[old_fold] = self.furthest.pop(new_fold, PLACE_UNKNOWN)
            if new_fold in self.lost_views:
                self.lost_views[old_fold] = self.lost_views.pop(new_fold)
            # Ours sent to the old name before the rename, to be sent on: they went with it
            # (sequenced after the rename), refused by `lost_echoes`.
            self.draining.pop(old_fold, None)
            for token in [token for token, room in self.forwarding.items() if room == new_fold]:
                del self.forwarding[token]
            self.unfollowed.pop(new_fold, None)
            # Ours sequenced under the new name went with it: refused by `lost_echoes` as
            # events of the room under its old name (a QUIT is sent again there).
            for echo in self.echoes.values():
                if echo.room == new_fold:
                    echo.room, echo.seq, echo.time_ms = old_fold, None, None
            if new_fold in self.departed:
                self.departed[old_fold] = self.departed.pop(new_fold)
            self.syncing.pop(new_fold, None)  # (written back under the old name instead)
            self.renamed_in_epoch.pop(new_fold, None)
            self.close(new_fold)
            self._follow(old_fold, after)
            # Users of other nodes may have come in under the new name (lost too), whose
            # nodes wrote the old room back before, or never followed it: each such node is
            # asked to speak there again, its word on its users the last (a fuzz finding).
            homes = self.homes_listed(channel)
            self._ask_each(old_fold, homes, again=homes)
            if mine:
                self._move_stored_back(channel, new_fold, old_name, old_fold, seq)
            if channel.registered is not None:
                save_registered(server, channel)
            event = {"p": server.name, "r": LOST_RENAME_REASON, "m": server.next_msgid(), "a": ""}
            self._tell_members(channel, event, new_name, int(server.now * 1000), False)
            log.warning("%s: renamed back from %s (Redis lost the rename)", old_name, new_name)

    def _catch_up_rename(self, event: dict[str, Any]) -> bool:
        """Another node asks this one to speak in a room renamed in the epoch Redis lost, from
        `from` at seq `s` of that room: if this node's copy of the old room had not read that
        far, it never read the RENAME (a lagging node; Redis lost the rename with its data),
        and its users were in the room under its old name while the nodes that had read it
        wrote it back under the new one: two rooms, each node's users in the one its node
        had. The copy takes the rename now: its members are told (RENAME, or PART and JOIN),
        it follows the new name from the new epoch's first event (the asker's sync, whose
        room state it takes, as its own place there is not known), its events on their way
        to the old name are sent on, it says it has nobody under the old name any more, and
        its sync (`_apply_speak`) writes its users into the renamed room. Not where this
        node follows the new name already (a user of its joined it since): it answers for
        that copy alone, as before."""
        server = self.server
        old_fold, new_fold = str(event["from"]), str(event["r"])
        try:
            seq = int(event["s"])
        except (TypeError, ValueError):
            return False
        channel = server.channels.get(old_fold)
        read = self.lost_views.get(old_fold)
        if (
            channel is None
            or read is None
            or read >= seq  # (it read the rename: a room made under the old name since)
            or new_fold == old_fold
            or new_fold in server.channels
            or new_fold in self.opening
            or self.joining.get(new_fold)
            or old_fold in self.opening
            or old_fold in self.draining
        ):
            return False
        old_name, new_name = channel.name, str(event.get("n") or new_fold)
        # Its sync there wrote the other nodes' users it lists, whose nodes, which do not
        # follow the old name, say they have nobody there once asked: asked now, as the sync
        # (if it is still on its way) will not come back here to ask them.
        self._ask_silent(old_fold)
        self._stop_syncing(old_fold)  # (its users leave the old name's fields: `_say_gone`)
        self._move(channel, new_name, new_fold)
        # Its place was the old room's (in another room's seqs): not known in the new one,
        # so the syncs of the copies that had read the renamed room give its own state.
        self.lost_views.pop(old_fold, None)
        self.views[new_fold] = 0
        if old_fold in self.departed:
            self.departed[new_fold] = self.departed.pop(old_fold)
        self.unrestored.add(new_fold)
        self._send_on_from(old_fold, old_name, new_fold)
        self._say_gone(old_fold)
        self._follow(new_fold, 0)
        if channel.registered is not None:
            save_registered(server, channel)
        told = {"p": server.name, "r": CAUGHT_UP_REASON, "m": server.next_msgid(), "a": ""}
        self._tell_members(channel, told, old_name, int(server.now * 1000), False)
        log.warning(
            "%s: renamed to %s (a rename Redis lost, read by other nodes)", old_name, new_name
        )
        return True

    def _move_stored_back(
        self, channel: Channel, new_fold: str, old_name: str, old_fold: str, seq: int
    ) -> None:
        """Undo what the operator's node of a rename Redis lost moved in the shared stores:
        the room's records go back to the old name (none of an earlier room of that name is
        set aside: before time 0), those of the earlier room of the new name that the rename
        set aside go back to it (that room is there again: left aside, its history lacked
        them, and a node holding one wrote it there a second time, a cluster fuzz finding,
        seed 5664646), and a registered room's entry."""
        server = self.server
        self._move_history_back(new_fold, old_fold, seq)
        if channel.registered is None:
            return

        def moved(result: Any) -> None:
            self.registration_dropped(new_fold, result)
            self.registration_saved(old_fold, result)

        server.registry.call(
            lambda store: store.rename_channel(new_fold, old_name, old_fold), moved
        )

    def _move_history_back(self, new_fold: str, old_fold: str, seq: int) -> None:
        """The history part of `_move_stored_back`. A record of the earlier room of the new
        name that a late writer (a lagging node) put under that name after the set-aside is
        under both: it stays only in its own room's (a cluster fuzz finding, seed 5800517)."""
        aside = renamed_aside(new_fold, old_fold, seq)
        limit = self.server.config.cluster.replay_window

        def move_back(store: HistoryStore) -> int:
            if store.latest(aside, 1):  # (most renames set nothing aside)
                drop_moved_copies(store, new_fold, aside, limit)
            moved = store.rename_target(new_fold, old_fold, 0)
            store.rename_target(aside, new_fold, 0)
            return moved

        self.server.history.query(move_back, ignore)

    def _move(
        self, channel: Channel, new_name: str, new_fold: str, marker: int | None = None
    ) -> None:
        """This node's copy of the room takes its new name, and so does what this node keeps
        per room name. `marker`: the seq of the rename's marker in the new room."""
        server = self.server
        old_fold = channel.fold
        stale = server.channels.get(new_fold)
        if stale is not None:
            # Loaded from the marker (its place at or after it): this copy is the room itself,
            # whose events after the marker are applied to it again (`_follow`). Before it:
            # an earlier room of the name, which its users of this node have left already.
            view = self.views.get(new_fold, 0)
            earlier = marker is not None and view < marker
            self._forget_copy(stale, channel if earlier else None)
            if marker is not None and view > marker:
                # Its users of ours were shown what that copy applied after the marker: each
                # is spared it again from her JOIN on (`apply`). (Shown twice, a user saw
                # each line after her JOIN twice.)
                self.shown[new_fold] = (view, set())
        del server.channels[old_fold]
        # A JOIN of the old name from now on reads its state (a new room of that name may
        # be made by others meanwhile; this node follows that name only for its events).
        self.opened_empty.discard(old_fold)
        self.emptied_state.pop(old_fold, None)
        channel.name, channel.fold = new_name, new_fold
        server.channels[new_fold] = channel
        self.renamed_registration(old_fold, new_name, new_fold)
        for member in channel.members:
            member.channels.pop(old_fold, None)
            member.channels[new_fold] = channel
        # JOINs sent move with the room (sent on to it); those still waiting for their room to
        # open stay with the name they will join (a room of that name, made anew).
        waiting = sum(
            1 for turns in self.join_turns.values() for turn in turns if turn[2] == old_fold
        )
        joining = self.joining.pop(old_fold, 0)
        if waiting:
            self.joining[old_fold] = min(waiting, joining)
        if joining > waiting:
            self.joining[new_fold] = self.joining.get(new_fold, 0) + joining - waiting
        if old_fold in self.lingering:  # kept for events of ours, which are sent on to it
            self.lingering.discard(old_fold)
            self.lingering.add(new_fold)
        for entering in [*self.entering.values(), *self.joins_sent.values()]:
            if old_fold in entering:
                entering.discard(old_fold)
                entering.add(new_fold)
        for room, user in [key for key in self.live if key[0] == old_fold]:
            self.live[(new_fold, user)] = self.live.pop((room, user))
        # QUITs and NICKs refused there, to be sent again when the bus is back (or a NICK
        # given up, which counts its room back): to the room under this name, where its
        # members' fields are and its counts went. (A NICK given up under the old name
        # counted down nothing, and the room stayed followed for good: a cluster fuzz
        # finding; a QUIT sent again there left its user in the room.)
        self.unsent = [
            (new_fold, *entry[1:]) if entry[0] == old_fold else entry for entry in self.unsent
        ]
        for kept in self.unsent_nicks.values():
            kept[:] = [
                (new_fold if room == old_fold else room, event, fields, deleted)
                for room, event, fields, deleted in kept
            ]

    def _forget_copy(self, stale: Channel, earlier_than: Channel | None = None) -> None:
        """A copy of a room of this name that another room replaces. `earlier_than`: the room
        renamed to the name, which replaces an earlier room of it; users of this node in that
        earlier room and not in the renamed one are told they left it: the bus renames only
        to a name whose room has no member, so their leaving (a PART, a KICK) is sequenced
        already, and comes back before the marker, where it is not applied (`apply`). Not
        told, a user stayed in the room for her client, and was answered nothing (a cluster
        fuzz finding, seed 4324064)."""
        server = self.server
        del server.channels[stale.fold]
        time_ms = int(server.now * 1000)
        for member in list(stale.members):
            member.channels.pop(stale.fold, None)
            if member.session.remote:
                if not member.channels:
                    self._forget(member)
            elif (
                earlier_than is not None
                and member not in earlier_than.members
                and not member.session.closed
            ):
                line = f":{member.prefix} PART {stale.name} :{EARLIER_ROOM_REASON}"
                server.fanout((member,), line, time_ms, server.next_msgid(), account=member.account)
        stale.members.clear()

    def _follow(self, fold: str, after: int) -> None:
        def followed(ok: bool) -> None:
            if not ok:
                self.unfollowed[fold] = after
            elif (
                fold not in self.server.channels
                and fold not in self.opening
                and not self.joining.get(fold)
                and fold not in self.draining
            ):
                # Its last local member left (and the room was closed), or it was renamed
                # on, before the bus answered: not followed after all.
                self.close(fold)

        self.network.follow(fold, after, followed)

    def _tell_members(
        self, channel: Channel, event: dict[str, Any], old_name: str, time_ms: int, mine: bool
    ) -> None:
        """This node's members hear it (the operator's own lines answer its command)."""
        server = self.server
        actor = self.event_sender(channel, event) if mine else None
        reason = event["r"]
        line = f":{event['p']} RENAME {old_name} {channel.name} :{reason}"
        members = [m for m in channel.members if not m.session.remote and m is not actor]
        capable = [m for m in members if CAPABILITY in m.session.caps]
        if capable:
            server.fanout(capable, line, time_ms, event["m"], account=event["a"])
        if server.fold(old_name) == channel.fold:
            return  # a change of case: nothing to fall back to
        for member in members:
            if CAPABILITY in member.session.caps:
                continue
            other = Reply(server, member.session, None)
            fallback(server, other, channel, member, old_name, reason, time_ms)
            # An event, not an answer to the member's own commands: not its flood cost.
            spent = member.session.output_lines
            other.flush()
            member.session.output_lines = spent

    def _apply_moved(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """The marker of a rename, in the new room: only a node that followed the new name
        before the rename gets it (one of its users was joining the then empty room, or its
        copy of an emptied room of that name was kept for such a JOIN, or for events of its
        own on their way there). It takes the room's moved state, so that user joins the
        renamed room, and those events are answered by it."""
        fold = str(event["to"])
        fields = {str(name): str(value) for name, value in dict(event["st"]).items()}
        present = self.server.channels.get(fold)
        if present is not None and present.members:
            # Members the bus had none of (a rename takes only an empty name): Redis lost them
            # and this node had not written the room back yet. The renamed room comes into
            # this copy as another node's sync of it would, and this node's sync, to come,
            # writes its members into it (they were two rooms, each node showing its own, a
            # cluster fuzz finding).
            self.take_notes(fold, fields)
            self._take_sync(fold, "", fields, time_ms)
            return
        # (An emptied room of that name kept for events of ours on their way, `lingering`:
        # kept as it was, it decided the renamed room's events from the earlier room's
        # state, and refused a message every other node delivered, a cluster fuzz finding,
        # seed 4736761.)
        lingering = present is not None and fold in self.lingering
        if not self.joining.get(fold) and fold not in self.opening and not lingering:
            return  # followed only for events of ours sent on from it: no JOIN wants the room
        if present is not None:
            # An emptied room of that name, kept here for a JOIN of ours on its way, or for
            # events of ours: the room they find now is the renamed one (a rename takes only
            # an empty name).
            self._forget_copy(present)
        self.load_room(fold, fields)
        self.take_notes(fold, fields)
        self.unmade.discard(fold)
        self.emptied_state.pop(fold, None)  # (the state the name had is the renamed room's)

    def epoch_restarted(self) -> None:
        super().epoch_restarted()
        # Renamed rooms not followed yet: from the new epoch's first event (their markers'
        # seqs were the old epoch's; a QUIT sent again on the return is the new one's first).
        self.unfollowed = dict.fromkeys(self.unfollowed, 0)
        self.shown.clear()  # (the new epoch's seqs are other events)

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if available and self.unfollowed:
            unfollowed, self.unfollowed = self.unfollowed, {}
            for fold, after in unfollowed.items():
                if fold in self.server.channels:
                    # From what the copy has applied since, if it has: a feed subscribed
                    # already (a JOIN's) went back to `after` when first asked, and has
                    # delivered from there; asked again from `after`, it delivered those
                    # events twice, and the members saw them twice (a cluster fuzz finding,
                    # seed 7011703).
                    self._follow(fold, max(after, self.views.get(fold, 0)))


def renamed_aside(new: str, old: str, seq: int) -> str:
    """The key the operator's node of the RENAME of `old` to `new`, event `seq` of `old`, sets
    the records of an earlier room called `new` aside under: one per rename, so that undoing
    it (Redis lost it) moves back exactly those."""
    return aside_key(new, f"{old}@{seq}")


def drop_moved_copies(store: HistoryStore, old: str, new: str, limit: int) -> int:
    """Remove from `old` the records among its newest `limit` that are under `new` too (a
    rename moved them there; a late writer put them back): how many went."""
    copies = [record.msgid for record in store.latest(old, limit)]
    dropped = 0
    for msgid in copies:
        if store.find(new, msgid) is not None and store.redact(old, msgid):
            dropped += 1
    return dropped


def renamed_onto(events: Sequence[tuple[int, int, bytes]], through: int) -> list[str]:
    """The old names of the rooms RENAMEs brought onto this one, from the markers (`moved`)
    among its stream's `events` up to `through`, oldest first."""
    names = []
    for seq, _time_ms, payload in events:
        if seq > through:
            continue
        try:
            event = json.loads(payload)
            if event["t"] == "moved":
                names.append(str(event["fr"]))
        except (ValueError, KeyError, TypeError):
            continue  # not a hubbub event: not a marker either
    return names


def rename_place(new: str, events: Sequence[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    """The seq and time of the last RENAME to `new` among a room's stream `events`."""
    place = None
    for seq, time_ms, payload in events:
        try:
            event = json.loads(payload)
            if event["t"] == "rename" and event["nf"] == new:
                place = (seq, time_ms)
        except (ValueError, KeyError, TypeError):
            continue
    return place


def move_renamed(
    store: HistoryStore, old: str, new: str, seq: int, time_ms: int, limit: int
) -> None:
    """The history move of the RENAME of `old` to `new` (event `seq` of `old`, at `time_ms`),
    as every node applying it asks for it (`_apply_rename`): made once, the store remembering
    it. A node burying a dead node asks for it too, for the rooms renamed onto a room it
    buries: when the dead node alone followed the room and died before it applied the rename,
    nobody else does (hubbub.cluster.node `_write_before_quits`; a cluster fuzz finding, seed
    7285579)."""
    store.rename_target(old, new, time_ms, renamed_aside(new, old, seq), through_ms=time_ms)
    drop_moved_copies(store, old, new, limit)


#: Room events, by kind (hubbub.core.cluster_apply's APPLIERS).
RENAME_APPLIERS = {"rename": ClusterRename._apply_rename}

#: Events applied whether or not this node has the room (the marker), by kind.
RENAME_EVENTS = {"moved": ClusterRename._apply_moved}
