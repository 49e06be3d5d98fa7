"""Nick ownership: a registered nick belongs to the account of the same name.

Under `accounts.nick_enforcement = "grace"` (and "reject", for someone already on the nick when
it was registered) a user on a registered nick it does not own gets a NickServ notice and
`accounts.grace_seconds` to log in; `tick` renames it to a guest nick after that. Under
"reject" a registered nick is refused (433) to anyone not logged in to it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.core.history import store_event
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.accounts")

# How often refilled login-throttle buckets are forgotten (seconds).
SWEEP_INTERVAL = 60


def owns_nick(server: ChatServer, user: User) -> bool:
    return bool(user.account) and server.fold(user.account) == user.fold


def nickserv_notice(server: ChatServer, user: User, text: str, reply: Reply | None) -> None:
    """A NickServ notice to `user`: in `reply` when it answers that user (so it comes in order
    with the rest of the answer), else at once."""
    line = f":{server.nickserv.prefix} NOTICE {user.nick} :{text}"
    if reply is not None and reply.session is user.session:
        reply.add(line)
    else:
        server.send_to(user, line)


def check_nick(server: ChatServer, user: User, reply: Reply | None = None) -> None:
    """After registration, a nick change, a login or a logout: is the user on a registered nick
    it does not own? Then it gets a warning and a deadline (see the module's docstring)."""
    accounts = server.accounts
    mode = server.config.accounts.nick_enforcement
    if mode == "none" or user.fold not in accounts.names or owns_nick(server, user) or user.service:
        accounts.deadlines.pop(user, None)
        return
    if user in accounts.deadlines:
        return
    grace = server.config.accounts.grace_seconds
    accounts.deadlines[user] = server.now + grace
    nickserv_notice(
        server,
        user,
        f"The nick {user.nick} is registered. Log in within {grace:g} seconds "
        f"(/msg {server.nickserv.nick} IDENTIFY <password>) or your nick will be changed.",
        reply,
    )


def nick_refused(server: ChatServer, reply: Reply, nick: str, fold: str) -> bool:
    """Under "reject": a registered nick is refused (433) to anyone not logged in to it."""
    user = reply.session.user
    if server.config.accounts.nick_enforcement != "reject" or fold not in server.accounts.names:
        return False
    if user.account and server.fold(user.account) == fold:
        return False
    reply.numeric(
        n.ERR_NICKNAMEINUSE, nick, "Nickname is registered to an account; log in to use it"
    )
    return True


def tick(server: ChatServer, now: float) -> None:
    """Time passes (`ChatServer.tick`): rename users whose grace period ran out, forget
    refilled throttle buckets."""
    accounts = server.accounts
    if accounts.deadlines:
        expired = [u for u, at in accounts.deadlines.items() if at <= now]
        for user in expired:
            del accounts.deadlines[user]
            if user.session.closed or owns_nick(server, user) or user.fold not in accounts.names:
                continue
            server.now = max(server.now, now)
            rename_to_guest(server, user)
    if now - accounts.last_sweep >= SWEEP_INTERVAL:
        accounts.last_sweep = now
        accounts.throttle.sweep(now)
        accounts.registrations.sweep(now)


def rename_to_guest(server: ChatServer, user: User) -> None:
    accounts = server.accounts
    while True:
        nick = f"Guest{10000 + server.randomness.below(90000)}"
        fold = server.fold(nick)
        if fold not in server.users and fold not in accounts.names and fold not in server.services:
            break
    nickserv_notice(server, user, f"You did not log in in time; your nick is now {nick}.", None)
    old_prefix = user.prefix
    time_ms = server.stamp()
    msgid = server.next_msgid()
    line = f":{old_prefix} NICK :{nick}"
    server.fanout([user, *server.neighbours(user)], line, time_ms, msgid)
    if server.cluster is None:  # in a cluster, stored when its rooms' NICK events come back
        for channel in user.channels.values():
            store_event(server, channel, user, "NICK", (nick,), time_ms, msgid, source=old_prefix)
    if server.users.get(user.fold) is user:
        del server.users[user.fold]
    log.info("%s did not log in in time: renamed to %s", old_prefix, nick)
    old_fold = user.fold
    user.nick, user.fold = nick, fold
    user.nick_since_ms = time_ms  # the nick is now this user's (hubbub.core.privacy)
    server.users[fold] = user
    if server.cluster is not None:  # the other nodes and the nick claims follow
        server.cluster.renamed(user, old_prefix, old_fold)
