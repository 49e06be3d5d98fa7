"""The rooms and users a cluster node follows, and the one way to hand an event to the bus.

`ClusterRooms` holds the core's cluster state (replies waiting for their event, rooms being
opened, JOINs on their way, the home node of each remote user) and `submit`, which every
command's "propose" side uses. It opens rooms (subscribing and loading their state fields),
makes the remote users it learns of, drops a room when no local member is left and forgets
the remote users that are in no followed room any more; it gives the node what it claims and
claims again after a bus restart (`local_nicks`). See hubbub.core.network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from hubbub.core.model import (
    NOWHERE,
    Channel,
    Membership,
    Phase,
    Session,
    User,
)
from hubbub.core.registration import rename
from hubbub.history.record import Record

if TYPE_CHECKING:
    from hubbub.core.ports import Network
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
from hubbub.core.cluster_fields import (
    PLACE_UNKNOWN,
    encode,
    facts_json,
    furthest,
    if_exists,
    load_invitations,
    load_membership,
    load_user_state,
    member_field,
    nick_key,
    nick_version,
    room_from_fields,
    standing_field,
    user_facts,
    written_back,
)
from hubbub.core.cluster_history import ClusterHistory

#: A `void` of a JOIN of ours to send (again, once the bus is back): its room, the event, the
#: fields it sets and those it deletes.
LostJoin = tuple[str, dict[str, Any], dict[str, str], tuple[str, ...]]


@dataclass(slots=True)
class Echo:
    """An event of ours handed to the bus and not read back yet (mutable: its seq and time
    are filled in when the bus answers, once per room event, without a copy)."""

    room: str
    #: What runs if it is refused (with the room's name), if anything.
    refused: Callable[[str], None] | None
    event: Mapping[str, Any]
    #: The seq and time the bus gave it; None until the bus answered (or for a RENAME).
    seq: int | None = None
    time_ms: int | None = None


def unanswered(_time_ms: int | None, _seq: int) -> None:
    """The answer to a sequencing call nothing waits for (a sync, a cleanup)."""


class ClusterRooms:
    """The core's cluster state: rooms followed, remote users, replies waiting on the bus."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        self.server = server
        self.network = network
        self.node = network.node_id
        # Which node writes which room message to the shared history: the core's history
        # service from now on (hubbub.core.cluster_history).
        self.writes = ClusterHistory(server.history, self.node, server.config.cluster.held_messages)
        server.history = self.writes
        # Token -> the completion of the reply waiting for its event to come back.
        self.pending: dict[str, Callable[[Any], None]] = {}
        self.token = 0
        # Token -> an event handed to the bus: taken as refused if it never comes back, Redis
        # having lost it after sequencing it and before this node read it (`lost_echoes`).
        # Taken out when it comes back (hubbub.core.cluster_apply) or is refused.
        self.echoes: dict[str, Echo] = {}
        # The `void`s of JOINs of ours Redis lost that way, for the nodes that had read them
        # (hubbub.core.cluster_apply `_lost_join`), sent once the bus is back: room, event,
        # fields set, fields deleted. At most one per JOIN on its way when Redis lost its
        # data; also one the bus refused (`_send_void`).
        self.lost_joins: list[LostJoin] = []
        # Rooms being opened (subscribed): what to run once their state is here.
        self.opening: dict[str, list[Callable[[bool], None]]] = {}
        # Per room being opened, the network ids of local users whose JOIN came back while its
        # state was being read (hubbub.core.cluster_apply `_joined_while_opening`): the state
        # read lists them, and the copy takes them from it.
        self.joined_opening: dict[str, set[str]] = {}
        # JOINs of local users sent but not back yet, per room: the room stays open for them.
        self.joining: dict[str, int] = {}
        # QUITs that could not be sequenced (bus unavailable), sent again when it is back:
        # (room, fold, prefix, reason, network id, marked "gone", the claim released with it).
        self.unsent: list[tuple[str, str, str, str, str, bool, str]] = []
        self.available = True
        # The node each remote user lives on (its member fields say so; the janitor reads it).
        self.homes: dict[User, str] = {}
        # The users this node knows, its own and others', by network id (User.network_id):
        # one of ours that quit stays until its QUITs are back (`_forget`).
        self.by_network_id: dict[str, User] = {}
        # Remote users known twice (a room opened here showed one under a later nick than the
        # NICKs applied here so far), by network id: the second, which `by_network_id` does
        # not list, until the first's NICK to that nick merges them (cluster_apply `_renamed`).
        # Bounded by the copies: each leaves with its last room (`_forget`).
        self.doubles: dict[str, list[User]] = {}
        # Per kind of a change of a local user's state (a `login`, `umeta` or `user` event),
        # the users whose change waits for their NICK to settle (`_nick_settled`): each layer
        # registers its own, and hubbub.core.cluster_rename holds back one sent on there.
        self.after_nick_by_kind: dict[str, dict[User, None]] = {}
        # The last nick version given to a local user (User.nick_version): one counter for the
        # node, so each user's versions grow, whichever of its NICKs is applied first.
        self.nick_versions = 0
        # The rooms each local user's JOINs are on their way to: counted against
        # limits.channels_per_user with the rooms it is in, and never sent twice.
        self.entering: dict[User, set[str]] = {}
        # Of those, the rooms whose JOIN is on its way to the bus (sent, not back yet).
        self.joins_sent: dict[User, set[str]] = {}
        # Per network id of a user gone while JOINs of it were on their way: how many QUITs
        # were sent for those rooms at once, behind their JOINs (cluster_propose
        # `release_claim`), whose JOINs are not back yet (cluster_apply `_apply_join`).
        self.quit_early: dict[str, int] = {}
        # Local users leaving whose nick claim was released as they left, with their QUITs when
        # they were in rooms (release_claim).
        self.released: set[User] = set()
        # Nicks local users won, by casefolded nick, while their NICK events are on their way.
        self.taking: dict[str, User] = {}
        # Nicks this node's users asked the bus for, by casefolded nick: how many claims are on
        # their way (cluster_propose `nick`).
        self.claiming: dict[str, int] = {}
        # Nicks whose release the bus refused (unavailable), casefolded: released when it is
        # back, unless one of this node's users holds or asks for the nick by then
        # (cluster_propose `reclaim_nicks`). At most the nicks given up during one outage.
        self.unreleased: set[str] = set()
        # Per NICK change of a local user, (network id, new nick): how many of its rooms' NICK
        # events are on their way, and those the bus refused, kept until the change is
        # settled (cluster_propose `_settle_nick`): (room, event, its fields, its deleted
        # fields). At most one per room of each user renaming itself.
        self.nick_rooms: dict[tuple[str, str], int] = {}
        self.unsent_nicks: dict[
            tuple[str, str], list[tuple[str, dict[str, Any], Mapping[str, str], tuple[str, ...]]]
        ] = {}
        # Nicks local users are leaving, by (network id, casefolded old nick): how many of
        # their rooms' NICK events are not back yet. The claim goes once all are, so nobody
        # takes the nick while a room still knows its last holder by it (cluster_propose).
        self.letting_go: dict[tuple[str, str], int] = {}
        # Local users whose connection ended while a NICK of theirs was on its way, by network
        # id: their leaving (`release_claim`), run once the NICK is back from every room.
        self.quitting: dict[str, Callable[[], None]] = {}
        # Per (room, newcomer) whose join replay is being read: msgids it got live meanwhile.
        self.live: dict[tuple[str, User], set[str]] = {}
        # Rooms subscribed to and found empty, while no copy of them is made yet (the JOIN
        # that creates them is on its way).
        self.opened_empty: set[str] = set()
        # Of those, the ones with no state on the bus at all (never made, or renamed away): a
        # JOIN that joins only a room that is there (`ONLY_IF_ROOM`, hubbub.core.cluster_propose)
        # changes nothing there, on the bus or here.
        self.unmade: set[str] = set()
        # Of the others, those opened with nobody in them and not registered as this node
        # knew then: the state the bus kept of the emptied room, which stays the room's if its
        # first JOIN does not make it anew (one from a node that took it for registered, a
        # ChanServ DROP crossing it: its copy kept that state, a cluster fuzz finding).
        self.emptied_state: dict[str, Mapping[str, str]] = {}
        # Rooms renamed here from another name, by the seq of the rename's marker in them:
        # events up to it belong to an earlier room of the name (one this node was still
        # following, or had just opened), not to the renamed copy (hubbub.core.cluster_rename).
        self.fresh_from: dict[str, int] = {}
        # Per room followed, the seq of the room's events this node's copy of it reflects: its
        # state's when opened, then each event's as it is applied. The room events this node
        # sends carry it (`from_view`), so that one sent from a view before the room was renamed
        # away changes nothing under the old name and is ignored there
        # (hubbub.core.cluster_rename).
        self.views: dict[str, int] = {}
        # Per room followed, the bus's time of the last event applied to this node's copy:
        # with its view, which state a save of a registered room's copy is (the registry
        # keeps the newer of two nodes' saves, hubbub.core.registered `changed`).
        self.view_times: dict[str, int] = {}
        # Per room whose copy here was behind a lost node's burial (its `buried` event came
        # first): the seq the burial read the room at, and the lost node's users still listed
        # in the copy, each with the local users already shown its QUIT. They leave the copy
        # once it reflects that seq (hubbub.core.cluster_users `_apply_buried`).
        self.burying: dict[str, tuple[int, dict[User, set[User]]]] = {}
        # Per room followed, the nodes that have written it back since Redis lost its data
        # (hubbub.core.cluster_resync): as the bus has them, read with the room's state, then
        # from each `sync` applied.
        self.written_back: dict[str, set[str]] = {}
        # Per room followed, how far the copy whose room fields the bus took when it was
        # written back had read it before Redis lost its data (`read_up_to`): as the bus has
        # it, read with the room's state, then from each `sync` applied.
        self.furthest: dict[str, int] = {}
        # Per room followed when Redis lost its data (a new epoch), the seq this node's copy
        # reflected then: its place among the copies written back (hubbub.core.cluster_resync).
        self.lost_views: dict[str, int] = {}
        # Rooms this node was asked to speak in while a JOIN of its own was on its way there:
        # it speaks once that JOIN is in, or refused (hubbub.core.cluster_resync).
        self.speak_when_joined: set[str] = set()
        # Rooms whose state fields Redis lost (a new epoch, or the end of the room lost) and
        # that no node has written back yet (hubbub.core.cluster_resync): events the bus
        # would decide differently (all but `WHILE_UNRESTORED`) are refused meanwhile.
        self.unrestored: set[str] = set()
        # Rooms where JOINs of local users gone while they were on their way came back, or
        # where the QUITs clearing refused JOINs' fields wait for the bus (cluster_apply
        # `_departing`), by how many: the bus has their member fields (the other nodes list
        # them) until those QUITs (marked "gone"), so a JOIN in between does not create the
        # room here either.
        self.departed: dict[str, int] = {}
        # Per NICK change of a local user (network id, new nick), the rooms whose NICK event
        # Redis lost after sequencing it: the nodes that read one renamed the user in all
        # her rooms (hubbub.core.cluster_propose `_settle_nick`).
        self.lost_nicks: dict[tuple[str, str], set[str]] = {}
        # Rooms kept after their last local member left, until our events sent there are
        # back (`drop_if_unused`).
        self.lingering: set[str] = set()
        # Per JOIN command, its rooms in the order named: [opened (None: not yet), the
        # command's completion, room] (hubbub.core.cluster_propose).
        self.join_turns: dict[Reply, list[list[Any]]] = {}

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
        """Hand one room event to the bus. `done(reply, result)` runs when it comes back
        (result: (time_ms, event)) or is refused (result: None); `refused(room)` runs on refusal
        whether or not the client is still there, with the room's name (its new one if it was
        renamed meanwhile: hubbub.core.cluster_rename). `answered_when_sequenced`: for a room this
        node does not follow (another node's inbox), `done` runs as soon as it is sequenced.
        `sequenced_then()` runs once the bus answered, sequenced or refused."""
        self.token += 1
        token = f"{self.token:x}"
        event["k"] = token
        if reply is not None and done is not None:
            self.pending[token] = reply.later(done)
        unrestored = room in self.unrestored and event["t"] not in WHILE_UNRESTORED

        def sequenced(time_ms: int | None, seq: int) -> None:
            if sequenced_then is not None:
                sequenced_then()
            if time_ms is not None:
                if answered_when_sequenced:  # (a room not followed: nothing comes back)
                    self.echoes.pop(token, None)
                    complete = self.pending.pop(token, None)
                    if complete is not None:
                        complete((time_ms, event))
                    return
                echo = self.echoes.get(token)
                if echo is not None:  # (not back already: `lost_echoes` needs its seq)
                    echo.seq, echo.time_ms = seq, time_ms
                return  # the event comes back through apply_sequenced
            self.echoes.pop(token, None)
            self._refuse(token, room, refused)

        if unrestored:
            # Redis lost the room's fields and no node wrote them back yet: the bus would
            # decide this event from an empty room where every node decides it from its copy,
            # and a node whose user created the room anew meanwhile has a copy without this
            # node's users (hubbub.core.cluster_resync). Refused as while the bus is away.
            sequenced(None, 0)
            self._wanted_unrestored(room)
            return
        # (Before it is handed over: its echo may come back before the bus's answer.)
        self.echoes[token] = Echo(room, refused, event)
        self.network.sequence(room, encode(event), set_fields or {}, delete_fields, sequenced)

    def _refuse(self, token: str, room: str, refused: Callable[[str], None] | None) -> None:
        """An event of ours the bus refused, or lost: what waited for it is told (`refused`
        with the room's name, the reply waiting under `token` with None)."""
        complete = self.pending.pop(token, None)
        if refused is not None:
            refused(room)
        if complete is not None:
            complete(None)

    def lost_echoes(
        self,
        rooms: Collection[str] | None = None,
        unread: Mapping[str, Mapping[int, int]] | None = None,
    ) -> None:
        """Redis lost its data (None: a new epoch) or the end of `rooms` (restarted from an
        append-only file without its last writes). The events of this node it had sequenced
        there and that have not come back never will, but for those Redis still has (`unread`,
        per room the seq and time of each: this node lagged behind them). Each is taken as
        refused, as a call that failed half-way is: its sender is told `FAIL` (another node
        may have applied it, as the failure model allows), and what waited for it here, a
        room kept followed for it, a claim, a QUIT or NICK to send again, is settled. Its
        sender's next commands waited behind it for good. (Told before the core hears the bus
        is back: what is to be sent again goes then.) One Redis still has comes back and is
        answered then (taken as refused too, a NICK's claim was released while its event,
        read later, renamed the user: a cluster fuzz finding). The rooms followed among them
        are not written back yet (`unrestored`) from now on: a command its sender's refusal
        lets through now is not decided by the bus from an empty room (a cluster fuzz
        finding: a TOPIC the bus refused and every copy applied)."""
        followed = self.server.channels
        self.unrestored.update(fold for fold in followed if rooms is None or fold in rooms)
        kept = unread or {}

        def gone(echo: Echo) -> bool:
            if rooms is None:
                return True
            if echo.room not in rooms:
                return False
            # (One Redis still has, at its seq and time, comes back.)
            return echo.seq is None or kept.get(echo.room, {}).get(echo.seq) != echo.time_ms

        lost = [token for token, echo in self.echoes.items() if gone(echo)]
        for token in lost:
            echo = self.echoes.pop(token)
            if echo.event.get("t") == "nick":  # (before it is refused: `_settle_nick`)
                change = (str(echo.event.get("id") or ""), str(echo.event.get("n")))
                self.lost_nicks.setdefault(change, set()).add(echo.room)
            self._refuse(token, echo.room, echo.refused)
            if echo.event.get("t") == "join":
                self._lost_join(echo.room, echo.event)

    def _lost_join(self, room: str, event: Mapping[str, Any]) -> None:
        """A JOIN of ours that Redis lost before this node read it back, refused here: the
        nodes that read it list its joiner in the room (hubbub.core.cluster_apply)."""

    def _wanted_unrestored(self, fold: str) -> None:
        """A user's event in a room not written back yet was refused (hubbub.core.cluster_resync
        writes it back)."""

    def _renaming(self, user: User) -> bool:
        """Whether a NICK of this local user is on its way to one of its rooms, or kept there
        until the change is settled (hubbub.core.cluster_propose)."""
        identity = user.network_id
        return any(key[0] == identity for key in self.nick_rooms) or any(
            key[0] == identity for key in self.unsent_nicks
        )

    def _nick_settled(self, user: User) -> None:
        """No NICK of this local user is on its way any more: a change of its state made
        meanwhile, held back, goes now, under the nick it has (hubbub.core.cluster_users,
        cluster_messages). Sent at once, it named a nick the other nodes did not know yet."""

    def _state_from_facts(self, user: User, facts: Mapping[str, Any], time_ms: int) -> None:
        """Facts of a remote user made by its node (a JOIN's, a member field's, a sync's, its
        node's last word on it): its away state, modes and metadata as they were then, taken
        where they are newer than what this node applied (hubbub.core.cluster_users,
        cluster_messages). A change made while the user was in no room this node follows
        reached it only so (a cluster fuzz finding), as does one Redis lost after some nodes
        had read it."""

    def _restored(self, fold: str) -> None:
        """A room's events are no longer refused here (`unrestored`): what was refused meanwhile
        and waits to be sent again goes now (hubbub.core.cluster_messages)."""

    def _opened_emptied(self, fold: str, fields: Mapping[str, str]) -> None:
        """A room opened here that had members once and has none now: the JOIN on its way
        makes it anew (hubbub.core.cluster_replay reads what was said there before)."""

    def open(self, fold: str, then: Callable[[bool], None]) -> None:
        """Subscribe to a room (once, however many wait for it) and load its state."""
        waiting = self.opening.get(fold)
        if waiting is not None:
            waiting.append(then)
            return
        if fold in self.opened_empty and fold not in self.server.channels:
            # Subscribed already, found empty, the JOIN that creates it on its way: its events
            # since come in order, while its state read again now could be ahead of them.
            then(True)
            return
        self.opening[fold] = [then]

        def loaded(fields: Mapping[str, str] | None, seq: int) -> None:
            if fields is not None:
                self.written_back.setdefault(fold, set()).update(written_back(fields))
                self.furthest[fold] = max(self.furthest.get(fold, PLACE_UNKNOWN), furthest(fields))
            if fields is not None and fold not in self.server.channels:
                # (A copy made meanwhile, from a JOIN applied here, has its own view.)
                self.views[fold] = max(self.views.get(fold, 0), seq)
                if fields:
                    self.load_room(fold, fields)
            if fields is not None and fold not in self.server.channels:
                self.opened_empty.add(fold)
                if not fields.get("room"):
                    self.unmade.add(fold)
                else:
                    self.emptied_state[fold] = fields
                    self._opened_emptied(fold, fields)
            # Every waiter is a JOIN, which closes the room again if nobody came in.
            for waiter in self.opening.pop(fold, []):
                waiter(fields is not None)

        self.network.open(fold, loaded)

    def load_room(self, fold: str, fields: Mapping[str, str], kept: bool = False) -> Channel | None:
        """A room opened here: its state and remote members from the bus's state fields. A
        registered room is loaded with nobody in it too: its state stays on the bus when it
        empties, and stays its state, as on one server where it never vanishes
        (hubbub.core.cluster_registry). `kept`: an emptied room's state the bus kept, its
        first JOIN since not making it anew (`emptied_state`)."""
        server = self.server
        channel = room_from_fields(fold, fields)
        if channel is None:
            return None  # never created, or its state lost: whoever joins creates it anew
        members = any(field.startswith("m:") for field in fields)
        if not members and not kept and fold not in server.registry.known:
            return None  # nobody there: whoever joins creates it anew (`emptied_state`)
        server.registry.attach(channel)  # a registered room: its registration's access
        server.channels[fold] = channel
        load_invitations(channel, fields)  # (hubbub.core.cluster_users)
        for field, value in fields.items():
            if not field.startswith("m:"):
                continue
            member = json.loads(value)
            nick = field[2:]
            user = self.remote_user(nick, member) or self._joined_opening(fold, nick, member)
            if user is None:
                continue
            standing = fields.get(standing_field(nick))
            channel.members[user] = load_membership(member, standing)
            user.channels[fold] = channel
        return channel

    def _joined_opening(self, fold: str, nick: str, facts: Mapping[str, Any]) -> User | None:
        """The user of ours a member field of a room being opened names, if its JOIN came back
        while the room's state was being read: this node takes its own users from their JOINs,
        and that one was left to the state (hubbub.core.cluster_apply)."""
        identity = str(facts.get("id") or "")
        if facts.get("node") != self.node or identity not in self.joined_opening.get(fold, ()):
            return None
        user = self.user_of(nick, identity)
        return user if user is not None and not user.session.closed else None

    def own_facts(self, user: User) -> dict[str, Any]:
        """What the events and entries of a user of this node say of it (its node and server
        included: hubbub.core.cluster_fields `user_facts`)."""
        return user_facts(user, self.node, self.server.name)

    def own_member_field(self, user: User, channel: Channel) -> dict[str, str]:
        """A local user's member field in a room as a change of its state writes it: its
        facts now, only if it is a member there still at that event (a KICK sequenced just
        before it deleted the field, which must not come back: a cluster fuzz finding)."""
        standing = channel.members.get(user) or Membership()
        field = member_field(user.fold)
        return {if_exists(field, field): facts_json(self.own_facts(user), standing.joined_ms)}

    def submit_user_state(
        self, user: User, channel: Channel, event: dict[str, Any], unsent: dict[User, None]
    ) -> None:
        """A change of a local user's state (its login, its metadata) to one of its rooms, its
        member field rewritten with it (`own_member_field`); refused by the bus, the user
        waits in `unsent` to be sent again."""
        self.submit(
            None,
            channel.fold,
            event,
            None,
            self.own_member_field(user, channel),
            refused=lambda _room: unsent.setdefault(user),
        )

    def send_again_in(
        self, fold: str, unsent: dict[User, None], send: Callable[[User], None]
    ) -> None:
        """Room `fold` is written back (`_restored`): `send` again the changes of its local
        members that the bus refused meanwhile (waiting in `unsent`). The bus was there all
        along, so no `set_available` would send them, and the other nodes kept the old state
        until the next outage (cluster fuzz findings)."""
        channel = self.server.channels.get(fold)
        if channel is not None:
            for user in take_members(unsent, channel):
                if not user.session.closed:
                    send(user)

    def next_nick_version(self) -> int:
        """The version of a local user's next nick (User.nick_version)."""
        self.nick_versions += 1
        return self.nick_versions

    def stand_in(self, fold: str, facts: Mapping[str, Any]) -> User:
        """A user with these facts (a member field's, a JOIN's), known nowhere yet: no
        connection, in no index."""
        session = Session(NOWHERE, facts["h"], 0, self.server.now, False)
        session.phase = Phase.REGISTERED
        user = session.user
        user.nick, user.fold = facts["n"], fold
        user.username, user.realname, user.hostname = facts["u"], facts["r"], facts["h"]
        user.account = facts.get("a", "")
        user.account_id = facts.get("ai", "")
        user.server = str(facts.get("sv", ""))
        user.nick_version = nick_version(facts)
        load_user_state(user, facts)
        user.metadata = dict(facts.get("md") or {}) or None
        return user

    def remote_user(self, fold: str, facts: Mapping[str, Any]) -> User | None:
        """The user of another node with these facts (made when first seen here); None for
        facts naming this node. This node has the last word on its own users: one it has is
        in its copies already, and one it no longer has is a stale member field (a lagging
        copy's, written back after Redis lost the user's QUIT), which made it list its own
        killed user as another node's, for good (a cluster fuzz finding)."""
        if facts.get("node") == self.node:
            return None
        server = self.server
        user = server.users.get(fold)
        identity = str(facts.get("id") or "")
        listed = True  # under its nick in `server.users`
        # (Another node's user holds the nick here: this one's may be a second.)
        another = user is not None and user.session.remote and user.network_id not in ("", identity)
        if identity and (user is None or another):
            known = self.by_network_id.get(identity)
            if known is not None and known.fold == fold and known.session.remote:
                if user is None:
                    # Known here, not listed under its nick while a user of ours had that
                    # nick (for a moment after Redis lost its data): listed now that ours is
                    # gone. (A second user was made for it: a cluster fuzz finding.)
                    server.users[fold] = known
                    return known
                # Two users of other nodes under one nick here: this one's NICK away from it
                # is not applied yet, and a copy opened since listed the nick's new holder.
                # This one's events (an older JOIN in a lagging room) find it by its network
                # id; a second user for it kept the rooms that knew the first under its old
                # nick for good (seed 4516637, a cluster fuzz finding).
                user = known
        if user is not None:
            if not (identity and user.network_id and user.network_id != identity):
                # Known already: a remote user, or (a stale member field) one of ours.
                if not user.session.remote:
                    return None
                version = nick_version(facts)
                if facts.get("n") == user.nick:
                    # Under the same nick, perhaps a later one: she changed it and back, and
                    # this room's copy was opened after both NICKs. Those of her other rooms
                    # here, older, then rename her only there (cluster_apply `_rename_member`);
                    # applied as her newest, they left this copy an old name, for its own
                    # NICKs, that it never reads (found reading a cluster fuzz finding).
                    user.nick_version = max(user.nick_version, version)
                elif version > user.nick_version:
                    self._case_changed(user, str(facts["n"]), version)
                self._state_from_facts(user, facts, server.stamp())
                return user
            if not user.session.remote:
                # The nick is one of ours now, and was this user's a moment ago (its NICK or
                # QUIT not applied here yet): known by its network id (`user_of`), not its nick.
                known = self.by_network_id.get(identity)
                if known is not None and nick_version(facts) <= known.nick_version:
                    return known
                # Or it is this user's newer nick, taken from ours after Redis lost our claim
                # (ours is disconnected as a collision): a second user for it, as below, the
                # one its network id finds from now on. (Taken for the user known under its
                # older nick, it was listed there under that one, a cluster fuzz finding.)
                listed = False
            # Else the nick is another user's now: its last holder's NICK or QUIT in the rooms
            # this node follows with it is not applied here yet (`user_of` finds that one).
        user = self.stand_in(fold, facts)
        if listed:
            server.users[fold] = user
        self.homes[user] = facts.get("node", "")
        user.network_id = identity
        if identity and (identity not in self.by_network_id or not listed):
            # (Known under another nick already: the first is kept; its NICK merges them. Not
            # listed under its nick, the newer is the one its network id finds: the events
            # naming it by that nick, and the listing once ours is gone, `user_of`.)
            self.by_network_id[identity] = user
        elif identity:
            # Its listing under the nick may go to another user of that nick before the first
            # one's NICK comes: that NICK finds it here (it stayed in the room that showed it
            # for good, a second user of one network id: a cluster fuzz finding, seed 6689195).
            self.doubles.setdefault(identity, []).append(user)
        # MONITOR: its node told every node when it came online (hubbub.core.cluster_directory).
        self._state_from_facts(user, facts, server.stamp())  # (its change numbers, now)
        return user

    def _case_changed(self, user: User, nick: str, version: int) -> None:
        """Remote `user`'s facts show a later change of case of her nick, made in rooms this
        node does not follow (or not yet applied here): shown now, as her NICK, to the users
        sharing a room with her here. (She kept the old case here until her next NICK.) Her
        NICK events in the rooms this node follows, older, then rename her in no room."""
        server = self.server
        time_ms = server.stamp()
        line = f":{user.prefix} NICK :{nick}"
        server.fanout(
            server.neighbours(user), line, time_ms, server.next_msgid(), account=user.account
        )
        rename(server, user, nick, user.fold, time_ms, line)
        user.nick_version = version

    def user_of(self, fold: str, identity: str | None) -> User | None:
        """The user an event names by its nick and network id: the one this node knows under
        that nick, unless the nick is someone else's here already (another network id), then
        the one with that id if it still has that nick in some room (its NICK or QUIT here
        not applied yet). A user with that id under another nick is not the one: the event
        named it by an old nick (a KICK sequenced after its NICK), and the bus changed no field
        of it either."""
        user = self.server.users.get(fold)
        if not identity:
            return user
        if user is not None and user.network_id in (identity, ""):
            return user  # ("": a user whose node gives no network ids)
        known = self.by_network_id.get(identity)
        if known is not None and known.fold == fold:
            return known
        # Or a second user of that id (`doubles`) under that nick: made when a JOIN showed
        # the user under an older nick than the one known here, and renamed by that room's
        # NICKs to a nick one of ours holds. (Its message there was refused here alone, its
        # sender found by no name: found by varying a FOUND entry.)
        return next(
            (double for double in self.doubles.get(identity, ()) if double.fold == fold), None
        )

    def member_named(self, channel: Channel, fold: str) -> User | None:
        """The member a room's event names by nick (a KICK's target, a MODE's +o or +v): the
        one the room's sequence knows by that nick at this event. A member this node renamed
        by its NICK in another room is still known here by its old nick until this room's
        NICK comes (`renamed_elsewhere`), and not yet by its new one: the bus's member fields
        say the same."""
        old_names = channel.old_names
        user = old_names.get(fold) if old_names else None
        if user is None:
            user = self.server.users.get(fold)
            if user is not None and old_names and user in old_names.values():
                return None
        return user if user is not None and user in channel.members else None

    def room_sender(self, channel: Channel, fold: str, identity: str | None) -> User | None:
        """The user a room's event names as its sender by nick and network id (a message's, a
        MODE's, a PART's or QUIT's): one this room still knows by that nick
        (`renamed_elsewhere`: its event sequenced here before its NICK, while this node applied
        that NICK in another room first; or one its node sent before the NICK, sent on from a
        renamed room and so sequenced here after the NICK elsewhere), else as `user_of` says."""
        old_names = channel.old_names
        user = old_names.get(fold) if old_names else None
        if user is not None and (not identity or user.network_id == identity):
            return user
        return self.user_of(fold, identity)

    def event_sender(self, channel: Channel, event: Mapping[str, Any]) -> User | None:
        """The sender of a room's event (`room_sender`, by its `f` and `id`): the one its
        fan-out skips and whose account it tags, not whoever holds that nick here now (a
        local user who took it after the sender's NICK, applied here in another room first,
        would miss the line)."""
        return self.room_sender(channel, str(event["f"]), event.get("id"))

    def renamed_elsewhere(self, user: User, channel: Channel, old_fold: str) -> None:
        """`user` (`old_fold` until now) was renamed by its NICK in `channel`: its other rooms
        here know it by `old_fold` until their own NICK comes (`member_named`)."""
        if old_fold == user.fold:
            return
        for other in user.channels.values():
            if other is not channel:
                self.known_here_as(other, old_fold, user)

    def known_here_as(self, channel: Channel, fold: str, user: User) -> None:
        """The room's events name `user` by `fold`, not its nick, until the room's own NICK of
        it (`member_named`, `room_sender`; `renamed_here` drops it)."""
        if channel.old_names is None:
            channel.old_names = {}
        channel.old_names[fold] = user

    def renamed_here(self, channel: Channel, old_fold: str) -> User | None:
        """This room's NICK of a member renamed already by another room's (`renamed_elsewhere`):
        the member, now known here by its new nick."""
        old_names = channel.old_names
        if not old_names:
            return None
        user = old_names.pop(old_fold, None)
        if not old_names:
            channel.old_names = None
        return user

    def take_notes(self, fold: str, fields: Mapping[str, str]) -> None:
        """What the bus keeps with a room's sequence, read out with its state (a rename's
        marker): who has written the room back, and how far the copy whose room fields it has
        had read (hubbub.core.cluster_resync)."""
        self.written_back[fold] = written_back(fields)
        self.furthest[fold] = furthest(fields)

    def forget_old_names(self, channel: Channel, user: User) -> None:
        """The room knows `user` by its nick now, under no old one (`renamed_elsewhere`)."""
        if channel.old_names:
            for old_fold in [old for old, member in channel.old_names.items() if member is user]:
                self.renamed_here(channel, old_fold)

    def known(self) -> list[User]:
        """Every registered user this node knows: its own, and those of other nodes that share
        a room with them (not the ones of its own that quit, whose QUITs are on their way)."""
        return [user for user in self.server.users.values() if user.session.registered]

    def has_local(self, channel: Channel) -> bool:
        return any(not member.session.remote for member in channel.members)

    def homes_listed(self, channel: Channel) -> set[str]:
        """The nodes of the other nodes' users this copy of the room lists ("" for one whose
        node is not known)."""
        return {self.homes.get(user, "") for user in channel.members if user.session.remote}

    def replayed(self, channel: Channel, user: User, records: list[Record]) -> list[Record]:
        """A newcomer's join replay without what it was given live while it was read."""
        live = self.live.pop((channel.fold, user), None)
        if not live:
            return records
        return [record for record in records if record.msgid not in live]

    def removed(self, channel: Channel, user: User) -> None:
        """After `user` left `channel` (server.remove_member)."""
        self.live.pop((channel.fold, user), None)
        self.forget_old_names(channel, user)
        if user.session.remote and not user.channels:
            self._forget(user)
        self.drop_if_unused(channel)

    def drop_if_unused(self, channel: Channel) -> None:
        """Stop following the room unless a local member is in it or a JOIN is on its way."""
        fold = channel.fold
        if self.joining.get(fold) or fold in self.opening or self.has_local(channel):
            return
        if self._awaited(fold):
            # Events of ours on their way there (a message or KICK its sender sent as it was
            # kicked): kept until they are back, to be answered as on one server (refused,
            # the sender not a member any more), never left waiting.
            self.lingering.add(fold)
            return
        self.lingering.discard(fold)
        self._drop_room(fold, channel)

    def _awaited(self, fold: str) -> bool:
        """Whether events this node sent to the room are on their way (hubbub.core.cluster_rename
        keeps them)."""
        return False

    def _draining(self, fold: str) -> bool:
        """Whether `fold` is a name a room was renamed away from, followed until the events of
        ours sent there are back, to be sent on (hubbub.core.cluster_rename)."""
        return False

    def let_go_if_lingering(self, fold: str) -> None:
        """One of our events to the room is back (or refused): drop a room kept for them once
        none is left."""
        if fold not in self.lingering:
            return
        self.lingering.discard(fold)
        channel = self.server.channels.get(fold)
        if channel is not None:
            self.drop_if_unused(channel)

    def _entered(self, user: User, fold: str) -> None:
        """A JOIN of `user` to `fold` is no longer on its way (in, refused, or failed)."""
        entering = self.entering.get(user)
        if entering is not None:
            entering.discard(fold)
            if not entering:
                del self.entering[user]
        sent = self.joins_sent.get(user)
        if sent is not None:
            sent.discard(fold)
            if not sent:
                del self.joins_sent[user]

    def taker(self, fold: str) -> User | None:
        """The user of this node whose NICK to `fold` is on its way: one still connected, or
        one gone meanwhile whose leaving waits for that NICK (`quitting`), which renames it."""
        taker = self.taking.get(fold)
        if taker is None or (taker.session.closed and taker.network_id not in self.quitting):
            return None
        return taker

    def nick_back(self, event: Mapping[str, Any]) -> None:
        """One room's NICK event of a local user is back (applied, refused, or dropped): if it
        leaves a nick (not a change of case), that nick's claim is released after the last,
        unless one of ours holds that nick here by then (the user itself, if no room renamed
        it, or another)."""
        old_fold = str(event["f"])
        if old_fold == self.server.fold(str(event["n"])):
            return
        key = (str(event.get("id") or ""), old_fold)
        if count_down(self.letting_go, key):
            return
        holder = self.server.users.get(old_fold) or self.taker(old_fold)
        if holder is None or holder.session.remote:
            self.network.release(nick_key(old_fold))
        leave = self.quitting.pop(key[0], None)
        if leave is not None:
            leave()

    def _joined_or_not(self, fold: str) -> None:
        """A JOIN of a local user is back (or refused): the room may close if nobody came."""
        self._joined_or_not_later(fold)
        self._close_if_unwanted(fold)

    def _joined_or_not_later(self, fold: str) -> None:
        """As `_joined_or_not`, the room kept for now (the caller checks it later)."""
        count_down(self.joining, fold)

    def _close_if_unwanted(self, fold: str) -> None:
        """Close the room unless a JOIN of ours is on its way there or it is wanted still."""
        if self.joining.get(fold):
            return
        channel = self.server.channels.get(fold)
        if channel is not None:
            self.drop_if_unused(channel)
        elif fold not in self.opening and not self._draining(fold):
            # (Not a name the room was renamed away from, followed until the events of ours
            # sent there are back, to send them on: a JOIN of that name refused, the bus away,
            # stopped following it, and a QUIT sent there never came back, its user left in
            # the renamed room here for good, a cluster fuzz finding.)
            self._drop_room(fold, channel)

    def _drop_room(self, fold: str, channel: Channel | None) -> None:
        """No local member left: stop following the room, forget who was there."""
        server = self.server
        if channel is not None and server.channels.get(fold) is channel:
            del server.channels[fold]
            for member in list(channel.members):
                member.channels.pop(fold, None)
                if member.session.remote and not member.channels:
                    self._forget(member)
            channel.members.clear()
            channel.groups = None
        self.writes.forget(fold)
        self.close(fold)

    def state_version(self, fold: str) -> tuple[int, int]:
        """Which state of the room this node's copy has: the bus's time and the seq of the
        last event it reflects (hubbub.registry.model `RegisteredChannel.state_version`)."""
        return (self.view_times.get(fold, 0), self.views.get(fold, 0))

    def close(self, fold: str) -> None:
        """Stop following a room."""
        self.opened_empty.discard(fold)
        self.unmade.discard(fold)
        self.emptied_state.pop(fold, None)
        self.fresh_from.pop(fold, None)
        self.views.pop(fold, None)
        self.view_times.pop(fold, None)
        self.burying.pop(fold, None)
        self.written_back.pop(fold, None)
        self.furthest.pop(fold, None)
        self.lost_views.pop(fold, None)
        self.departed.pop(fold, None)
        self.network.close(fold)

    def _forget(self, user: User) -> None:
        """A remote user (or a local one that quit) is in no room this node follows."""
        server = self.server
        self.homes.pop(user, None)
        self.unindex(user)
        self.undouble(user)
        if server.users.get(user.fold) is user:
            del server.users[user.fold]
            if user.session.closed and user not in self.released:  # one of ours that quit
                self.network.release(nick_key(user.fold))
        self.released.discard(user)

    def undouble(self, user: User) -> None:
        """`user` is no second user of its network id (any more): gone, or merged into."""
        doubles = self.doubles.get(user.network_id)
        if doubles and user in doubles:
            doubles.remove(user)
            if not doubles:
                del self.doubles[user.network_id]

    def unindex(self, user: User) -> None:
        """`user` is gone from this node (`by_network_id`)."""
        if self.by_network_id.get(user.network_id) is user:
            del self.by_network_id[user.network_id]

    def local_nicks(self) -> list[str]:
        """The casefolded nicks of this node's users (claimed again after a bus restart). Not
        those of users leaving: their claims go with their QUITs, on their way."""
        return [
            user.fold
            for user in self.server.users.values()
            if not user.session.remote and not user.session.closed
        ]


#: The room events a node sends to a room whose state fields Redis lost before any node wrote
#: them back (`unrestored`): a user's leaving (its QUIT, PART or NICK, and a refused JOIN's
#: `void`), which change only its own member fields and which the node's sync, made after
#: them, agrees with. Any other waits: the bus would decide it from an empty room (an
#: operator's standing, whether the room is there), and a node whose user joined the room
#: meanwhile, creating it anew, would decide it from a copy without this node's users.
WHILE_UNRESTORED = frozenset({"quit", "part", "nick", "void"})


Key = TypeVar("Key")


def count_down(counts: dict[Key, int], key: Key) -> int:
    """One fewer of `key` on its way (its entry gone at none): how many are left."""
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
        return left
    counts.pop(key, None)
    return 0


def take_members(waiting: dict[User, None], channel: Channel) -> list[User]:
    """The users in `waiting` who are members of `channel`, in their order there, taken out
    of it (changes of theirs the bus refused, sent again when the room is written back)."""
    members = [user for user in waiting if user in channel.members]
    for user in members:
        del waiting[user]
    return members
