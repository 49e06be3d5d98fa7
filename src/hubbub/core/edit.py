"""EDIT: changing the text of a sent message (the open IRCv3 proposal draft/message-edit,
https://github.com/ircv3/ircv3-specifications/pull/425, extensions/message-edit.md).

`@draft/target-msgid=<msgid>;draft/edit-text=<new text> EDIT <target>` — the proposal's latest
wire form — or, for clients that cannot send tags, `EDIT <target> <msgid> :<new text>`. Who may
edit, and what happens to edits when a message goes, are REDACT's rules (hubbub.core.redact:
`scope_of`, `authorised`): the author (same account, or same connection without one) or an
operator of the room, for what this room said; edits go with their message.

The lookup, the check and the change run as one call on the history worker (after every append
submitted before it), which keeps the edit as an event linked to the original
(`HistoryStore.edit`); CHATHISTORY and the join replay then show the new text, marked edited
(`EDITED_TAG`, hubbub.core.history). Live, the members with `draft/message-edit` (and
message-tags) get `@msgid=<new>;draft/target-msgid=<msgid>;draft/edit-text=<text> :<editor>
EDIT <target>`; the others get a clearly marked correction line, `PRIVMSG <target> :* correction:
<text>`. Failures: `FAIL EDIT INVALID_TARGET / INVALID_EDIT / EDIT_FORBIDDEN / UNKNOWN_MSGID /
TEMPORARILY_UNAVAILABLE`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubbub.core.commands import command
from hubbub.core.messaging import fit
from hubbub.core.redact import FORBIDDEN, OK, UNKNOWN, authorised, refuse, scope_of
from hubbub.history.record import Edit
from hubbub.protocol.message import escape_tag_value

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubbub.core.model import Channel, User
    from hubbub.core.redact import Scope
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.history.record import Record
    from hubbub.history.store import HistoryStore
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

CAP = "draft/message-edit"
TARGET_TAG = "draft/target-msgid"
TEXT_TAG = "draft/edit-text"
# The marker on a replayed message that was edited (its value: when, as server-time).
EDITED_TAG = "hubbub/edited"
# The prefix of the line clients without the capability get instead of the EDIT.
CORRECTION = "* correction: "
EDITABLE = frozenset({"PRIVMSG", "NOTICE"})


@command("EDIT", 1, activity=True)
def handle_edit(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    target = msg.params[0]
    tags = msg.tags or {}
    if len(msg.params) >= 3:
        msgid, text = msg.params[1], msg.params[2]
    else:
        msgid, text = tags.get(TARGET_TAG, ""), tags.get(TEXT_TAG, "")
    scope = scope_of(server, reply, "EDIT", target)
    if scope is None:
        return
    name = scope.name
    if not msgid:
        reply.fail("EDIT", "INVALID_EDIT", name, text="No message to edit (draft/target-msgid)")
        return
    # The new text must be one relayable line: no line breaks (tag values can carry them).
    if not text or any(c in text for c in "\r\n\0"):
        reply.fail("EDIT", "INVALID_EDIT", name, msgid, text="Invalid edit text")
        return
    if not server.history.available:
        reply.fail(
            "EDIT",
            "TEMPORARILY_UNAVAILABLE",
            name,
            text="Message history cannot be written right now; try again later",
        )
        return
    text = fit(text, len(f":{user.prefix} PRIVMSG {name} :{CORRECTION}".encode()))
    time_ms = server.stamp()
    edit_msgid = server.next_msgid()
    account = user.account_id  # records are attributed to the stable id (a reused name is not)
    own = session.sent is not None and msgid in session.sent

    # Cluster mode, in a room: checked here, stored and relayed when the EDIT comes back from
    # the bus (hubbub.core.cluster_messages), so every node's members get it.
    cluster = server.cluster if scope.room is not None else None

    def change(store: HistoryStore) -> tuple[str, Record | None]:
        found = scope.find(store, msgid)
        if found is None or found[1].command not in EDITABLE:
            return UNKNOWN, None
        key, record = found
        if not authorised(record, account, own, scope):
            return FORBIDDEN, None
        if cluster is None:
            store.edit(key, msgid, Edit(edit_msgid, time_ms, text, "", account))
        return OK, record

    def done(later: Reply, result: Any) -> None:
        outcome, record = result if isinstance(result, tuple) else (UNKNOWN, None)
        if outcome == OK and cluster is not None and scope.room is not None:
            cluster.edit(later, scope.room, msgid, text, author_of(record, user))
        elif outcome == OK:
            # Its answer is its acknowledgement: written once the change is committed.
            server.history.acknowledge_after_commit(later.session.link)
            relay(server, later, scope, msgid, text, time_ms, edit_msgid, record)
            log.info("%s edited %s in %s", user.nick, msgid, name)
            if server.cluster is not None:  # a private message: the other party's node too
                author = author_of(record, user)
                stored = Edit(edit_msgid, time_ms, text, "", account)
                server.cluster.direct_edit(user, name, msgid, text, author, stored)
        else:
            refuse(later, "EDIT", outcome, name, msgid, "edit")

    server.history.change(change, reply.later(done))


def author_of(record: Record | None, editor: User) -> str:
    """The nick that sent the edited message (the editor's own when unknown)."""
    return record.source.split("!", 1)[0] if record is not None else editor.nick


def relay(
    server: ChatServer,
    reply: Reply,
    scope: Scope,
    msgid: str,
    text: str,
    time_ms: int,
    edit_msgid: str,
    record: Record | None,
) -> None:
    user = reply.session.user
    author = author_of(record, user)
    relay_to(
        server,
        user.prefix,
        user.account,
        scope.name,
        msgid,
        text,
        author,
        scope.recipients,
        scope.room,
        time_ms,
        edit_msgid,
    )
    answer(server, reply, scope.name, msgid, text, time_ms, edit_msgid)


def relay_to(
    server: ChatServer,
    prefix: str,
    account: str,
    name: str,
    msgid: str,
    text: str,
    author: str,
    recipients: Iterable[User],
    room: Channel | None,
    time_ms: int,
    edit_msgid: str,
) -> None:
    """The EDIT to the recipients with the capability, a correction line to the others (in
    cluster mode, each node to its own: hubbub.core.cluster_messages). `prefix` and `account`:
    the editor's."""
    edit_tags = f"{TARGET_TAG}={msgid};{TEXT_TAG}={escape_tag_value(text)}"
    line = f":{prefix} EDIT {name}"
    watchers: list[User] = []
    others: list[User] = []
    for member in recipients:
        caps = member.session.caps
        (watchers if CAP in caps and "message-tags" in caps else others).append(member)
    if watchers:
        server.fanout(watchers, line, time_ms, edit_msgid, edit_tags, channel=room, account=account)
    if others:
        # An operator correcting someone else's message says whose it was.
        editor = prefix.split("!", 1)[0]
        marker = CORRECTION if author == editor else f"* correction of {author}'s message: "
        fallback = f":{prefix} PRIVMSG {name} :{marker}{text}"
        server.fanout(others, fallback, time_ms, edit_msgid, channel=room, account=account)


def answer(
    server: ChatServer,
    reply: Reply,
    name: str,
    msgid: str,
    text: str,
    time_ms: int,
    edit_msgid: str,
) -> None:
    """The editor's own answer: its EDIT echoed, or a NOTICE without the capability."""
    user = reply.session.user
    caps = reply.session.caps
    if CAP in caps and "message-tags" in caps:
        edit_tags = f"{TARGET_TAG}={msgid};{TEXT_TAG}={escape_tag_value(text)}"
        line = f":{user.prefix} EDIT {name}"
        server.send_self(reply, line, time_ms, edit_msgid, edit_tags, user.account)
    else:
        reply.add(f":{server.name} NOTICE {user.nick} :Message {msgid} in {name} edited")
