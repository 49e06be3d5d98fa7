"""IRC operators: OPER, KILL, KLINE / UNKLINE, DLINE / UNDLINE, REHASH, WALLOPS, STATS, and
the server bans they manage.

* **OPER name password** checks the password against the argon2id hash of the matching
  `[[operators]]` entry of the config, on the account worker thread (hashing never runs on the
  loop), throttled like logins (the address's and the operator name's buckets). Answers: 381
  and user mode +o; 464 for a wrong name or password; 491 when the client's user@host does not
  match the entry's `host`. The password is never logged (the transport masks OPER lines).
* **K-lines** (`user@host` masks) refuse registration (465 ERR_YOUREBANNEDCREEP, then ERROR)
  and disconnect matching users when added; **D-lines** (an IP address or CIDR network) refuse
  connections in `ChatServer.connect`, before anything else, and disconnect matching
  connections when added. Both may expire; both are kept in memory (`srv.reg.bans`) and in the
  registry store, which `tick(now)` prunes. Operators themselves are never disconnected by a
  ban they add.
* **REHASH** asks the application to read its config file again (the core reads no files): the
  application hands the new `Config` to `ChatServer.rehash`, which applies what can change live
  (`live_config`). SIGHUP does the same.
* Every operator action is logged at INFO as "oper <name> <action>".
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hubbub.accounts.passwords import Hasher
from hubbub.config import Config, Operator
from hubbub.core.accounts import MAX_STRIKES, call
from hubbub.core.commands import command
from hubbub.core.masks import compile_mask
from hubbub.core.reply import Reply
from hubbub.protocol import numerics as n
from hubbub.registry.model import ServerBan

if TYPE_CHECKING:
    from hubbub.accounts.store import AccountStore
    from hubbub.core.model import Session, User
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.oper")

# STATS numerics protocol.numerics does not name.
RPL_STATSLINKINFO = "211"
RPL_STATSKLINE = "216"
RPL_STATSDLINE = "225"
RPL_STATSOLINE = "243"
RPL_STATSDEBUG = "249"
STATS_LINKS_SHOWN = 100

DURATION = re.compile(r"(\d{1,9})([smhdw]?)\Z", re.IGNORECASE)
UNITS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class OperState:
    """Operator bookkeeping, one per ChatServer (`srv.opers`)."""

    def __init__(self) -> None:
        #: Set by the application: re-read the config file, hand it to `ChatServer.rehash`,
        #: then call `done(None)` or `done(error text)` on the loop.
        self.rehash_hook: Callable[[Callable[[str | None], None]], None] | None = None
        self.started = 0.0  # when the core first saw the time (STATS u)


# ---------------------------------------------------------------------- helpers


def find_operator(srv: ChatServer, name: str) -> Operator | None:
    wanted = name.casefold()
    return next((o for o in srv.config.operators if o.name.casefold() == wanted), None)


def user_hosts(user: User) -> list[str]:
    """The user@host forms a mask is matched against: the user name with and without its
    '~', at the host name and at the address."""
    names = {user.username, user.username.lstrip("~")}
    hosts = {user.hostname, user.session.host}
    return [f"{name}@{host}" for name in names for host in hosts]


def mask_matches(srv: ChatServer, mask: str, user: User) -> bool:
    pattern = compile_mask(srv.fold(mask))
    return any(pattern.match(srv.fold(form)) for form in user_hosts(user))


def verify_oper_password(phc: str | None, password: str) -> bool:
    """Runs on the account worker. An unknown name costs a hash too (no timing oracle)."""
    hasher = PasswordHasher()
    if phc is None:
        hasher.hash(password)
        return False
    try:
        return hasher.verify(phc, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def require_oper(reply: Reply) -> str | None:
    """The operator name of the requester, or None after answering 481."""
    oper = reply.session.user.oper
    if not oper:
        reply.numeric(n.ERR_NOPRIVILEGES, "Permission Denied - You're not an IRC operator")
        return None
    return oper


def server_notice(srv: ChatServer, reply: Reply, text: str) -> None:
    reply.add(f":{srv.name} NOTICE {reply.session.user.nick} :{text}")


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


# ---------------------------------------------------------------------- OPER


@command("OPER", 2)
def handle_oper(srv: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    name, password = msg.params[0], msg.params[1]
    if user.oper:
        reply.numeric(n.RPL_YOUREOPER, "You are already an IRC operator")
        return
    entry = find_operator(srv, name)
    throttle = srv.acc.throttle
    keys = ("a:" + session.host, "o:" + name.casefold())
    wait = throttle.wait(keys, srv.now)
    if wait > 0:
        session.auth_strikes += 1
        log.info("OPER attempt from %s throttled (%d)", session.host, session.auth_strikes)
        reply.numeric(
            n.ERR_PASSWDMISMATCH,
            f"Too many failed attempts; try again in {int(wait) + 1} seconds",
        )
        if session.auth_strikes >= MAX_STRIKES:
            reply.flush()
            srv.quit(session, "Too many failed login attempts")
        return
    if entry is not None and not mask_matches(srv, entry.host, user):
        throttle.fail(keys, srv.now)
        log.info("OPER %s refused for %s: host does not match", entry.name, user.prefix)
        reply.numeric(n.ERR_NOOPERHOST, "No O-lines for your host")
        return
    phc = entry.password if entry is not None else None

    def fn(store: AccountStore) -> bool:
        return verify_oper_password(phc, password)

    def done(later: Reply, ok: Any) -> None:
        if ok is True and entry is not None:
            if not user.oper:
                become_oper(srv, later, user, entry)
            return
        throttle.fail(keys, srv.now)
        log.info("failed OPER attempt from %s", user.prefix)
        later.numeric(n.ERR_PASSWDMISMATCH, "Password incorrect")

    call(srv, reply, fn, done)


def become_oper(srv: ChatServer, reply: Reply, user: User, entry: Operator) -> None:
    user.oper = entry.name
    reply.numeric(n.RPL_YOUREOPER, "You are now an IRC operator")
    reply.add(f":{user.prefix} MODE {user.nick} :+o")
    log.info("oper %s: %s is now an IRC operator", entry.name, user.prefix)


def give_up_oper(srv: ChatServer, user: User, why: str) -> None:
    """MODE -o, or the entry left the config: the user is no longer an operator."""
    log.info("oper %s: %s is no longer an IRC operator (%s)", user.oper, user.prefix, why)
    user.oper = ""


# ---------------------------------------------------------------------- KILL, WALLOPS


@command("KILL", 1)
def handle_kill(srv: ChatServer, reply: Reply, msg: Message) -> None:
    oper = require_oper(reply)
    if oper is None:
        return
    user = reply.session.user
    nick = msg.params[0]
    reason = msg.params[1] if len(msg.params) > 1 and msg.params[1] else "No reason given"
    target = srv.find_user(nick)
    if target is None:
        reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    if target.service is not None:
        reply.numeric(n.ERR_CANTKILLSERVER, "You can't kill a service")
        return
    log.info("oper %s KILLed %s (%s)", oper, target.nick, reason)
    line = f":{user.prefix} KILL {target.nick} :{reason}\r\n"
    target.session.link.write(line.encode("utf-8", "replace"))
    if target is not user:
        server_notice(srv, reply, f"Killed {target.nick} ({reason})")
    srv.quit(target.session, f"Killed by {user.nick} ({reason})")


@command("WALLOPS", 1)
def handle_wallops(srv: ChatServer, reply: Reply, msg: Message) -> None:
    oper = require_oper(reply)
    if oper is None:
        return
    user = reply.session.user
    text = msg.params[0]
    log.info("oper %s WALLOPS: %s", oper, text)
    watchers = [u for u in srv.registered_users() if u.wallops or u.oper]
    srv.fanout(watchers, f":{user.prefix} WALLOPS :{text}", srv.stamp())


# ---------------------------------------------------------------------- K-lines and D-lines


def live_bans(srv: ChatServer, kind: str) -> list[ServerBan]:
    now_ms = int(srv.now * 1000)
    return [b for b in srv.reg.bans.values() if b.kind == kind and not b.expired(now_ms)]


def dline_for(srv: ChatServer, host: str) -> ServerBan | None:
    """The D-line covering this address, if any."""
    bans = live_bans(srv, "D")
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


def kline_for(srv: ChatServer, user: User) -> ServerBan | None:
    return next((b for b in live_bans(srv, "K") if mask_matches(srv, b.mask, user)), None)


def refuse_connection(srv: ChatServer, session: Session) -> bool:
    """At connection: a D-lined address is told why and closed at once."""
    ban = dline_for(srv, session.host)
    if ban is None:
        return False
    log.info("refused %s: D-lined (%s: %s)", session.host, ban.mask, ban.reason)
    session.link.write(
        f"ERROR :Closing link: ({session.host}) [D-lined: {ban.reason}]\r\n".encode()
    )
    session.link.close()
    return True


def refuse_registration(srv: ChatServer, reply: Reply) -> bool:
    """Just before the welcome: a K-lined user@host gets 465 and is disconnected."""
    session = reply.session
    ban = kline_for(srv, session.user)
    if ban is None:
        return False
    log.info("refused %s: K-lined (%s: %s)", session.user.prefix, ban.mask, ban.reason)
    reply.numeric(n.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}")
    reply.flush()
    srv.quit(session, f"K-lined: {ban.reason}")
    return True


def kline_mask(srv: ChatServer, text: str) -> str | None:
    """user@host, as given; a nick online: *@its host; a bare host: *@host."""
    if "@" in text:
        user_part, _, host_part = text.partition("@")
        return f"{user_part or '*'}@{host_part or '*'}" if " " not in text else None
    target = srv.find_user(text)
    if target is not None and target.service is None:
        return f"*@{target.session.host}"
    return f"*@{text}" if text and "!" not in text else None


def dline_mask(srv: ChatServer, text: str) -> str | None:
    """An address or CIDR network, normalised; a nick online: its address."""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        pass
    target = srv.find_user(text)
    if target is not None and target.service is None:
        try:
            return str(ipaddress.ip_network(target.session.host))
        except ValueError:
            return None
    return None


def add_ban(srv: ChatServer, reply: Reply, kind: str, params: tuple[str, ...]) -> None:
    oper = require_oper(reply)
    if oper is None:
        return
    command_name = "KLINE" if kind == "K" else "DLINE"
    args = list(params)
    seconds = 0
    if len(args) >= 2 and (parsed := parse_duration(args[0])) is not None:
        seconds = parsed
        args.pop(0)
    if not args:
        reply.numeric(n.ERR_NEEDMOREPARAMS, command_name, "Not enough parameters")
        return
    mask = kline_mask(srv, args[0]) if kind == "K" else dline_mask(srv, args[0])
    if mask is None:
        what = "a user@host mask" if kind == "K" else "an IP address or CIDR network"
        server_notice(srv, reply, f"{command_name}: {args[0]} is not {what}")
        return
    reason = args[1] if len(args) > 1 and args[1] else "No reason given"
    now_ms = int(srv.now * 1000)
    ban = ServerBan(kind, mask, reason, oper, now_ms, now_ms + seconds * 1000 if seconds else 0)
    srv.reg.bans[(kind, mask)] = ban
    srv.reg.call(lambda store: store.add_ban(ban))
    duration = describe_duration(seconds)
    log.info("oper %s added a %s-line on %s (%s, %s)", oper, kind, mask, duration, reason)
    server_notice(srv, reply, f"{kind}-line added on {mask} ({duration}): {reason}")
    # Disconnect who is covered now (operators excepted).
    hit: list[Session] = []
    for session in list(srv.sessions):
        user = session.user
        if user.oper:
            continue
        if kind == "D":
            covered = dline_for(srv, session.host) is ban
        else:
            covered = session.registered and mask_matches(srv, mask, user)
        if covered:
            hit.append(session)
    for session in hit:
        if session.closed:
            continue
        banned = Reply(session, srv.name, None)
        banned.numeric(n.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {reason}")
        banned.flush()
        log.info("oper %s: %s-line on %s disconnects %s", oper, kind, mask, session.user.prefix)
        srv.quit(session, f"{kind}-lined: {reason}")


def remove_ban(srv: ChatServer, reply: Reply, kind: str, text: str) -> None:
    oper = require_oper(reply)
    if oper is None:
        return
    mask = (kline_mask(srv, text) if kind == "K" else dline_mask(srv, text)) or text
    ban = srv.reg.bans.pop((kind, mask), None)
    if ban is None:
        server_notice(srv, reply, f"There is no {kind}-line on {mask}")
        return
    srv.reg.call(lambda store: store.remove_ban(kind, mask))
    log.info("oper %s removed the %s-line on %s", oper, kind, mask)
    server_notice(srv, reply, f"{kind}-line on {mask} removed")


@command("KLINE", 1)
def handle_kline(srv: ChatServer, reply: Reply, msg: Message) -> None:
    add_ban(srv, reply, "K", msg.params)


@command("DLINE", 1)
def handle_dline(srv: ChatServer, reply: Reply, msg: Message) -> None:
    add_ban(srv, reply, "D", msg.params)


@command("UNKLINE", 1)
def handle_unkline(srv: ChatServer, reply: Reply, msg: Message) -> None:
    remove_ban(srv, reply, "K", msg.params[0])


@command("UNDLINE", 1)
def handle_undline(srv: ChatServer, reply: Reply, msg: Message) -> None:
    remove_ban(srv, reply, "D", msg.params[0])


def expire(srv: ChatServer, now: float) -> None:
    """Called from `ChatServer.tick`: forget the bans whose time is up."""
    bans = srv.reg.bans
    if not bans:
        return
    now_ms = int(now * 1000)
    gone = [key for key, ban in bans.items() if ban.expired(now_ms)]
    for key in gone:
        ban = bans.pop(key)
        log.info("%s-line on %s (by oper %s) expired", ban.kind, ban.mask, ban.setter)
    if gone:
        srv.reg.call(lambda store: store.expire_bans(now_ms))


# ---------------------------------------------------------------------- STATS, REHASH


@command("STATS")
def handle_stats(srv: ChatServer, reply: Reply, msg: Message) -> None:
    oper = require_oper(reply)
    if oper is None:
        return
    letter = msg.params[0][:1] if msg.params and msg.params[0] else "*"
    log.info("oper %s STATS %s", oper, letter)
    now_ms = int(srv.now * 1000)
    if letter in "kKdD":
        kind = letter.upper()
        code = RPL_STATSKLINE if kind == "K" else RPL_STATSDLINE
        for ban in live_bans(srv, kind):
            left = max(0, (ban.expires_ms - now_ms) // 1000) if ban.expires_ms else 0
            reply.numeric(code, kind, ban.mask, str(left), ban.setter, ban.reason)
    elif letter == "u":
        up = int(srv.now - srv.opers.started) if srv.opers.started else 0
        days, rest = divmod(up, 86_400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        reply.numeric(
            n.RPL_STATSUPTIME, f"Server Up {days} days {hours}:{minutes:02d}:{seconds:02d}"
        )
    elif letter in "oO":
        for entry in srv.config.operators:
            reply.numeric(RPL_STATSOLINE, "O", entry.host, "*", entry.name)
    elif letter == "l":
        stats_links(srv, reply)
    reply.numeric(n.RPL_ENDOFSTATS, letter, "End of /STATS report")


def stats_links(srv: ChatServer, reply: Reply) -> None:
    sessions = srv.sessions
    registered = sum(1 for s in sessions if s.registered)
    secure = sum(1 for s in sessions if s.secure)
    opers = sum(1 for s in sessions if s.user.oper)
    reply.numeric(
        RPL_STATSDEBUG,
        f"{len(sessions)} connections: {registered} registered, "
        f"{len(sessions) - registered} registering, {secure} TLS, {opers} operators; "
        f"{len(srv.channels)} channels",
    )
    for shown, session in enumerate(sessions):
        if shown >= STATS_LINKS_SHOWN:
            reply.numeric(RPL_STATSDEBUG, f"… and {len(sessions) - shown} more")
            break
        user = session.user
        reply.numeric(
            RPL_STATSLINKINFO,
            f"{user.nick}[{user.username or '*'}@{session.host}]",
            "tls" if session.secure else "plain",
            str(max(0, int(srv.now - session.signon))),
            str(max(0, int(srv.now - user.last_active))),
        )


@command("REHASH")
def handle_rehash(srv: ChatServer, reply: Reply, msg: Message) -> None:
    oper = require_oper(reply)
    if oper is None:
        return
    session = reply.session
    hook = srv.opers.rehash_hook
    log.info("oper %s REHASHed the configuration", oper)
    if hook is None:
        server_notice(srv, reply, "REHASH: this server has no configuration to re-read")
        return
    reply.numeric(n.RPL_REHASHING, "config", "Rehashing")

    def done(error: str | None) -> None:
        if session.closed:
            return
        text = f"REHASH failed: {error}" if error else "REHASH done"
        line = f":{srv.name} NOTICE {session.user.nick} :{text}\r\n"
        session.link.write(line.encode("utf-8", "replace"))

    srv.deferred.append(lambda: hook(done))


# Settings that need a restart: REHASH keeps their running values (and the log says so).
RESTART_ONLY = (
    ("server", ("name", "casemapping", "data_dir")),
    ("listen", None),
    ("web", None),
    ("tls", None),
    ("history", ("backend", "path", "commit_interval_ms")),
)


def live_config(old: Config, new: Config) -> tuple[Config, list[str]]:
    """`new`, with the settings that cannot change while running kept from `old`; and the
    dotted names of those that differed (REHASH logs them)."""
    ignored: list[str] = []
    changes: dict[str, Any] = {}
    for section, keys in RESTART_ONLY:
        was, now = getattr(old, section), getattr(new, section)
        if keys is None:
            if was != now:
                ignored.append(f"[{section}]")
            changes[section] = was
            continue
        kept = {key: getattr(was, key) for key in keys}
        ignored += [f"{section}.{key}" for key in keys if getattr(now, key) != kept[key]]
        changes[section] = dataclasses.replace(now, **kept)
    return dataclasses.replace(new, **changes), ignored


def apply_config(srv: ChatServer, config: Config) -> list[str]:
    """`ChatServer.rehash`: use a new configuration; the restart-only keys it ignored."""
    merged, ignored = live_config(srv.config, config)
    srv.config = merged
    srv.isupport = srv._isupport_tokens()
    if srv.whowas.maxlen != merged.limits.whowas_entries:
        srv.whowas = deque(srv.whowas, maxlen=merged.limits.whowas_entries)
    accounts = merged.accounts
    srv.acc.hasher = Hasher(
        time_cost=accounts.hash_time_cost,
        memory_kib=accounts.hash_memory_kib,
        scram_iterations=accounts.scram_iterations,
    )
    srv.acc.throttle.burst = float(accounts.login_attempts)
    srv.acc.throttle.refill = accounts.login_refill_seconds
    for user in list(srv.registered_users()):
        if user.oper and find_operator(srv, user.oper) is None:
            give_up_oper(srv, user, "removed from the configuration")
            line = f":{user.prefix} MODE {user.nick} :-o\r\n"
            user.session.link.write(line.encode("utf-8", "replace"))
    log.info(
        "configuration reloaded: %d operators%s",
        len(merged.operators),
        f"; unchanged until a restart: {', '.join(ignored)}" if ignored else "",
    )
    return ignored
