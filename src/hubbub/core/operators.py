"""IRC operators: OPER, KILL, WALLOPS, STATS and REHASH (server bans: `hubbub.core.bans`; what
REHASH changes: `hubbub.core.liveconfig`).

* **OPER name password** checks the password against the argon2id hash of the matching
  `[[operators]]` entry of the config, on the account worker thread (hashing never runs on the
  loop), throttled like logins (the address's and the operator name's buckets, a token taken
  when the attempt is submitted; one check per address and name in flight). Answers: 381
  and user mode +o; 464 for a wrong name or password; 491 when the client's user@host does not
  match the entry's `host`. The password is never logged (the transport masks OPER lines).
* The other commands are declared `oper=True`: `ChatServer.receive` answers 481 to anyone else.
* **REHASH** asks the application to read its config file again (the core reads no files): the
  application hands the new `Config` to `ChatServer.rehash` and then answers the hook.
* Every operator action is logged at INFO as "oper <name> <action>".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.config import Operator
from hubbub.core.bans import live_bans, mask_matches
from hubbub.core.commands import command
from hubbub.core.login import MAX_STRIKES, guarded
from hubbub.core.ports import CallFailure
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.accounts.store import AccountStore
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.oper")

# STATS numerics protocol.numerics does not name.
RPL_STATSLINKINFO = "211"
RPL_STATSKLINE = "216"
RPL_STATSDLINE = "225"
RPL_STATSOLINE = "243"
RPL_STATSDEBUG = "249"
UNAVAILABLE_TEXT = "Operator logins are temporarily unavailable; try again later"
STATS_LINKS_SHOWN = 100

#: Set by the application: re-read the config file, hand it to `ChatServer.rehash`, then call
#: `done(None)` or `done(error text)` on the loop.
RehashHook = Callable[[Callable[[str | None], None]], None]


def find_operator(server: ChatServer, name: str) -> Operator | None:
    wanted = name.casefold()
    return next((o for o in server.config.operators if o.name.casefold() == wanted), None)


# ---------------------------------------------------------------------- OPER


@command("OPER", 2)
def handle_oper(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    name, password = msg.params[0], msg.params[1]
    if user.oper:
        reply.numeric(n.RPL_YOUREOPER, "You are already an IRC operator")
        return
    entry = find_operator(server, name)
    throttle = server.accounts.throttle
    keys = ("a:" + session.host, "o:" + name.casefold())
    wait = throttle.wait(keys, server.now)
    if wait > 0:
        session.auth_strikes += 1
        log.info("OPER attempt from %s throttled (%d)", session.host, session.auth_strikes)
        reply.numeric(
            n.ERR_PASSWDMISMATCH,
            f"Too many failed attempts; try again in {int(wait) + 1} seconds",
        )
        if session.auth_strikes >= MAX_STRIKES:
            reply.flush()
            server.quit(session, "Too many failed login attempts")
        return
    # The attempt takes its tokens now (given back if the password is right), so pipelined
    # or parallel OPERs cannot outrun the throttle; one check per address and name in flight.
    throttle.take(keys, server.now)
    if entry is not None and not mask_matches(server, entry.host, user):
        log.info("OPER %s refused for %s: host does not match", entry.name, user.prefix)
        reply.numeric(n.ERR_NOOPERHOST, "No O-lines for your host")
        return
    if server.accounts.full:
        throttle.refund(keys, server.now)
        reply.fail("OPER", "TEMPORARILY_UNAVAILABLE", text=UNAVAILABLE_TEXT)
        return
    phc = entry.password if entry is not None else None
    passwords = server.accounts.passwords

    def fn(store: AccountStore) -> bool:
        return passwords.verify_hash(phc, password)

    def done(later: Reply, ok: Any) -> None:
        if ok is True and entry is not None:
            if not user.oper:
                become_oper(server, later, user, entry)
            return
        if isinstance(ok, CallFailure):
            later.fail("OPER", "TEMPORARILY_UNAVAILABLE", text=UNAVAILABLE_TEXT)
            return
        later.numeric(n.ERR_PASSWDMISMATCH, "Password incorrect")

    answer = reply.later(done)

    def checked(ok: Any) -> None:
        # Counted even if the client has gone meanwhile: the token was taken at submission.
        if ok is True or isinstance(ok, CallFailure):
            throttle.refund(keys, server.now)
        else:
            log.info("failed OPER attempt from %s", user.prefix)
        answer(ok)

    guarded(server, session, keys, fn, checked)


def become_oper(server: ChatServer, reply: Reply, user: User, entry: Operator) -> None:
    user.oper = entry.name
    reply.numeric(n.RPL_YOUREOPER, "You are now an IRC operator")
    reply.add(f":{user.prefix} MODE {user.nick} :+o")
    log.info("oper %s: %s is now an IRC operator", entry.name, user.prefix)
    if server.cluster is not None:  # WHOIS and WHO elsewhere follow
        server.cluster.user_changed(user, reply)


# ---------------------------------------------------------------------- KILL, WALLOPS


@command("KILL", 1, oper=True)
def handle_kill(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    nick = msg.params[0]
    reason = msg.params[1] if len(msg.params) > 1 and msg.params[1] else "No reason given"
    target = server.find_user(nick)
    cluster = server.cluster
    if target is None and cluster is not None:  # maybe a user of another node: the bus knows
        cluster.kill(reply, user, nick, None, reason)
        return
    if target is None:
        reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    if target.service is not None:
        reply.numeric(n.ERR_CANTKILLSERVER, "You can't kill a service")
        return
    if cluster is not None and target.session.remote:  # its own node disconnects it
        cluster.kill(reply, user, nick, target, reason)
        return
    log.info("oper %s KILLed %s (%s)", user.oper, target.nick, reason)
    server.send_to(target, f":{user.prefix} KILL {target.nick} :{reason}")
    if target is not user:
        reply.notice(f"Killed {target.nick} ({reason})")
    server.quit(target.session, f"Killed by {user.nick} ({reason})")


@command("WALLOPS", 1, oper=True)
def handle_wallops(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    text = msg.params[0]
    log.info("oper %s WALLOPS: %s", user.oper, text)
    watchers = [u for u in server.registered_users() if u.wallops or u.oper]
    server.fanout(watchers, f":{user.prefix} WALLOPS :{text}", server.stamp())
    if server.cluster is not None:  # and to the +w users of every other node
        server.cluster.wallops(user.prefix, text)


# ---------------------------------------------------------------------- STATS, REHASH


@command("STATS", oper=True)
def handle_stats(server: ChatServer, reply: Reply, msg: Message) -> None:
    letter = msg.params[0][:1] if msg.params and msg.params[0] else "*"
    log.info("oper %s STATS %s", reply.session.user.oper, letter)
    now_ms = int(server.now * 1000)
    if letter in "kKdD":
        kind = letter.upper()
        code = RPL_STATSKLINE if kind == "K" else RPL_STATSDLINE
        for ban in live_bans(server, kind):
            left = max(0, (ban.expires_ms - now_ms) // 1000) if ban.expires_ms else 0
            reply.numeric(code, kind, ban.mask, str(left), ban.setter, ban.reason)
    elif letter == "u":
        up = max(0, int(server.now - server.started))
        days, rest = divmod(up, 86_400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        reply.numeric(
            n.RPL_STATSUPTIME, f"Server Up {days} days {hours}:{minutes:02d}:{seconds:02d}"
        )
    elif letter in "oO":
        for entry in server.config.operators:
            reply.numeric(RPL_STATSOLINE, "O", entry.host, "*", entry.name)
    elif letter == "l":
        stats_links(server, reply)
    reply.numeric(n.RPL_ENDOFSTATS, letter, "End of /STATS report")


def stats_links(server: ChatServer, reply: Reply) -> None:
    sessions = server.sessions
    registered = sum(1 for s in sessions if s.registered)
    secure = sum(1 for s in sessions if s.secure)
    opers = sum(1 for s in sessions if s.user.oper)
    reply.numeric(
        RPL_STATSDEBUG,
        f"{len(sessions)} connections: {registered} registered, "
        f"{len(sessions) - registered} registering, {secure} TLS, {opers} operators; "
        f"{len(server.channels)} channels",
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
            str(max(0, int(server.now - session.signon))),
            str(max(0, int(server.now - user.last_active))),
        )


@command("REHASH", oper=True)
def handle_rehash(server: ChatServer, reply: Reply, msg: Message) -> None:
    hook = server.rehash_hook
    log.info("oper %s REHASHed the configuration", reply.session.user.oper)
    if hook is None:
        reply.notice("REHASH: this server has no configuration to re-read")
        return
    reply.numeric(n.RPL_REHASHING, "config", "Rehashing")

    def done(later: Reply, error: str | None) -> None:
        later.notice(f"REHASH failed: {error}" if error else "REHASH done")

    hook(reply.later(done))
