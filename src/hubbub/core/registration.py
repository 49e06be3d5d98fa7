"""Connection registration and its housekeeping commands: PASS, NICK, USER, CAP, PING, PONG,
QUIT, and the welcome burst (001-005, LUSERS, MOTD) that ends registration.

A connection registers when it has a nick and a user name and is not in the middle of CAP
negotiation (CAP LS/REQ before registration holds the welcome until CAP END).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.core.accounts import hold_registration
from hubbub.core.bans import refuse_registration
from hubbub.core.caps import CAPABILITIES, STICKY, cap_value
from hubbub.core.commands import command
from hubbub.core.history import store_event
from hubbub.core.metadata import after_welcome
from hubbub.core.model import Phase
from hubbub.core.monitor import came_online, changed_nick
from hubbub.core.ownership import check_nick, nick_refused
from hubbub.core.ports import Census
from hubbub.core.sts import sts_entry
from hubbub.core.whowas import remember
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.chat")

# Keep each CAP LS / 005 line well inside 512 bytes.
CAP_LINE_BUDGET = 380
ISUPPORT_PER_LINE = 12
# The user name of a client whose USER parameter holds nothing a user name may (only emoji).
DEFAULT_USERNAME = "user"


@command("PASS", 1, before_registration=True)
def handle_pass(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    if session.phase is Phase.REGISTERED:
        reply.numeric(n.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    session.pass_ok = msg.params[0] == server.config.server.password


@command("NICK", before_registration=True)
def handle_nick(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    if not msg.params or not msg.params[0]:
        reply.numeric(n.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = msg.params[0]
    if not server.valid_nick(nick):
        reply.numeric(n.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")
        return
    fold = server.fold(nick)
    holder = server.users.get(fold) or server.services.get(fold)
    if holder is not None and holder is not user:
        reply.numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
        if session.phase is not Phase.REGISTERED:
            session.wanted_nick = nick  # for REGISTER * (hubbub.core.register)
        return
    if nick == user.nick:
        return
    if server.cluster is not None:  # the nick is claimed network-wide first
        server.cluster.nick(reply, user, nick, fold)
        return
    if session.phase is not Phase.REGISTERED:
        # Reserve the nick at once, so two connections registering together cannot both get it.
        if user.fold:
            server.users.pop(user.fold, None)
        user.nick, user.fold = nick, fold
        server.users[fold] = user
        try_register(server, reply)
        return
    if nick_refused(server, reply, nick, fold):
        return
    old_prefix = user.prefix
    time_ms = server.stamp()
    msgid = server.next_msgid()
    line = f":{old_prefix} NICK :{nick}"
    server.fanout(server.neighbours(user), line, time_ms, msgid, account=user.account)
    server.send_self(reply, line, time_ms, msgid, account=user.account)
    for channel in user.channels.values():
        store_event(server, channel, user, "NICK", (nick,), time_ms, msgid, source=old_prefix)
    rename(server, user, nick, fold, time_ms, line)
    check_nick(server, user, reply)


def rename(
    server: ChatServer,
    user: User,
    nick: str,
    fold: str,
    time_ms: int,
    line: str,
    *,
    listed: bool = True,
) -> None:
    """`user` is now `nick` (its NICK line already sent): the nick index (unless not
    `listed`: a cluster's remote user under a nick one of this node's users holds here,
    hubbub.core.cluster_apply) and MONITOR."""
    old_prefix, old_nick, old_fold = user.prefix, user.nick, user.fold
    if server.users.get(old_fold) is user:
        del server.users[old_fold]
    if fold != old_fold:  # another nick, not another case of it (hubbub.core.privacy)
        user.nick_since_ms = time_ms
        if not user.session.remote:  # (its own node remembers a remote user's)
            remember(server, user, old_nick)
    user.nick, user.fold = nick, fold
    if listed:
        server.users[fold] = user
    log.info("%s is now known as %s", old_prefix, nick)
    changed_nick(server, user, old_nick, old_fold, line)
    if server.cluster is not None and not user.session.remote:
        server.cluster.nick_changed(user, old_nick, old_fold)  # the network directory


@command("USER", 4, before_registration=True)
def handle_user(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    if session.phase is Phase.REGISTERED or user.username:
        reply.numeric(n.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    username = "".join(c for c in msg.params[0] if c.isascii() and c.isprintable() and c != "@")
    if not username:
        # Nothing usable is left (a user name of emoji, say): Modern IRC says a server that
        # does not refuse the command "MUST use a default value instead", and a reply nobody
        # expects here (461 for a parameter that was given) leaves clients waiting.
        username = DEFAULT_USERNAME
    if not msg.params[3]:
        # Modern IRC: an empty realname is as good as a missing parameter.
        reply.numeric(n.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return
    # No ident lookup: the '~' says the user name is the client's own claim.
    user.username = "~" + username[: server.config.limits.user_length - 1]
    user.realname = msg.params[3][:200]
    try_register(server, reply)


@command("CAP", 1, before_registration=True)
def handle_cap(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    sub = msg.params[0].upper()
    if sub == "LS":
        if session.phase is Phase.UNREGISTERED:
            session.phase = Phase.NEGOTIATING
        version = 301
        if len(msg.params) > 1 and msg.params[1].isdecimal():
            version = int(msg.params[1])
        session.cap_version = max(session.cap_version, version)
        if version >= 302:
            session.caps |= {"cap-notify"}
        names = advertised(server, version)
        policy = sts_entry(server, session) if version >= 302 else None
        if policy is not None:  # STS: only with 302, where capabilities have values
            names.append(policy)
        send_cap_list(server, reply, "LS", names)
    elif sub == "LIST":
        send_cap_list(server, reply, "LIST", sorted(session.caps))
    elif sub == "REQ":
        if session.phase is Phase.UNREGISTERED:
            session.phase = Phase.NEGOTIATING
        request = msg.params[1] if len(msg.params) > 1 else ""
        cap_req(server, reply, request)
    elif sub == "END":
        if session.phase is Phase.NEGOTIATING:
            session.phase = Phase.UNREGISTERED
            try_register(server, reply)
    else:
        reply.numeric(n.ERR_INVALIDCAPCMD, msg.params[0], "Invalid CAP subcommand")


def advertised(server: ChatServer, version: int) -> list[str]:
    if version >= 302:
        found = [(name, cap_value(name, server.config)) for name in CAPABILITIES]
        return [f"{name}={value}" if value else name for name, value in found]
    return list(CAPABILITIES)


def send_cap_list(server: ChatServer, reply: Reply, sub: str, names: list[str]) -> None:
    nick = reply.session.user.nick
    multiline = reply.session.cap_version >= 302
    # A 302 client reads "CAP * LS * :…" as "more follows"; an older one has no such marker,
    # so it gets one line, as long as a line may be (CAP LS 301 lists names without values).
    budget = CAP_LINE_BUDGET if multiline else 510 - len(f":{server.name} CAP {nick} {sub} :")
    chunks: list[str] = []
    current = ""
    for name in names:
        if current and len(current) + len(name) + 1 > budget:
            chunks.append(current)
            current = name
        else:
            current = f"{current} {name}" if current else name
    chunks.append(current)
    for i, chunk in enumerate(chunks):
        more = "* " if multiline and i < len(chunks) - 1 else ""
        reply.add(f":{server.name} CAP {nick} {sub} {more}:{chunk}")


def cap_req(server: ChatServer, reply: Reply, request: str) -> None:
    """All-or-nothing, as the spec asks: one unknown or sticky name refuses the whole request."""
    session = reply.session
    nick = session.user.nick
    wanted = request.split()
    enable: set[str] = set()
    disable: set[str] = set()
    for item in wanted:
        name = item[1:] if item.startswith("-") else item
        if name not in CAPABILITIES or (item.startswith("-") and name in STICKY):
            reply.add(f":{server.name} CAP {nick} NAK :{request}")
            return
        (disable if item.startswith("-") else enable).add(name)
    session.caps |= enable
    session.caps -= disable
    session.update_profile()
    for channel in session.user.channels.values():
        channel.groups = None  # its fan-out groups sort members by profile
    reply.add(f":{server.name} CAP {nick} ACK :{request}")


def try_register(server: ChatServer, reply: Reply) -> None:
    session = reply.session
    user = session.user
    if session.phase is not Phase.UNREGISTERED or not user.fold or not user.username:
        return
    if server.config.server.password and not session.pass_ok:
        reply.numeric(n.ERR_PASSWDMISMATCH, "Password incorrect")
        reply.flush()
        server.quit(session, "Bad password")
        return
    if hold_registration(server, reply):  # require_tls, a registered nick
        return
    if server.registry.bans and refuse_registration(server, reply):  # K-lined: 465, then closed
        return
    session.phase = Phase.REGISTERED
    user.nick_since_ms = server.stamp()  # the nick is now this user's (hubbub.core.privacy)
    server.registered_count += 1
    server.counters.registrations += 1
    server.max_users = max(server.max_users, server.registered_count)
    user.last_active = server.now
    log.info("%s registered from %s", user.prefix, session.host)
    welcome(server, reply)
    if server.cluster is not None:  # in the network directory, online on every node
        server.cluster.registered(user, reply)
    came_online(server, user)  # MONITOR: its watchers learn it is here (its network id set)
    check_nick(server, user, reply)


def welcome(server: ChatServer, reply: Reply) -> None:
    user = reply.session.user
    network = server.config.server.network
    reply.numeric(n.RPL_WELCOME, f"Welcome to the {network} IRC network, {user.prefix}")
    reply.numeric(n.RPL_YOURHOST, f"Your host is {server.name}, running version {server.version}")
    reply.numeric(n.RPL_CREATED, f"This server was created {server.created}")
    reply.numeric(n.RPL_MYINFO, server.name, server.version, "BiowZ", "beIklmnostv", "beIklov")
    tokens = server.isupport
    for start in range(0, len(tokens), ISUPPORT_PER_LINE):
        reply.numeric(
            n.RPL_ISUPPORT,
            *tokens[start : start + ISUPPORT_PER_LINE],
            "are supported by this server",
        )
    after_welcome(server, reply)  # draft/metadata-2: the client's own metadata, in a batch
    lusers(server, reply)
    motd(server, reply)
    modes = user.mode_string
    if modes != "+":
        # The modes the server gave (+Z over TLS): clients learn their own modes from MODE.
        reply.add(f":{user.nick} MODE {user.nick} :{modes}")


def lusers(server: ChatServer, reply: Reply) -> None:
    # Counters, not a walk over every session: the welcome burst sends LUSERS, so a walk
    # would make each registration cost O(connections).
    count = server.registered_count
    invisible = server.invisible_count
    unknown = len(server.sessions) - count
    # A node of a cluster: the network is this node (counted now) and the others (as the node
    # last counted them, every heartbeat); each node is one server of the network.
    census = server.census()
    others = census or Census(nodes=0, users=0, invisible=0, channels=0)
    network_count = count + others.users
    network_invisible = invisible + others.invisible
    server.max_network_users = max(server.max_network_users, server.max_users, network_count)
    servers = 1 + others.nodes
    reply.numeric(
        n.RPL_LUSERCLIENT,
        f"There are {network_count - network_invisible} users and {network_invisible} "
        f"invisible on {servers} servers",
    )
    if unknown:
        reply.numeric(n.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    # This node's channels are among the network's; the count it read may be a heartbeat old.
    channels = max(len(server.channels), others.channels)
    reply.numeric(n.RPL_LUSERCHANNELS, str(channels), "channels formed")
    reply.numeric(n.RPL_LUSERME, f"I have {count} clients and {others.nodes} servers")
    reply.numeric(
        n.RPL_LOCALUSERS,
        str(count),
        str(server.max_users),
        f"Current local users {count}, max {server.max_users}",
    )
    most = server.max_network_users
    reply.numeric(
        n.RPL_GLOBALUSERS,
        str(network_count),
        str(most),
        f"Current global users {network_count}, max {most}",
    )


def motd(server: ChatServer, reply: Reply) -> None:
    text = server.config.server.motd
    if not text:
        reply.numeric(n.ERR_NOMOTD, "MOTD File is missing")
        return
    reply.numeric(n.RPL_MOTDSTART, f"- {server.name} Message of the day - ")
    for line in text.splitlines() or [""]:
        reply.numeric(n.RPL_MOTD, f"- {line}")
    reply.numeric(n.RPL_ENDOFMOTD, "End of /MOTD command.")


@command("LUSERS")
def handle_lusers(server: ChatServer, reply: Reply, msg: Message) -> None:
    lusers(server, reply)


@command("MOTD")
def handle_motd(server: ChatServer, reply: Reply, msg: Message) -> None:
    motd(server, reply)


@command("PING", before_registration=True)
def handle_ping(server: ChatServer, reply: Reply, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        reply.numeric(n.ERR_NOORIGIN, "No origin specified")
        return
    reply.add(f":{server.name} PONG {server.name} :{msg.params[0]}")


@command("PONG", before_registration=True)
def handle_pong(server: ChatServer, reply: Reply, msg: Message) -> None:
    # Liveness is the transport's business (any received byte counts); nothing to answer.
    return


@command("QUIT", before_registration=True)
def handle_quit(server: ChatServer, reply: Reply, msg: Message) -> None:
    text = msg.params[0] if msg.params else ""
    reply.flush()
    server.quit(reply.session, f"Quit: {text}" if text else "Quit")
