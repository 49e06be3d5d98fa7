"""The network directory: what a node answers about users and rooms it does not follow.

A node knows the users sharing a room with its own users and the rooms it follows; the rest
of the network it asks about (docs/cluster.md, "What is network-wide"):

* **Users' facts**: each node writes one directory entry per user of its own on the bus
  (`user:<fold>` -> its public facts: nick, user, host, realname, account, away, modes, node,
  signon, and its rooms), when it registers, changes nick or state, and drops it when it
  quits; the entries live under the node's lease (a lost node's go with it). WHOIS and WHO of
  a nick nobody here has, and MONITOR's status of such a nick, read them (`Network.lookup`,
  one round trip, answered through `Reply.later`, so the client's order holds).
* **Its rooms** (WHOIS 319 where its rooms are not followed): the entry lists them with the
  user's standing, and the user's node writes it again when it applies the user's JOIN, PART
  or KICK, or a MODE changing its standing or a room's `+s`. Why there, and not in each room
  event or by asking the rooms' state at WHOIS time: the user's node is the one place that
  sees every room of the user, the cost is one directory write per membership change (the
  writer keeps only the latest entry per user, so a burst of JOINs costs little), nothing per
  message, and a WHOIS costs one read whatever the number of rooms. Secret rooms are left out
  (see `entry`).
* **WHO with a mask**: the users known here from this node's copy, the others from every
  node's entries (`Network.users`, filtered by the WHO's matcher, at most as many as the WHO
  may show and one more, so `416` is said as on one node).
* **Online, offline**: MONITOR's 730/731 for users of other nodes come from `online` /
  `offline` events in the network room every node follows (sequenced by the user's node when
  it registers, changes nick and quits, naming the user; by the janitor's node for a lost
  node's users, and its `buried` at the end), never from "shares a room here": a user of
  another node is online from its registration to its QUIT, whichever rooms this node
  follows with it. The bus refused one (unavailable): its node sequences it when the bus is
  back. What each watcher here was told is kept by hubbub.core.cluster_monitor.
* **extended-monitor**: a user's AWAY, SETNAME, ACCOUNT and NICK lines go to the watchers of every
  node as `watched` events in the network room, sent by its node (which cannot know where
  its watchers are); a node sends them to its own watchers not sharing a room with the user.
* **LIST**: the rooms this node follows from its own copy, and the others from the bus's room
  state (`Network.room_summaries`: name, creation, topic, modes, member count).
* **SETNAME** travels with the user's state (`user` events, hubbub.core.cluster_users), and
  the nodes that show the user send the `SETNAME` line to their users sharing a room with it.
* **WALLOPS**: a `wallops` event in the network room; every other node sends it to its `+w`
  users (and operators), as the sender's node does to its own.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_apply import RoomApplier, RoomlessApplier
from hubbub.core.cluster_fields import (
    UNAVAILABLE,
    load_mode_fields,
    load_user_state,
    user_key,
)
from hubbub.core.cluster_monitor import ClusterMonitor, Holder
from hubbub.core.cluster_users import ClusterUsers
from hubbub.core.model import NOWHERE, Channel, Membership, Phase, Session, Topic, User
from hubbub.core.monitor import extended_watchers
from hubbub.core.monitor import notify as notify_monitors
from hubbub.core.ports import NETWORK_ROOM
from hubbub.core.privacy import party

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from hubbub.core.elist import ListFilter
    from hubbub.core.ports import Network
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer


class ClusterDirectory(ClusterUsers):
    """The directory of users and rooms across the nodes, and what travels in the network room
    for every node (online / offline for MONITOR, WALLOPS)."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Local users registered so far (each one's network id counts them).
        self.registrations = 0
        # MONITOR: what each watcher here was told of each nick (hubbub.core.cluster_monitor).
        self.watching = ClusterMonitor(server, network.lookup)
        # Nicks (folded) this node's users gave up lately, and who held them (network id),
        # oldest first: the nick as it was; their entries dropped again whenever the bus is
        # back (those no user here holds again), and announced offline again after Redis lost
        # data (`resync`); at most `cluster.departures_kept`. Per holder: two users here that
        # held one nick in turn were both announced offline, and Redis may have lost both
        # announcements (kept per nick, the first holder's was not announced again, and a
        # watcher told it held the nick was never told it went: a cluster fuzz finding,
        # seed 6191536).
        self.departures: OrderedDict[tuple[str, str], str] = OrderedDict()
        # Per network id of another node's user in this node's copies: the nick (folded) the
        # network room last said it is online under since the copy was made (gone once it
        # said it left). The copies may be behind the network room (a room's feed filling a
        # gap), and a MONITOR answered from one would tell a watcher of a nick its user left,
        # after the `offline` came (a cluster fuzz finding, seed 7261682): without a word
        # from the network room, the directory is asked. Bounded by the copies.
        self.presence: dict[str, str] = {}
        # Network-room events about this node's users that the bus refused (unavailable),
        # sent again when it is back: per user, its online / offline events still to tell
        # (`p:<fold>`: at most an offline and the online after it, since an offline makes
        # what came before it moot), and per (user, capability) its latest extended-monitor
        # line (`w:<fold> <cap>`). Bounded by this node's users (and those that quit
        # meanwhile: a registration or a new nick needs the bus's claim, so none come while it
        # is away) times four.
        self.unsent_network: dict[str, list[dict[str, Any]]] = {}

    # ------------------------------------------------------------------ this node's users

    def entry(self, user: User) -> str:
        """A local user's directory entry: its public facts, its signon time, and its rooms
        but the secret ones, each with its standing (`o`, `v`) there (WHOIS 319 on a node that
        follows none of them). A secret room is left out rather than marked: whoever reads
        the entry is on a node that does not follow the user, so it shares no room with it,
        and one node hides a secret room from whoever is not in it."""
        facts = self.own_facts(user)
        facts["so"] = int(user.session.signon)
        if user.claim_number:  # (MONITOR weighs a status answer with news by it)
            facts["cn"] = user.claim_number
        facts["c"] = [
            [channel.name, ("o" if standing.op else "") + ("v" if standing.voice else "")]
            for channel in user.channels.values()
            if not channel.secret
            for standing in (channel.members.get(user) or Membership(),)
        ]
        return json.dumps(facts, separators=(",", ":"))

    def _rooms_changed(self, users: Sequence[User]) -> None:
        """Local users joined, left or changed standing in a room: their entries again (the
        directory writer keeps only the latest per user, so a burst of JOINs costs one write
        each at most, and nothing is written per message)."""
        for user in users:
            if (
                not user.session.remote
                and user.session.registered
                and not user.session.closed
                and self.server.users.get(user.fold) is user
            ):
                self.network.publish(user_key(user.fold), self.entry(user))

    def directory_entries(self) -> dict[str, str]:
        """Every local user's entry (written again when the bus is back, maybe empty)."""
        return {
            user_key(user.fold): self.entry(user)
            for user in self.server.users.values()
            if not user.session.remote and user.session.registered
        }

    def registered(self, user: User, reply: Reply | None = None) -> None:
        """A local user registered: in the directory (its `reply` waits until it is there, so
        whoever it tells it is here finds it), and online for every node's MONITOR."""
        self.registrations += 1
        # Unique on the network: node ids are, and a node restarted under a configured id
        # starts again at another time.
        user.network_id = f"{self.node}/{int(self.server.now * 1000)}/{self.registrations}"
        self.by_network_id[user.network_id] = user
        self._publish(user, reply)
        self._announce(self._online_event(user))

    def nick_changed(self, user: User, old_nick: str, old_fold: str) -> None:
        """A local user has a new nick (already applied here)."""
        if old_fold != user.fold:
            self.network.publish(user_key(old_fold), None)
        self.network.publish(user_key(user.fold), self.entry(user))
        if old_fold != user.fold:  # a change of case only is neither offline nor online
            self._depart(old_fold, old_nick, user.network_id)
            self.departures.pop((user.fold, user.network_id), None)  # (its online comes next)
            self._announce(self._online_event(user))

    def _depart(self, fold: str, nick: str, holder: str) -> None:
        """A local user gave up a nick: announced offline, and remembered (`departures`)."""
        self.departures[(fold, holder)] = nick
        self.departures.move_to_end((fold, holder))
        while len(self.departures) > self.server.config.cluster.departures_kept:
            self.departures.popitem(last=False)
        self._announce({"t": "offline", "f": fold, "n": nick, "i": holder})

    def _online_event(self, user: User) -> dict[str, Any]:
        """A local user's `online` event: its nick, and who holds it (its network id, this
        node), which a later `offline` of the nick must name, and the number of the claim
        (hubbub.core.cluster_monitor)."""
        event: dict[str, Any] = {
            "t": "online",
            "f": user.fold,
            "p": user.prefix,
            "i": user.network_id,
            "o": self.node,
        }
        if user.claim_number:
            event["c"] = user.claim_number
        return event

    def local_online(self, user: User) -> None:
        """A local user registered or took a new nick: the watchers here (hubbub.core.monitor
        `came_online`)."""
        holder = Holder(user.network_id, self.node, user.prefix, user.claim_number)
        self.watching.online(user.fold, holder, self.server.stamp())

    def local_offline(self, fold: str, nick: str, holder: str) -> None:
        """A local user quit or left a nick: the watchers here."""
        self.watching.offline(fold, holder, nick, self.server.stamp())

    def renamed(self, user: User, old_prefix: str, old_fold: str) -> None:
        super().renamed(user, old_prefix, old_fold)
        self.nick_changed(user, old_prefix.partition("!")[0], old_fold)

    def user_changed(self, user: User, reply: Reply | None = None) -> None:
        """A local user's away state, modes or realname changed: its directory entry (the
        command's `reply` waits until it is written, so that once the user is answered,
        every node's WHOIS says so), and the nodes following its rooms."""
        if not user.session.remote and user.session.registered:
            self._publish(user, reply)
        super().user_changed(user)

    def _publish(self, user: User, reply: Reply | None) -> None:
        done = reply.later(_written) if reply is not None else None
        self.network.publish(user_key(user.fold), self.entry(user), done)

    def quit(self, user: User, reason: str, was_registered: bool) -> bool:
        self.watching.watcher_left(user, self.server.monitor.lists.get(user, {}))
        listed = was_registered and user.fold and self.server.users.get(user.fold) is user
        forget = super().quit(user, reason, was_registered)  # its QUITs first, then offline
        if listed:
            self.network.publish(user_key(user.fold), None)
            self._depart(user.fold, user.nick, user.network_id)
        return forget

    def removed(self, channel: Channel, user: User) -> None:
        super().removed(channel, user)
        self._rooms_changed((user,))  # PART, KICK: its entry's rooms (a QUIT drops it)

    def watched(self, user: User, cap: str, line: str, old_fold: str = "") -> None:
        """extended-monitor: a local user's AWAY, SETNAME or ACCOUNT line (`cap`: the
        capability it needs too), or its NICK line (`cap` "", for the watchers of its
        `old_fold`), for the watchers of every node (told here already). Through the network
        room, because the user's node cannot know which nodes watch it; nodes that show the
        user (sharing a room) get the change in its rooms too, but send the line to
        watchers from this event only, so each is told once, whether or not it shares a
        room with the user."""
        if user.session.remote or not user.session.registered:
            return
        event = {"t": "watched", "f": old_fold or user.fold, "c": cap, "l": line}
        event["a"] = user.account
        if old_fold:
            event["nf"] = user.fold  # where the nodes that know the user have it now
        self._announce(event)

    def _announce(self, event: dict[str, Any]) -> None:
        """A network-room event about a local user; refused, it waits for the bus's return
        (see `unsent_network`)."""
        kind, fold = event["t"], event["f"]
        key = f"w:{fold} {event['c']}" if kind == "watched" else "p:" + fold

        def refused(_room: str) -> None:
            if kind in ("online", "offline") and self._superseded(event):
                return
            if event["t"] == "online":  # after the offline before it, if any
                before = self.unsent_network.get(key, [])
                waiting = [kept for kept in before if kept["t"] == "offline"][-1:]
                self.unsent_network[key] = [*waiting, event]
            else:  # an offline tells what the events before it would have; a line: the latest
                self.unsent_network[key] = [event]

        if kind == "offline":
            # What was refused before it is moot (sent when the bus is back, after it, an
            # `online` of a user disconnected on its node's return, declared dead meanwhile,
            # told watchers it was there: a cluster fuzz finding, thirty-sixth session).
            self.unsent_network.pop(key, None)
        elif kind == "online" and key in self.unsent_network:
            # After the refused offline still to be sent (when the bus is back, soon).
            refused(NETWORK_ROOM)
            return
        self.submit(None, NETWORK_ROOM, event, None, refused=refused)

    def _superseded(self, event: dict[str, Any]) -> bool:
        """Whether a refused `online` or `offline` no longer says how things are: an online
        whose user has left the nick since, an offline whose user holds it again. (Refused
        late, a call held when the bus went, an online was sent again after the offline of
        its user's QUIT: a cluster fuzz finding, seed 6151300.)"""
        user = self._local_holder(event["f"])
        holds = user is not None and user.network_id == event.get("i")
        return not holds if event["t"] == "online" else holds

    def _local_holder(self, fold: str) -> User | None:
        """The user of this node that holds `fold` now (registered, connected), if any."""
        user = self.server.users.get(fold)
        return user if user is not None and _open_local(user) else None

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if not available:
            return
        unsent, self.unsent_network = self.unsent_network, {}
        for events in unsent.values():
            for event in events:
                self._announce(event)
        # The entries of the nicks given up lately dropped again (only this node's: DROP
        # leaves another node's holder's alone): Redis may have come back from an
        # append-only file that missed the drop, with or without other writes lost.
        for fold in dict.fromkeys(fold for fold, _ in self.departures):
            if self._local_holder(fold) is None:
                self.network.publish(user_key(fold), None)
        self.watching.ask_again()

    def resync(self, rooms: Collection[str] | None = None) -> None:
        """Redis lost data (a new epoch, or the end of some rooms): the nicks this node's
        users gave up lately are announced offline again, and its users online.
        A node that had not read the first announcement hears it now; one that had hears
        nothing new (hubbub.core.cluster_monitor: an offline of a holder it was not told of
        tells nobody, an online told already tells nobody)."""
        super().resync(rooms)
        for (fold, holder), nick in list(self.departures.items()):
            self._announce({"t": "offline", "f": fold, "n": nick, "i": holder})
        for user in list(self.server.users.values()):
            if _open_local(user):
                self._announce(self._online_event(user))

    def wallops(self, prefix: str, text: str) -> None:
        """A WALLOPS sent to this node's +w users: the other nodes' too."""
        self.submit(None, NETWORK_ROOM, {"t": "wallops", "p": prefix, "x": text}, None)

    # ------------------------------------------------------------------ applying

    def _apply_online(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        if mine:
            return  # its own node told its watchers when it happened (`local_online`)
        claim = event.get("c")
        holder = Holder(
            str(event.get("i", "")),
            str(event.get("o", "")),
            event["p"],
            claim if type(claim) is int else 0,
        )
        if holder.id and holder.id in self.by_network_id:
            self.presence[holder.id] = event["f"]
        if not self._held_here(event["f"], holder.id):
            self.watching.online(event["f"], holder, time_ms)
        else:
            # News of another holder while this node's user holds the nick: an earlier
            # holder's, applied late, or a later one's, whose node took the claim Redis lost
            # before this node learned its user lost it; if the user leaves first (QUIT,
            # NICK), the watchers told it went offline ask the directory who holds it.
            self.watching.ask_when_left(event["f"])

    def _apply_offline(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        fold, holder = event["f"], str(event.get("i", ""))
        if mine and not event.get("lost"):  # (a lost node's users: as another node's, below)
            # This node told its watchers when it happened (`local_offline`). But after Redis
            # lost data, one may have been told online since from a directory entry Redis had
            # back (the nick's drop lost), and the offline announced again (`resync`) is what
            # tells it (a cluster fuzz finding, seed 6204558): unless a user of this node holds
            # the nick now, whoever it is (the same user may have taken it back: its offline,
            # applied late, is stale, and told its watchers it was gone, seed 6205134).
            if self._local_holder(fold) is None:
                self.watching.offline(fold, holder, event["n"], time_ms)
            return
        if holder and self.presence.get(holder) == fold:
            del self.presence[holder]
        if not self._held_here(fold, holder):
            self.watching.offline(fold, holder, event["n"], time_ms)

    def nick_taken_elsewhere(self, fold: str) -> None:
        super().nick_taken_elsewhere(fold)
        self.watching.ask_watchers(fold)

    def _reclaimed(self, fold: str, won: int | None) -> None:
        user = self._local_holder(fold)
        anew = bool(won) and user is not None and user.claim_number != won
        super()._reclaimed(fold, won)
        if anew and user is not None and self._local_holder(fold) is user:
            # The claim was taken anew (Redis had lost it, or had it back from before another
            # node's release, which that node has released since): the user's directory entry,
            # written when the bus came back, was refused meanwhile (`PUT` writes nothing under
            # another node's claim), and MONITOR and WHOIS elsewhere took the user for offline
            # for good (a cluster fuzz finding, seed 6187622). Written again now.
            self._publish(user, None)

    def _held_here(self, fold: str, holder: str) -> bool:
        """Whether a user of this node holds `fold` now, and `holder` (another user) is not
        it: nicks are claimed one holder at a time, so news of another holder is of an
        earlier one, applied late (a lagging node applied another node's online and offline
        of a nick after its own user took it, and told its watchers it was offline: a cluster
        fuzz finding, seed 6152970)."""
        user = self._local_holder(fold)
        return user is not None and user.network_id != holder

    def unindex(self, user: User) -> None:
        if self.by_network_id.get(user.network_id) is user:
            self.presence.pop(user.network_id, None)
        super().unindex(user)

    def _apply_buried(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """A lost node's burial is over: its users leave the copies here (ClusterUsers), and
        every nick the watchers here were told one of them holds is offline."""
        super()._apply_buried(event, time_ms, mine)
        self.watching.node_buried(event, time_ms)

    def _apply_watched(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        """extended-monitor: another node's user's AWAY, SETNAME, ACCOUNT or NICK line, for
        the watchers here with the capability (those sharing a room with it, who saw the
        change as neighbours, are left out, as on one node)."""
        if mine:
            return  # its node told its own watchers when it happened
        server = self.server
        fold, cap = event["f"], event["c"]
        known = server.users.get(event.get("nf", fold))
        if known is not None:
            if not known.session.remote:
                return  # the nick is one of ours now: the line is about someone gone
            watchers = extended_watchers(server, known, cap or None, fold=fold)
        else:
            watchers = [
                watcher
                for watcher in server.monitor.of(fold)
                if "extended-monitor" in watcher.session.caps
                and (not cap or cap in watcher.session.caps)
            ]
        if watchers:
            server.fanout(watchers, event["l"], time_ms, account=event["a"])

    def _apply_join(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        """A JOIN, and the joiner's directory entry when it is one of ours."""
        super()._apply_join(channel, event, time_ms, mine)
        joiner = self.server.users.get(event["f"])
        if mine and joiner is not None and joiner in channel.members:
            self._rooms_changed((joiner,))

    def _apply_mode(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        """A MODE, and the directory entries of our members whose standing (`+o`, `+v`) or
        room's secrecy (`+s`) it changed."""
        super()._apply_mode(channel, event, time_ms, mine)
        changes = event["ch"]
        server = self.server
        if any(char == "s" for _, char, _ in changes):
            self._rooms_changed(list(channel.members))
            return
        targets = [
            server.users.get(server.fold(arg or "")) for _, char, arg in changes if char in "ov"
        ]
        self._rooms_changed([user for user in targets if user is not None])

    def _apply_wallops(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        if mine:
            return  # sent to this node's users when it was said
        server = self.server
        watchers = [user for user in server.registered_users() if user.wallops or user.oper]
        if watchers:
            server.fanout(watchers, f":{event['p']} WALLOPS :{event['x']}", time_ms)

    def _load_state(self, user: User, facts: Mapping[str, Any], time_ms: int) -> None:
        """The user's state, and its realname: its neighbours with `setname` see SETNAME."""
        super()._load_state(user, facts, time_ms)
        realname = facts.get("r", "")
        if not realname or realname == user.realname:
            return
        user.realname = realname
        server = self.server
        line = f":{user.prefix} SETNAME :{realname}"
        watchers = [u for u in server.neighbours(user) if "setname" in u.session.caps]
        if watchers:
            server.fanout(watchers, line, time_ms, account=user.account)
        notify_monitors(server, user, "setname", line)  # extended-monitor

    # ------------------------------------------------------------------ asking the network

    def stranger(self, fold: str, facts: Mapping[str, Any]) -> User:
        """A user of another node from its directory entry, to answer about (never added to
        this node's users)."""
        session = Session(NOWHERE, facts["h"], 0, float(facts.get("so", 0)), False)
        session.phase = Phase.REGISTERED
        user = session.user
        user.nick, user.fold = facts["n"], fold
        user.username, user.realname, user.hostname = facts["u"], facts["r"], facts["h"]
        user.account = facts.get("a", "")
        user.server = str(facts.get("sv", ""))
        load_user_state(user, facts)
        # Its rooms (no secret one: see `entry`), as rooms of its own so that WHOIS and WHO
        # show them with its standing as they show a known user's.
        for name, standing in facts.get("c", ()):
            channel = Channel(name, self.server.fold(name), 0)
            channel.members[user] = Membership("o" in standing, "v" in standing)
            user.channels[channel.fold] = channel
        return user

    def who(
        self,
        reply: Reply,
        mask: str,
        matches: Callable[[Sequence[str]], bool],
        limit: int,
        answer: Callable[[Reply, list[User]], None],
    ) -> None:
        """WHO with a mask, the network's part: up to `limit` users of other nodes this node
        does not know whose nick, user, host or realname `matches`, from the directory,
        then `answer(later, users)`. A `+i` user is left out: it could show only to someone
        sharing a room with it, and such a user would be known here. The bus unavailable:
        FAIL WHO TEMPORARILY_UNAVAILABLE, and only the users known here are listed."""
        server = self.server

        def wanted(entry: str) -> bool:
            try:
                facts = json.loads(entry)
                fields = (facts["n"], facts["u"], facts["h"], facts["r"])
                invisible = "i" in facts.get("um", "")
            except (ValueError, KeyError, TypeError):  # a node of another version
                return False
            return not invisible and server.fold(fields[0]) not in server.users and matches(fields)

        def answered(later: Reply, entries: Any) -> None:
            if entries is None:
                text = (
                    "Only the users this server knows are listed: the network cannot be asked now"
                )
                later.fail("WHO", "TEMPORARILY_UNAVAILABLE", mask, text=text)
                entries = []
            strangers = []
            for entry in entries:
                facts = json.loads(entry)
                fold = server.fold(facts["n"])
                if fold not in server.users:  # not met here meanwhile
                    strangers.append(self.stranger(fold, facts))
            answer(later, strangers)

        self.network.users(wanted, limit, reply.later(answered))

    def find(self, reply: Reply, command: str, nick: str, found: Any) -> None:
        """Ask the directory for `nick` (nobody here has it): `found(later, user or None)`,
        or FAIL <command> TEMPORARILY_UNAVAILABLE when the bus cannot be asked."""
        fold = self.server.fold(nick)

        def answered(later: Reply, entries: Any) -> None:
            if entries is None:
                later.fail(command, "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                found(later, None)
                return
            entry = entries[0]
            user = None
            if entry is not None and self.server.fold(json.loads(entry)["n"]) == fold:
                user = self.stranger(fold, json.loads(entry))
            found(later, user)

        self.network.lookup([user_key(fold)], reply.later(answered))

    def rooms_elsewhere(
        self,
        reply: Reply,
        user: User,
        answer: Callable[[Reply, list[tuple[str, Membership]]], None],
    ) -> None:
        """WHOIS of a user of another node that this node knows (it shares a room with a user
        here): the rooms it is in that this node does not follow, from its directory entry,
        for `answer(later, [(name, standing)])`. The bus unavailable, or the entry not
        there: none (the rooms followed here are known anyway)."""
        server = self.server
        fold = user.fold

        def answered(later: Reply, entries: Any) -> None:
            entry = entries[0] if entries else None
            rooms: list[tuple[str, Membership]] = []
            if entry is not None:
                facts = json.loads(entry)
                if server.fold(facts["n"]) == fold:
                    for name, standing in facts.get("c", ()):
                        if server.fold(name) not in server.channels:  # else: known here
                            rooms.append((name, Membership("o" in standing, "v" in standing)))
            answer(later, rooms)

        self.network.lookup([user_key(fold)], reply.later(answered))

    def find_home(self, fold: str, done: Callable[[tuple[str, str, str] | None], None]) -> None:
        """A private message's recipient nobody here has: its node, away state (`301`) and
        account (the history key's side) from the directory; from its nick claim when it is
        not in the directory (yet)."""
        by_claim = super().find_home

        def answered(entries: list[str | None] | None) -> None:
            if entries is None:
                done(None)
            elif entries[0] is None:
                by_claim(fold, done)
            else:
                facts = json.loads(entries[0])
                account_id = str(facts.get("ai", ""))
                theirs = party(self.server, account_id) if account_id else fold
                done((str(facts.get("node", "")), str(facts.get("aw", "")), theirs))

        self.network.lookup([user_key(fold)], answered)

    def monitor_status(self, reply: Reply, targets: list[str]) -> None:
        """MONITOR's 730/731 in a cluster: the users known here, and the directory for the
        nicks nobody here has (online on another node, or nowhere)."""
        self.watching.status(reply, targets, self._known_holder)

    def _known_holder(self, target: str) -> Holder | None:
        """Who holds `target` as this node knows (its users, and its copy of others')."""
        found = self.server.find_user(target)
        if found is None:
            return None
        if found.session.remote:
            # Only a copy the network room said is online under this nick since it was made
            # answers; else the directory is asked. (An `offline` applied before the copy was
            # made, from a room's events this node read later, left nothing to say the copy
            # was behind: a cluster fuzz finding, seed 6160882.)
            if self.presence.get(found.network_id) != found.fold:
                return None
            return Holder(found.network_id, self.homes.get(found, ""), found.prefix)
        return Holder(found.network_id, self.node, found.prefix)

    def list(self, reply: Reply, wanted: ListFilter) -> None:
        """LIST across the network: the rooms followed here from this node's copy, the others
        from the bus's room state."""
        from hubbub.core.channels import send_list  # channels imports the core's commands

        server = self.server

        def answered(later: Reply, summaries: Any) -> None:
            if summaries is None:
                text = "Only this server's rooms are listed: the network cannot be asked now"
                later.fail("LIST", "TEMPORARILY_UNAVAILABLE", text=text)
                summaries = []
            others = [
                room
                for summary in summaries
                if summary["fold"] not in server.channels
                and (room := summarised(summary)) is not None
            ]
            send_list(server, later, wanted, others)

        self.network.room_summaries(server.config.limits.list_replies, reply.later(answered))


def summarised(summary: Mapping[str, str]) -> tuple[Channel, int] | None:
    """A room of the network (not followed here) from its summary, and its member count."""
    try:
        room = json.loads(summary["room"])
        channel = Channel(room["name"], summary["fold"], int(room["created"]))
        load_mode_fields(channel, summary)
        topic = json.loads(summary.get("topic", "null"))
        if topic is not None:
            channel.topic = Topic(topic["text"], topic["setter"], int(topic["at"]))
        return channel, int(summary["count"])
    except (KeyError, TypeError, ValueError):  # a node of another version: left out
        return None


def _open_local(user: User) -> bool:
    """A user of this node, registered and still connected."""
    session = user.session
    return not session.remote and session.registered and not session.closed


def _written(reply: Reply, written: object) -> None:
    """A directory write a command waited for: nothing to add (refused: the change is this
    node's until the bus is back, and is written then)."""


#: Its room events: `join` and `mode` extend hubbub.core.cluster_apply's appliers with the
#: directory entry's rooms, so these entries replace those (a table holds functions, not
#: methods looked up per instance). (A user's realname, SETNAME, is `_load_state`'s.)
DIRECTORY_APPLIERS: dict[str, RoomApplier] = {
    "join": ClusterDirectory._apply_join,
    "mode": ClusterDirectory._apply_mode,
}

#: Its events for nodes rather than rooms, in the network room (hubbub.core.network merges
#: every layer's tables).
DIRECTORY_EVENTS: dict[str, RoomlessApplier] = {
    "online": ClusterDirectory._apply_online,
    "offline": ClusterDirectory._apply_offline,
    "buried": ClusterDirectory._apply_buried,
    "wallops": ClusterDirectory._apply_wallops,
    "watched": ClusterDirectory._apply_watched,
}
