"""Multiline messages: a client's `draft/multiline` batch becomes one message (IRCv3
draft/multiline, https://ircv3.net/specs/extensions/multiline).

A client opens `BATCH +<ref> draft/multiline <target>` (client-only tags on that line belong to
the message), sends `@batch=<ref> PRIVMSG <target> :<line>` lines (`draft/multiline-concat` on a
line joins it to the previous one without a line feed) and closes with `BATCH -<ref>`. Nothing
is relayed before the batch is closed; then the message is checked as a whole (the target's
rules are those of a PRIVMSG: `hubbub.core.messaging.refused_in`) and delivered once:

* to recipients that negotiated `draft/multiline`: as a batch, the lines exactly as the sender
  composed them, `msgid`, `time` and `account` on the opening BATCH line;
* to the others (the fallback): one PRIVMSG per non-blank line, the `msgid` on the first only;
* to history: one record whose text is the combined message (lines joined by `\\n`), replayed
  as one: a nested batch for clients with the capability, lines for the others
  (`replay_lines`, used by hubbub.core.history).

Limits, advertised in the capability value (`hubbub.core.caps.cap_value`): `max-bytes`
(the combined message, each joining line feed counted) and `max-lines`
(`limits.multiline_max_bytes`, `limits.multiline_max_lines`); past one the batch is refused
(`FAIL BATCH MULTILINE_MAX_BYTES` / `MULTILINE_MAX_LINES`) and the rest of its lines ignored, so
an open batch never holds more than the limits. Every line of a batch went through the
transport's flood bucket like any line, so a batch costs what its lines cost; and while a batch
is open, lines that belong to it are collected before any handler runs (`ChatServer._dispatch`).

In a cluster, a message to a room or to a user of another node is checked here, then sequenced
once on the bus and delivered and stored by every node that applies it
(hubbub.core.cluster_multiline).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.core.commands import command
from hubbub.core.messaging import acknowledge_after_commit, fit, refuse_unstorable, refused_in
from hubbub.core.privacy import dm_store_key
from hubbub.core.redact import remember_sent
from hubbub.history.policy import stored_tags
from hubbub.history.record import Record
from hubbub.protocol import numerics as n
from hubbub.protocol.message import client_only_tags, format_tags

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubbub.core.model import Channel, Session, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

CAP = "draft/multiline"
BATCH_TYPE = "draft/multiline"
CONCAT = "draft/multiline-concat"


class OpenBatch:
    """A multiline batch a client is sending (`Session.multiline`)."""

    __slots__ = ("bytes", "client_tags", "failed", "label", "lines", "ref", "target")

    def __init__(self, ref: str, target: str, client_tags: dict[str, str], label: str | None):
        self.ref = ref
        self.target = target
        self.client_tags = client_tags
        self.label = label
        self.lines: list[tuple[str, bool]] = []  # (text, joined to the previous without \n)
        self.bytes = 0
        self.failed = False


def combine(lines: list[tuple[str, bool]]) -> str:
    out: list[str] = []
    for text, concat in lines:
        if out and not concat:
            out.append("\n")
        out.append(text)
    return "".join(out)


def split(text: str, overhead: int) -> list[tuple[str, bool]]:
    """A stored combined message as lines again: one per line feed, a line too long to follow
    `overhead` bytes of prefix cut (at a character boundary), the continuations marked concat.
    Replay re-splits the combined text: the record keeps the message, not its line layout."""
    out: list[tuple[str, bool]] = []
    for part in text.split("\n"):
        first = True
        while True:
            piece = fit(part, overhead) or part[:1]
            out.append((piece, not first))
            part = part[len(piece) :]
            first = False
            if not part:
                break
    return out


@command("BATCH", 1)
def handle_batch(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    head = msg.params[0]
    if head.startswith("+"):
        if len(msg.params) < 3 or msg.params[1] != BATCH_TYPE or not head[1:]:
            reply.fail("BATCH", "MULTILINE_INVALID", text="Invalid multiline batch")
            return
        if session.multiline is not None:
            reply.fail("BATCH", "MULTILINE_INVALID", text="A multiline batch is already open")
            session.multiline = None
            return
        client_tags = client_only_tags(msg.tags or {})
        # The label belongs on the echo of the message (the spec: only on the opening BATCH
        # of the reply), which answers the closing line: no ACK for this one.
        session.multiline = OpenBatch(head[1:], msg.params[2], client_tags, reply.label)
        reply.label = None
        return
    open_batch = session.multiline
    if not head.startswith("-") or open_batch is None or head[1:] != open_batch.ref:
        reply.fail("BATCH", "MULTILINE_INVALID", text="Invalid multiline batch")
        return
    session.multiline = None
    if reply.label is None:
        reply.label = open_batch.label
    if not open_batch.failed:
        deliver(server, reply, open_batch)


def collect(server: ChatServer, reply: Reply, msg: Message) -> bool:
    """A line while a multiline batch is open: True when it belongs to the batch (taken)."""
    session = reply.session
    open_batch = session.multiline
    if open_batch is None or not msg.tags or msg.tags.get("batch") != open_batch.ref:
        return False
    cmd = msg.command
    reply.label = None  # answered, if at all, with the whole batch
    if open_batch.failed:
        return True
    limits = server.config.limits
    params = msg.params
    if cmd != "PRIVMSG" or len(params) < 2:
        return fail(reply, open_batch, "MULTILINE_INVALID", text="Invalid multiline batch")
    if params[0] != open_batch.target:
        return fail(
            reply,
            open_batch,
            "MULTILINE_INVALID_TARGET",
            open_batch.target,
            params[0],
            text="Invalid multiline target",
        )
    text = params[1]
    concat = CONCAT in msg.tags
    if concat and not text:
        return fail(reply, open_batch, "MULTILINE_INVALID", text="Blank line with concat")
    added = len(text.encode("utf-8", "surrogateescape")) + (
        1 if open_batch.lines and not concat else 0
    )
    if len(open_batch.lines) >= limits.multiline_max_lines:
        limit = str(limits.multiline_max_lines)
        return fail(reply, open_batch, "MULTILINE_MAX_LINES", limit, text="Too many lines")
    if open_batch.bytes + added > limits.multiline_max_bytes:
        limit = str(limits.multiline_max_bytes)
        return fail(reply, open_batch, "MULTILINE_MAX_BYTES", limit, text="Message too long")
    open_batch.bytes += added
    open_batch.lines.append((text, concat))
    return True


def fail(reply: Reply, open_batch: OpenBatch, code: str, *context: str, text: str) -> bool:
    """Refuse the batch: the rest of its lines are taken and ignored until it closes."""
    open_batch.failed = True
    open_batch.lines = []
    reply.fail("BATCH", code, *context, text=text)
    return True


def deliver(server: ChatServer, reply: Reply, batch: OpenBatch) -> None:
    if not any(text for text, _ in batch.lines):
        reply.fail("BATCH", "MULTILINE_INVALID", text="Empty multiline message")
        return
    sender = reply.session.user
    target = batch.target
    channel: Channel | None = None
    recipient: User | None = None
    recipients: Iterable[User]
    if target.startswith("#"):
        channel = server.find_channel(target)
        if channel is None:
            reply.numeric(n.ERR_NOSUCHNICK, target, "No such nick/channel")
            return
        if refused_in(server, channel, sender):
            reply.numeric(n.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
            return
        name = channel.name
        recipients = channel.members
        key = channel.fold
    else:
        recipient = server.find_user(target)
        if recipient is None and server.cluster is not None:  # maybe a user of another node
            lines = fitted(sender.prefix, target, batch.lines)
            client_tags = format_tags(batch.client_tags) if batch.client_tags else ""
            server.cluster.multiline_to_unknown(
                reply, sender, target, lines, client_tags, batch.client_tags
            )
            return
        if recipient is None or recipient.service is not None:
            reply.numeric(n.ERR_NOSUCHNICK, target, "No such nick/channel")
            return
        name = recipient.nick
        recipients = (recipient,)
        key = dm_store_key(server, sender, recipient)
    history = server.config.history
    stored = (
        stored_tags(history, "PRIVMSG", batch.client_tags)
        if channel is not None or history.store_private
        else None
    )
    if stored is not None and not server.history.available:
        refuse_unstorable(reply, "PRIVMSG", name, True)
        return
    if server.cluster is not None and (channel is not None or recipient_is_remote(recipient)):
        # Sequenced once on the bus, delivered and stored by every node that applies it
        # (hubbub.core.cluster_multiline).
        lines = fitted(sender.prefix, name, batch.lines)
        client_tags = format_tags(batch.client_tags) if batch.client_tags else ""
        if channel is not None:
            server.cluster.multiline(reply, channel, sender, lines, client_tags, stored)
        elif recipient is not None:
            server.cluster.multiline_direct(reply, sender, recipient, lines, client_tags, stored)
        return
    time_ms = server.stamp()
    msgid = server.next_msgid()
    prefix = sender.prefix
    lines = fitted(prefix, name, batch.lines)
    client_tags = format_tags(batch.client_tags) if batch.client_tags else ""
    message = Outgoing(server, prefix, name, msgid, time_ms, client_tags, sender.account)
    message.send_to(recipients, lines, sender)
    if stored is not None:
        text = combine(lines)
        server.history.append(
            Record(key, msgid, time_ms, prefix, "PRIVMSG", (name, text), stored, sender.account)
        )
        acknowledge_after_commit(server, reply)
        if not sender.account:
            remember_sent(sender.session, msgid)
    session = reply.session
    if "echo-message" in session.caps:
        for tags, line in message.lines_for(session, lines):
            reply.add(line, tags)
    log.info("%s <%s> (%d lines)", name, sender.nick, len(lines))


def recipient_is_remote(recipient: User | None) -> bool:
    """Cluster mode: whether a private recipient is a user of another node."""
    return recipient is not None and recipient.session.remote


def fitted(prefix: str, name: str, lines: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The batch's lines, each cut to fit one PRIVMSG line from `prefix` to `name`."""
    budget = len(f":{prefix} PRIVMSG {name} :".encode())
    return [(fit(text, budget), concat) for text, concat in lines]


class Outgoing:
    """One multiline message's lines for each kind of recipient, formatted once per profile
    and kind (batch or fallback), as fan-out does for single lines."""

    __slots__ = ("account", "cache", "client_tags", "msgid", "name", "prefix", "server", "time_ms")

    def __init__(
        self,
        server: ChatServer,
        prefix: str,
        name: str,
        msgid: str,
        time_ms: int,
        client_tags: str,
        account: str,
    ) -> None:
        self.server = server
        self.prefix = prefix
        self.name = name
        self.msgid = msgid
        self.time_ms = time_ms
        self.client_tags = client_tags
        self.account = account
        self.cache: dict[tuple[int, bool], bytes] = {}

    def lines_for(self, session: Session, lines: list[tuple[str, bool]]) -> list[tuple[str, str]]:
        """(tags, line) pairs for this session: a batch with the capability, else fallback."""
        tags_for = self.server.tags_for
        profile = session.profile
        first_tags = tags_for(profile, self.time_ms, self.msgid, self.client_tags, self.account)
        privmsg = f":{self.prefix} PRIVMSG {self.name} :"
        out: list[tuple[str, str]] = []
        if CAP in session.caps and "batch" in session.caps:
            ref = "ml" + self.msgid  # unique, and never one of the session's own "b…" refs
            out.append((first_tags, f":{self.prefix} BATCH +{ref} {BATCH_TYPE} {self.name}"))
            for text, concat in lines:
                out.append((f"batch={ref};{CONCAT}" if concat else f"batch={ref}", privmsg + text))
            out.append(("", f":{self.prefix} BATCH -{ref}"))
            return out
        # Fallback: every non-blank line, the msgid (and client tags) on the first only.
        later_tags = tags_for(profile, self.time_ms, None, "", self.account)
        for text, _ in lines:
            if text:
                out.append((later_tags if out else first_tags, privmsg + text))
        return out

    def bytes_for(self, session: Session, lines: list[tuple[str, bool]]) -> bytes:
        kind = (session.profile, CAP in session.caps and "batch" in session.caps)
        data = self.cache.get(kind)
        if data is None:
            text = "".join(
                f"@{tags} {line}\r\n" if tags else f"{line}\r\n"
                for tags, line in self.lines_for(session, lines)
            )
            data = self.cache[kind] = text.encode("utf-8", "surrogateescape")
        return data

    def send_to(
        self, recipients: Iterable[User], lines: list[tuple[str, bool]], sender: User | None
    ) -> None:
        """Write the message to each of `recipients` but the sender and users of other nodes
        (theirs deliver to them), formatted once per kind; those whose join replay is being
        read get it after the replay (Session.hold)."""
        for user in recipients:
            if user is sender or user.session.remote:
                continue
            user.session.write(self.bytes_for(user.session, lines))


def replay_lines(
    server: ChatServer, session: Session, record: Record, tags: str, outer: str | None
) -> list[tuple[str, str]]:
    """A stored multiline message (its text holds a line feed) for a history batch `outer`:
    a `draft/multiline` batch inside it for a client with the capability, else one line per
    non-blank line, `tags` (time, msgid, account as the client negotiated) on the first."""
    name, text = record.params[0], record.params[-1]
    privmsg = f":{record.source} {record.command} {name} :"
    lines = split(text, len(privmsg.encode()))
    inside = f"batch={outer}" if outer is not None else ""
    out: list[tuple[str, str]] = []
    if CAP in session.caps and "batch" in session.caps:
        ref = "ml" + record.msgid
        first = f"{inside};{tags}" if inside and tags else inside or tags
        out.append((first, f":{record.source} BATCH +{ref} {BATCH_TYPE} {name}"))
        for line, concat in lines:
            out.append((f"batch={ref};{CONCAT}" if concat else f"batch={ref}", privmsg + line))
        out.append((inside, f":{record.source} BATCH -{ref}"))
        return out
    later = server.tags_for(session.profile, record.time_ms, None, "", record.account)
    for line, _ in lines:
        if not line:
            continue
        own = tags if not out else later
        out.append((f"{inside};{own}" if inside and own else inside or own, privmsg + line))
    return out
