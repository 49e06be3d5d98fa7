"""Messages between people: PRIVMSG, NOTICE and TAGMSG, to channels and to nicks.

This is the fan-out hot path. Per message: one parse (done before dispatch), one msgid and
timestamp, one history record, and a relay formatted at most once per tag profile.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.core.botmode import with_bot_tag
from hubbub.core.commands import command
from hubbub.core.listmodes import may_not_speak
from hubbub.core.privacy import dm_store_key
from hubbub.core.redact import is_reaction, remember_sent
from hubbub.core.roomflood import allow as allow_message
from hubbub.history.policy import stored_tags
from hubbub.history.record import Record
from hubbub.protocol import numerics as n
from hubbub.protocol.message import client_only_tags, format_tags

if TYPE_CHECKING:
    from hubbub.core.listmodes import Identity
    from hubbub.core.model import Channel, Membership, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

# A relayed line must fit the 512-byte limit (510 without CRLF) once the sender's full prefix
# is in front of it, so over-long texts are cut (at a character boundary) before relaying.
MAX_RELAYED = 510


@command("PRIVMSG", activity=True)
def handle_privmsg(server: ChatServer, reply: Reply, msg: Message) -> None:
    deliver(server, reply, msg, "PRIVMSG")


@command("NOTICE", activity=True)
def handle_notice(server: ChatServer, reply: Reply, msg: Message) -> None:
    deliver(server, reply, msg, "NOTICE")


@command("TAGMSG", 1, activity=True)
def handle_tagmsg(server: ChatServer, reply: Reply, msg: Message) -> None:
    deliver(server, reply, msg, "TAGMSG")


def fit(text: str, overhead: int) -> str:
    budget = MAX_RELAYED - overhead
    # Cheap test first: only texts that could be too long are encoded.
    if len(text) * 4 <= budget:
        return text
    data = text.encode("utf-8", "surrogateescape")  # see reply.encode_line
    if len(data) <= budget:
        return text
    return data[: max(budget, 0)].decode("utf-8", "ignore")


def deliver(server: ChatServer, reply: Reply, msg: Message, cmd: str) -> None:
    # RFC 2812: a NOTICE never triggers an automatic reply, errors included.
    errors = cmd != "NOTICE"
    params = msg.params
    if not params or not params[0]:
        if errors:
            reply.numeric(n.ERR_NORECIPIENT, f"No recipient given ({cmd})")
        return
    text = ""
    if cmd != "TAGMSG":
        if len(params) < 2 or params[1] == "":
            if errors:
                reply.numeric(n.ERR_NOTEXTTOSEND, "No text to send")
            return
        text = params[1]
    targets = params[0].split(",")
    if len(targets) > server.config.limits.max_targets:
        if errors:
            reply.numeric(n.ERR_TOOMANYTARGETS, params[0], "Too many targets")
        return
    tags: dict[str, str] = {}
    client_tags = ""
    if msg.tags:
        tags = client_only_tags(msg.tags)
        if tags:
            client_tags = format_tags(tags)
    sender = reply.session.user
    if sender.bot:
        client_tags = with_bot_tag(client_tags)
    seen: set[str] = set()
    for target in targets:
        if not target:
            continue
        # One delivery per distinct target: `bob,BOB` names one user once.
        fold = server.fold(target)
        if fold in seen:
            continue
        seen.add(fold)
        if target[0] == "#" or (target[0] in "@+" and target[1:2] == "#"):
            to_channel(server, reply, sender, cmd, target, text, tags, client_tags, errors)
        else:
            to_user(server, reply, sender, cmd, target, text, tags, client_tags, errors)


def to_channel(
    server: ChatServer,
    reply: Reply,
    sender: User,
    cmd: str,
    target: str,
    text: str,
    tags: dict[str, str],
    client_tags: str,
    errors: bool,
) -> None:
    status = ""
    name = target
    if target[0] in "@+":
        status, name = target[0], target[1:]
    channel = server.channels.get(server.fold(name))
    if channel is None:
        if errors:
            reply.numeric(n.ERR_NOSUCHNICK, name, "No such nick/channel")
        return
    if refused_in(server, channel, sender):
        if errors:
            reply.numeric(n.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
        return
    member = channel.members.get(sender)
    exempt = member is not None and member.op  # operators moderate the room: no +f for them
    if (
        channel.flood_limit is not None
        and not exempt
        and not allow_message(channel, sender, server.now)
    ):
        server.counters.room_flood_throttles += 1
        if errors:
            count, window = channel.flood_limit
            reply.numeric(
                n.ERR_CANNOTSENDTOCHAN,
                channel.name,
                f"Cannot send to channel (+f: at most {count} messages in {window} seconds)",
            )
        return
    # STATUSMSG is never stored; a refused message is neither relayed nor acknowledged.
    stored = None if status else stored_tags(server.config.history, cmd, tags)
    if stored is not None and not server.history.available:
        refuse_unstorable(reply, cmd, channel.name, errors)
        return
    if server.cluster is not None:  # sequenced network-wide, relayed when it comes back
        server.cluster.message(reply, channel, sender, cmd, status, text, tags, client_tags, stored)
        return
    time_ms = server.stamp()
    msgid = server.next_msgid()
    prefix = sender.prefix
    if cmd == "TAGMSG":
        line = f":{prefix} TAGMSG {status}{channel.name}"
    else:
        head = f":{prefix} {cmd} {status}{channel.name} :"
        text = fit(text, len(head.encode()))  # bytes: a channel name may be non-ASCII
        line = head + text
    if status:
        # STATUSMSG: only to the members at or above the named status; never stored.
        members = channel.members
        recipients = [m for m, s in members.items() if s.op or (status == "+" and s.voice)]
        server.fanout(
            recipients,
            line,
            time_ms,
            msgid,
            client_tags,
            exclude=sender,
            tagged_only=cmd == "TAGMSG",
            account=sender.account,
        )
    else:
        server.fanout(
            channel.members,
            line,
            time_ms,
            msgid,
            client_tags,
            exclude=sender,
            channel=channel,
            tagged_only=cmd == "TAGMSG",
            account=sender.account,
        )
        if stored is not None:
            params = (channel.name,) if cmd == "TAGMSG" else (channel.name, text)
            server.history.append(
                Record(channel.fold, msgid, time_ms, prefix, cmd, params, stored, sender.account_id)
            )
            acknowledge_after_commit(server, reply)
            if not sender.account:  # so that this connection may REDACT it
                remember_sent(sender.session, msgid)
        elif cmd == "TAGMSG" and not status and is_reaction(tags):
            remember_sent(sender.session, msgid, channel.fold)  # REDACT removes a reaction
        if cmd != "TAGMSG":
            server.room_log(channel.name, sender.nick, text)
    echo(server, reply, cmd, line, time_ms, msgid, client_tags)


def log_room(room: str, nick: str, text: str) -> None:
    """The INFO line per room message, through `logging` (the app gives the core a cheaper way
    to write the same line: `Ports.room_log`)."""
    log.info("%s <%s> %s", room, nick, text)


def refused_in(server: ChatServer, channel: Channel, sender: User) -> bool:
    """Whether `sender` may not speak in `channel` (+n from outside, +m unvoiced, +b and
    `m:` mutes unless +e or voiced)."""
    return refused_as(server, channel, channel.members.get(sender), sender)


def refused_as(
    server: ChatServer, channel: Channel, member: Membership | None, sender: Identity
) -> bool:
    """`refused_in` for a sender known by its standing in the room (None: not a member) and
    the prefix and account it speaks with: in cluster mode, a message's sender as its event
    carries it, checked in the room's sequence (hubbub.core.cluster_apply)."""
    privileged = member is not None and (member.op or member.voice)
    return (
        (member is None and channel.no_external)
        or (channel.moderated and not privileged)
        or (not privileged and may_not_speak(server, channel, sender))  # +b, m: mutes, +e
    )


def acknowledge_after_commit(server: ChatServer, reply: Reply) -> None:
    """The message just stored is acknowledged to its sender (echo-message, or a labelled ACK
    or echo): nothing more reaches the sender until its record is committed, so a crash never
    loses a message its sender saw acknowledged. Others are not acknowledged anything: their
    copies go out at once."""
    session = reply.session
    caps = session.caps
    if "echo-message" in caps or (reply.label is not None and "labeled-response" in caps):
        server.history.acknowledge_after_commit(session.link)


def echo(
    server: ChatServer,
    reply: Reply,
    cmd: str,
    line: str,
    time_ms: int,
    msgid: str,
    client_tags: str,
) -> None:
    session = reply.session
    if "echo-message" in session.caps and (cmd != "TAGMSG" or "message-tags" in session.caps):
        server.send_self(reply, line, time_ms, msgid, client_tags, session.user.account)


def to_user(
    server: ChatServer,
    reply: Reply,
    sender: User,
    cmd: str,
    target: str,
    text: str,
    tags: dict[str, str],
    client_tags: str,
    errors: bool,
) -> None:
    recipient = server.find_user(target)
    if recipient is None:
        if server.cluster is not None:  # maybe a user of another node: the bus knows
            server.cluster.direct_to_unknown(
                reply, sender, target, cmd, text, tags, client_tags, errors
            )
            return
        if errors:
            reply.numeric(n.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    if recipient.service is not None:
        # NickServ: handled here, never relayed, stored or echoed (it carries passwords).
        if cmd == "PRIVMSG":
            recipient.service(server, reply, text)
        return
    stored = (
        stored_tags(server.config.history, cmd, tags)
        if server.config.history.store_private
        else None
    )
    if stored is not None and not server.history.available:
        refuse_unstorable(reply, cmd, recipient.nick, errors)
        return
    if server.cluster is not None and recipient.session.remote:  # a user of another node
        server.cluster.direct(reply, sender, recipient, cmd, text, tags, client_tags, stored)
        if cmd == "PRIVMSG" and recipient.away:  # its away state as its node last said
            reply.numeric(n.RPL_AWAY, recipient.nick, recipient.away)  # before the echo
        return
    time_ms = server.stamp()
    msgid = server.next_msgid()
    prefix = sender.prefix
    if cmd == "TAGMSG":
        line = f":{prefix} TAGMSG {recipient.nick}"
    else:
        head = f":{prefix} {cmd} {recipient.nick} :"
        text = fit(text, len(head.encode()))
        line = head + text
    server.fanout(
        (recipient,),
        line,
        time_ms,
        msgid,
        client_tags,
        tagged_only=cmd == "TAGMSG",
        account=sender.account,
    )
    if cmd == "PRIVMSG" and recipient.away:
        reply.numeric(n.RPL_AWAY, recipient.nick, recipient.away)
    if stored is not None:
        params = (recipient.nick,) if cmd == "TAGMSG" else (recipient.nick, text)
        key = dm_store_key(server, sender, recipient)  # by account when both have one
        server.history.append(
            Record(key, msgid, time_ms, prefix, cmd, params, stored, sender.account_id)
        )
        acknowledge_after_commit(server, reply)
        if not sender.account:
            remember_sent(sender.session, msgid)
    elif cmd == "TAGMSG" and is_reaction(tags):
        remember_sent(sender.session, msgid, dm_store_key(server, sender, recipient))
    echo(server, reply, cmd, line, time_ms, msgid, client_tags)


def refuse_unstorable(reply: Reply, cmd: str, target: str, errors: bool) -> None:
    """The history store cannot take the message now (failing, or its queue full): say so
    instead of relaying what would then be missing from history (never for a NOTICE)."""
    if errors:
        reply.fail(
            cmd,
            "TEMPORARILY_UNAVAILABLE",
            target,
            text="Message history cannot be written right now; message not sent, try again later",
        )
