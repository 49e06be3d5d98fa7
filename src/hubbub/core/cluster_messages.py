"""Message state network-wide: REDACT and EDIT in a room, and read markers.

* **REDACT** of a message in a room: the requester's node checks it against the store (the
  author, or an operator of the room: hubbub.core.redact) and sequences a `redact` event in
  the room. Every node that follows the room deletes the message from the store when it
  applies it and relays the REDACT to its own members. Every node deletes, not only the
  requester's: each node writes every event it applies (docs/cluster.md, "History"), and a
  node whose history worker is a little behind would otherwise write the message back after
  the deletion; a node's worker takes its writes and the deletion in order, so the deletion
  comes after its own write of the message.
* **EDIT** in a room: checked the same way, sequenced as an `edit` event; the requester's
  node stores the edit (once: an edit is a new row linked to the message, and the message's
  row exists already, since the requester's node found it), every node relays the EDIT (or
  the correction line) to its own members.
* **Read markers** belong to an account, whose connections may be on any node: a marker that
  moved (stored in the shared account store by the node that was asked) is announced in the
  room every node follows (`~accounts`, hubbub.core.cluster_accounts), and each node sends
  MARKREAD to its own connections of the account that negotiated the capability.

The requester is answered when the event comes back, like any room event; refused by the bus:
`FAIL <command> TEMPORARILY_UNAVAILABLE`, and nothing was changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_accounts import ACCOUNTS_ROOM
from hubbub.core.cluster_apply import ClusterApply
from hubbub.core.cluster_fields import UNAVAILABLE
from hubbub.core.edit import answer as answer_edit
from hubbub.core.edit import relay_to as relay_edit
from hubbub.core.readmarker import CAP as READ_MARKER_CAP
from hubbub.core.readmarker import marker_param
from hubbub.core.redact import answer as answer_redact
from hubbub.core.redact import relay_to as relay_redact
from hubbub.history.record import Edit

if TYPE_CHECKING:
    from hubbub.core.model import Channel, User
    from hubbub.core.reply import Reply


def ignore(result: Any) -> None:
    """What a store call applied on every node answers: nothing anyone waits for (a failure
    was logged by the history worker)."""


class ClusterMessages(ClusterApply):
    """REDACT and EDIT in rooms, and read markers, across nodes."""

    # ------------------------------------------------------------------ REDACT

    def redact(self, reply: Reply, channel: Channel, msgid: str, reason: str) -> None:
        """A REDACT checked here (hubbub.core.redact): every node deletes and relays it."""
        server = self.server
        user = reply.session.user
        event = {
            "t": "redact",
            "f": user.fold,
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
            answer_redact(server, later, name, msgid, reason, time_ms, sent["m"])

        self.submit(reply, channel.fold, event, done)

    def _apply_redact(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        fold, msgid = channel.fold, event["x"]
        server.history.query(lambda store: store.redact(fold, msgid), ignore)
        sender = server.users.get(event["f"])
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
            answer_edit(server, later, name, msgid, text, time_ms, sent["m"])

        self.submit(reply, channel.fold, event, done)

    def _apply_edit(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        fold, msgid, text = channel.fold, event["x"], event["tx"]
        if mine:
            change = Edit(event["m"], time_ms, text, "", event["i"])
            server.history.query(lambda store: store.edit(fold, msgid, change), ignore)
        editor = server.users.get(event["f"])
        if editor is None:
            return  # gone from this node's view of the room: nobody here to show it as
        recipients = [member for member in channel.members if member is not editor]
        relay_edit(
            server,
            editor,
            channel.name,
            msgid,
            text,
            event["au"],
            recipients,
            channel,
            time_ms,
            event["m"],
        )

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
}

#: Events applied outside any channel (in ACCOUNTS_ROOM), by kind.
MESSAGE_EVENTS = {"markread": ClusterMessages._apply_markread}
