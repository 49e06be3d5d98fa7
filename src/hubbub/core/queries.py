"""Questions about people and the server, and the small self-service commands:
WHO, WHOIS, ISON, USERHOST, VERSION, TIME, AWAY, SETNAME (WHOWAS: hubbub.core.whowas).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hubbub.core.botmode import BOT_MODE
from hubbub.core.commands import command
from hubbub.core.masks import compile_mask
from hubbub.core.model import Channel, Membership, Phase, User
from hubbub.core.monitor import notify as notify_monitors
from hubbub.core.preaway import away_before_registration
from hubbub.core.whox import parse_whox, whox_line
from hubbub.protocol import numerics as n
from hubbub.protocol.servertime import format_utc

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

REALNAME_LENGTH = 200


def shares_channel(a: User, b: User) -> bool:
    return any(fold in b.channels for fold in a.channels)


def server_of(server: ChatServer, user: User) -> tuple[str, str]:
    """The server `user` is on, name and description (WHOIS 312): this one, or in a cluster
    the node its node said, described as this node last counted that node (nothing if it has
    not yet)."""
    name = user.server or server.name
    if name == server.name:
        return name, server.config.server.description
    census = server.census()
    known = dict(census.servers) if census is not None else {}
    return name, known.get(name, "")


def who_line(
    server: ChatServer,
    reply: Reply,
    user: User,
    channel: Channel | None,
    whox: tuple[str, str] | None = None,
) -> None:
    flags = "G" if user.away else "H"
    if user.oper:
        flags += "*"
    if user.bot:
        flags += BOT_MODE  # bot mode: "the character used as the value of ... BOT"
    shown = channel
    if channel is None and user.channels:
        # A channel the requester may see: a secret one only if it is a member too.
        requester = reply.session.user
        shown = next(
            (c for c in user.channels.values() if not c.secret or requester in c.members), None
        )
    if shown is not None:
        # The status is the one in the channel the reply names, whichever way it was chosen.
        flags += shown.members[user].prefixes("multi-prefix" in reply.session.caps)
    name = shown.name if shown is not None else "*"
    if whox is not None:  # WHO <mask> %fields[,token]: 354 with the fields asked for
        whox_line(server, reply, user, name, flags, whox)
        return
    reply.numeric(
        n.RPL_WHOREPLY,
        name,
        user.username,
        user.hostname,
        user.server or server.name,
        user.nick,
        flags,
        f"0 {user.realname}",
    )


@command("WHO")
def handle_who(server: ChatServer, reply: Reply, msg: Message) -> None:
    requester = reply.session.user
    mask = msg.params[0] if msg.params else "*"
    whox = parse_whox(msg.params[1]) if len(msg.params) > 1 else None
    if mask.startswith("#"):
        channel = server.find_channel(mask)
        if channel is not None and (not channel.secret or requester in channel.members):
            inside = requester in channel.members
            room_left = server.config.limits.who_replies  # hubbub.core.budget: huge rooms too
            for member in channel.members:
                if inside or not member.invisible:
                    if not room_left:
                        reply.numeric(n.ERR_TOOMANYMATCHES, "WHO", "Output too large, truncated")
                        break
                    room_left -= 1
                    who_line(server, reply, member, channel, whox)
    else:
        exact = server.find_user(mask)
        if exact is not None:
            who_line(server, reply, exact, None, whox)
        elif server.cluster is not None and server.valid_nick(mask):
            # A nick nobody here has: maybe a user of another node (the network directory).
            def found(later: Reply, user: User | None) -> None:
                if user is not None:
                    who_line(server, later, user, None, whox)
                later.numeric(n.RPL_ENDOFWHO, mask, "End of /WHO list")

            server.cluster.find(reply, "WHO", mask, found)
            return
        elif len(mask) <= server.config.limits.mask_length:  # a longer mask matches nobody
            pattern = compile_mask(server.fold(mask))
            limit = server.config.limits.who_replies  # hubbub.core.budget

            def matches(fields: Sequence[str]) -> bool:
                return any(pattern.match(server.fold(field)) for field in fields)

            # In a cluster, the users of other nodes this node knows (they share a room) too.
            known = server.registered_users() if server.cluster is None else server.cluster.known()
            matched: list[User] = []
            for user in known:
                if user.invisible and user is not requester and not shares_channel(user, requester):
                    continue
                if matches((user.nick, user.username, user.hostname, user.realname)):
                    matched.append(user)
                    if len(matched) > limit:  # one past the cap: enough to say it was cut
                        break
            if server.cluster is not None and len(matched) <= limit:
                # And those of the whole network this node does not know (the directory).
                def answer(later: Reply, strangers: list[User]) -> None:
                    who_list(server, later, [*matched, *strangers], whox)
                    later.numeric(n.RPL_ENDOFWHO, mask, "End of /WHO list")

                server.cluster.who(reply, mask, matches, limit + 1 - len(matched), answer)
                return
            who_list(server, reply, matched, whox)
    reply.numeric(n.RPL_ENDOFWHO, mask, "End of /WHO list")


def who_list(
    server: ChatServer, reply: Reply, users: list[User], whox: tuple[str, str] | None
) -> None:
    """WHO's lines for the users a mask matched, at most `limits.who_replies` of them; past
    that, 416 says the list was cut."""
    limit = server.config.limits.who_replies
    for user in users[:limit]:
        who_line(server, reply, user, None, whox)
    if len(users) > limit:
        reply.numeric(n.ERR_TOOMANYMATCHES, "WHO", "Output too large, truncated")


@command("WHOIS", 1)
def handle_whois(server: ChatServer, reply: Reply, msg: Message) -> None:
    nick = msg.params[-1]
    user = server.find_user(nick)
    if user is None and server.cluster is not None and server.valid_nick(nick):
        # A nick nobody here has: maybe a user of another node (the network directory).
        def found(later: Reply, user: User | None) -> None:
            if user is None:
                later.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
                later.numeric(n.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
            else:
                whois_reply(server, later, user, idle=False)

        server.cluster.find(reply, "WHOIS", nick, found)
        return
    if user is None:
        reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
        reply.numeric(n.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    if server.cluster is not None and user.session.remote:
        # A user of another node: its rooms this node does not follow are in the directory.
        def answer(later: Reply, elsewhere: list[tuple[str, Membership]]) -> None:
            whois_reply(server, later, user, elsewhere=elsewhere)

        server.cluster.rooms_elsewhere(reply, user, answer)
        return
    whois_reply(server, reply, user)


def whois_reply(
    server: ChatServer,
    reply: Reply,
    user: User,
    idle: bool = True,
    elsewhere: Sequence[tuple[str, Membership]] = (),
) -> None:
    """WHOIS of a user found (`idle`: its idle time is known, as it is for the users of this
    node and those sharing a room with them; not for one read from the network directory;
    `elsewhere`: in a cluster, a user of another node's rooms that this node does not
    follow, none of them secret)."""
    requester = reply.session.user
    reply.numeric(n.RPL_WHOISUSER, user.nick, user.username, user.hostname, "*", user.realname)
    multi = "multi-prefix" in reply.session.caps
    visible = [
        standing.prefixes(multi) + channel.name
        for channel in user.channels.values()
        for standing in (channel.members[user],)
        if not channel.secret or requester in channel.members
    ]
    visible += [standing.prefixes(multi) + name for name, standing in elsewhere]
    if visible:
        reply.numeric(n.RPL_WHOISCHANNELS, user.nick, " ".join(visible))
    reply.numeric(n.RPL_WHOISSERVER, user.nick, *server_of(server, user))
    if user.away:
        reply.numeric(n.RPL_AWAY, user.nick, user.away)
    if user.bot:
        reply.numeric(n.RPL_WHOISBOT, user.nick, f"is a Bot on {server.config.server.network}")
    if user.oper:
        reply.numeric(n.RPL_WHOISOPERATOR, user.nick, "is an IRC operator")
    if user.account:
        reply.numeric(n.RPL_WHOISACCOUNT, user.nick, user.account, "is logged in as")
    if user.session.secure:
        reply.numeric(n.RPL_WHOISSECURE, user.nick, "is using a secure connection")
    if user is requester and user.session.certfp:
        reply.numeric(
            n.RPL_WHOISCERTFP,
            user.nick,
            f"has client certificate fingerprint {user.session.certfp}",
        )
    if idle:
        seconds = max(0, int(server.now - user.last_active))
        signon = str(int(user.session.signon))
        reply.numeric(n.RPL_WHOISIDLE, user.nick, str(seconds), signon, "seconds idle, signon time")
    reply.numeric(n.RPL_ENDOFWHOIS, user.nick, "End of /WHOIS list")


@command("ISON", 1)
def handle_ison(server: ChatServer, reply: Reply, msg: Message) -> None:
    online = []
    for param in msg.params:
        for nick in param.split():
            user = server.find_user(nick)
            if user is not None:
                online.append(user.nick)
    reply.numeric(n.RPL_ISON, " ".join(online))


@command("USERHOST", 1)
def handle_userhost(server: ChatServer, reply: Reply, msg: Message) -> None:
    found = []
    for nick in msg.params[:5]:
        user = server.find_user(nick)
        if user is not None:
            away = "-" if user.away else "+"
            found.append(f"{user.nick}={away}{user.username}@{user.hostname}")
    reply.numeric(n.RPL_USERHOST, " ".join(found))


@command("VERSION")
def handle_version(server: ChatServer, reply: Reply, msg: Message) -> None:
    reply.numeric(n.RPL_VERSION, server.version, server.name, "hubbub IRC server")
    for start in range(0, len(server.isupport), 12):
        reply.numeric(
            n.RPL_ISUPPORT, *server.isupport[start : start + 12], "are supported by this server"
        )


@command("TIME")
def handle_time(server: ChatServer, reply: Reply, msg: Message) -> None:
    now = format_utc(server.now, "%A %B %d %Y -- %H:%M:%S UTC")
    reply.numeric(n.RPL_TIME, server.name, now)


@command("AWAY", before_registration=True)
def handle_away(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    text = msg.params[0][: server.config.limits.away_length] if msg.params else ""
    if reply.session.phase is not Phase.REGISTERED:
        away_before_registration(reply, text)  # draft/pre-away
        return
    if text == user.away:
        if text:
            reply.numeric(n.RPL_NOWAWAY, "You have been marked as being away")
        else:
            reply.numeric(n.RPL_UNAWAY, "You are no longer marked as being away")
        return
    user.away = text
    if text:
        reply.numeric(n.RPL_NOWAWAY, "You have been marked as being away")
        line = f":{user.prefix} AWAY :{text}"
    else:
        reply.numeric(n.RPL_UNAWAY, "You are no longer marked as being away")
        line = f":{user.prefix} AWAY"
    watchers = [u for u in server.neighbours(user) if "away-notify" in u.session.caps]
    if watchers:
        server.fanout(watchers, line, server.stamp(), account=user.account)
    notify_monitors(server, user, "away-notify", line)  # extended-monitor
    if server.cluster is not None:  # the other nodes' copies of the user follow
        server.cluster.user_changed(user, reply)


@command("SETNAME", 1)
def handle_setname(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    realname = msg.params[0]
    if not realname or len(realname) > REALNAME_LENGTH:
        reply.fail("SETNAME", "INVALID_REALNAME", text="Realname is not valid")
        return
    user.realname = realname
    line = f":{user.prefix} SETNAME :{realname}"
    time_ms = server.stamp()
    watchers = [u for u in server.neighbours(user) if "setname" in u.session.caps]
    if watchers:
        server.fanout(watchers, line, time_ms, account=user.account)
    notify_monitors(server, user, "setname", line)  # extended-monitor
    if "setname" in reply.session.caps:
        server.send_self(reply, line, time_ms, account=user.account)
    if server.cluster is not None:  # the other nodes' copies of the user follow
        server.cluster.user_changed(user, reply)
