"""Cluster mode in the core: room events sequenced network-wide, applied in sequence order.

With a `Network` port (hubbub.core.ports; hubbub.cluster.node implements it over the Redis
bus), several hubbub nodes are one network. A room event — PRIVMSG / NOTICE / TAGMSG to a
channel, JOIN, PART, QUIT, NICK, TOPIC, KICK — is not applied where it is said: the handler
checks it against this node's view of the room, hands a payload to `Network.sequence`, and the
command's reply waits (`Reply.later`, so the client's later commands wait behind it, in order).
The bus numbers the event for its room and gives it back to every node that has members there;
`ChatServer.apply_sequenced` then applies it — room state, delivery to local members, history —
in the same order everywhere. The sender's own echo and labeled response come then too. Refused
by the bus (unavailable): `FAIL <command> TEMPORARILY_UNAVAILABLE`, nothing accepted.

Remote users. A member on another node is a `User` whose session's link is `model.NOWHERE`:
it is in `channel.members` and `server.users` (NAMES, WHO, WHOIS, LIST counts, nick lookups see
it) but never in `server.sessions` (nothing counts it as local), and the fan-out groups skip it
(its own node delivers to it). A node knows the users of the rooms it is subscribed to: the
room's state fields (`m:<fold>` per member, `topic`, `modes`, `room`), kept by the bus
atomically with the sequence numbers, rebuild them when a node opens a room.

A local user who quits stays in its rooms without a connection (its link becomes NOWHERE) until
its QUIT comes back from each of them; its nick claim is released after the last.

Nicks are unique network-wide through the bus's claims (`nick:<fold>`): registration and NICK
wait for the claim. msgids are made here (the per-process random prefix and a counter are unique
network-wide already); the time of a sequenced event is the bus's (`time_ms`), which never goes
backwards within a room.

History: every node writes every event it applies to the store (PostgreSQL in a cluster, where
the writes are idempotent by (target, msgid)), in sequence order. A node writes event k only
after event k-1, so whichever node inserts an event first, the store's append order is the
room's sequence order, and CHATHISTORY answers the same, in the live order, on every node; an
event is missing from history only if every node in its room died before writing it (see
docs/cluster.md for why not "each node its own users' events").

Channel MODE is worked out on a copy of the room (the numerics for what is refused come at once)
and sequenced as the changes that take effect, with the room's whole mode state as a field.

Private messages to a user of another node go through that node's inbox room (`ports.inbox`).

Not network-wide yet: user modes, INVITE, AWAY, KILL, K-/D-lines; a user who shares no room
with this node is unknown here (WHOIS, private messages).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hubbub.core.budget import refuse_new_channel
from hubbub.core.channels import admission, arrived, enter
from hubbub.core.messaging import echo, fit, refuse_unstorable
from hubbub.core.model import (
    FLAG_MODES,
    NOWHERE,
    Ban,
    Channel,
    Membership,
    Phase,
    Session,
    Topic,
    User,
)
from hubbub.core.modes import change_modes, mode_line
from hubbub.core.ownership import check_nick, nick_refused
from hubbub.core.ports import inbox
from hubbub.core.privacy import side
from hubbub.core.redact import is_reaction, remember_sent
from hubbub.core.registered import changed as save_registered
from hubbub.core.registration import rename, try_register
from hubbub.core.roomflood import format_limit, parse_limit, set_limit
from hubbub.history.policy import stored_tags
from hubbub.history.record import Record, dm_key
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.ports import Network
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.chat")

UNAVAILABLE = "The network cannot take it right now; nothing was sent, try again later"
#: The reason other nodes show when a node's users leave with it (its lease ran out).
NODE_LOST_REASON = "Server lost: its connection to the network timed out"


def nick_key(fold: str) -> str:
    """The bus claim that makes a nick unique network-wide."""
    return "nick:" + fold


def member_field(fold: str) -> str:
    """The room state field that says `fold` is a member (its facts and standing, JSON)."""
    return "m:" + fold


def user_facts(user: User, node: str) -> dict[str, Any]:
    """What other nodes need to show a user: names, host, account, and where it lives."""
    return {
        "n": user.nick,
        "u": user.username,
        "h": user.hostname,
        "r": user.realname,
        "a": user.account,
        "ai": user.account_id,
        "node": node,
    }


def member_json(facts: Mapping[str, Any], membership: Membership) -> str:
    return json.dumps(
        {**facts, "o": membership.op, "v": membership.voice, "j": membership.joined_ms}
    )


def quit_payload(fold: str, prefix: str, reason: str, msgid: str) -> bytes:
    """A QUIT for one room (also what a surviving node sequences for a lost node's users)."""
    return json.dumps({"t": "quit", "f": fold, "p": prefix, "r": reason, "m": msgid}).encode()


LIST_MODES = {"b": "bans", "e": "excepts", "I": "invex"}


def modes_json(channel: Channel) -> str:
    """The room state field `modes`: flags, key, limit, +f and the +b +e +I lists."""
    return json.dumps(
        {
            "flags": [char for char, attr in FLAG_MODES.items() if getattr(channel, attr)],
            "key": channel.key,
            "limit": channel.limit,
            "flood": format_limit(channel.flood_limit) if channel.flood_limit else "",
            "lists": {
                char: [[ban.mask, ban.setter, ban.set_at] for ban in getattr(channel, attr)]
                for char, attr in LIST_MODES.items()
            },
        }
    )


def load_modes(channel: Channel, text: str) -> None:
    modes = json.loads(text)
    for char, attr in FLAG_MODES.items():
        setattr(channel, attr, char in modes["flags"])
    channel.key = modes["key"]
    channel.limit = modes["limit"]
    set_limit(channel, parse_limit(modes["flood"]) if modes["flood"] else None)
    for char, attr in LIST_MODES.items():
        setattr(channel, attr, [Ban(*entry) for entry in modes["lists"].get(char, [])])


def scratch_copy(channel: Channel) -> Channel:
    """A copy of the room's modes and standings that a MODE command may change, to learn
    what it would do before it is sequenced (the room itself changes when it comes back)."""
    copy = Channel(channel.name, channel.fold, channel.created)
    for attr in FLAG_MODES.values():
        setattr(copy, attr, getattr(channel, attr))
    copy.key, copy.limit, copy.flood_limit = channel.key, channel.limit, channel.flood_limit
    for attr in LIST_MODES.values():
        setattr(copy, attr, list(getattr(channel, attr)))
    copy.members = {
        user: Membership(standing.op, standing.voice, standing.joined_ms)
        for user, standing in channel.members.items()
    }
    copy.registered = channel.registered
    return copy


def local(user: User | None) -> User | None:
    """`user` if it has a connection here: fan-out skips only local writers (a remote user
    has none in the room's groups, and counting it as skipped would miscount deliveries)."""
    return user if user is not None and not user.session.remote else None


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


class ClusterState:
    """The core's side of the cluster: what waits on the bus, and applying what it sends."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        self.server = server
        self.network = network
        self.node = network.node_id
        # Token -> the completion of the reply waiting for its event to come back.
        self.pending: dict[str, Callable[[Any], None]] = {}
        self.token = 0
        # Rooms being opened (subscribed): what to run once their state is here.
        self.opening: dict[str, list[Callable[[bool], None]]] = {}
        # JOINs of local users sent but not back yet, per room: the room stays open for them.
        self.joining: dict[str, int] = {}
        # QUITs that could not be sequenced (bus unavailable), sent again when it is back:
        # (room, fold, prefix, reason).
        self.unsent: list[tuple[str, str, str, str]] = []
        self.available = True
        # The node each remote user lives on (its member fields say so; the janitor reads it).
        self.homes: dict[User, str] = {}
        # The rooms each local user's JOINs are on their way to: counted against
        # limits.channels_per_user with the rooms it is in, and never sent twice.
        self.entering: dict[User, set[str]] = {}
        # Per (room, newcomer) whose join replay is being read: msgids it got live meanwhile.
        self.live: dict[tuple[str, User], set[str]] = {}

    # ------------------------------------------------------------------ sending

    def submit(
        self,
        reply: Reply | None,
        room: str,
        event: dict[str, Any],
        done: Callable[[Reply, Any], None] | None,
        set_fields: Mapping[str, str] | None = None,
        delete_fields: tuple[str, ...] = (),
        refused: Callable[[], None] | None = None,
        answered_when_sequenced: bool = False,
    ) -> None:
        """Hand one room event to the bus. `done(reply, result)` runs when it comes back
        (result: (time_ms, event)) or is refused (result: None); `refused()` runs on refusal
        whether or not the client is still there. `answered_when_sequenced`: for a room this
        node does not follow (another node's inbox), `done` runs as soon as it is sequenced."""
        self.token += 1
        token = f"{self.token:x}"
        event["k"] = token
        if reply is not None and done is not None:
            self.pending[token] = reply.later(done)

        def sequenced(time_ms: int | None) -> None:
            if time_ms is not None:
                if answered_when_sequenced:
                    complete = self.pending.pop(token, None)
                    if complete is not None:
                        complete((time_ms, event))
                return  # the event comes back through apply_sequenced
            complete = self.pending.pop(token, None)
            if refused is not None:
                refused()
            if complete is not None:
                complete(None)

        self.network.sequence(room, encode(event), set_fields or {}, delete_fields, sequenced)

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

        def done(later: Reply, result: Any) -> None:
            if result is None:
                if cmd != "NOTICE":  # a NOTICE never gets an automatic reply
                    later.fail(cmd, "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            msgid = sent["m"]
            if stored is not None and not sender.account:
                remember_sent(later.session, msgid)  # so that this connection may REDACT it
            elif sent["re"]:
                remember_sent(later.session, msgid, channel.fold)
            echo(server, later, cmd, line, time_ms, msgid, client_tags)

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

        def located(later: Reply, home: Any) -> None:
            if home is None:
                if errors:
                    later.fail(cmd, "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
            elif not home or home == self.node:  # nobody, or one of ours that just left
                if errors:
                    later.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
            else:  # its account is not known here: its side of the key is its nick
                target = (nick, fold, home, fold)
                self._send_direct(later, sender, target, cmd, text, tags, client_tags, stored)

        self.network.locate(nick_key(fold), reply.later(located))

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

    def _apply_direct(self, event: dict[str, Any], time_ms: int) -> None:
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
        if fold in server.channels:
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
                self._join_new(later, user, name, fold)

        complete = reply.later(opened)
        self.joining[fold] = self.joining.get(fold, 0) + 1

        def ready(ok: bool) -> None:
            complete(ok)  # sends the JOIN (counted in `joining` again) unless refused
            self._joined_or_not(fold)

        self.open(fold, ready)

    def open(self, fold: str, then: Callable[[bool], None]) -> None:
        """Subscribe to a room (once, however many wait for it) and load its state."""
        waiting = self.opening.get(fold)
        if waiting is not None:
            waiting.append(then)
            return
        self.opening[fold] = [then]

        def loaded(fields: Mapping[str, str] | None) -> None:
            if fields is not None and fold not in self.server.channels and fields:
                self.load_room(fold, fields)
            # Every waiter is a JOIN, which closes the room again if nobody came in.
            for waiter in self.opening.pop(fold, []):
                waiter(fields is not None)

        self.network.open(fold, loaded)

    def _join_known(self, reply: Reply, user: User, fold: str, key: str) -> None:
        channel = self.server.channels[fold]
        membership = (
            None if user in channel.members else admission(self.server, reply, channel, user, key)
        )
        if membership is None:
            self._entered(user, fold)
            return
        self._send_join(reply, user, channel.name, fold, membership, None)

    def _join_new(self, reply: Reply, user: User, name: str, fold: str) -> None:
        server = self.server
        refused = refuse_new_channel(server, user.session)  # hubbub.core.budget
        if refused is not None:
            self._entered(user, fold)
            reply.numeric(n.ERR_TOOMANYCHANNELS, name, refused)
            return
        since = server.stamp()
        self._send_join(reply, user, name, fold, Membership(op=True), (int(server.now), since))

    def _send_join(
        self,
        reply: Reply,
        user: User,
        name: str,
        fold: str,
        membership: Membership,
        created: tuple[int, int] | None,
    ) -> None:
        facts = user_facts(user, self.node)
        event: dict[str, Any] = {
            "t": "join",
            "f": user.fold,
            "u": facts,
            "o": membership.op,
            "nm": name,
            "m": self.server.next_msgid(),
        }
        set_fields = {member_field(user.fold): member_json(facts, membership)}
        deleted: tuple[str, ...] = ()
        if created is not None:
            # A new room: what a room of this name had before (topic, modes) is not its.
            event["cr"] = list(created)
            set_fields["room"] = json.dumps(
                {"name": name, "created": created[0], "since": created[1]}
            )
            deleted = ("topic", "modes")
        self.joining[fold] = self.joining.get(fold, 0) + 1
        server = self.server

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("JOIN", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            channel = server.channels.get(fold)
            if channel is None or user not in channel.members or sent.get("dup"):
                return
            line = f":{user.prefix} JOIN {channel.name}"
            arrived(server, later, channel, user, line, time_ms, sent["m"])

        def refused() -> None:
            self._entered(user, fold)
            self._joined_or_not(fold)

        self.submit(reply, fold, event, done, set_fields, deleted, refused=refused)

    def _entered(self, user: User, fold: str) -> None:
        """A JOIN of `user` to `fold` is no longer on its way (in, refused, or failed)."""
        entering = self.entering.get(user)
        if entering is not None:
            entering.discard(fold)
            if not entering:
                del self.entering[user]

    def _joined_or_not(self, fold: str) -> None:
        """A JOIN of a local user is back (or refused): the room may close if nobody came."""
        left = self.joining.get(fold, 0) - 1
        if left > 0:
            self.joining[fold] = left
            return
        self.joining.pop(fold, None)
        channel = self.server.channels.get(fold)
        if fold not in self.opening and (channel is None or not self.has_local(channel)):
            self._drop_room(fold, channel)

    def part(self, reply: Reply, channel: Channel, user: User, reason: str) -> None:
        event = {"t": "part", "f": user.fold, "p": user.prefix, "r": reason}
        event["m"] = self.server.next_msgid()
        server = self.server

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("PART", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if "l" in sent:  # it was still a member when its PART came back
                server.send_self(later, sent["l"], time_ms, sent["m"], account=user.account)

        self.submit(reply, channel.fold, event, done, delete_fields=(member_field(user.fold),))

    def topic(self, reply: Reply, channel: Channel, user: User, text: str) -> None:
        server = self.server
        set_at = int(server.now)
        event = {"t": "topic", "f": user.fold, "p": user.prefix, "x": text, "at": set_at}
        event["m"] = server.next_msgid()
        line = f":{user.prefix} TOPIC {channel.name} :{text}"

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("TOPIC", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            server.send_self(later, line, time_ms, sent["m"], account=user.account)

        if text:
            topic = json.dumps({"text": text, "setter": user.prefix, "at": set_at})
            self.submit(reply, channel.fold, event, done, {"topic": topic})
        else:
            self.submit(reply, channel.fold, event, done, delete_fields=("topic",))

    def kick(self, reply: Reply, channel: Channel, user: User, target: User, reason: str) -> None:
        server = self.server
        line = f":{user.prefix} KICK {channel.name} {target.nick} :{reason}"
        event = {"t": "kick", "f": user.fold, "p": user.prefix, "v": target.fold, "l": line}
        event["r"] = reason
        event["tn"] = target.nick
        event["m"] = server.next_msgid()

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("KICK", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            server.send_self(later, line, time_ms, sent["m"], account=user.account)

        self.submit(reply, channel.fold, event, done, delete_fields=(member_field(target.fold),))

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
        event["ch"] = [list(change) for change in applied]
        event["at"] = int(server.now)
        event["m"] = server.next_msgid()
        set_fields = {"modes": modes_json(scratch)}
        for _, char, arg in applied:
            if char in "ov" and arg is not None:
                target = server.find_user(arg)
                standing = scratch.members.get(target) if target is not None else None
                if target is not None and standing is not None:
                    facts = user_facts(target, self.homes.get(target, self.node))
                    set_fields[member_field(target.fold)] = member_json(facts, standing)

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("MODE", "TEMPORARILY_UNAVAILABLE", channel.name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            server.send_self(later, line, time_ms, sent["m"], account=user.account)

        self.submit(reply, channel.fold, event, done, set_fields)

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
            if not won or (holder is not None and holder is not user):
                if won:
                    self.network.release(nick_key(fold))
                later.numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
                if later.session.phase is not Phase.REGISTERED:
                    later.session.wanted_nick = nick
                return
            self._nick_claimed(later, user, nick, fold, old_fold)

        def answered(won: bool | None) -> None:
            if won and session.closed:  # gone meanwhile: the claim is nobody's
                self.network.release(nick_key(fold))
            complete(won)

        complete = reply.later(claimed)
        self.network.claim(nick_key(fold), self.node, answered)

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
            rename(server, user, nick, fold, time_ms, line)
            if fold != old:
                self.network.release(nick_key(old))
            check_nick(server, user, reply)
            return
        facts = user_facts(user, self.node)
        facts["n"] = nick

        def done(later: Reply, result: Any) -> None:
            if result is None:
                if user.fold != fold:  # not renamed by another room's event: not its nick
                    self.network.release(nick_key(fold))
                later.fail("NICK", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if sent.get("done"):  # this room's event renamed the user: the echo goes here
                server.send_self(later, line, time_ms, sent["m"], account=user.account)
                check_nick(server, user, later)

        for channel in list(user.channels.values()):
            standing = channel.members.get(user) or Membership()
            event = {"t": "nick", "f": old, "p": old_prefix, "n": nick, "on": user.nick}
            event["m"] = server.next_msgid()
            deleted = (member_field(old),) if fold != old else ()
            self.submit(
                reply,
                channel.fold,
                event,
                done,
                {member_field(fold): member_json(facts, standing)},
                deleted,
            )

    def renamed(self, user: User, old_prefix: str, old_fold: str) -> None:
        """A local user was renamed by the server (a guest nick, hubbub.core.ownership): the
        nick claims and the other nodes follow. Its rooms' NICK events, applied here, find the
        user renamed already and only store; elsewhere they rename it."""
        self.network.claim(nick_key(user.fold), self.node, lambda won: None)
        self.network.release(nick_key(old_fold))
        facts = user_facts(user, self.node)
        old_nick = old_prefix.partition("!")[0]
        for channel in list(user.channels.values()):
            standing = channel.members.get(user) or Membership()
            event = {"t": "nick", "f": old_fold, "p": old_prefix, "n": user.nick, "on": old_nick}
            event["m"] = self.server.next_msgid()
            set_fields = {member_field(user.fold): member_json(facts, standing)}
            self.submit(None, channel.fold, event, None, set_fields, (member_field(old_fold),))

    def quit(self, user: User, reason: str, was_registered: bool) -> bool:
        """A local connection ended: its QUIT is sequenced in each of its rooms, and the user
        stays there without a connection until each comes back. Returns whether the user can be
        forgotten now (it is in no room)."""
        session = user.session
        session.link = NOWHERE
        session.write = NOWHERE.write
        self.entering.pop(user, None)
        if not was_registered or not user.channels:
            if user.fold and self.server.users.get(user.fold) is user:
                self.network.release(nick_key(user.fold))
            return True
        prefix = user.prefix
        for channel in list(user.channels.values()):
            channel.groups = None  # its writer leaves the fan-out groups now
            self._send_quit(channel.fold, user.fold, prefix, reason)
        return False

    def _send_quit(self, room: str, fold: str, prefix: str, reason: str) -> None:
        event = {"t": "quit", "f": fold, "p": prefix, "r": reason, "m": self.server.next_msgid()}

        def refused() -> None:
            # The bus is unavailable: the user leaves here now, and the QUIT is sent again
            # when it is back (set_available), so the other nodes see it then.
            self.unsent.append((room, fold, prefix, reason))
            self._leave_here(room, fold, prefix, reason, event["m"])

        self.submit(None, room, event, None, delete_fields=(member_field(fold),), refused=refused)

    def _leave_here(self, room: str, fold: str, prefix: str, reason: str, msgid: str) -> None:
        # "local": applied here only, not stored (the QUIT sent again later is the one kept).
        event = {"t": "quit", "f": fold, "p": prefix, "r": reason, "m": msgid, "local": True}
        channel = self.server.channels.get(room)
        if channel is not None:
            self._apply_quit(channel, event, self.server.stamp(), False)

    def set_available(self, available: bool) -> None:
        self.available = available
        if available and self.unsent:
            unsent, self.unsent = self.unsent, []
            for room, fold, prefix, reason in unsent:
                self.submit(
                    None,
                    room,
                    {
                        "t": "quit",
                        "f": fold,
                        "p": prefix,
                        "r": reason,
                        "m": self.server.next_msgid(),
                    },
                    None,
                    delete_fields=(member_field(fold),),
                )

    # ------------------------------------------------------------------ applying

    def apply(self, room: str, seq: int, time_ms: int, node: str, payload: bytes) -> None:
        """One sequenced event, in its room's order."""
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
        if kind == "dm":
            try:
                self._apply_direct(event, time_ms)
            except (KeyError, TypeError, ValueError):
                log.exception("%s: event %d could not be applied; skipped", room, seq)
            return
        mine = node == self.node
        complete = self.pending.pop(event.get("k", ""), None) if mine else None
        if channel is None and kind == "join" and room in self.joining:
            # The room was empty when this node opened it: its first JOIN creates it here.
            created, since = event.get("cr") or (int(self.server.now), time_ms)
            channel = Channel(event["nm"], room, created)
            channel.history_since_ms = since
            self.server.channels[room] = channel
        if channel is not None:
            applier = APPLIERS.get(kind)
            if applier is not None:
                try:
                    applier(self, channel, event, time_ms, mine)
                except (KeyError, TypeError, ValueError):
                    # A node of another version, or a bug: one event skipped, never a crash.
                    log.exception("room %s: event %d could not be applied; skipped", room, seq)
        elif kind == "join" and mine:
            self._joined_or_not(room)
        if complete is not None:
            complete((time_ms, event))
        after = event.get("after")
        if after is not None:
            after()
        if channel is not None and channel.replaying:
            # Other nodes write to the shared store while a newcomer's replay is being read:
            # what it gets live (held behind the replay) must not be replayed too.
            msgid = event.get("m", "")
            for user in channel.replaying:
                self.live.setdefault((room, user), set()).add(msgid)

    def _record(
        self,
        channel: Channel,
        command: str,
        params: tuple[str, ...],
        time_ms: int,
        event: dict[str, Any],
    ) -> None:
        """Store a membership or topic event (history.store_events), unless it was applied
        here only (a QUIT while the bus was away, sent again later)."""
        if self.server.config.history.store_events and "local" not in event:
            record = Record(channel.fold, event["m"], time_ms, event["p"], command, params)
            self.server.history.append(record)

    def _apply_message(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        sender = server.users.get(event["f"])
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
        if stored is not None and not status and "local" not in event:
            text = event["x"]
            params = (channel.name,) if cmd == "TAGMSG" else (channel.name, text)
            server.history.append(
                Record(
                    channel.fold, event["m"], time_ms, event["p"], cmd, params, stored, event["i"]
                )
            )
        if cmd != "TAGMSG" and mine:
            log.info("%s <%s> %s", channel.name, event["p"].partition("!")[0], event["x"])

    def _apply_join(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        fold = event["f"]
        if mine:
            user = server.users.get(fold)
            if user is not None:
                self._entered(user, channel.fold)
            if user is None or user.session.closed:
                # Gone while its JOIN was on its way: it leaves again, network-wide, and the
                # room closes here if nobody else of ours is in it.
                facts = event["u"]
                prefix = f"{facts['n']}!{facts['u']}@{facts['h']}"
                self._send_quit(channel.fold, fold, prefix, "Connection closed")
                self._joined_or_not(channel.fold)
                return
            self._joined_or_not_later(channel.fold)
        else:
            user = self.remote_user(fold, event["u"])
            if user is None:
                return
        if user in channel.members:
            event["dup"] = True  # a JOIN sent twice: its joiner hears it once
            return
        if not channel.members and "cr" in event:  # the room's first member creates it
            channel.created, channel.history_since_ms = event["cr"]
        membership = Membership(op=bool(event["o"]))
        enter(server, channel, user, membership, time_ms, event["m"])

        def record() -> None:
            # After the joiner's replay was asked for (its reply completes first), so its own
            # JOIN is never part of its replay, as on a single server.
            facts = event["u"]
            event["p"] = f"{facts['n']}!{facts['u']}@{facts['h']}"
            self._record(channel, "JOIN", (channel.name,), time_ms, event)

        event["after"] = record
        if mine:
            log.info("%s joined %s", user.nick, channel.name)

    def _joined_or_not_later(self, fold: str) -> None:
        left = self.joining.get(fold, 0) - 1
        if left > 0:
            self.joining[fold] = left
        else:
            self.joining.pop(fold, None)

    def _apply_part(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        user = server.users.get(event["f"])
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
        if "local" not in event:
            params = (channel.name, reason)
            self._record(channel, "PART", params, time_ms, event)
        server.remove_member(channel, user)

    def _apply_quit(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        user = server.users.get(event["f"])
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
        if "local" not in event:
            params = (event["r"],)
            self._record(channel, "QUIT", params, time_ms, event)
        server.remove_member(channel, user)

    def _apply_topic(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        text = event["x"]
        prefix = event["p"]
        channel.topic = Topic(text, prefix, event["at"]) if text else None
        line = f":{prefix} TOPIC {channel.name} :{text}"
        sender = server.users.get(event["f"])
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
        if mine:
            save_registered(server, channel)

    def _apply_kick(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        target = server.users.get(event["v"])
        if target is None or target not in channel.members:
            return
        sender = server.users.get(event["f"])
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
        server = self.server
        for sign, char, arg in event["ch"]:
            adding = sign == "+"
            if char in FLAG_MODES:
                setattr(channel, FLAG_MODES[char], adding)
            elif char in "ov":
                target = server.users.get(server.fold(arg or ""))
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
        sender = server.users.get(event["f"])
        server.fanout(
            channel.members,
            event["l"],
            time_ms,
            event["m"],
            exclude=local(sender),
            channel=channel,
            account=sender.account if sender is not None else "",
        )
        if mine and any(char not in "ov" for _, char, _ in event["ch"]):
            save_registered(server, channel)  # a registered channel's modes are saved

    def _apply_nick(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        user = server.users.get(event["f"])
        nick = event["n"]
        renamed = user is None or user.nick != event["on"]
        if renamed:  # already, by its event in another room
            user = server.users.get(server.fold(nick))
        if user is None:
            return
        self._record(channel, "NICK", (nick,), time_ms, event)
        if renamed:
            return
        line = f":{event['p']} NICK :{nick}"
        neighbours = server.neighbours(user)
        server.fanout(neighbours, line, time_ms, event["m"], account=user.account)
        old_fold = user.fold
        rename(server, user, nick, server.fold(nick), time_ms, line)
        event["done"] = True
        if mine and user.fold != old_fold:
            self.network.release(nick_key(old_fold))

    # ------------------------------------------------------------------ resynchronising

    def local_nicks(self) -> list[str]:
        """The casefolded nicks of this node's users (claimed again after a bus restart)."""
        return [user.fold for user in self.server.users.values() if not user.session.remote]

    def presence(self) -> dict[str, dict[str, str]]:
        """Per room this node follows, the member fields of its own users there."""
        rooms: dict[str, dict[str, str]] = {}
        for fold, channel in self.server.channels.items():
            fields = {
                member_field(user.fold): member_json(user_facts(user, self.node), standing)
                for user, standing in channel.members.items()
                if not user.session.remote
            }
            if fields:
                fields["room"] = json.dumps(
                    {
                        "name": channel.name,
                        "created": channel.created,
                        "since": channel.history_since_ms,
                    }
                )
                fields["modes"] = modes_json(channel)
                if channel.topic is not None:
                    topic = channel.topic
                    fields["topic"] = json.dumps(
                        {"text": topic.text, "setter": topic.setter, "at": topic.set_at}
                    )
                rooms[fold] = fields
        return rooms

    # ------------------------------------------------------------------ rooms and users

    def load_room(self, fold: str, fields: Mapping[str, str]) -> Channel | None:
        """A room opened here: its state and remote members from the bus's state fields."""
        server = self.server
        room = json.loads(fields.get("room", "null"))
        if room is None or not any(field.startswith("m:") for field in fields):
            return None  # nobody there: whoever joins creates it anew
        channel = Channel(room["name"], fold, int(room["created"]))
        channel.history_since_ms = int(room["since"])
        if "modes" in fields:
            load_modes(channel, fields["modes"])
        topic = json.loads(fields.get("topic", "null"))
        if topic is not None:
            channel.topic = Topic(topic["text"], topic["setter"], int(topic["at"]))
        server.channels[fold] = channel
        for field, value in fields.items():
            if not field.startswith("m:"):
                continue
            member = json.loads(value)
            user = self.remote_user(field[2:], member)
            if user is None:
                continue
            channel.members[user] = Membership(bool(member["o"]), bool(member["v"]), member["j"])
            user.channels[fold] = channel
        return channel

    def remote_user(self, fold: str, facts: Mapping[str, Any]) -> User | None:
        """The user of another node with these facts (made when first seen here)."""
        server = self.server
        user = server.users.get(fold)
        if user is not None:
            # Known already: a remote user, or (a stale member field) one of ours.
            return user if user.session.remote else None
        session = Session(NOWHERE, facts["h"], 0, server.now, False)
        session.phase = Phase.REGISTERED
        user = session.user
        user.nick, user.fold = facts["n"], fold
        user.username, user.realname, user.hostname = facts["u"], facts["r"], facts["h"]
        user.account = facts.get("a", "")
        user.account_id = facts.get("ai", "")
        server.users[fold] = user
        self.homes[user] = facts.get("node", "")
        return user

    def known(self) -> list[User]:
        """Every registered user this node knows: its own, and those of other nodes that share
        a room with them (not the ones of its own that quit, whose QUITs are on their way)."""
        return [user for user in self.server.users.values() if user.session.registered]

    def has_local(self, channel: Channel) -> bool:
        return any(not member.session.remote for member in channel.members)

    def replayed(self, channel: Channel, user: User, records: list[Record]) -> list[Record]:
        """A newcomer's join replay without what it was given live while it was read."""
        live = self.live.pop((channel.fold, user), None)
        if not live:
            return records
        return [record for record in records if record.msgid not in live]

    def removed(self, channel: Channel, user: User) -> None:
        """After `user` left `channel` (server.remove_member)."""
        self.live.pop((channel.fold, user), None)
        if user.session.remote and not user.channels:
            self._forget(user)
        fold = channel.fold
        if self.joining.get(fold) or fold in self.opening or self.has_local(channel):
            return
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
        self.network.close(fold)

    def _forget(self, user: User) -> None:
        """A remote user (or a local one that quit) is in no room this node follows."""
        server = self.server
        self.homes.pop(user, None)
        if server.users.get(user.fold) is user:
            del server.users[user.fold]
            if user.session.closed:  # one of ours that quit: its nick is free now
                self.network.release(nick_key(user.fold))


APPLIERS: dict[str, Callable[[ClusterState, Channel, dict[str, Any], int, bool], None]] = {
    "msg": ClusterState._apply_message,
    "join": ClusterState._apply_join,
    "part": ClusterState._apply_part,
    "quit": ClusterState._apply_quit,
    "topic": ClusterState._apply_topic,
    "kick": ClusterState._apply_kick,
    "nick": ClusterState._apply_nick,
    "mode": ClusterState._apply_mode,
}
