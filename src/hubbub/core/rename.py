"""draft/channel-rename (https://ircv3.net/specs/extensions/channel-rename): RENAME.

`RENAME <#old> <#new> [:reason]` by a channel operator renames the room in place: members,
modes, lists and topic stay ("A channel rename preserves all channel state"). What follows
the room besides:

* its history: the store moves the room's records to the new key (`HistoryStore.rename_target`,
  on the history worker, in order with the appends), so CHATHISTORY and the join replay of
  the new name show what was said under the old one;
* its ChanServ registration: the registry renames its entry (`ChannelStore.rename_channel`)
  and the snapshot is saved under the new name.

Members with the capability get `:op RENAME #old #new :reason` (formatted once per tag
profile); the others get the spec's fallback, as if they had left and joined: their own PART
of the old name, their own JOIN of the new one, the topic and NAMES (not when only the case
changes, and no NAMES for no-implicit-names clients). The fallback lines are events, not
answers to the member's commands, so they are not charged to its flood budget.

In a cluster the rename is checked here, then sequenced once in the room's order and applied
by every node (hubbub.core.cluster_rename).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubbub.core.channels import send_names, send_topic
from hubbub.core.commands import command
from hubbub.core.extended_join import join_line_for
from hubbub.core.registered import changed as save_registered
from hubbub.core.reply import Reply
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import Channel, User
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

CAPABILITY = "draft/channel-rename"


@command("RENAME", 2, activity=True)
def handle_rename(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    old_name, new_name = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 else ""
    reason = reason[: server.config.limits.kick_length]
    channel = server.find_channel(old_name)
    if channel is None or (channel.secret and user not in channel.members):
        reply.numeric(n.ERR_NOSUCHCHANNEL, old_name, "No such channel")
        return
    member = channel.members.get(user)
    if member is None:
        reply.numeric(n.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not member.op:
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    if not server.valid_channel(new_name):
        reply.fail("RENAME", "CANNOT_RENAME", channel.name, new_name, text="Invalid channel name")
        return
    new_fold = server.fold(new_name)
    # (A cluster node holds only the rooms it follows; a registered room exists anywhere,
    # as on one server where it never vanishes: its kept state is not the name's to take.)
    taken = new_fold in server.channels or new_fold in server.registry.known
    if new_fold != channel.fold and taken:
        reply.fail(
            "RENAME",
            "CHANNEL_NAME_IN_USE",
            channel.name,
            new_name,
            text="The channel name is already taken",
        )
        return
    if new_name == channel.name:
        return
    if server.cluster is not None:  # sequenced network-wide (hubbub.core.cluster_rename)
        server.cluster.rename(reply, channel, new_name, new_fold, reason)
        return
    rename(server, reply, channel, new_name, new_fold, reason)


def rename(
    server: ChatServer, reply: Reply, channel: Channel, new_name: str, new_fold: str, reason: str
) -> None:
    user = reply.session.user
    old_name, old_fold = channel.name, channel.fold
    case_only = old_fold == new_fold
    del server.channels[old_fold]
    channel.name, channel.fold = new_name, new_fold
    server.channels[new_fold] = channel
    for member in channel.members:
        del member.channels[old_fold]
        member.channels[new_fold] = channel
    if not case_only:
        # The history follows the room: queued behind every append made so far.
        server.history.query(lambda store: store.rename_target(old_fold, new_fold), _ignore)
    if channel.registered is not None:
        if not case_only:
            server.registry.call(lambda store: store.rename_channel(old_fold, new_name, new_fold))
        save_registered(server, channel)
    time_ms = server.stamp()
    msgid = server.next_msgid()
    line = f":{user.prefix} RENAME {old_name} {new_name} :{reason}"
    capable = [m for m in channel.members if CAPABILITY in m.session.caps and m is not user]
    if capable:
        server.fanout(capable, line, time_ms, msgid, account=user.account)
    if CAPABILITY in reply.session.caps:
        server.send_self(reply, line, time_ms, msgid, account=user.account)
    elif not case_only:
        fallback(server, reply, channel, user, old_name, reason, time_ms)
    if not case_only:
        for member in channel.members:
            if member is not user and CAPABILITY not in member.session.caps:
                other = Reply(server, member.session, None)
                fallback(server, other, channel, member, old_name, reason, time_ms)
                # An event, not an answer to the member's own commands: not its flood cost.
                spent = member.session.output_lines
                other.flush()
                member.session.output_lines = spent
    log.info("%s renamed %s to %s (%s)", user.nick, old_name, new_name, reason)


def fallback(
    server: ChatServer,
    reply: Reply,
    channel: Channel,
    member: User,
    old_name: str,
    reason: str,
    time_ms: int,
) -> None:
    """The spec's fallback for one member without the capability: "Send the client a PART
    message for the old channel name, with part message matching the rename reason if given"
    and "a JOIN message followed by the usual messages"."""
    part = f":{member.prefix} PART {old_name}" + (f" :{reason}" if reason else "")
    server.send_self(reply, part, time_ms, account=member.account)
    join = join_line_for(reply.session, member, f":{member.prefix} JOIN {channel.name}")
    server.send_self(reply, join, time_ms, account=member.account)
    if channel.topic is not None:
        send_topic(server, reply, channel)
    if "no-implicit-names" not in reply.session.caps:
        send_names(server, reply, channel)


def _ignore(result: Any) -> None:
    """The history rename's answer: nothing to do (a failure is logged by the worker)."""
