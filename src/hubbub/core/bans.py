"""Server bans: K-lines (KLINE / UNKLINE) and D-lines (DLINE / UNDLINE).

* **K-lines** (`user@host` masks) refuse registration (465 ERR_YOUREBANNEDCREEP, then ERROR)
  and disconnect matching users when added; **D-lines** (an IP address or CIDR network) refuse
  connections in `ChatServer.connect`, before anything else, and disconnect matching
  connections when added. Both may expire; both are kept in memory (`server.registry.bans`) and
  in the registry store, which `expire(now)` prunes. Operators themselves are never
  disconnected by a ban they add.
* In a cluster the registry store is the shared PostgreSQL: every node loads the bans at its
  start, and a ban added or removed on one node is announced to the others through the bus
  once it is stored (hubbub.core.cluster_users); each node disconnects its own users.
* Every operator action is logged at INFO as "oper <name> <action>".
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import TYPE_CHECKING

from hubbub.core.commands import command
from hubbub.core.masks import compile_mask
from hubbub.core.reply import Reply
from hubbub.protocol import numerics as n
from hubbub.registry.model import ServerBan, removal

if TYPE_CHECKING:
    from hubbub.core.model import Session, User
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.oper")

DURATION = re.compile(r"(\d{1,9})([smhdw]?)\Z", re.IGNORECASE)
UNITS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def user_hosts(user: User) -> list[str]:
    """The user@host forms a mask is matched against: the user name with and without its
    '~', at the host name and at the address."""
    names = {user.username, user.username.lstrip("~")}
    hosts = {user.hostname, user.session.host}
    return [f"{name}@{host}" for name in names for host in hosts]


def mask_matches(server: ChatServer, mask: str, user: User) -> bool:
    pattern = compile_mask(server.fold(mask))
    return any(pattern.match(server.fold(form)) for form in user_hosts(user))


def parse_duration(text: str) -> int | None:
    """Seconds of a ban duration: minutes as a bare number (as ircds take it), or with a unit
    s, m, h, d or w. 0: permanent. None: not a duration."""
    match = DURATION.match(text)
    if match is None:
        return None
    return int(match[1]) * UNITS[match[2].lower()]


def describe_duration(seconds: int) -> str:
    if seconds <= 0:
        return "permanent"
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def live_bans(server: ChatServer, kind: str) -> list[ServerBan]:
    now_ms = int(server.now * 1000)
    return [b for b in server.registry.bans.values() if b.kind == kind and not b.expired(now_ms)]


def dline_for(server: ChatServer, host: str) -> ServerBan | None:
    """The D-line covering this address, if any."""
    bans = live_bans(server, "D")
    if not bans:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    for ban in bans:
        try:
            network = ipaddress.ip_network(ban.mask, strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            return ban
    return None


def kline_for(server: ChatServer, user: User) -> ServerBan | None:
    return next((b for b in live_bans(server, "K") if mask_matches(server, b.mask, user)), None)


def refuse_connection(server: ChatServer, session: Session) -> bool:
    """At connection: a D-lined address is told why and closed at once."""
    ban = dline_for(server, session.host)
    if ban is None:
        return False
    server.counters.dline_refusals += 1
    log.info("refused %s: D-lined (%s: %s)", session.host, ban.mask, ban.reason)
    server.write_line(session, f"ERROR :Closing link: ({session.host}) [D-lined: {ban.reason}]")
    session.link.close()
    return True


def refuse_registration(server: ChatServer, reply: Reply) -> bool:
    """Just before the welcome: a K-lined user@host gets 465 and is disconnected."""
    session = reply.session
    ban = kline_for(server, session.user)
    if ban is None:
        return False
    server.counters.kline_refusals += 1
    log.info("refused %s: K-lined (%s: %s)", session.user.prefix, ban.mask, ban.reason)
    reply.numeric(n.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}")
    reply.flush()
    server.quit(session, f"K-lined: {ban.reason}")
    return True


def kline_mask(server: ChatServer, text: str) -> str | None:
    """user@host, as given; a nick online: *@its host; a bare host: *@host."""
    if "@" in text:
        user_part, _, host_part = text.partition("@")
        return f"{user_part or '*'}@{host_part or '*'}" if " " not in text else None
    target = server.find_user(text)
    if target is not None and target.service is None:
        return f"*@{target.session.host}"
    return f"*@{text}" if text and "!" not in text else None


def dline_mask(server: ChatServer, text: str) -> str | None:
    """An address or CIDR network, normalised; a nick online: its address."""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        pass
    target = server.find_user(text)
    if target is not None and target.service is None:
        try:
            return str(ipaddress.ip_network(target.session.host))
        except ValueError:
            return None
    return None


def add_ban(server: ChatServer, reply: Reply, kind: str, params: tuple[str, ...]) -> None:
    oper = reply.session.user.oper
    command_name = "KLINE" if kind == "K" else "DLINE"
    args = list(params)
    seconds = 0
    if len(args) >= 2 and (parsed := parse_duration(args[0])) is not None:
        seconds = parsed
        args.pop(0)
    if not args:
        reply.numeric(n.ERR_NEEDMOREPARAMS, command_name, "Not enough parameters")
        return
    mask = kline_mask(server, args[0]) if kind == "K" else dline_mask(server, args[0])
    if mask is None:
        what = "a user@host mask" if kind == "K" else "an IP address or CIDR network"
        reply.notice(f"{command_name}: {args[0]} is not {what}")
        return
    if kind == "K" and len(mask) > server.config.limits.mask_length:
        # Every registration is matched against every K-line: keep each one bounded.
        reply.notice(
            f"{command_name}: the mask is too long (at most {server.config.limits.mask_length})"
        )
        return
    reason = args[1] if len(args) > 1 and args[1] else "No reason given"
    now_ms = int(server.now * 1000)
    ban = ServerBan(kind, mask, reason, oper, now_ms, now_ms + seconds * 1000 if seconds else 0)
    server.registry.bans[(kind, mask)] = ban
    cluster = server.cluster
    # In a cluster, the other nodes are told once the ban is in the shared store, so a node
    # starting meanwhile has it from one or the other (hubbub.core.cluster_users).
    announce = None if cluster is None else (lambda result: cluster.banned(ban))
    server.registry.call(lambda store: store.add_ban(ban), announce)
    duration = describe_duration(seconds)
    log.info("oper %s added a %s-line on %s (%s, %s)", oper, kind, mask, duration, reason)
    reply.notice(f"{kind}-line added on {mask} ({duration}): {reason}")
    disconnect_covered(server, ban)


def disconnect_covered(server: ChatServer, ban: ServerBan) -> None:
    """Disconnect the local users a new ban covers (operators excepted)."""
    kind, mask, reason = ban.kind, ban.mask, ban.reason
    hit: list[Session] = []
    for session in list(server.sessions):
        user = session.user
        if user.oper:
            continue
        if kind == "D":
            covered = dline_for(server, session.host) is ban
        else:
            covered = session.registered and mask_matches(server, mask, user)
        if covered:
            hit.append(session)
    for session in hit:
        if session.closed:
            continue
        banned = Reply(server, session, None)
        banned.numeric(n.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {reason}")
        banned.flush()
        log.info(
            "oper %s: %s-line on %s disconnects %s", ban.setter, kind, mask, session.user.prefix
        )
        server.quit(session, f"{kind}-lined: {reason}")


def remove_ban(server: ChatServer, reply: Reply, kind: str, text: str) -> None:
    oper = reply.session.user.oper
    mask = (kline_mask(server, text) if kind == "K" else dline_mask(server, text)) or text
    ban = server.registry.bans.pop((kind, mask), None)
    if ban is None:
        reply.notice(f"There is no {kind}-line on {mask}")
        return
    cluster = server.cluster
    if cluster is None:
        server.registry.call(lambda store: store.remove_ban(kind, mask))
    else:
        # Recorded in the ban's place, the same on every node (hubbub.core.cluster_users).
        gone = removal(kind, mask, oper, int(server.now * 1000))
        server.registry.call(
            lambda store: store.remove_ban(kind, mask, gone),
            lambda result: cluster.unbanned(gone),
        )
    log.info("oper %s removed the %s-line on %s", oper, kind, mask)
    reply.notice(f"{kind}-line on {mask} removed")


@command("KLINE", 1, oper=True)
def handle_kline(server: ChatServer, reply: Reply, msg: Message) -> None:
    add_ban(server, reply, "K", msg.params)


@command("DLINE", 1, oper=True)
def handle_dline(server: ChatServer, reply: Reply, msg: Message) -> None:
    add_ban(server, reply, "D", msg.params)


@command("UNKLINE", 1, oper=True)
def handle_unkline(server: ChatServer, reply: Reply, msg: Message) -> None:
    remove_ban(server, reply, "K", msg.params[0])


@command("UNDLINE", 1, oper=True)
def handle_undline(server: ChatServer, reply: Reply, msg: Message) -> None:
    remove_ban(server, reply, "D", msg.params[0])


def expire(server: ChatServer, now: float) -> None:
    """Called from `ChatServer.tick`: forget the bans whose time is up."""
    bans = server.registry.bans
    if not bans:
        return
    now_ms = int(now * 1000)
    gone = [key for key, ban in bans.items() if ban.expired(now_ms)]
    for key in gone:
        ban = bans.pop(key)
        log.info("%s-line on %s (by oper %s) expired", ban.kind, ban.mask, ban.setter)
    if gone:
        server.registry.call(lambda store: store.expire_bans(now_ms))
