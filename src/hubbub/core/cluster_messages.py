"""Message state network-wide: REDACT and EDIT in a room, and read markers.

* **REDACT** of a message in a room: the requester's node checks it against the store (the
  author, or an operator of the room: hubbub.core.redact) and sequences a `redact` event in
  the room. Every node that follows the room deletes the message from the store when it
  applies it and relays the REDACT to its own members. Every node deletes, not only the
  requester's: any node of the room may write the message (its sender's, or one that held it:
  hubbub.core.cluster_history), and a node whose history worker is a little behind would
  otherwise write the message back after the deletion; a node's worker takes its writes and
  the deletion in order, so the deletion comes after its own write of the message.
* **EDIT** in a room: checked the same way, sequenced as an `edit` event; the requester's
  node stores the edit (once: an edit is a new row linked to the message, and the message's
  row exists already, since the requester's node found it), every node relays the EDIT (or
  the correction line) to its own members.
* **REDACT and EDIT of a private message** are done where they are asked, as on one server
  (the store is shared); the other party, if it is on another node, gets the line there
  through that node's inbox room (`dmredact`, `dmedit`), and its node deletes a redacted
  message too. Refused by the bus (or the other party's node not found for it), the event
  waits for the bus's return (`unsent_direct`, bounded by `cluster.unsent_private_changes`).
* **METADATA of a user** is changed only on its own node (a user sets its own): the new map
  is sequenced in each of the user's rooms (`umeta`), with its member field rewritten (the
  facts carry the map, so a node that opens the room later has it); the first of those a node
  applies sets its copy and tells its own subscribers what changed, with change numbers
  (`ChangeNumbers`, as for logins: hubbub.core.cluster_accounts) so an older map never comes
  last; the user's facts carry the counter (`mv`), and a node takes the map from facts its
  node made where they are newer (cluster_rooms `_state_from_facts`). A change waits for a
  NICK of the user on its way, and one refused is sent again when the bus is back or the room
  written back.
* **METADATA of a room** may be set by its operators on any node: the change (the keys set or
  removed, not the whole map) is sequenced in the room (`cmeta`), and every node — the one it
  was set on too — applies the changes in the room's order, so concurrent changes on two
  nodes end the same everywhere; each node tells its own subscribers what changed on its copy.
  The room's state holds a field per key (`meta:<key>`), set or deleted by the event that
  changes it, for nodes that open the room later. A registered room's are saved in the
  registry with the room's state, whole and versioned, by every node that applies the
  change (hubbub.core.registered `changed`).
* **Read markers** belong to an account, whose connections may be on any node: a marker that
  moved (stored in the shared account store by the node that was asked) is announced in the
  room every node follows (`~accounts`, hubbub.core.cluster_accounts), and each node sends
  MARKREAD to its own connections of the account that negotiated the capability.

The requester is answered when the event comes back, like any room event; refused by the bus:
`FAIL <command> TEMPORARILY_UNAVAILABLE`, and nothing was changed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_accounts import ACCOUNTS_ROOM
from hubbub.core.cluster_apply import ClusterApply, ignore
from hubbub.core.cluster_fields import (
    METADATA_VERSION,
    UNAVAILABLE,
    metadata_field,
    nick_key,
)
from hubbub.core.cluster_versions import ChangeNumbers
from hubbub.core.edit import answer as answer_edit
from hubbub.core.edit import relay_to as relay_edit
from hubbub.core.metadata import announce
from hubbub.core.ports import inbox
from hubbub.core.readmarker import CAP as READ_MARKER_CAP
from hubbub.core.readmarker import marker_param
from hubbub.core.redact import answer as answer_redact
from hubbub.core.redact import relay_to as relay_redact
from hubbub.core.registered import changed as save_registered
from hubbub.history.record import Edit

if TYPE_CHECKING:
    from collections.abc import Callable

    from hubbub.core.model import Channel, User
    from hubbub.core.ports import Network
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.history.store import HistoryStore


log = logging.getLogger("hubbub.chat")


def redaction(key: str, msgid: str) -> Callable[[HistoryStore], bool]:
    """The store call that deletes one message (for the history worker)."""
    return lambda store: store.redact(key, msgid)


def changes(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str | None]]:
    """The keys whose value differs (None: removed), sorted."""
    keys = sorted(set(before) | set(after))
    return [(key, after.get(key)) for key in keys if before.get(key) != after.get(key)]


def metadata_fields(
    changed: list[tuple[str, str | None]],
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The room state fields a change of a room's metadata sets, and those it deletes."""
    set_fields = {metadata_field(key): value for key, value in changed if value is not None}
    delete_fields = tuple(metadata_field(key) for key, value in changed if value is None)
    return set_fields, delete_fields


class ClusterMessages(ClusterApply):
    """REDACT and EDIT in rooms, METADATA, and read markers, across nodes."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Change numbers of users' metadata: this node's, and the last applied per remote user.
        self.metadata_serial = 0
        self.metadata_versions = ChangeNumbers()
        # What the bus refused (unavailable): sent again when it is back. At most one entry per
        # local user, and per room the keys whose change was refused.
        self.metadata_unsent_users: dict[User, None] = {}  # (ordered: sent again as they came)
        self.metadata_unsent_rooms: dict[str, set[str]] = {}
        # Local users whose metadata changed while a NICK of theirs was on its way: sent once
        # it has settled (`_nick_settled`).
        self.metadata_after_nick: dict[User, None] = {}
        self.after_nick_by_kind["umeta"] = self.metadata_after_nick
        # Private REDACTs and EDITs the bus refused to carry to the other party's node (or
        # whose node it could not be asked for), oldest first: sent when it is back. That
        # node deletes a redacted message too (its own write of it may come later), so this
        # is more than a live line. At most `cluster.unsent_private_changes` (the oldest are
        # dropped, logged).
        self.unsent_direct: deque[tuple[str, dict[str, Any]]] = deque()

    # ------------------------------------------------------------------ REDACT

    def redact(self, reply: Reply, channel: Channel, msgid: str, reason: str) -> None:
        """A REDACT checked here (hubbub.core.redact): every node deletes and relays it."""
        server = self.server
        user = reply.session.user
        event = {
            "t": "redact",
            "f": user.fold,
            "id": user.network_id,
            "p": user.prefix,
            "a": user.account,
            "x": msgid,
            "r": reason,
            "m": server.next_msgid(),
        }
        name = channel.name

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("REDACT", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            # The deletion was handed to this node's writer as the event was applied: the
            # answer (the acknowledgement) is written once it is committed.
            server.history.acknowledge_after_commit(later.session.link)
            answer_redact(server, later, name, msgid, reason, time_ms, sent["m"])

        self.submit(reply, channel.fold, event, done)

    def _apply_redact(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        fold, msgid = channel.fold, event["x"]
        # The requester's node: a change its answer waits for (see `redact`).
        submit = server.history.change if mine else server.history.query
        submit(lambda store: store.redact(fold, msgid), ignore)
        sender = self.event_sender(channel, event)
        recipients = [member for member in channel.members if member is not sender]
        relay_redact(
            server,
            event["p"],
            event["a"],
            channel.name,
            msgid,
            event["r"],
            recipients,
            channel,
            time_ms,
            event["m"],
        )

    # ------------------------------------------------------------------ EDIT

    def edit(self, reply: Reply, channel: Channel, msgid: str, text: str, author: str) -> None:
        """An EDIT checked here (hubbub.core.edit): stored here, relayed by every node."""
        server = self.server
        user = reply.session.user
        event = {
            "t": "edit",
            "f": user.fold,
            "id": user.network_id,
            "p": user.prefix,
            "a": user.account,
            "i": user.account_id,
            "x": msgid,
            "tx": text,
            "au": author,
            "m": server.next_msgid(),
        }
        name = channel.name

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("EDIT", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            # The change was handed to this node's writer as the event was applied: the
            # answer (the acknowledgement) is written once it is committed.
            server.history.acknowledge_after_commit(later.session.link)
            answer_edit(server, later, name, msgid, text, time_ms, sent["m"])

        self.submit(reply, channel.fold, event, done)

    def _apply_edit(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        fold, msgid, text = channel.fold, event["x"], event["tx"]
        if mine:
            change = Edit(event["m"], time_ms, text, "", event["i"])
            server.history.change(lambda store: store.edit(fold, msgid, change), ignore)
        editor = self.event_sender(channel, event)
        recipients = [member for member in channel.members if member is not editor]
        relay_edit(
            server,
            event["p"],
            event["a"],
            channel.name,
            msgid,
            text,
            event["au"],
            recipients,
            channel,
            time_ms,
            event["m"],
        )

    # ------------------------------------------------------------------ private messages

    def direct_redact(
        self, user: User, name: str, msgid: str, reason: str, keys: list[str]
    ) -> None:
        """A REDACT of a private message done here (checked, deleted, answered): the other
        party, if it is on another node, is told there (and that node deletes it too)."""
        event = {
            "t": "dmredact",
            "p": user.prefix,
            "a": user.account,
            "nm": name,
            "x": msgid,
            "r": reason,
            "ks": keys,
            "m": self.server.next_msgid(),
        }
        self._to_home_of(name, event)

    def direct_edit(
        self, user: User, name: str, msgid: str, text: str, author: str, edit: Edit
    ) -> None:
        """An EDIT of a private message done here (checked, stored as `edit`, answered): the
        other party, if it is on another node, is told there (with the stored edit's msgid
        and time)."""
        event: dict[str, Any] = {
            "t": "dmedit",
            "p": user.prefix,
            "a": user.account,
            "nm": name,
            "x": msgid,
            "tx": text,
            "au": author,
            "m": edit.msgid,
            "at": edit.time_ms,
        }
        self._to_home_of(name, event)

    def _to_home_of(self, name: str, event: dict[str, Any]) -> None:
        """Send `event` to the inbox of the node of the user called `name`, if it is on another
        node (found as a private message finds it: known here, or by its nick's claim)."""
        server = self.server
        fold = server.fold(name)
        event["to"] = fold
        other = server.users.get(fold)
        if other is not None and not other.session.remote:
            return  # one of ours: told already
        home = self.homes.get(other, "") if other is not None else ""

        def send(node: str | None) -> None:
            if node is None:  # the bus cannot say where the other party is: later
                self._keep_unsent(name, event)
            elif node and node != self.node:
                # Refused: the change is made (the store is shared); the other party's node
                # is told when the bus is back.
                self.submit(
                    None,
                    inbox(node),
                    event,
                    None,
                    refused=lambda _room: self._keep_unsent(name, event),
                )

        if home:
            send(home)
        else:
            self.network.locate(nick_key(fold), send)

    def _keep_unsent(self, name: str, event: dict[str, Any]) -> None:
        limit = self.server.config.cluster.unsent_private_changes
        if limit <= 0:
            return
        if len(self.unsent_direct) >= limit:
            _name, dropped = self.unsent_direct.popleft()
            log.warning(
                "cluster: %s of %s not carried to the other party's node (bus away too long)",
                "REDACT" if dropped["t"] == "dmredact" else "EDIT",
                dropped["x"],
            )
        self.unsent_direct.append((name, event))

    def _apply_direct_redact(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        server = self.server
        recipient = server.users.get(event["to"])
        if recipient is None or recipient.session.remote:
            return  # gone meanwhile
        msgid = event["x"]
        for key in event["ks"]:  # after this node's own write of the message, as in a room
            server.history.query(redaction(key, msgid), ignore)
        relay_redact(
            server,
            event["p"],
            event["a"],
            event["nm"],
            msgid,
            event["r"],
            [recipient],
            None,
            time_ms,
            event["m"],
        )

    def _apply_direct_edit(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        server = self.server
        recipient = server.users.get(event["to"])
        if recipient is None or recipient.session.remote:
            return  # gone meanwhile
        relay_edit(
            server,
            event["p"],
            event["a"],
            event["nm"],
            event["x"],
            event["tx"],
            event["au"],
            [recipient],
            None,
            int(event["at"]),
            event["m"],
        )

    # ------------------------------------------------------------------ METADATA

    def user_metadata(self, user: User) -> None:
        """A local user's metadata changed (hubbub.core.metadata): its rooms' nodes follow."""
        if user.session.remote or not user.session.registered:
            return
        self.metadata_serial += 1  # (numbered even when not sent now: as the away state)
        if not user.channels:
            return  # its facts go with its next JOIN
        if self._renaming(user):
            # (Sent now, it named a nick the other nodes may not know yet, and they dropped
            # it: a cluster fuzz finding, seed 6112055. As a change of its away state.)
            self.metadata_after_nick[user] = None
            return
        for channel in list(user.channels.values()):
            event = {
                "t": "umeta",
                "f": user.fold,
                "id": user.network_id,
                "v": self.metadata_serial,
                "md": user.metadata or {},
            }
            self.submit_user_state(user, channel, event, self.metadata_unsent_users)

    def _apply_user_metadata(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        # (By its network id too: after Redis lost events, the nick may be another user's
        # here, whose metadata it set: a cluster fuzz finding, seed 6662040.)
        user = self.event_sender(channel, event)
        if mine or user is None or not user.session.remote:
            return  # ours: set and told here when it happened
        if not self.metadata_versions.take(user, int(event["v"]), server.users):
            return
        self._load_metadata(user, event["md"])

    def _state_from_facts(self, user: User, facts: Mapping[str, Any], time_ms: int) -> None:
        super()._state_from_facts(user, facts, time_ms)
        version = int(facts.get(METADATA_VERSION) or 0)
        if version and self.metadata_versions.take(user, version, self.server.users):
            self._load_metadata(user, facts.get("md") or {})

    def own_facts(self, user: User) -> dict[str, Any]:
        facts = super().own_facts(user)
        facts[METADATA_VERSION] = self.metadata_serial
        return facts

    def _load_metadata(self, user: User, metadata: Mapping[str, Any]) -> None:
        """A remote user's metadata; what changed is announced."""
        server = self.server
        values = {str(key): str(value) for key, value in dict(metadata).items()}
        changed = changes(user.metadata or {}, values)
        user.metadata = values or None
        if changed:
            announce(server, server.neighbours(user), None, user.prefix, user.nick, changed)

    def channel_metadata(
        self, channel: Channel, author: User, changed: list[tuple[str, str | None]]
    ) -> None:
        """A room's metadata changed here (hubbub.core.metadata): every node applies the change."""
        self._send_channel_metadata(
            channel.fold, author.fold, author.prefix, changed, author.network_id
        )

    def _send_channel_metadata(
        self,
        fold: str,
        author: str,
        prefix: str,
        changed: list[tuple[str, str | None]],
        identity: str = "",
    ) -> None:
        """Sequence a room's metadata change; refused, its keys are sent again (as they are
        then) when the bus is back, however often that takes (a change sent again and
        refused again was lost here for good: a cluster fuzz finding, seed 6540978)."""
        event = {"t": "cmeta", "f": author, "id": identity, "p": prefix, "ch": changed}
        keys = {key for key, _value in changed}
        set_fields, delete_fields = metadata_fields(changed)
        self.submit(
            None,
            fold,
            event,
            None,
            set_fields,
            delete_fields,
            refused=lambda room: self.metadata_unsent_rooms.setdefault(room, set()).update(keys),
        )

    def _apply_channel_metadata(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        before = dict(channel.metadata or {})
        values = dict(before)
        for key, value in event["ch"]:
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        channel.metadata = values or None
        # Saved with the room's state, whole, by every node (hubbub.core.registered `changed`).
        save_registered(server, channel)
        changed = changes(before, values)
        if changed:  # on the node it was set on, only when another change came in between
            author = self.event_sender(channel, event)
            announce(server, channel.members, author, event["p"], channel.name, changed)

    def _forget(self, user: User) -> None:
        self.metadata_versions.forget(user)
        self.metadata_unsent_users.pop(user, None)
        self.metadata_after_nick.pop(user, None)
        super()._forget(user)

    def _nick_settled(self, user: User) -> None:
        super()._nick_settled(user)
        if user in self.metadata_after_nick:
            del self.metadata_after_nick[user]
            if not user.session.closed:
                self.user_metadata(user)

    def _restored(self, fold: str) -> None:
        super()._restored(fold)
        # (Changes refused while the room was not written back: the bus was there all along,
        # so no `set_available` would send them, and they were lost here until the next
        # outage: a cluster fuzz finding, seed 6541839.)
        if fold not in self.server.channels:
            return
        self.send_again_in(fold, self.metadata_unsent_users, self.user_metadata)
        self._send_unsent_metadata(fold)

    def _send_unsent_metadata(self, fold: str) -> None:
        """Send a room's metadata keys that the bus refused, as they are here now (set, or
        removed: None)."""
        keys = self.metadata_unsent_rooms.pop(fold, None)
        channel = self.server.channels.get(fold)
        if keys and channel is not None:
            values = channel.metadata or {}
            current = [(key, values.get(key)) for key in sorted(keys)]
            self._send_channel_metadata(fold, "", self.server.name, current)

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if not available:
            return
        users, self.metadata_unsent_users = self.metadata_unsent_users, {}
        for user in users:
            if not user.session.closed:
                self.user_metadata(user)
        direct, self.unsent_direct = self.unsent_direct, deque()
        for name, event in direct:  # where the other party is now (it may have moved)
            self._to_home_of(name, event)
        for fold in list(self.metadata_unsent_rooms):
            self._send_unsent_metadata(fold)
        for user in list(self.metadata_after_nick):  # a NICK given up on the return
            if not self._renaming(user):
                self._nick_settled(user)

    # ------------------------------------------------------------------ read markers

    def read_marker(self, account: str, target: str, time_ms: int) -> None:
        """A read marker of `account` moved here: its connections on other nodes hear it."""
        event = {"t": "markread", "a": account, "tg": target, "ts": time_ms}
        self.submit(None, ACCOUNTS_ROOM, event, None)

    def _apply_markread(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        if mine:
            return  # told to this node's connections when it was stored
        server = self.server
        account = event["a"]
        line = f":{server.name} MARKREAD {event['tg']} {marker_param(int(event['ts']))}"
        readers: list[User] = [
            user
            for session in server.sessions
            if (user := session.user).account
            and READ_MARKER_CAP in session.caps
            and server.fold(user.account) == account
        ]
        if readers:
            server.fanout(readers, line, server.stamp())


#: Room events, by kind (hubbub.core.cluster_apply's APPLIERS).
MESSAGE_APPLIERS = {
    "redact": ClusterMessages._apply_redact,
    "edit": ClusterMessages._apply_edit,
    "umeta": ClusterMessages._apply_user_metadata,
    "cmeta": ClusterMessages._apply_channel_metadata,
}

#: Events applied outside any channel (in ACCOUNTS_ROOM, or a node's inbox), by kind.
MESSAGE_EVENTS = {
    "markread": ClusterMessages._apply_markread,
    "dmredact": ClusterMessages._apply_direct_redact,
    "dmedit": ClusterMessages._apply_direct_edit,
}
