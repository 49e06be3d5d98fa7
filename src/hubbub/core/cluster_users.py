"""Users across the cluster: AWAY and user modes, INVITE and KILL of users of other nodes, and
server bans (K-/D-lines) on every node.

How each travels on the bus, and why that way (docs/cluster.md, "What is network-wide"):

* **AWAY and user modes** (+B, +i, +Z, and +o as the operator's name): applied at once on the
  user's own node (its replies come as on one server), then sequenced as a `user` event in
  each room the user is in, with the user's whole public state (`user_facts`) and the room's
  member field rewritten with it, so a node that opens the room later has it too. Rooms, not
  inboxes: the nodes that show the user are exactly those following its rooms, and in a room
  the change keeps its place among the user's JOINs, NICKs and messages. The events carry a
  version (this node's counter: a user lives on one node, so its versions only grow); each
  node applies a version once, from whichever room brings it first, and tells its own users
  sharing a room (away-notify, extended-monitor), as NICK is applied once. Every change is
  numbered, sent or not, and the user's facts carry the counter (`uv`): a node also takes the
  state from facts its node made (a JOIN's, a member field's, a sync's) where they are newer,
  which is how a change made in no room shared, or lost by Redis, reaches it.
* **INVITE** of a user of another node: an `invite` event in the room, with the field
  `i:<fold>` set atomically with it (a node that opens the room for the invitee's JOIN reads
  it; nodes following the room add it to their copy and tell their ops with invite-notify),
  then, once that is sequenced, an `invited` event in the invitee's node's inbox, which shows
  the invitee the INVITE and lists the invitation (INVITE with no parameter) for rooms its
  node does not follow. In that order, so the invitation is recorded before the invitee can
  act on it.
* **KILL** of a user of another node: a `kill` event in the victim's node's inbox (one node
  has to act: the one with the connection); that node disconnects it as a local KILL does,
  and the victim's QUITs are sequenced in its rooms like any QUIT (seen once by everyone).
* **K-/D-lines**: stored in the registry store (in a cluster, the shared PostgreSQL, which
  every node loads its bans from at start), then announced as `kline` / `unkline` events in
  the network room every node follows (`ports.NETWORK_ROOM`): every node, the sender's too,
  adds or drops the ban in that room's order, writes the store as it does (over the ban as
  the events before left it, no later one; a removal leaves its record in the ban's place),
  and disconnects its own users it covers. After
  Redis lost ban events, the nodes read the bans again from the store (`reload_bans`,
  `rebans`), and when a node is buried (it may have stored a ban it never announced).

* **A lost node's burial**: the node that buries it QUITs its users in every room whose
  state on the bus lists them (hubbub.cluster.node), then sequences `buried` in the network
  room: every node takes that node's users still listed in its copies out of them, with a
  QUIT line for its own users there. A copy can list one the bus does not: her JOIN (or her
  nick's claim) was in the end of a room Redis lost, restarted from a file missing its last
  writes, and her node died before writing the room back (a cluster fuzz finding).

What the bus refused (it was unavailable) is sent again when it is back: users' states and
bans, the latest of each; a user's state refused in a room not written back yet after Redis
lost it, when that room is written back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubbub.core.bans import disconnect_covered
from hubbub.core.cluster_apply import RoomApplier, RoomlessApplier
from hubbub.core.cluster_fields import (
    NODE_LOST_REASON,
    STATE_VERSION,
    UNAVAILABLE,
    invite_field,
    load_user_state,
    local,
    nick_key,
    of_buried,
    only_if_inviter,
)
from hubbub.core.cluster_propose import ClusterPropose, answered_refusal
from hubbub.core.cluster_versions import ChangeNumbers
from hubbub.core.model import Channel, User
from hubbub.core.monitor import notify as notify_monitors
from hubbub.core.ports import NETWORK_ROOM, CallFailure, inbox
from hubbub.protocol import numerics as n
from hubbub.registry.model import ServerBan, removal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hubbub.core.ports import Network
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.oper")


class ClusterUsers(ClusterPropose):
    """Users' state, INVITE, KILL and server bans across the nodes."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # This node's counter of user state changes, and per user the last version applied.
        self.user_version = 0
        self.user_versions = ChangeNumbers()
        # Local users whose state change the bus refused: sent again when it is back.
        self.unsent_users: dict[User, None] = {}  # (ordered: sent again as they came)
        # Local users whose state the server changed (an operator taken away by REHASH) while
        # a NICK of theirs was on its way: sent once that has settled (`_after_nick`), under
        # the nick it left them. Sent at once, the change named the old nick, whose member
        # field the NICK, sequenced before it in each room, had moved: it changed nothing.
        self.after_nick: dict[User, None] = {}
        self.after_nick_by_kind["user"] = self.after_nick
        # Server bans the bus refused to announce, the latest event per (kind, mask).
        self.unsent_bans: dict[tuple[str, str], dict[str, Any]] = {}
        # While the bans are read again from the shared store (`reload_bans`): the ban events
        # applied meanwhile, applied again on what it read (it may have read before their
        # writes). None: no read on its way.
        self.bans_applied_since: list[dict[str, Any]] | None = None
        # Redis lost the network room's end after this node read it: a `rebans` to send.
        self.rebans_wanted = False
        # The server bans as the network room's events applied here left them (and the store
        # as last read): what each ban event applied replaces in the store (`_store_ban`).
        # (registry.bans has this node's own changes too, before they are sequenced.)
        self.ordered_bans: dict[tuple[str, str], ServerBan] = dict(server.registry.bans)
        # Per local user, invitations to rooms this node may not follow: room fold -> name
        # (INVITE with no parameter lists them). At most one per room of the network.
        self.invitations: dict[User, dict[str, str]] = {}

    # ------------------------------------------------------------------ AWAY, user modes

    def user_changed(self, user: User) -> None:
        """A local user's away state or user modes changed (applied here already): the nodes
        following its rooms follow."""
        if user.session.remote:
            return
        # Numbered even when it is not sent now: its facts carry the number (`own_facts`), and
        # a node that applied an earlier change takes them only if newer (unnumbered, a change
        # made in no room was lost for such a node: a cluster fuzz finding, seed 6118243).
        self.user_version += 1
        if not user.channels:
            return  # nobody elsewhere sees it: its facts go with its next JOIN
        if self._renaming(user):
            self.after_nick[user] = None
            return
        version = self.user_version
        facts = self.own_facts(user)

        def refused(_room: str) -> None:
            if not user.session.closed:
                self.unsent_users[user] = None

        for channel in list(user.channels.values()):
            event = {"t": "user", "f": user.fold, "v": version, "u": facts}
            event["m"] = self.server.next_msgid()
            fields = self.own_member_field(user, channel)
            self.submit(None, channel.fold, event, None, fields, refused=refused)

    def _after_nick(self, identity: str) -> None:
        """A room's NICK of the user came back or was refused: what changed meanwhile is sent
        once no other is on its way (`_nick_settled`)."""
        user = self.by_network_id.get(identity)
        if user is not None and not self._renaming(user):
            self._nick_settled(user)

    def _nick_settled(self, user: User) -> None:
        super()._nick_settled(user)
        if user in self.after_nick:
            del self.after_nick[user]
            self.user_changed(user)

    def nick_back(self, event: Mapping[str, Any]) -> None:
        super().nick_back(event)
        self._after_nick(str(event.get("id") or ""))

    def _nick_refused(
        self,
        event: dict[str, Any],
        fields: Mapping[str, str],
        deleted: tuple[str, ...],
        room: str,
    ) -> None:
        super()._nick_refused(event, fields, deleted, room)
        self._after_nick(str(event.get("id") or ""))

    def _apply_user(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        # (By its network id too, its facts' `id`: the nick may be another user's here by
        # now, who took the old away state or realname: a cluster fuzz finding, seed 7276637.)
        user = self.room_sender(channel, event["f"], event["u"].get("id"))
        if mine or user is None or not user.session.remote:
            return  # ours (applied when it was set), or gone
        if not self.user_versions.take(user, int(event["v"]), server.users):
            return
        self._load_state(user, event["u"], time_ms)

    def _state_from_facts(self, user: User, facts: Mapping[str, Any], time_ms: int) -> None:
        super()._state_from_facts(user, facts, time_ms)
        # (`uv`: every change its node had numbered when it made the facts is in them.)
        version = int(facts.get(STATE_VERSION) or 0)
        if version and self.user_versions.take(user, version, self.server.users):
            self._load_state(user, facts, time_ms)

    def own_facts(self, user: User) -> dict[str, Any]:
        facts = super().own_facts(user)
        facts[STATE_VERSION] = self.user_version
        return facts

    def _load_state(self, user: User, facts: Mapping[str, Any], time_ms: int) -> None:
        """A remote user's away state and modes from its facts; a new away state is shown."""
        server = self.server
        was_away = user.away
        load_user_state(user, facts)
        if user.away == was_away:
            return
        line = f":{user.prefix} AWAY :{user.away}" if user.away else f":{user.prefix} AWAY"
        watchers = [u for u in server.neighbours(user) if "away-notify" in u.session.caps]
        if watchers:
            server.fanout(watchers, line, time_ms, account=user.account)
        notify_monitors(server, user, "away-notify", line)  # extended-monitor

    # ------------------------------------------------------------------ INVITE

    def invite(
        self, reply: Reply, user: User, channel: Channel, nick: str, target: User | None
    ) -> None:
        """INVITE of a user (`target`: of this node or another), or of a nick nobody here has
        (its claim on the bus says which node has it; 401 when none does). Every INVITE goes
        this way in a cluster, so each node's copy of the room and its ops hear of it."""
        home = ""
        if target is not None:  # ours, or known here with its node
            home = self.homes.get(target, "") if target.session.remote else self.node
        if target is not None and home:
            self._send_invite(reply, user, channel, (target.nick, target.fold, home, target.away))
            return
        fold = self.server.fold(nick)

        def located(later: Reply, home: Any) -> None:
            if home is None:
                later.fail("INVITE", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
            elif not home or home == self.node:  # nobody, or one of ours that just left
                later.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
            else:
                self._send_invite(later, user, channel, (nick, fold, home, ""))

        self.network.locate(nick_key(fold), reply.later(located))

    def _send_invite(
        self, reply: Reply, user: User, channel: Channel, target: tuple[str, str, str, str]
    ) -> None:
        """The room's event first (the invitation recorded), then the invitee's node's."""
        server = self.server
        nick, fold, home, away = target
        if server.channels.get(channel.fold) is not channel:
            # The inviter left the room (kicked) while the invitee was looked up, and this
            # node stopped following it: refused as on one server, never sent where its
            # answer would not come back.
            reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            return
        line = f":{user.prefix} INVITE {nick} {channel.name}"
        event = {"t": "invite", "f": user.fold, "tf": fold, "l": line, "a": user.account}
        event["id"] = user.network_id  # its sender, whatever nick a slow node knows it by
        event["m"] = server.next_msgid()
        name, room = channel.name, channel.fold

        def recorded(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("INVITE", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            if answered_refusal(later, result[1], channel):  # at its place in the sequence
                return
            told = {"t": "invited", "to": fold, "l": line, "a": user.account, "nm": name}
            told["rf"] = room
            self.submit(later, inbox(home), told, answered, answered_when_sequenced=True)

        def answered(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("INVITE", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            later.numeric(n.RPL_INVITING, nick, name)
            if away:
                later.numeric(n.RPL_AWAY, nick, away)

        fields = {invite_field(fold): str(channel.created)}
        # Recorded only if the inviter may still invite at its place in the sequence.
        self.submit(reply, room, event, recorded, fields, (only_if_inviter(user.fold),))

    def _apply_invite(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        if self.privilege_refused(channel, event):
            return
        server = self.server
        channel.invited.add(event["tf"])
        sender = self.event_sender(channel, event)
        # invite-notify: the room's ops here who asked to see invitations (the invitee itself
        # is shown it by its own node, through its inbox).
        notify = [
            member
            for member, standing in channel.members.items()
            if standing.op
            and member is not local(sender)
            and "invite-notify" in member.session.caps
            and member.fold != event["tf"]
        ]
        if notify:
            server.fanout(notify, event["l"], time_ms, account=event["a"])

    def _apply_invited(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """An invitation for a user of this node: it sees the INVITE."""
        server = self.server
        invitee = server.users.get(event["to"])
        if invitee is None or invitee.session.remote or invitee.session.closed:
            return  # gone meanwhile
        self.invitations.setdefault(invitee, {})[event["rf"]] = event["nm"]
        server.fanout((invitee,), event["l"], time_ms, account=event["a"])

    def invited_rooms(self, user: User) -> list[str]:
        """The names of the rooms `user` was invited to from other nodes that this node does
        not follow (those it follows list their invitations themselves)."""
        rooms = self.invitations.get(user)
        if not rooms:
            return []
        return [name for fold, name in rooms.items() if fold not in self.server.channels]

    def join(self, reply: Reply, user: User, name: str, fold: str, key: str) -> None:
        rooms = self.invitations.get(user)
        if rooms is not None:  # the room's own copy decides from now on
            rooms.pop(fold, None)
            if not rooms:
                del self.invitations[user]
        super().join(reply, user, name, fold, key)

    # ------------------------------------------------------------------ KILL

    def kill(self, reply: Reply, user: User, nick: str, target: User | None, reason: str) -> None:
        """KILL of a user of another node (`target`), or of a nick nobody here has: its node
        disconnects it (the nick's claim says which, when this node does not know)."""
        home = self.homes.get(target, "") if target is not None else ""
        if target is not None and home:
            self._send_kill(reply, user, target.nick, target.fold, home, reason)
            return
        fold = self.server.fold(nick)

        def located(later: Reply, home: Any) -> None:
            if home is None:
                later.fail("KILL", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
            elif not home or home == self.node:
                later.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
            else:
                self._send_kill(later, user, nick, fold, home, reason)

        self.network.locate(nick_key(fold), reply.later(located))

    def _send_kill(
        self, reply: Reply, user: User, nick: str, fold: str, home: str, reason: str
    ) -> None:
        event = {"t": "kill", "to": fold, "by": user.nick, "p": user.prefix, "r": reason}
        event["o"] = user.oper

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("KILL", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            later.notice(f"Killed {nick} ({reason})")

        log.info("oper %s KILLed %s on node %s (%s)", user.oper, nick, home, reason)
        self.submit(reply, inbox(home), event, done, answered_when_sequenced=True)

    def _apply_buried(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """The burial of a lost node is over: its users still in this node's copies leave
        them (the module's docstring), each seen to QUIT once by this node's users. A copy
        behind the burial's read of its room (its feed filling a gap) keeps them until it
        is there: events of theirs sequenced before it are still to come, and are applied as
        on every other copy. (Taken out at once, a lost user's last MODE was refused on that
        copy alone: a cluster fuzz finding, seed 7072942.)"""
        dead = str(event["d"])
        self.void_refused_of(dead)
        # A ban it stored and never announced (it died first, or while the bus was away) is
        # in the shared store: read again (a node that had read the bans before that store
        # missed it until its next start: a cluster fuzz finding, seed 6699538).
        self.reload_bans()
        read_at: dict[str, int] = event.get("at") or {}
        lost = [
            user
            for user, home in self.homes.items()
            if home == dead and user.session.remote and of_buried(user.network_id, event)
        ]
        for user in sorted(lost, key=lambda user: user.fold):
            told: set[User] = set()
            now = []
            for channel in list(user.channels.values()):
                fold = channel.fold
                if read_at.get(fold, 0) > self.views.get(fold, 0):
                    _, leaving = self.burying.setdefault(fold, (read_at[fold], {}))
                    leaving[user] = told
                else:
                    now.append(channel)
            self._bury_member(now, user, told, time_ms)

    def bury_when_there(self, room: str) -> None:
        seq, leaving = self.burying[room]
        if self.views.get(room, 0) < seq:
            return
        del self.burying[room]
        channel = self.server.channels.get(room)
        if channel is None:
            return
        for user, told in leaving.items():
            if user in channel.members and user.session.remote:
                self._bury_member([channel], user, told, int(self.server.now * 1000))

    def _bury_member(
        self, channels: list[Channel], user: User, told: set[User], time_ms: int
    ) -> None:
        """A lost node's user leaves copies: its QUIT shown once to the local members there
        not shown it yet (`told`, shared by all its copies)."""
        server = self.server
        recipients = {
            member
            for channel in channels
            for member in channel.members
            if member is not user and not member.session.remote and member not in told
        }
        if recipients:
            told.update(recipients)
            line = f":{user.prefix} QUIT :{NODE_LOST_REASON}"
            ordered = sorted(recipients, key=lambda member: member.fold)
            server.fanout(ordered, line, time_ms, server.next_msgid(), account=user.account)
        for channel in channels:
            server.remove_member(channel, user)

    def _apply_kill(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """An operator of another node killed a user of this one."""
        server = self.server
        victim = server.users.get(event["to"])
        if victim is None or victim.session.remote or victim.session.closed:
            return  # gone meanwhile
        if victim.service is not None:
            return
        reason = event["r"]
        log.info("oper %s (another node) KILLed %s (%s)", event["o"], victim.nick, reason)
        server.send_to(victim, f":{event['p']} KILL {victim.nick} :{reason}")
        server.quit(victim.session, f"Killed by {event['by']} ({reason})")

    # ------------------------------------------------------------------ K-/D-lines

    def banned(self, ban: ServerBan) -> None:
        """A ban added here (and stored): every other node applies it."""
        entry = [ban.kind, ban.mask, ban.reason, ban.setter, ban.set_ms, ban.expires_ms]
        self._announce_ban({"t": "kline", "b": entry}, (ban.kind, ban.mask))

    def unbanned(self, gone: ServerBan) -> None:
        """A ban removed here (and from the store, `gone` recorded in its place): every other
        node drops it, and records the same removal as it writes the store."""
        event = {
            "t": "unkline",
            "kind": gone.kind,
            "mask": gone.mask,
            "by": gone.setter,
            "at": gone.set_ms,
        }
        self._announce_ban(event, (gone.kind, gone.mask))

    def _announce_ban(self, event: dict[str, Any], key: tuple[str, str]) -> None:
        self.unsent_bans.pop(key, None)

        def refused(_room: str) -> None:
            log.warning("%s-line on %s: not announced yet, the bus is unavailable", *key)
            self.unsent_bans[key] = event

        self.submit(None, NETWORK_ROOM, event, None, refused=refused)

    # A ban's additions and removals are applied by every node in the network room's order,
    # its own included (applied when made, then again in its place): a KLINE on one node and
    # an UNKLINE of the same mask on another in the same instant end alike everywhere, as the
    # later of the two in that order. (Skipping its own, the node that made the one sequenced
    # first took the other's and kept it: a cluster fuzz finding.) Each node also writes the
    # shared store as it applies them, so that the store ends as the order does, whichever
    # node's first write came last: each write replaces only the ban as the events before it
    # left it (`replace_ban`), so a node applying an event late does not write it back over
    # a later one. (It did, over a ban a node stored and died before announcing: the nodes
    # that read the store at its burial read two versions, a cluster fuzz finding, seed
    # 6728235.) A removal leaves its record in the ban's place (hubbub.registry.model
    # `removal`), the same from every node: a node applying the ban's own event late,
    # from no ban before it, found the place empty after a removal its node had stored and
    # died before announcing, and wrote the ban back, so that the nodes that read the store
    # at the burial before and after it differed (cluster fuzz seed 6748692).

    def _store_ban(self, key: tuple[str, str], ban: ServerBan | None) -> None:
        """Write a ban event applied here (a ban, the record of its removal; None: nothing)
        to the shared store, in place of what the events before it left."""
        before = self.ordered_bans.pop(key, None)
        if ban is not None:
            self.ordered_bans[key] = ban
        kind, mask = key
        self.server.registry.call(lambda store: store.replace_ban(kind, mask, before, ban))

    def bans_loaded(self, bans: list[ServerBan]) -> None:
        """The registry read the bans at start (after this was made): as the store has them."""
        for ban in bans:
            self.ordered_bans[(ban.kind, ban.mask)] = ban

    def _apply_ban(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        server = self.server
        ban = ServerBan(*event["b"])
        server.registry.bans[(ban.kind, ban.mask)] = ban
        self._store_ban((ban.kind, ban.mask), ban)
        if self.bans_applied_since is not None:
            self.bans_applied_since.append(event)
        if mine:
            return  # its users were disconnected when it was added
        log.info("oper %s (another node) added a %s-line on %s", ban.setter, ban.kind, ban.mask)
        disconnect_covered(server, ban)

    def _apply_unban(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        server = self.server
        kind, mask = str(event["kind"]), str(event["mask"])
        removed = server.registry.bans.pop((kind, mask), None)
        # The removal's record, as its node stored it (a node of an older version sends
        # none: the ban's place is left empty).
        gone = removal(kind, mask, str(event["by"]), int(event["at"])) if "at" in event else None
        self._store_ban((kind, mask), gone)
        if self.bans_applied_since is not None:
            self.bans_applied_since.append(event)
        if removed is not None and not mine:
            log.info("%s-line on %s removed on another node", kind, mask)

    # Redis may lose ban events: a node that had read one and another that had not differ
    # until their next start (a cluster fuzz finding). The shared store has every ban added
    # or removed (written before it is announced), so after a new epoch each node reads the
    # bans again from it, and a node told that Redis lost the end of the network room after
    # it read it (the only ones told: a node that had not read the lost events is not) asks
    # every node to (`rebans`, in the network room).

    def reload_bans(self) -> None:
        """Read the server bans again from the shared store, and take them as this node's."""
        if self.bans_applied_since is not None:
            return  # a read is on its way; what it may miss is applied again on it
        self.bans_applied_since = []
        self.server.registry.call(lambda store: store.bans(), self._bans_reloaded)

    def _bans_reloaded(self, result: Any) -> None:
        applied, self.bans_applied_since = self.bans_applied_since or [], None
        if isinstance(result, CallFailure):
            log.error("cluster: the server bans could not be read again; kept as they were")
            return
        server = self.server
        before = server.registry.bans
        bans = {(ban.kind, ban.mask): ban for ban in result}
        for event in applied:  # (sequenced after the read was asked for: newer than it)
            if event["t"] == "kline":
                ban = ServerBan(*event["b"])
                bans[(ban.kind, ban.mask)] = ban
            else:
                bans.pop((str(event["kind"]), str(event["mask"])), None)
        server.registry.bans = bans
        self.ordered_bans = dict(bans)
        for key, ban in bans.items():
            if key not in before:
                log.info("%s-line on %s: read again from the store", *key)
                disconnect_covered(server, ban)

    def _apply_rebans(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        self.reload_bans()

    def epoch_restarted(self) -> None:
        super().epoch_restarted()
        self.reload_bans()

    def lost_after(self, rooms: Mapping[str, int]) -> None:
        super().lost_after(rooms)
        if NETWORK_ROOM in rooms:
            self.reload_bans()
            self.rebans_wanted = True  # (sent once the core hears the bus is back)

    # ------------------------------------------------------------------ leaving, the bus back

    def quit(self, user: User, reason: str, was_registered: bool) -> bool:
        self.unsent_users.pop(user, None)
        self.after_nick.pop(user, None)
        self.invitations.pop(user, None)
        return super().quit(user, reason, was_registered)

    def _forget(self, user: User) -> None:
        self.user_versions.forget(user)
        super()._forget(user)

    def _restored(self, fold: str) -> None:
        super()._restored(fold)
        # (A change refused while the room was not written back: the bus was there all along,
        # so no `set_available` would send it, and the other nodes showed the user's old away
        # state until the next outage: a cluster fuzz finding, "a sync sent again ranked
        # where Redis lost the room's end" once the fuzz machine compared away states.)
        self.send_again_in(fold, self.unsent_users, self.user_changed)

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if not available:
            return
        users, self.unsent_users = self.unsent_users, {}
        for user in users:
            if not user.session.closed:
                self.user_changed(user)
        for user in list(self.after_nick):  # a NICK given up on the return (`_settle_nick`)
            self._after_nick(user.network_id)
        bans, self.unsent_bans = self.unsent_bans, {}
        for key, event in bans.items():
            self._announce_ban(event, key)
        if self.rebans_wanted:
            self.rebans_wanted = False

            def refused(_room: str) -> None:
                self.rebans_wanted = True  # (sent when the bus is back again)

            self.submit(None, NETWORK_ROOM, {"t": "rebans"}, None, refused=refused)


#: The room events of this layer (hubbub.core.network merges every layer's tables).
USER_APPLIERS: dict[str, RoomApplier] = {
    "user": ClusterUsers._apply_user,
    "invite": ClusterUsers._apply_invite,
}
#: Its events for nodes rather than rooms: in a node's inbox (KILL, the invitee's INVITE) or
#: in the network room (server bans, a burial's end).
USER_EVENTS: dict[str, RoomlessApplier] = {
    "buried": ClusterUsers._apply_buried,
    "kill": ClusterUsers._apply_kill,
    "invited": ClusterUsers._apply_invited,
    "kline": ClusterUsers._apply_ban,
    "unkline": ClusterUsers._apply_unban,
    "rebans": ClusterUsers._apply_rebans,
}
