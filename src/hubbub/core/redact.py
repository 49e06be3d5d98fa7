"""REDACT: deleting a message (IRCv3 draft/message-redaction,
https://ircv3.net/specs/extensions/message-redaction).

`REDACT <target> <msgid> [:reason]` deletes a PRIVMSG, NOTICE or TAGMSG from the target's stored
history — CHATHISTORY and the join replay never return it again ("exclude it entirely", the
first choice the spec offers) — and relays the REDACT to the target's members (or the other
party of a private conversation) that negotiated `draft/message-redaction`. Clients without the
capability get nothing (the spec's optional fallback NOTICE would be noise in every channel).

Who may redact: the message's author — the same account, or, for a message sent without an
account, the same connection (`Session.sent` keeps the newest msgids it sent) — or an operator
of the channel it was sent to. A reaction (a TAGMSG with `+draft/react`) is not stored unless
`history.store_tagmsg` says so, yet removing one is what the spec's TAGMSG example is for: the
connection that sent it may redact it, and the REDACT is relayed with nothing to delete (the
spec lets servers relay "REDACT commands targeting messages which they did not keep in their
history"). Failures are the spec's standard replies: `FAIL REDACT
INVALID_TARGET`, `REDACT_FORBIDDEN`, `UNKNOWN_MSGID`. There is no redaction window.

The lookup, the authorisation against the record and the deletion run as one call on the history
worker, after every append submitted before it: a message may be redacted as soon as it was
sent, and nothing can slip in between the check and the delete.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from hubbub.core.commands import command
from hubbub.core.privacy import dm_read_keys

if TYPE_CHECKING:
    from hubbub.core.model import Channel, Session, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.history.record import Record
    from hubbub.history.store import HistoryStore
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

CAP = "draft/message-redaction"
# How many msgids a connection without an account remembers having sent (its newest ones).
SENT_KEPT = 1000
REDACTABLE = frozenset({"PRIVMSG", "NOTICE", "TAGMSG"})
# Client tags that make a TAGMSG a reaction, which its sender may redact even when not stored
# (typing notifications and the like are never redacted, so they are never remembered).
REACTION_TAGS = ("+draft/react", "+react")
OK, FORBIDDEN, UNKNOWN = "ok", "forbidden", "unknown"


def remember_sent(session: Session, msgid: str, unstored_key: str = "") -> None:
    """This connection sent this message and may redact it (bounded): a message stored while
    it had no account, or a reaction not stored at all (`unstored_key`: its target's key)."""
    sent = session.sent
    if sent is None:
        sent = session.sent = OrderedDict()
    sent[msgid] = unstored_key
    if len(sent) > SENT_KEPT:
        # OrderedDict drops its oldest in O(1); a plain dict's next(iter()) would walk past
        # every entry deleted from its front since the last resize, on every message.
        sent.popitem(last=False)


def is_reaction(tags: dict[str, str]) -> bool:
    return any(name in tags for name in REACTION_TAGS)


class Scope:
    """Where a REDACT (or an EDIT, hubbub.core.edit) acts: the history keys the message may be
    stored under, the name to show, whether the requester may moderate it as a channel operator
    (and since when), and who is told."""

    __slots__ = ("is_op", "keys", "name", "ops_since", "recipients", "room")

    def __init__(
        self,
        keys: list[str],
        name: str,
        is_op: bool,
        ops_since: int,
        recipients: list[User],
        room: Channel | None,
    ) -> None:
        self.keys = keys
        self.name = name
        self.is_op = is_op
        self.ops_since = ops_since
        self.recipients = recipients
        self.room = room

    def find(self, store: HistoryStore, msgid: str) -> tuple[str, Record] | None:
        """The record with this msgid and the key it is stored under, if it is stored."""
        for key in self.keys:
            record = store.find(key, msgid)
            if record is not None:
                return key, record
        return None


def scope_of(server: ChatServer, reply: Reply, command: str, target: str) -> Scope | None:
    """The scope of `target` for the requester, or None after `FAIL <command> INVALID_TARGET`
    (a channel it is not in, a service, a name that cannot be a nick)."""
    user = reply.session.user
    refusal = f"You cannot {'delete' if command == 'REDACT' else 'edit'} messages from {target}"
    if target.startswith("#"):
        channel = server.find_channel(target)
        standing = channel.members.get(user) if channel is not None else None
        if channel is None or standing is None:
            reply.fail(command, "INVALID_TARGET", target, text=refusal)
            return None
        # Ops moderate their own room, not what a room of this name said before it was
        # re-created (hubbub.core.privacy).
        recipients = [m for m in channel.members if m is not user]
        return Scope(
            [channel.fold], channel.name, standing.op, channel.history_since_ms, recipients, channel
        )
    other = server.find_user(target)
    if not server.valid_nick(target) or (other is not None and other.service is not None):
        reply.fail(command, "INVALID_TARGET", target, text=refusal)
        return None
    # Every key the conversation may be stored under (each side by account or by nick, as it
    # was when the message was sent), not only the one it is read by now: a guest's message to
    # a logged-in user is stored under the recipient's account.
    keys = [key for key, _ in dm_read_keys(server, user, target)]
    name = other.nick if other is not None else target
    recipients = [other] if other is not None and other is not user else []
    return Scope(keys, name, False, 0, recipients, None)


def authorised(record: Record, account: str, own: bool, scope: Scope) -> bool:
    """Whether the requester may delete or change `record`: its author (the same account id, or
    for a message sent without one, the same connection: `own`), or an operator of the room
    it was sent to (for what this room said)."""
    mine = (bool(account) and record.account == account) or (own and not record.account)
    return mine or (scope.is_op and record.time_ms >= scope.ops_since)


@command("REDACT", 2, activity=True)
def handle_redact(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    target, msgid = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 else ""
    scope = scope_of(server, reply, "REDACT", target)
    if scope is None:
        return
    name = scope.name
    account = user.account_id  # records are attributed to the stable id (a reused name is not)
    sent = session.sent
    own = sent is not None and msgid in sent
    # A reaction this connection sent that was never stored: nothing to find or delete.
    unstored = sent is not None and sent.get(msgid, "") in scope.keys

    # Cluster mode, in a room: checked here, deleted by every node when the REDACT comes back
    # from the bus (hubbub.core.cluster_messages), so no node's late write brings it back.
    cluster = server.cluster if scope.room is not None else None

    def fn(store: HistoryStore) -> str:
        found = scope.find(store, msgid)
        if found is None:
            return OK if unstored else UNKNOWN
        key, record = found
        if record.command not in REDACTABLE:
            return UNKNOWN
        if not authorised(record, account, own, scope):
            return FORBIDDEN
        if cluster is None:
            store.redact(key, msgid)
        return OK

    def done(later: Reply, result: Any) -> None:
        if result == OK and cluster is not None and scope.room is not None:
            cluster.redact(later, scope.room, msgid, reason)
        elif result == OK:
            # Its answer is its acknowledgement: written once the deletion is committed.
            server.history.acknowledge_after_commit(later.session.link)
            relay(server, later, user, name, msgid, reason, scope.recipients, scope.room)
            log.info("%s redacted %s in %s", user.nick, msgid, name)
            if server.cluster is not None:  # a private message: the other party's node too
                server.cluster.direct_redact(user, name, msgid, reason, scope.keys)
        else:
            refuse(later, "REDACT", result, name, msgid, "delete")

    server.history.change(fn, reply.later(done))


def refuse(later: Reply, command: str, outcome: str, name: str, msgid: str, verb: str) -> None:
    """The standard reply to a REDACT or EDIT that found nothing it may touch: FORBIDDEN (not
    the author nor an operator of the room) or, for anything else, an unknown msgid."""
    if outcome == FORBIDDEN:
        text = f"You are not authorised to {verb} this message"
        later.fail(command, f"{command}_FORBIDDEN", name, msgid, text=text)
    else:
        later.fail(command, "UNKNOWN_MSGID", name, msgid, text="This message does not exist")


def relay(
    server: ChatServer,
    reply: Reply,
    user: User,
    name: str,
    msgid: str,
    reason: str,
    recipients: list[User],
    room: Channel | None,
) -> None:
    time_ms = server.stamp()
    new_msgid = server.next_msgid()
    relay_to(
        server, user.prefix, user.account, name, msgid, reason, recipients, room, time_ms, new_msgid
    )
    answer(server, reply, name, msgid, reason, time_ms, new_msgid)


def redact_line(prefix: str, name: str, msgid: str, reason: str) -> str:
    return f":{prefix} REDACT {name} {msgid}" + (f" :{reason}" if reason else "")


def relay_to(
    server: ChatServer,
    prefix: str,
    account: str,
    name: str,
    msgid: str,
    reason: str,
    recipients: list[User],
    room: Channel | None,
    time_ms: int,
    new_msgid: str,
) -> None:
    """The REDACT to the recipients that negotiated the capability (in cluster mode, each node
    to its own: hubbub.core.cluster_messages)."""
    watchers = [m for m in recipients if CAP in m.session.caps]
    if watchers:
        line = redact_line(prefix, name, msgid, reason)
        server.fanout(watchers, line, time_ms, new_msgid, channel=room, account=account)


def answer(
    server: ChatServer,
    reply: Reply,
    name: str,
    msgid: str,
    reason: str,
    time_ms: int,
    new_msgid: str,
) -> None:
    """The requester's own answer: its REDACT echoed, or a NOTICE without the capability."""
    user = reply.session.user
    if CAP in reply.session.caps:
        line = redact_line(user.prefix, name, msgid, reason)
        server.send_self(reply, line, time_ms, new_msgid, "", user.account)
    else:
        reply.add(f":{server.name} NOTICE {user.nick} :Message {msgid} in {name} deleted")
