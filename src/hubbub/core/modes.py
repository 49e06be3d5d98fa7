"""MODE for users (+i +w +B) and channels (+o +v +b +e +I +i +k +l +m +n +t +s); the list modes
and ban matching are in hubbub.core.listmodes.

Channel mode changes are applied in order, each checked on its own; the ones that took effect
are echoed to the whole channel as one MODE line, as ircds do.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.core.botmode import BOT_MODE
from hubbub.core.commands import command
from hubbub.core.listmodes import LIST_ATTRIBUTES, apply_list_mode, send_list
from hubbub.core.listmodes import is_banned as is_banned  # where channels and messaging look
from hubbub.core.model import FLAG_MODES, Channel, User
from hubbub.core.registered import changed as save_registered
from hubbub.core.roomflood import MAX_MESSAGES, MAX_SECONDS, format_limit, parse_limit, set_limit
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.oper")

PARAM_MODES = set("ovbeIklf")


@command("MODE", 1)
def handle_mode(server: ChatServer, reply: Reply, msg: Message) -> None:
    target = msg.params[0]
    if target.startswith("#"):
        channel = server.find_channel(target)
        # A secret channel does not exist for non-members, as in LIST, NAMES and WHOIS.
        if channel is None or (channel.secret and reply.session.user not in channel.members):
            reply.numeric(n.ERR_NOSUCHCHANNEL, target, "No such channel")
        else:
            channel_mode(server, reply, channel, msg.params[1:])
    else:
        user_mode(server, reply, target, msg.params[1:])


def give_up_oper(server: ChatServer, user: User, why: str) -> None:
    """MODE -o, or the entry left the config: the user is no longer an operator."""
    log.info("oper %s: %s is no longer an IRC operator (%s)", user.oper, user.prefix, why)
    user.oper = ""
    if server.cluster is not None:  # WHOIS and WHO elsewhere follow
        server.cluster.user_changed(user)


def user_mode(server: ChatServer, reply: Reply, target: str, params: tuple[str, ...]) -> None:
    user = reply.session.user
    if server.fold(target) != user.fold:
        if server.find_user(target) is None:
            reply.numeric(n.ERR_NOSUCHNICK, target, "No such nick/channel")
        else:
            reply.numeric(n.ERR_USERSDONTMATCH, "Can't change mode for other users")
        return
    if not params:
        reply.numeric(n.RPL_UMODEIS, user.mode_string)
        return
    adding = True
    changes = ""
    sign = ""
    unknown = False
    for char in params[0]:
        if char in "+-":
            adding = char == "+"
        elif char == "i":
            if user.invisible != adding:
                user.invisible = adding
                server.invisible_count += 1 if adding else -1
                wanted = "+" if adding else "-"
                if wanted != sign:
                    changes += wanted
                    sign = wanted
                changes += "i"
        elif char == "w":  # receive WALLOPS
            if user.wallops != adding:
                user.wallops = adding
                wanted = "+" if adding else "-"
                if wanted != sign:
                    changes += wanted
                    sign = wanted
                changes += "w"
        elif char == "o":  # operators: only OPER gives +o; anyone may drop it
            if not adding and user.oper:
                give_up_oper(server, user, "MODE -o")
                if sign != "-":
                    changes += "-"
                    sign = "-"
                changes += "o"
        elif char == BOT_MODE:  # bot mode: the client's own choice
            if user.bot != adding:
                user.bot = adding
                wanted = "+" if adding else "-"
                if wanted != sign:
                    changes += wanted
                    sign = wanted
                changes += BOT_MODE
        elif char == "Z":
            pass  # TLS: the server's to set, silently not the client's
        else:
            unknown = True
    if unknown:
        reply.numeric(n.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changes:
        reply.add(f":{user.prefix} MODE {user.nick} :{changes}")
        if server.cluster is not None:  # the other nodes' copies of the user follow
            server.cluster.user_changed(user, reply)


def channel_mode(
    server: ChatServer, reply: Reply, channel: Channel, params: tuple[str, ...]
) -> None:
    user = reply.session.user
    member = channel.members.get(user)
    if not params:
        flags, args = channel.mode_string(reveal_key=member is not None)
        reply.numeric(n.RPL_CHANNELMODEIS, channel.name, flags, *args)
        reply.numeric(n.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    modestring, args = params[0], list(params[1:])
    # A bare list query ("MODE #c b" / "+e") is open to everyone who can see the channel.
    if modestring.lstrip("+") in LIST_ATTRIBUTES and not args:
        send_list(reply, channel, modestring.lstrip("+"))
        return
    if member is None or not member.op:
        reply.numeric(n.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    if server.cluster is not None:  # sequenced network-wide, applied when it comes back
        server.cluster.mode(reply, channel, user, modestring, args)
        return
    applied = change_modes(server, reply, channel, modestring, args)
    if not applied:
        return
    line = mode_line(user, channel, applied)
    time_ms = server.stamp()
    msgid = server.next_msgid()
    server.fanout(
        channel.members, line, time_ms, msgid, exclude=user, channel=channel, account=user.account
    )
    server.send_self(reply, line, time_ms, msgid, account=user.account)
    if channel.registered is not None and any(char not in "ov" for _, char, _ in applied):
        save_registered(server, channel)  # a registered channel's modes and bans are saved


def change_modes(
    server: ChatServer, reply: Reply, channel: Channel, modestring: str, args: list[str]
) -> list[tuple[str, str, str | None]]:
    """Apply a MODE command's changes to `channel`, each checked on its own (numerics for the
    refused ones): the changes that took effect, as (sign, mode, argument to echo)."""
    limits = server.config.limits
    applied: list[tuple[str, str, str | None]] = []  # (sign, mode, argument)
    adding = True
    with_args = 0
    for char in modestring:
        if char in "+-":
            adding = char == "+"
            continue
        if char in FLAG_MODES:
            attr = FLAG_MODES[char]
            if getattr(channel, attr) != adding:
                setattr(channel, attr, adding)
                applied.append(("+" if adding else "-", char, None))
            continue
        if char not in PARAM_MODES:
            reply.numeric(n.ERR_UNKNOWNMODE, char, "is unknown mode char to me")
            continue
        needs_arg = char in "ovbeIk" or (char in "lf" and adding)
        if needs_arg and not args:
            if char in LIST_ATTRIBUTES:  # "+b" with nothing after it lists bans, above
                continue
            reply.numeric(n.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
            continue
        if needs_arg:
            with_args += 1
            if with_args > limits.modes_per_command:
                break
        arg = args.pop(0) if needs_arg else None
        changed, echoed = apply_param_mode(server, reply, channel, char, adding, arg)
        if changed:
            applied.append(("+" if adding else "-", char, echoed))
    return applied


def mode_line(user: User, channel: Channel, applied: list[tuple[str, str, str | None]]) -> str:
    """The one MODE line that echoes the changes that took effect."""
    modes = ""
    sign = ""
    out_args = []
    for s, char, arg in applied:
        if s != sign:
            modes += s
            sign = s
        modes += char
        if arg is not None:
            out_args.append(arg)
    return f":{user.prefix} MODE {channel.name} {modes}" + "".join(f" {a}" for a in out_args)


def apply_param_mode(
    server: ChatServer, reply: Reply, channel: Channel, char: str, adding: bool, arg: str | None
) -> tuple[bool, str | None]:
    """Apply one mode that takes an argument: (whether it changed anything, argument to echo)."""
    if char in "ov":
        assert arg is not None
        target = server.find_user(arg)
        if target is None:
            reply.numeric(n.ERR_NOSUCHNICK, arg, "No such nick/channel")
            return False, None
        standing = channel.members.get(target)
        if standing is None:
            reply.numeric(
                n.ERR_USERNOTINCHANNEL, target.nick, channel.name, "They aren't on that channel"
            )
            return False, None
        attr = "op" if char == "o" else "voice"
        if getattr(standing, attr) == adding:
            return False, None
        setattr(standing, attr, adding)
        return True, target.nick
    if char in LIST_ATTRIBUTES:
        assert arg is not None
        return apply_list_mode(server, reply, channel, char, adding, arg)
    if char == "k":
        assert arg is not None
        if adding:
            key = arg.replace(",", "")[:23]
            if not key or " " in key:
                reply.numeric(n.ERR_INVALIDKEY, channel.name, "Key is not well-formed")
                return False, None
            channel.key = key
            return True, key
        if not channel.key:
            return False, None
        channel.key = ""
        return True, "*"
    if char == "f":
        return apply_flood_mode(reply, channel, adding, arg)
    # 'l'
    if not adding:
        if not channel.limit:
            return False, None
        channel.limit = 0
        return True, None
    assert arg is not None
    if not arg.isdecimal() or int(arg) <= 0:
        reply.numeric(n.ERR_INVALIDMODEPARAM, channel.name, "l", arg, "Invalid limit")
        return False, None
    channel.limit = int(arg)
    return True, str(channel.limit)


def apply_flood_mode(
    reply: Reply, channel: Channel, adding: bool, arg: str | None
) -> tuple[bool, str | None]:
    """+f <messages>:<seconds> / -f (hubbub.core.roomflood)."""
    if not adding:
        if channel.flood_limit is None:
            return False, None
        set_limit(channel, None)
        return True, None
    assert arg is not None
    limit = parse_limit(arg)
    if limit is None:
        reply.numeric(
            n.ERR_INVALIDMODEPARAM,
            channel.name,
            "f",
            arg,
            f"Invalid flood limit: <messages>:<seconds>, at most {MAX_MESSAGES}:{MAX_SECONDS}",
        )
        return False, None
    if limit == channel.flood_limit:
        return False, None
    set_limit(channel, limit)
    return True, format_limit(limit)
