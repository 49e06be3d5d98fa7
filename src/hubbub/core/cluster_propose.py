"""Sending commands' room events to the bus (the "propose" side of each command).

`ClusterPropose` has one method per command the cluster sequences (channel and private
messages, JOIN, PART, TOPIC, KICK, MODE, NICK, QUIT): it checks the command against this
node's view of the room, builds the payload and state fields, hands them to `submit`, and
says what the command's reply does when the event comes back or is refused.
See hubbub.core.network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from hubbub.core.budget import refuse_new_channel
from hubbub.core.channels import admission, arrived
from hubbub.core.messaging import echo, fit, refuse_unstorable
from hubbub.core.model import (
    NOWHERE,
    Channel,
    Membership,
    Phase,
    User,
)
from hubbub.core.modes import change_modes, mode_line
from hubbub.core.ownership import check_nick, nick_refused
from hubbub.core.ports import CallFailure, inbox
from hubbub.core.privacy import side
from hubbub.core.redact import is_reaction, remember_sent
from hubbub.core.registered import saved_channel
from hubbub.core.registration import rename, try_register
from hubbub.history.policy import stored_tags
from hubbub.history.record import Record, dm_key
from hubbub.protocol import numerics as n
from hubbub.registry.model import RegisteredChannel
from hubbub.registry.store import RegistryStore

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
from hubbub.core.cluster_apply import joins_trusted
from hubbub.core.cluster_fields import (
    GIVEN_KEY,
    HISTORY_EVENT,
    HISTORY_FIELD,
    LIST_PREFIX,
    METADATA_PREFIX,
    MODE_PREFIX,
    NICK_KEY_PREFIX,
    ONLY_IF_ROOM,
    UNAVAILABLE,
    if_creating,
    invite_field,
    key_digest,
    member_field_names,
    member_fields,
    member_leaves,
    mode_change_fields,
    nick_key,
    only_if_operator,
    only_if_room_for,
    only_if_topic_setter,
    renamed_member_fields,
    saved_state,
    scratch_copy,
    standing_change,
    standing_field,
    standing_text,
    state_fields,
    unless_same_user,
)
from hubbub.core.cluster_registry import ClusterRegistry
from hubbub.core.cluster_rooms import count_down

log = logging.getLogger("hubbub.chat")

#: The reason a user of this node is disconnected with when, after Redis lost its data, a
#: user of another node took its nick before this node claimed it again.
NICK_COLLISION = "Nick collision: the nick was taken while the network resynchronised"


class ClusterPropose(ClusterRegistry):
    """Hands each command's room events to the bus and answers when they come back."""

    def message(
        self,
        reply: Reply,
        channel: Channel,
        sender: User,
        cmd: str,
        status: str,
        text: str,
        tags: dict[str, str],
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> None:
        """PRIVMSG / NOTICE / TAGMSG to a channel (hubbub.core.messaging.to_channel)."""
        server = self.server
        prefix = sender.prefix
        if cmd == "TAGMSG":
            line = f":{prefix} TAGMSG {status}{channel.name}"
        else:
            head = f":{prefix} {cmd} {status}{channel.name} :"
            text = fit(text, len(head.encode()))  # bytes: a channel name may be non-ASCII
            line = head + text
        event: dict[str, Any] = {
            "t": "msg",
            "f": sender.fold,
            "id": sender.network_id,
            "c": cmd,
            "s": status,
            "l": line,
            "x": text,
            "ct": client_tags,
            "a": sender.account,
            "i": sender.account_id,
            "p": prefix,
            "m": server.next_msgid(),
            "st": stored,
            "re": cmd == "TAGMSG" and not status and is_reaction(tags),
        }
        committed = self.writes.watermark(channel.fold)
        if committed:  # the other nodes let go of what they hold of ours up to it
            event["w"] = committed

        def done(later: Reply, result: Any) -> None:
            if result is None:
                if cmd != "NOTICE":  # a NOTICE never gets an automatic reply
                    later.fail(cmd, "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if sent.get("refused"):  # by the room as it was at its place in the sequence
                if cmd != "NOTICE":
                    later.numeric(n.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
                return
            msgid = sent["m"]
            if stored is not None and not sender.account:
                remember_sent(later.session, msgid)  # so that this connection may REDACT it
            elif sent["re"]:
                remember_sent(later.session, msgid, channel.fold)
            # The line as applied: with the room's new name if it was renamed meanwhile.
            echo(server, later, cmd, sent["l"], time_ms, msgid, client_tags)

        self.submit(reply, channel.fold, event, done)

    def direct(
        self,
        reply: Reply,
        sender: User,
        recipient: User,
        cmd: str,
        text: str,
        tags: dict[str, str],
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> None:
        """A private message to a known user of another node (one sharing a room here)."""
        home = self.homes.get(recipient, "")
        theirs = side(self.server, recipient)
        target = (recipient.nick, recipient.fold, home, theirs)
        self._send_direct(reply, sender, target, cmd, text, tags, client_tags, stored)

    def direct_to_unknown(
        self,
        reply: Reply,
        sender: User,
        nick: str,
        cmd: str,
        text: str,
        tags: dict[str, str],
        client_tags: str,
        errors: bool,
    ) -> None:
        """A private message to a nick nobody here has: its claim on the bus says which node
        has it (401 when none does)."""
        server = self.server
        fold = server.fold(nick)
        history = server.config.history
        stored = stored_tags(history, cmd, tags) if history.store_private else None
        if stored is not None and not server.history.available:
            refuse_unstorable(reply, cmd, nick, errors)
            return

        def located(later: Reply, found: Any) -> None:
            home, away, theirs = found if found is not None else (None, "", fold)
            if home is None:
                if errors:
                    later.fail(cmd, "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
            elif not home or home == self.node:  # nobody, or one of ours that just left
                if errors:
                    later.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
            else:  # its side of the key: its account when the directory says it has one
                target = (nick, fold, home, theirs)
                if cmd == "PRIVMSG" and away:  # before the echo, as for a known user
                    later.numeric(n.RPL_AWAY, nick, away)
                self._send_direct(later, sender, target, cmd, text, tags, client_tags, stored)

        self.find_home(fold, reply.later(located))

    def find_home(self, fold: str, done: Callable[[tuple[str, str, str] | None], None]) -> None:
        """The node of the user with this casefolded nick ("" when nobody has it), its away
        text and its side of a private conversation's history key (its account, as
        `privacy.side` makes it, or its nick), or None when the bus is unavailable: here from
        its nick claim (the network directory also knows its away state and account,
        hubbub.core.cluster_directory)."""

        def located(home: str | None) -> None:
            done(None if home is None else (home, "", fold))

        self.network.locate(nick_key(fold), located)

    def _send_direct(
        self,
        reply: Reply,
        sender: User,
        target: tuple[str, str, str, str],
        cmd: str,
        text: str,
        tags: dict[str, str],
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> None:
        """Through the recipient's node's inbox room (`target`: its nick, casefolded nick,
        node and side of the history key). Both nodes store it (idempotent, at the sequenced
        time); the sender's echoes it."""
        server = self.server
        nick, fold, home, theirs = target
        prefix = sender.prefix
        if cmd == "TAGMSG":
            line = f":{prefix} TAGMSG {nick}"
        else:
            head = f":{prefix} {cmd} {nick} :"
            text = fit(text, len(head.encode()))
            line = head + text
        msgid = server.next_msgid()
        params = (nick,) if cmd == "TAGMSG" else (nick, text)
        event: dict[str, Any] = {"t": "dm", "to": fold, "c": cmd, "l": line, "ct": client_tags}
        event["a"], event["m"], event["p"] = sender.account, msgid, prefix
        # The recipient's node stores it too (idempotent, under the same key), so that its own
        # reads see it at once, as its live delivery did.
        key = dm_key(side(server, sender), theirs)
        event["st"], event["pa"], event["key"] = stored, params, key
        event["i"] = sender.account_id

        def done(later: Reply, result: Any) -> None:
            if result is None:
                if cmd != "NOTICE":
                    later.fail(cmd, "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            time_ms, _ = result
            if stored is not None:
                server.history.append(
                    Record(key, msgid, time_ms, prefix, cmd, params, stored, sender.account_id)
                )
                if not sender.account:
                    remember_sent(later.session, msgid)
            elif cmd == "TAGMSG" and is_reaction(tags):
                remember_sent(later.session, msgid, key)
            echo(server, later, cmd, line, time_ms, msgid, client_tags)

        self.submit(reply, inbox(home), event, done, answered_when_sequenced=True)

    def join(self, reply: Reply, user: User, name: str, fold: str, key: str) -> None:
        """JOIN: open the room here first (its state from the bus), then check and send."""
        server = self.server
        entering = self.entering.setdefault(user, set())
        if fold in entering:
            return  # already on its way (JOIN #a,#a)
        if len(user.channels) + len(entering) >= server.config.limits.channels_per_user:
            reply.numeric(n.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            return
        entering.add(fold)
        # The rooms of one JOIN command are sent in the order they were named, whichever opens
        # first (`_take_turns`): their JOINs, names and markers come back in that order.
        turns = self.join_turns.setdefault(reply, [])
        if fold in server.channels and not turns:
            del self.join_turns[reply]
            self._join_known(reply, user, fold, key)
            return

        def opened(later: Reply, ok: Any) -> None:
            if not ok:
                self._entered(user, fold)
                later.fail("JOIN", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            if fold in server.channels:
                self._join_known(later, user, fold, key)
            else:  # nobody is there: this user creates it
                self._join_new(later, user, name, fold, key)

        turn: list[Any] = [None, reply.later(opened), fold]  # [opened?, completion, room]
        turns.append(turn)
        self.joining[fold] = self.joining.get(fold, 0) + 1  # kept open while it waits its turn
        if fold in server.channels:  # known, but an earlier room of this command is opening
            self._take_turns(reply, turn, True)
        else:
            self.open(fold, lambda ok: self._take_turns(reply, turn, ok))

    def _take_turns(self, reply: Reply, turn: list[Any], ok: bool) -> None:
        """A room of a JOIN command is open (or could not be): it and the rooms after it that
        are ready too go on, in the order the command named them."""
        turn[0] = ok
        turns = self.join_turns.get(reply, [])
        while turns and turns[0][0] is not None:
            opened, complete, fold = turns.pop(0)
            # Its turn's count goes first: the JOIN it sends counts again (unless refused), and
            # may be back before `complete` returns, its room renamed (count and all) meanwhile.
            self._joined_or_not_later(fold)
            complete(opened)
            self._close_if_unwanted(fold)
            if fold in self.speak_when_joined:
                # Asked to speak in the room while it opened for this JOIN, which the copy
                # refused (a key, a limit, a ban): no JOIN comes back to say so, and the
                # asking node's copy would list this node's users there for good (a cluster
                # fuzz finding).
                self._speak_if_joined(fold)
        if not turns:
            self.join_turns.pop(reply, None)

    def _join_known(self, reply: Reply, user: User, fold: str, key: str) -> None:
        channel = self.server.channels[fold]
        invited = user.fold in channel.invited
        membership = (
            None if user in channel.members else admission(self.server, reply, channel, user, key)
        )
        if membership is None:
            self._entered(user, fold)
            return
        if invited:
            # Used up when the JOIN is applied, on every node alike: checked again there in
            # the room's sequence (cluster_apply, `join_refused`), it still lets the user in.
            channel.invited.add(user.fold)
        created = None
        if channel.registered is None:
            # Its last member may leave before this JOIN is sequenced (this node had not
            # applied that yet): then, as on one server, where an emptied room is gone, the
            # JOIN creates it anew (decided by the bus and every node alike, at its place).
            created = (int(self.server.now), self.server.stamp())
        self._send_join(reply, user, channel.name, fold, membership, created, known=True)

    def _join_new(self, reply: Reply, user: User, name: str, fold: str, key: str) -> None:
        server = self.server
        if fold in server.registry.known:
            self._join_registered(reply, user, name, fold, key)
            return
        refused = refuse_new_channel(server, user.session)  # hubbub.core.budget
        if refused is not None:
            self._entered(user, fold)
            reply.numeric(n.ERR_TOOMANYCHANNELS, name, refused)
            return
        since = server.stamp()
        created = (int(server.now), since)
        self._send_join(reply, user, name, fold, Membership(op=True), created, key=key)

    def _join_registered(self, reply: Reply, user: User, name: str, fold: str, key: str) -> None:
        """A registered room the bus has no state of (never created since the registry had
        it, or a Redis that lost its data): its saved state is read from the registry, the JOIN
        is checked against it as against the room on one server (it never vanishes there),
        and the creating JOIN carries it to the room's state fields and to every node that
        applies it (hubbub.core.cluster_registry)."""
        server = self.server
        # The room stays open here while the registry is read.
        self.joining[fold] = self.joining.get(fold, 0) + 1

        def read(store: RegistryStore) -> tuple[RegisteredChannel | None, dict[str, str]]:
            saved = store.get_channel(fold)
            metadata = store.channel_metadata().get(fold, {}) if saved is not None else {}
            return saved, metadata

        def loaded(later: Reply, result: Any) -> None:
            if isinstance(result, CallFailure):
                self._entered(user, fold)
                later.fail("JOIN", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            saved, metadata = result
            if saved is None:  # dropped meanwhile: an ordinary new room
                server.registry.known.pop(fold, None)
                self._join_new(later, user, name, fold, key)
                return
            channel = saved_channel(server, saved, metadata)
            membership = admission(server, later, channel, user, key)
            if membership is None:
                self._entered(user, fold)
                return
            created = (channel.created, channel.history_since_ms)
            state = saved_state(channel)
            self._send_join(later, user, channel.name, fold, membership, created, state)

        complete = reply.later(loaded)

        def answered(result: Any) -> None:
            complete(result)  # sends the JOIN (counted in `joining` again) unless refused
            self._joined_or_not(fold)

        server.registry.service.call(read, answered)

    def _send_join(
        self,
        reply: Reply,
        user: User,
        name: str,
        fold: str,
        membership: Membership,
        created: tuple[int, int] | None,
        state: dict[str, Any] | None = None,
        *,
        known: bool = False,
        key: str | None = None,
    ) -> None:
        """`created`: the room is created by this JOIN if nobody is in it at its place in the
        sequence; `state`: a registered room's saved state it is created with
        (hubbub.core.cluster_registry); `known`: a JOIN of a room this node has members of
        (its standing there is `membership`'s unless it creates the room); `key`: the key
        the user gave, for a room this node took for new (checked where the JOIN is
        applied, if it joins a room that is there: `GIVEN_KEY`)."""
        facts = self.own_facts(user)
        event: dict[str, Any] = {
            "t": "join",
            "f": user.fold,
            "u": facts,
            "o": membership.op,
            "nm": name,
            "m": self.server.next_msgid(),
        }
        member = member_fields(user.fold, facts, membership)
        deleted: tuple[str, ...] = (invite_field(user.fold),)  # an invitation is used up
        creating: dict[str, str] = {}
        if created is not None:
            # A new room: what a room of this name had before (topic, modes, metadata) is not
            # its. All of it written only if this JOIN does create the room: another node's
            # JOIN may have created it a moment before (hubbub.core.cluster_apply decides so
            # too, by the room's members when it applies this one).
            event["cr"] = list(created)
            if known:
                event["kn"] = 1
            if key is not None:
                event[GIVEN_KEY] = key_digest(key)
            creating["room"] = json.dumps(
                {"name": name, "created": created[0], "since": created[1]}
            )
            if state is None:
                deleted_if_creating: tuple[str, ...] = (
                    "topic",
                    MODE_PREFIX + "*",
                    LIST_PREFIX + "*",
                    HISTORY_FIELD,
                    METADATA_PREFIX + "*",
                    invite_field("*"),  # invitations to the emptied room before it
                )
                # Its operator status is a creator's: joining the room another JOIN created,
                # it is a plain member (one of a known room: as `membership` says).
                standing = standing_field(user.fold)
                creating[standing] = standing_text(Membership(op=True, voice=membership.voice))
                if not known:
                    member[standing] = standing_text(Membership(voice=membership.voice))
            else:  # the bus had no state of it, so no other metadata key to delete
                event["rs"] = state
                saved_fields, saved_deleted = state_fields(state, self.server.fold)
                creating.update(saved_fields)
                deleted_if_creating = (*saved_deleted, HISTORY_FIELD)  # a registration has its own
            deleted += tuple(if_creating(field) for field in deleted_if_creating)
        if created is None or known:
            # Into a room that is there: not one renamed away meanwhile (its fields moved;
            # this JOIN is sent on to the new name, hubbub.core.cluster_rename), whose fields
            # would make a JOIN creating a room of that name there find it occupied.
            deleted += (ONLY_IF_ROOM,)
        if not joins_trusted(event):
            deleted += (only_if_room_for(user.fold),)  # `+l`, counted by the bus
        # The member's fields are written only if it is not a member yet: a JOIN that finds
        # the user in the room already (a RENAME brought it there meanwhile) changes nothing,
        # as in the rooms (cluster_apply, "dup"), its standing included.
        set_fields = {unless_same_user(field): value for field, value in member.items()}
        set_fields.update({if_creating(field): value for field, value in creating.items()})
        self.joining[fold] = self.joining.get(fold, 0) + 1
        server = self.server

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("JOIN", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            # "fw": the room it was sent on to, renamed meanwhile (hubbub.core.cluster_rename).
            channel = server.channels.get(sent.get("fw", fold))
            refusal = sent.get("refused")  # by the room as it was at the JOIN (cluster_apply)
            if refusal is not None:
                later.numeric(refusal[0], channel.name if channel else name, refusal[1])
                return
            if channel is None or user not in channel.members or sent.get("dup"):
                return
            line = f":{user.prefix} JOIN {channel.name}"
            arrived(server, later, channel, user, line, time_ms, sent["m"])

        identity = user.network_id

        def refused(room: str) -> None:  # (its new name, if renamed meanwhile)
            self._entered(user, room)
            self._joined_or_not(room)
            count_down(self.quit_early, identity)  # (its early QUIT, if any, changes nothing)

        self.joins_sent.setdefault(user, set()).add(fold)
        self.submit(reply, fold, event, done, set_fields, deleted, refused=refused)

    def part(self, reply: Reply, channel: Channel, user: User, reason: str) -> None:
        event = {"t": "part", "f": user.fold, "p": user.prefix, "r": reason}
        event["id"] = user.network_id  # who, whatever nick another node knows it by
        event["m"] = self.server.next_msgid()
        server = self.server

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("PART", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if "l" in sent:  # it was still a member when its PART came back
                server.send_self(later, sent["l"], time_ms, sent["m"], account=user.account)

        deleted = member_leaves(user.fold, user.network_id)
        self.submit(reply, channel.fold, event, done, delete_fields=deleted)

    def history_access(
        self,
        reply: Reply,
        channel: Channel,
        user: User,
        value: str,
        answered: Callable[[Reply, bool], None],
    ) -> None:
        """ChanServ SET HISTORY (hubbub.core.chanserv): sequenced in the room, kept in its
        state field `history`; `answered(reply, sequenced)` once it came back or was refused."""
        event = {"t": HISTORY_EVENT, "f": user.fold, "n": user.nick, "v": value}
        event["id"] = user.network_id
        event["m"] = self.server.next_msgid()

        def done(later: Reply, result: Any) -> None:
            answered(later, result is not None)

        self.submit(reply, channel.fold, event, done, {HISTORY_FIELD: value})

    def topic(self, reply: Reply, channel: Channel, user: User, text: str) -> None:
        server = self.server
        set_at = int(server.now)
        event = {"t": "topic", "f": user.fold, "p": user.prefix, "x": text, "at": set_at}
        event["id"] = user.network_id  # its sender, whatever nick a slow node knows it by
        event["m"] = server.next_msgid()

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("TOPIC", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if answered_refusal(later, sent, channel):
                return
            # The room's name now: renamed in place if a RENAME came first.
            line = f":{user.prefix} TOPIC {channel.name} :{text}"
            server.send_self(later, line, time_ms, sent["m"], account=user.account)

        # Changed only if the sender may still set it at its place in the sequence.
        guard = only_if_topic_setter(user.fold)
        if text:
            topic = json.dumps({"text": text, "setter": user.prefix, "at": set_at})
            self.submit(reply, channel.fold, event, done, {"topic": topic}, (guard,))
        else:
            self.submit(reply, channel.fold, event, done, delete_fields=(guard, "topic"))

    def kick(self, reply: Reply, channel: Channel, user: User, target: User, reason: str) -> None:
        server = self.server
        line = f":{user.prefix} KICK {channel.name} {target.nick} :{reason}"
        event = {"t": "kick", "f": user.fold, "p": user.prefix, "v": target.fold, "l": line}
        event["id"] = user.network_id
        event["r"] = reason
        event["tn"] = target.nick
        event["m"] = server.next_msgid()

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("KICK", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if answered_refusal(later, sent, channel):
                return
            server.send_self(later, sent["l"], time_ms, sent["m"], account=user.account)

        # The target's fields go only if the sender is still an operator at that place.
        deleted = (only_if_operator(user.fold), *member_field_names(target.fold))
        self.submit(reply, channel.fold, event, done, delete_fields=deleted)

    def mode(
        self, reply: Reply, channel: Channel, user: User, modestring: str, args: list[str]
    ) -> None:
        """Channel MODE: worked out on a copy of the room (numerics for what is refused),
        sequenced as the changes that take effect and applied to the room when it is back."""
        server = self.server
        scratch = scratch_copy(channel)
        applied = change_modes(server, reply, scratch, modestring, args)
        if not applied:
            return
        line = mode_line(user, channel, applied)
        event: dict[str, Any] = {"t": "mode", "f": user.fold, "p": user.prefix, "l": line}
        event["id"] = user.network_id
        event["ch"] = [list(change) for change in applied]
        event["at"] = int(server.now)
        event["m"] = server.next_msgid()
        set_fields, deleted = mode_change_fields(applied, user.prefix, event["at"], server.fold)
        # Each target's +o/-o/+v/-v, in order, applied by the bus to the standing it has then
        # (`standing_change`), only if the room knows the target by this nick then: a target
        # renamed here by its NICK in another room may still be known there by its old one
        # (hubbub.core.cluster_rooms `member_named`).
        standings: dict[str, str] = {}
        for sign, char, arg in applied:
            if char in "ov" and arg is not None:
                target = server.find_user(arg)
                if target is not None and target in scratch.members:
                    standings[target.fold] = standings.get(target.fold, "") + sign + char
        for target_fold, changes in standings.items():
            set_fields[standing_change(target_fold)] = changes

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("MODE", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if answered_refusal(later, sent, channel):
                return
            server.send_self(later, sent["l"], time_ms, sent["m"], account=user.account)

        guarded = (only_if_operator(user.fold), *deleted)
        self.submit(reply, channel.fold, event, done, set_fields, guarded)

    def nick(self, reply: Reply, user: User, nick: str, fold: str) -> None:
        """NICK: claim the nick network-wide, then (registered, in rooms) sequence the change
        in each room; it is applied where it comes back first."""
        server = self.server
        session = reply.session
        registered = session.phase is Phase.REGISTERED
        if registered and nick_refused(server, reply, nick, fold):
            return
        old_fold = user.fold
        if fold == old_fold:  # a change of case only: the claim is this user's already
            self._nick_claimed(reply, user, nick, fold, old_fold)
            return

        def claimed(later: Reply, won: Any) -> None:
            if won is None:
                later.fail("NICK", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            holder = server.users.get(fold) or server.services.get(fold)
            if holder is None:  # or a user of ours won it a moment ago, its NICK on its way
                holder = self.taker(fold)
            if not won or (holder is not None and holder is not user):
                theirs = holder is None or holder.session.remote
                if won and theirs and not self.claiming.get(fold):
                    # (A user of ours holding it, or asking for it, holds this node's claim:
                    # not released.)
                    self.network.release(nick_key(fold))
                later.numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
                if later.session.phase is not Phase.REGISTERED:
                    later.session.wanted_nick = nick
                return
            user.claim_number = int(won)  # (its `online` carries it)
            self._nick_claimed(later, user, nick, fold, old_fold)

        def answered(won: int | None) -> None:
            count_down(self.claiming, fold)
            # Won by a user gone meanwhile, or refused (the bus away) while another claim of
            # ours, given up meanwhile, left it to this one to settle: the claim is nobody's.
            if ((won and session.closed) or won is None) and self._claim_unused(fold):
                self.network.release(nick_key(fold))
            complete(won)

        complete = reply.later(claimed)
        # Claims are this node's, not a user's: two of its users asking for one nick both win
        # it (`taking` tells them apart), and one of them gone must not release the other's.
        self.claiming[fold] = self.claiming.get(fold, 0) + 1
        self.network.claim(nick_key(fold), self.node, answered)

    def reclaim_nicks(self, held: Collection[str] = ()) -> None:
        """The bus is back: claim this node's users' nicks again (gone if Redis lost its data),
        and give back those whose release it refused meanwhile, unless they are ours again;
        likewise the nick claims the bus says this node holds (`held`, claim keys) that none
        of its users has: a Redis restarted from a file missing its last writes has them from
        before their release (a QUIT's, a NICK's: a cluster fuzz finding).
        Claims are counted as on their way (`claiming`), like a NICK's: a user leaving
        meanwhile does not release the nick then, and the answer releases it if nobody of this
        node holds it any more (its release may have reached the bus before this claim)."""
        unreleased, self.unreleased = self.unreleased, set()
        unreleased.update(
            key.removeprefix(NICK_KEY_PREFIX) for key in held if key.startswith(NICK_KEY_PREFIX)
        )
        for fold in sorted(unreleased):
            if self._claim_unused(fold):
                self.network.release(nick_key(fold))
        for fold in self.local_nicks():
            self.claiming[fold] = self.claiming.get(fold, 0) + 1
            self.network.claim(nick_key(fold), self.node, partial(self._reclaimed, fold))

    def release_refused(self, key: str) -> None:
        """The bus refused to release one of this node's claims (unavailable): it stays on
        the bus until `reclaim_nicks` gives it back."""
        if key.startswith(NICK_KEY_PREFIX):
            self.unreleased.add(key.removeprefix(NICK_KEY_PREFIX))

    def _reclaimed(self, fold: str, won: int | None) -> None:
        count_down(self.claiming, fold)
        if won == 0:
            # Redis lost the claim, and a user of another node took the nick before this
            # claim came: two users would have one nick. Ours goes (a nick collision, as IRC
            # servers resolve it), and its client reconnects under another.
            server = self.server
            user = server.users.get(fold)
            if user is not None and user.session.registered and not user.session.remote:
                log.warning("cluster: nick %s was taken elsewhere meanwhile: %s", fold, user)
                server.disconnect(user.session, NICK_COLLISION, server.now)
                self.nick_taken_elsewhere(fold)
        elif won and self._claim_unused(fold):
            self.network.release(nick_key(fold))
        elif won:
            self._numbered(fold, won)  # (a claim Redis had lost is taken anew: a new number)

    def _numbered(self, fold: str, number: int | None) -> None:
        """The bus gave this node's claim of `fold` its number: the local user holding the
        nick carries it in its `online` events from now on."""
        user = self.server.users.get(fold)
        if number and user is not None and not user.session.remote:
            user.claim_number = number

    def nick_taken_elsewhere(self, fold: str) -> None:
        """A user of another node took `fold` while Redis had lost this node's claim, and
        this node's holder of it is gone (hubbub.core.cluster_directory tells its watchers)."""

    def _claim_unused(self, fold: str) -> bool:
        """Whether this node's claim of a nick is no user's: none of its users holds the nick or
        is taking it, none is asking for it (that claim's answer decides then), and none is
        leaving it by a NICK some of whose rooms have not sequenced it yet (one the bus
        refused, to be sent again: `nick_back` releases it after the last). Given back when
        the bus was back, such a claim let another node's user take the nick while a room
        still listed its old holder under it, and that room's NICK, sent again, then moved the
        new holder's member field away (a cluster fuzz finding)."""
        if self.claiming.get(fold) or any(old == fold for _, old in self.letting_go):
            return False
        holder = self.server.users.get(fold) or self.taker(fold)
        return holder is None or holder.session.remote

    def _nick_claimed(self, reply: Reply, user: User, nick: str, fold: str, old: str) -> None:
        server = self.server
        if reply.session.phase is not Phase.REGISTERED:
            if user.fold:
                if server.users.get(user.fold) is user:
                    del server.users[user.fold]
                if user.fold != fold:
                    self.network.release(nick_key(user.fold))
            user.nick, user.fold = nick, fold
            server.users[fold] = user
            try_register(server, reply)
            return
        old_prefix = user.prefix
        line = f":{old_prefix} NICK :{nick}"
        if not user.channels:  # nobody else sees it: applied here at once
            time_ms = server.stamp()
            msgid = server.next_msgid()
            server.send_self(reply, line, time_ms, msgid, account=user.account)
            user.nick_version = self.next_nick_version()
            rename(server, user, nick, fold, time_ms, line)
            if fold != old:
                self.network.release(nick_key(old))
            check_nick(server, user, reply)
            return
        facts = self.own_facts(user)
        facts["n"] = nick
        facts["nv"] = version = self.next_nick_version()  # (the user's, once renamed)
        # The bus's claims are per node: until its rooms' events rename the user here, only
        # this says the nick is taken to another user of this node asking for it.
        self.taking[fold] = user

        def done(later: Reply, result: Any) -> None:
            if result is None:
                # (Its claim and `taking` are settled once every room's NICK is back or
                # refused: another room's may still rename the user, `_settle_nick`.)
                if user.nick != nick:  # not renamed by another room's event meanwhile
                    later.fail("NICK", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            if self.taking.get(fold) is user and user.fold == fold:
                del self.taking[fold]
            time_ms, sent = result
            if sent.get("done"):  # this room's event renamed the user: the echo goes here
                server.send_self(later, line, time_ms, sent["m"], account=user.account)
                check_nick(server, user, later)

        old_nick = user.nick  # (not read in the loop: a room's event may rename the user)
        rooms = list(user.channels.values())
        if fold != old:  # its claim goes once every room's NICK is back (`nick_back`)
            key = (user.network_id, old)
            self.letting_go[key] = self.letting_go.get(key, 0) + len(rooms)
        change = (user.network_id, nick)
        self.nick_rooms[change] = self.nick_rooms.get(change, 0) + len(rooms)
        for channel in rooms:
            standing = channel.members.get(user) or Membership()
            event: dict[str, Any] = {"t": "nick", "f": old, "p": old_prefix, "n": nick}
            event["on"] = old_nick
            event["id"] = user.network_id
            event["nv"] = version
            event["m"] = server.next_msgid()
            # (Its old nick's fields only if they are still this user's: another user may hold
            # them, a NICK of a lagging node's sent after Redis lost its data, a cluster fuzz
            # finding, seed 4745689.)
            deleted = member_leaves(old, user.network_id) if fold != old else ()
            fields = renamed_member_fields(old, fold, facts, standing.joined_ms)
            # The room stays followed here until the NICK is back, even if the user leaves it
            # meanwhile (a KICK): it is where the user is renamed (cluster_apply).
            room = channel.fold
            self.joining[room] = self.joining.get(room, 0) + 1
            event["kept"] = True
            self.submit(
                reply,
                room,
                event,
                done,
                fields,
                deleted,
                refused=partial(self._nick_refused, event, fields, deleted),
            )

    def _nick_refused(
        self,
        event: dict[str, Any],
        fields: Mapping[str, str],
        deleted: tuple[str, ...],
        room: str,
    ) -> None:
        """A room's NICK event refused by the bus (unavailable). Another room's may have been
        sequenced before the bus went away and rename the user all the same, here and on the
        nodes of that room: so this one is kept (`unsent_nicks`) until the change is settled
        (`_settle_nick`). Meanwhile the room stays followed and the old nick claimed: the
        room still knows the user by it."""
        change = (str(event.get("id") or ""), str(event["n"]))
        self.unsent_nicks.setdefault(change, []).append((room, event, fields, deleted))
        count_down(self.nick_rooms, change)
        self._settle_nick(change, resend=False)  # (not while the bus refuses: set_available)

    def nick_back(self, event: Mapping[str, Any]) -> None:
        super().nick_back(event)
        change = (str(event.get("id") or ""), str(event["n"]))
        count_down(self.nick_rooms, change)
        self._settle_nick(change)

    def nicks_first(self, identity: str, room: str) -> None:
        """Before any event of local user `identity` in a room (hubbub.core.network
        `ClusterState.submit`): its NICK kept for that room (refused, `_nick_refused`) goes
        first if the user is renamed already, so that the room knows the user by the nick the
        event names it by. The event could come first when the bus answers the NICK (its last
        room's event lost by a Redis restarted from a file missing its last writes) before
        this node is told it is back. Cluster fuzz findings: sent after a PART, the NICK moved
        the member fields of the old nick, which the PART had not removed, to the new one, and
        the bus listed the user in a room no node listed him in (seed 6223277); after a KICK,
        MODE or TOPIC, the bus's condition on the sender (`only_if_operator`) named a nick the
        room did not know yet and the bus left its fields as they were, where every node,
        which knows the sender by its id, applied the event; a message was delivered by its
        sender's node and refused by the others, which knew no member by that nick there."""
        for change, kept in list(self.unsent_nicks.items()):
            if change[0] == identity and any(entry[0] == room for entry in kept):
                self._settle_nick(change, at_once=True)

    def _settle_nick(
        self, change: tuple[str, str], resend: bool = True, at_once: bool = False
    ) -> None:
        """A NICK change with rooms whose event the bus refused. Once the user is renamed (by
        another room's event), those are sent again (now, or when the bus is back; `at_once`:
        now, whether or not this node was told it is back: refused again if not); once no
        other room's is on its way and the user was not renamed, the change failed: those
        rooms count back and the new nick's claim goes, unless a user of ours holds it."""
        kept = self.unsent_nicks.get(change)
        if not kept:
            return
        identity, nick = change
        user = self.by_network_id.get(identity)
        if user is not None and not user.session.remote and user.nick == nick:
            if not (resend and (self.available or at_once)):
                return  # (sent when the bus is back: set_available)
            del self.unsent_nicks[change]
            self.lost_nicks.pop(change, None)  # (sent again there too: renamed everywhere)
            for room, event, fields, deleted in kept:
                if room not in user.channels:  # left it meanwhile (a KICK came first)
                    self._nick_given_up(room, event)
                    continue
                self.nick_rooms[change] = self.nick_rooms.get(change, 0) + 1
                refused = partial(self._nick_refused, event, fields, deleted)
                self.submit(None, room, event, None, fields, deleted, refused=refused)
            return
        if self.nick_rooms.get(change):
            return  # another room's NICK may still rename the user
        del self.unsent_nicks[change]
        fold = self.server.fold(nick)
        if user is not None and self.taking.get(fold) is user:
            del self.taking[fold]
        for room, event, _fields, _deleted in kept:
            self._nick_given_up(room, event)
        lost = self.lost_nicks.pop(change, None)
        if lost and user is not None and not user.session.closed:
            # Redis lost one of its rooms' NICK, which some nodes may have read: they renamed
            # her in her other rooms too, where it was refused. Those rooms are written back
            # (her node's sync names her by her nick: cluster_resync `_last_word`); the lost
            # ones are anyway. (Those nodes kept the new nick for good, a cluster fuzz finding.)
            for room in list(user.channels):
                if room not in lost:
                    self.write_room_back(room)
        if fold != str(kept[0][1]["f"]) and self._claim_unused(fold):
            self.network.release(nick_key(fold))

    def _nick_given_up(self, room: str, event: dict[str, Any]) -> None:
        """A room's refused NICK that will not be sent again: the room is let go unless
        wanted, and the old nick counts it back (`nick_back`, already counted here)."""
        self._joined_or_not(room)
        super().nick_back(event)

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if available:
            for change in list(self.unsent_nicks):
                self._settle_nick(change)

    def renamed(self, user: User, old_prefix: str, old_fold: str) -> None:
        """A local user was renamed by the server (a guest nick, hubbub.core.ownership): the
        nick claims and the other nodes follow. Its rooms' NICK events, applied here, find the
        user renamed already and only store; elsewhere they rename it."""
        user.claim_number = 0  # (unknown until the bus answers)
        fold = user.fold
        self.network.claim(nick_key(fold), self.node, partial(self._numbered, fold))
        self.network.release(nick_key(old_fold))
        user.nick_version = self.next_nick_version()
        facts = self.own_facts(user)
        old_nick = old_prefix.partition("!")[0]
        for channel in list(user.channels.values()):
            standing = channel.members.get(user) or Membership()
            event: dict[str, Any] = {"t": "nick", "f": old_fold, "p": old_prefix}
            event["n"], event["on"] = user.nick, old_nick
            event["id"] = user.network_id
            event["nv"] = user.nick_version
            event["m"] = self.server.next_msgid()
            fields = renamed_member_fields(old_fold, user.fold, facts, standing.joined_ms)
            self.submit(
                None, channel.fold, event, None, fields, member_leaves(old_fold, user.network_id)
            )

    def release_claim(
        self, user: User, reason: str, was_registered: bool, then: Callable[[], None]
    ) -> None:
        """A local connection is ending: its nick claim is released, then `then` runs (`quit`
        below, and its ERROR), whether or not the bus could release it. A user in rooms has its
        QUITs sequenced first, the claim released by the bus with the last one, atomically:
        every node applies all its QUITs before any event of whoever takes the nick next (a
        QUIT sequenced after that user's JOIN or NICK would find the new holder under that nick,
        and leave the old one a member forever), and yet once anyone saw the user leave — its
        own ERROR, its QUIT on any node — the nick is free on every node, not a moment later.
        A node that dies still loses its claims with its lease."""
        fold = user.fold
        if not fold or self.server.users.get(fold) is not user:
            then()
            return
        identity = user.network_id
        if was_registered and identity and any(key[0] == identity for key in self.letting_go):
            # Gone (killed, its connection lost) while its NICK is on its way: its QUITs,
            # sequenced after the NICK in each room, must name it by the nick it has then,
            # or they would find nobody and leave it a member there for good.
            self.quitting[identity] = partial(
                self.release_claim, user, reason, was_registered, then
            )
            return
        self.released.add(user)
        rooms = [channel.fold for channel in user.channels.values()] if was_registered else []
        # Rooms whose JOIN is on its way: their QUITs go now too, behind those JOINs (a node's
        # calls reach the bus in order), so that the nick is free only once every room that
        # will list the user has its QUIT; its JOIN, back, sends none then (`quit_early`).
        # (Released at once, the nick could be taken and the room joined by its new holder
        # before that QUIT, whose member fields, written only if absent, were not: the QUIT
        # then took the old ones and left the room's state without the new holder; a cluster
        # fuzz finding.)
        early = sorted(self.joins_sent.get(user, set()) - set(rooms)) if was_registered else []
        if not rooms and not early:
            self.network.release(nick_key(fold), then)
            return
        if early:
            self.quit_early[identity] = self.quit_early.get(identity, 0) + len(early)
        # (`quit` below sends none again: a user released with rooms had them sent here.)
        prefix, targets = user.prefix, rooms + early
        for index, room in enumerate(targets):
            last = index == len(targets) - 1
            release, done = (nick_key(fold), then) if last else ("", None)
            gone = room in early  # (counted as `departed` once its JOIN is back)
            self._send_quit(room, fold, prefix, reason, release, done, identity=identity, gone=gone)

    def quit(self, user: User, reason: str, was_registered: bool) -> bool:
        """A local connection ended: its QUIT is sequenced in each of its rooms, and the user
        stays there without a connection until each comes back. Returns whether the user can be
        forgotten now (it is in no room)."""
        session = user.session
        session.link = NOWHERE
        session.write = NOWHERE.write
        self.entering.pop(user, None)
        self.joins_sent.pop(user, None)
        for fold in [fold for fold, taker in self.taking.items() if taker is user]:
            del self.taking[fold]  # (its NICK's answer is skipped: it has gone)
        if not was_registered or not user.channels:
            self.unindex(user)
            if user.fold and self.server.users.get(user.fold) is user:
                if user in self.released:  # released before (release_claim)
                    self.released.discard(user)
                else:
                    self.network.release(nick_key(user.fold))
            return True
        prefix = user.prefix
        sent = user in self.released  # its QUITs are on their way already (release_claim)
        for channel in list(user.channels.values()):
            channel.groups = None  # its writer leaves the fan-out groups now
            if not sent:
                self._send_quit(channel.fold, user.fold, prefix, reason, identity=user.network_id)
        return False


def answered_refusal(reply: Reply, event: dict[str, Any], channel: Channel) -> bool:
    """A KICK, MODE, TOPIC, INVITE or change of case refused at its place in the room's
    sequence (the sender deopped
    just before, hubbub.core.cluster_apply `privilege_refused`): the sender gets the numeric."""
    refusal = event.get("refused")
    if refusal is None:
        return False
    reply.numeric(refusal[0], channel.name, refusal[1])
    return True
