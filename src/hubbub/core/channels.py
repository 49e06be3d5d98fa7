"""Channel membership and channel state: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.core import metadata, readmarker, registered
from hubbub.core.budget import channel_created, refuse_new_channel
from hubbub.core.commands import command
from hubbub.core.elist import ListFilter, parse_list_filter
from hubbub.core.extended_join import join_fanout, join_line_for
from hubbub.core.history import start_replay, store_event
from hubbub.core.listmodes import is_invite_exempt
from hubbub.core.model import Channel, Membership, Topic, User
from hubbub.core.modes import is_banned
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

NAMES_LINE_BUDGET = 400


@command("JOIN", 1, activity=True)
def handle_join(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    if msg.params[0] == "0":
        for channel in list(user.channels.values()):
            part(server, reply, channel, user, "Left all channels")
        return
    names = msg.params[0].split(",")
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    for i, name in enumerate(names):
        if name:
            join(server, reply, user, name, keys[i] if i < len(keys) else "")


def join(server: ChatServer, reply: Reply, user: User, name: str, key: str) -> None:
    if not server.valid_channel(name):
        reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    fold = server.fold(name)
    channel = server.channels.get(fold)
    if channel is not None and user in channel.members:
        return
    if len(user.channels) >= server.config.limits.channels_per_user:
        reply.numeric(n.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
        return
    if server.cluster is not None:  # sequenced network-wide, entered when it comes back
        server.cluster.join(reply, user, name, fold, key)
        return
    if channel is None:
        refused = refuse_new_channel(server, user.session)  # hubbub.core.budget
        if refused is not None:
            reply.numeric(n.ERR_TOOMANYCHANNELS, name, refused)
            return
        channel = Channel(name, fold, int(server.now))
        channel.history_since_ms = server.stamp()  # nothing from a room of this name before
        server.channels[fold] = channel
        channel_created(server, channel, user.session)
        membership = Membership(op=True)
    else:
        admitted = admission(server, reply, channel, user, key)
        if admitted is None:
            return
        membership = admitted
    time_ms = server.stamp()
    msgid = server.next_msgid()
    line = enter(server, channel, user, membership, time_ms, msgid)
    arrived(server, reply, channel, user, line, time_ms, msgid)
    store_event(server, channel, user, "JOIN", (channel.name,), time_ms, msgid)
    log.info("%s joined %s", user.nick, channel.name)


def admission(
    server: ChatServer, reply: Reply, channel: Channel, user: User, key: str
) -> Membership | None:
    """Whether `user` may join the existing `channel` (+i, +k, +l, +b): its membership, or
    None after the refusal's numeric."""
    # A registered channel's owner and access list pass +i, +k, +l and bans, and are
    # opped (hubbub.core.chanserv).
    trusted = channel.registered is not None and registered.has_access(server, channel, user)
    refused = entry_refusal(server, channel, user, key, trusted)
    if refused is not None:
        reply.numeric(refused[0], channel.name, refused[1])
        return None
    channel.invited.discard(user.fold)
    return Membership(op=trusted)


def entry_refusal(
    server: ChatServer,
    channel: Channel,
    user: User,
    key: str | None,
    trusted: bool,
    full: bool | None = None,
) -> tuple[str, str] | None:
    """Why `user` may not join the existing `channel` (+i, +k, +l, +b): the numeric and its
    text, or None. `trusted`: on the registered room's access list. `key` None: the key is
    not checked (a JOIN checked again in the room's sequence, hubbub.core.cluster_apply: its
    node checked the key it was given). `full`: whether the room was full (`+l`) at the JOIN,
    as the bus counted its members (cluster mode: hubbub.core.cluster_fields
    `only_if_room_for`); None: counted here."""
    invited = user.fold in channel.invited or trusted
    if (
        channel.invite_only
        and not invited
        # +I passes +i only: an invite exception is not a ban exception.
        and not (channel.invex and is_invite_exempt(server, channel, user))
    ):
        return n.ERR_INVITEONLYCHAN, "Cannot join channel (+i)"
    if key is not None and channel.key and key != channel.key and not trusted:
        return n.ERR_BADCHANNELKEY, "Cannot join channel (+k)"
    if full is None:
        full = bool(channel.limit) and len(channel.members) >= channel.limit
    if full and not trusted:
        return n.ERR_CHANNELISFULL, "Cannot join channel (+l)"
    if not invited and is_banned(server, channel, user):
        return n.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"
    return None


def enter(
    server: ChatServer,
    channel: Channel,
    user: User,
    membership: Membership,
    time_ms: int,
    msgid: str,
) -> str:
    """`user` becomes a member: the room sees its JOIN (and its away state). Returns the line."""
    membership.joined_ms = time_ms  # history access since_join (hubbub.core.privacy)
    line = f":{user.prefix} JOIN {channel.name}"
    join_fanout(server, channel, user, line, time_ms, msgid)  # extended-join for those who asked
    if user.away:
        # away-notify: members who follow away states learn it now, not at the next change.
        watchers = [m for m in channel.members if "away-notify" in m.session.caps]
        if watchers:
            server.fanout(
                watchers, f":{user.prefix} AWAY :{user.away}", time_ms, account=user.account
            )
    channel.members[user] = membership
    channel.groups = None
    user.channels[channel.fold] = channel
    return line


def arrived(
    server: ChatServer,
    reply: Reply,
    channel: Channel,
    user: User,
    line: str,
    time_ms: int,
    msgid: str,
) -> None:
    """What the joiner itself gets: its JOIN, the topic, NAMES, and the join replay."""
    server.send_self(
        reply, join_line_for(reply.session, user, line), time_ms, msgid, "", user.account
    )
    if channel.topic is not None:
        send_topic(server, reply, channel)
    if "no-implicit-names" not in reply.session.caps:
        # no-implicit-names: "servers MUST NOT send an implicit NAMES reply after sending a
        # JOIN message", so joining a room of thousands costs the joiner a few lines.
        send_names(server, reply, channel, end=False)
        if not readmarker.on_join(server, reply, channel.name):  # the marker goes before the 366
            reply.numeric(n.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")
    else:
        readmarker.on_join(server, reply, channel.name, end_names=False)
    metadata.on_join(server, reply, channel, user)
    # The replay query goes to the store before the JOIN event itself is stored, so the
    # newcomer's own join is never part of what it is replayed. The replay is written after
    # this reply (Reply.follower).
    start_replay(server, reply, channel, user)


def part(server: ChatServer, reply: Reply, channel: Channel, user: User, reason: str) -> None:
    if server.cluster is not None:  # sequenced network-wide, applied when it comes back
        server.cluster.part(reply, channel, user, reason)
        return
    time_ms = server.stamp()
    msgid = server.next_msgid()
    line = f":{user.prefix} PART {channel.name}" + (f" :{reason}" if reason else "")
    server.fanout(
        channel.members, line, time_ms, msgid, exclude=user, channel=channel, account=user.account
    )
    server.send_self(reply, line, time_ms, msgid, account=user.account)
    store_event(server, channel, user, "PART", (channel.name, reason), time_ms, msgid)
    server.remove_member(channel, user)
    log.info("%s left %s (%s)", user.nick, channel.name, reason)


@command("PART", 1, activity=True)
def handle_part(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    reason = msg.params[1] if len(msg.params) > 1 else ""
    for name in msg.params[0].split(","):
        channel = server.find_channel(name)
        if channel is None:
            reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif user not in channel.members:
            reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        else:
            part(server, reply, channel, user, reason)


def send_topic(server: ChatServer, reply: Reply, channel: Channel) -> None:
    topic = channel.topic
    if topic is None:
        reply.numeric(n.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    reply.numeric(n.RPL_TOPIC, channel.name, topic.text)
    reply.numeric(n.RPL_TOPICWHOTIME, channel.name, topic.setter, str(topic.set_at))


@command("TOPIC", 1, activity=True)
def handle_topic(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    channel = server.find_channel(msg.params[0])
    if channel is None:
        reply.numeric(n.ERR_NOSUCHCHANNEL, msg.params[0], "No such channel")
        return
    member = channel.members.get(user)
    if len(msg.params) < 2:
        if channel.secret and member is None:
            reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            return
        send_topic(server, reply, channel)
        return
    if member is None:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if channel.topic_locked and not member.op:
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    text = msg.params[1][: server.config.limits.topic_length]
    if server.cluster is not None:  # sequenced network-wide, applied when it comes back
        server.cluster.topic(reply, channel, user, text)
        return
    channel.topic = Topic(text, user.prefix, int(server.now)) if text else None
    time_ms = server.stamp()
    msgid = server.next_msgid()
    line = f":{user.prefix} TOPIC {channel.name} :{text}"
    server.fanout(
        channel.members, line, time_ms, msgid, exclude=user, channel=channel, account=user.account
    )
    server.send_self(reply, line, time_ms, msgid, account=user.account)
    store_event(server, channel, user, "TOPIC", (channel.name, text), time_ms, msgid)
    log.info("%s set the topic of %s to %r", user.nick, channel.name, text)
    registered.changed(server, channel)  # saved if registered


def send_names(server: ChatServer, reply: Reply, channel: Channel, end: bool = True) -> None:
    session = reply.session
    requester = session.user
    multi = "multi-prefix" in session.caps
    full = "userhost-in-names" in session.caps
    visible = requester in channel.members
    symbol = "@" if channel.secret else "="
    entries = []
    for member, membership in channel.members.items():
        if not visible and member.invisible:
            continue
        name = member.prefix if full else member.nick
        entries.append(membership.prefixes(multi) + name)
    line = ""
    for entry in entries:
        if line and len(line) + len(entry) + 1 > NAMES_LINE_BUDGET:
            reply.numeric(n.RPL_NAMREPLY, symbol, channel.name, line)
            line = entry
        else:
            line = f"{line} {entry}" if line else entry
    if line:
        reply.numeric(n.RPL_NAMREPLY, symbol, channel.name, line)
    if end:
        reply.numeric(n.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")


@command("NAMES")
def handle_names(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    if not msg.params:
        # Modern IRC: without a channel, the visible channels are listed, then the users on
        # none of them (under the channel name "*"); one RPL_ENDOFNAMES ends it all.
        names_everything(server, reply)
        return
    # Each room once, and at most max_targets of them (TARGMAX NAMES): one line naming a big
    # room a hundred times must not answer its names a hundred times (hubbub.core.budget).
    seen: set[str] = set()
    for name in msg.params[0].split(","):
        fold = server.fold(name)
        if fold in seen:
            continue
        if len(seen) >= server.config.limits.max_targets:
            reply.numeric(n.ERR_TOOMANYTARGETS, name, "Too many targets")
            break
        seen.add(fold)
        channel = server.find_channel(name)
        if channel is None or (channel.secret and user not in channel.members):
            reply.numeric(n.RPL_ENDOFNAMES, name, "End of /NAMES list")
        else:
            send_names(server, reply, channel)


def names_everything(server: ChatServer, reply: Reply) -> None:
    session = reply.session
    requester = session.user
    room_left = server.config.limits.list_replies  # channels, as LIST (hubbub.core.budget)
    for channel in server.channels.values():
        if not channel.secret or requester in channel.members:
            if not room_left:
                reply.numeric(n.ERR_TOOMANYMATCHES, "NAMES", "Output too large, truncated")
                break
            room_left -= 1
            send_names(server, reply, channel, end=False)
    full = "userhost-in-names" in session.caps
    loners = [
        user.prefix if full else user.nick
        for user in server.registered_users()
        if not user.channels and (not user.invisible or user is requester)
    ]
    line = ""
    for entry in loners:
        if line and len(line) + len(entry) + 1 > NAMES_LINE_BUDGET:
            reply.numeric(n.RPL_NAMREPLY, "=", "*", line)
            line = entry
        else:
            line = f"{line} {entry}" if line else entry
    if line:
        reply.numeric(n.RPL_NAMREPLY, "=", "*", line)
    reply.numeric(n.RPL_ENDOFNAMES, "*", "End of /NAMES list")


@command("LIST")
def handle_list(server: ChatServer, reply: Reply, msg: Message) -> None:
    # ELIST=CMNTU: members, creation and topic times, masks (hubbub.core.elist).
    wanted = parse_list_filter(server, msg.params[0] if msg.params else "")
    if server.cluster is not None:  # and the rooms of the network this node does not follow
        server.cluster.list(reply, wanted)
        return
    send_list(server, reply, wanted, ())


def send_list(
    server: ChatServer, reply: Reply, wanted: ListFilter, others: Iterable[tuple[Channel, int]]
) -> None:
    """321, the rooms of this node (with their member counts), then `others` (rooms of the
    network it does not follow, hubbub.core.cluster_directory), 323."""
    user = reply.session.user
    reply.numeric(n.RPL_LISTSTART, "Channel", "Users  Name")
    room_left = server.config.limits.list_replies  # hubbub.core.budget
    here = ((channel, len(channel.members)) for channel in server.channels.values())
    for channel, count in itertools.chain(here, others):
        if channel.secret and user not in channel.members:
            continue
        if not wanted.accepts(channel, count):
            continue
        if not room_left:
            reply.numeric(n.ERR_TOOMANYMATCHES, "LIST", "Output too large, truncated")
            break
        room_left -= 1
        topic = channel.topic.text if channel.topic else ""
        reply.numeric(n.RPL_LIST, channel.name, str(count), topic)
    reply.numeric(n.RPL_LISTEND, "End of /LIST")


@command("KICK", 2, activity=True)
def handle_kick(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    reason = msg.params[2] if len(msg.params) > 2 and msg.params[2] else user.nick
    reason = reason[: server.config.limits.kick_length]
    names = msg.params[0].split(",")
    nicks = msg.params[1].split(",")[: server.config.limits.max_targets]
    if len(names) == 1:  # one channel, one or more nicks
        kick(server, reply, user, names[0], nicks, reason)
        return
    # Several channels: paired with the nicks one to one (Modern IRC, KICK).
    for name, nick in zip(names[: len(nicks)], nicks, strict=False):
        kick(server, reply, user, name, [nick], reason)


def kick(
    server: ChatServer, reply: Reply, user: User, name: str, nicks: list[str], reason: str
) -> None:
    channel = server.find_channel(name)
    if channel is None:
        reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    member = channel.members.get(user)
    if member is None:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not member.op:
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    for nick in nicks:
        target = server.find_user(nick)
        if target is None:
            reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
            continue
        if target not in channel.members:
            reply.numeric(
                n.ERR_USERNOTINCHANNEL, target.nick, channel.name, "They aren't on that channel"
            )
            continue
        if server.cluster is not None:  # sequenced network-wide, applied when it comes back
            server.cluster.kick(reply, channel, user, target, reason)
            continue
        time_ms = server.stamp()
        msgid = server.next_msgid()
        line = f":{user.prefix} KICK {channel.name} {target.nick} :{reason}"
        server.fanout(
            channel.members,
            line,
            time_ms,
            msgid,
            exclude=user,
            channel=channel,
            account=user.account,
        )
        server.send_self(reply, line, time_ms, msgid, account=user.account)
        store_event(
            server, channel, user, "KICK", (channel.name, target.nick, reason), time_ms, msgid
        )
        server.remove_member(channel, target)
        log.info("%s kicked %s from %s (%s)", user.nick, target.nick, channel.name, reason)
        if channel.fold not in server.channels:
            return


@command("INVITE", activity=True)
def handle_invite(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    if not msg.params:
        invite_list(server, reply)
        return
    if len(msg.params) < 2:
        reply.numeric(n.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    nick, name = msg.params[0], msg.params[1]
    target = server.find_user(nick)
    cluster = server.cluster
    if target is None and cluster is None:
        reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    channel = server.find_channel(name)
    if channel is None:
        reply.numeric(n.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    member = channel.members.get(user)
    if member is None:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if channel.invite_only and not member.op:
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    if target is not None and target in channel.members:
        reply.numeric(n.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel")
        return
    if cluster is not None:
        # Recorded in the room network-wide, shown to the invitee by its node, wherever it is
        # (a nick unknown here may be on another node) (hubbub.core.cluster_users).
        cluster.invite(reply, user, channel, nick, target)
    elif target is not None:
        invite_here(server, reply, user, channel, target)


def invite_here(
    server: ChatServer, reply: Reply, user: User, channel: Channel, target: User
) -> None:
    """INVITE on one server: recorded, shown to the invitee and to ops with invite-notify."""
    channel.invited.add(target.fold)
    reply.numeric(n.RPL_INVITING, target.nick, channel.name)
    if target.away:
        reply.numeric(n.RPL_AWAY, target.nick, target.away)
    time_ms = server.stamp()
    line = f":{user.prefix} INVITE {target.nick} {channel.name}"
    server.fanout((target,), line, time_ms, account=user.account)
    # invite-notify: the channel's other members who asked to see invitations.
    notify = [
        m
        for m, standing in channel.members.items()
        if m is not user and "invite-notify" in m.session.caps and standing.op
    ]
    if notify:
        server.fanout(notify, line, time_ms, account=user.account)


def invite_list(server: ChatServer, reply: Reply) -> None:
    """INVITE with no parameter (Modern IRC): the channels the client is invited to, as
    RPL_INVITELIST (336) lines and RPL_ENDOFINVITELIST (337)."""
    user = reply.session.user
    fold = user.fold
    for channel in server.channels.values():
        if fold in channel.invited:
            reply.numeric(n.RPL_INVITELIST, channel.name)
    if server.cluster is not None:  # invited from other nodes to rooms not followed here
        for name in server.cluster.invited_rooms(user):
            reply.numeric(n.RPL_INVITELIST, name)
    reply.numeric(n.RPL_ENDOFINVITELIST, "End of /INVITE list")
