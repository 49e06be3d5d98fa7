"""Logging in and out: the password and certificate checks behind SASL, NickServ IDENTIFY and
DROP, login throttling, and what a login changes (900/901, account-notify, nick ownership).

A check runs on the account worker (`AccountService.call`: argon2 never runs on the loop) and
answers through `Reply.later`, so the client's next commands wait for it in order.

Throttling is decided when an attempt is *submitted*, not when its failure is known: a token is
taken from the address's and the account's buckets before the password is hashed (and given
back when the password was right), so pipelined or parallel attempts cannot outrun it. And at
most one password check per address and per account is in flight (`CheckGate`; per connection
it follows from per-client order): the others wait their turn, in order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.accounts.model import account_name
from hubbub.accounts.store import AccountStore
from hubbub.core.metadata import on_login as load_metadata
from hubbub.core.model import Phase
from hubbub.core.monitor import notify as notify_monitors
from hubbub.core.ownership import check_nick
from hubbub.core.ports import FAILURE, CallFailure, Passwords
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import Session, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.accounts")

# Throttled login attempts one connection may make before it is disconnected.
MAX_STRIKES = 3

# Login outcomes, as the account worker reports them.
OK, PENDING, BAD, THROTTLED, UNAVAILABLE = "ok", "pending", "bad", "throttled", "unavailable"
# (status, detail): for OK and PENDING the account's stable id (hubbub.accounts.model:
# `account_name` gives its name back), for THROTTLED the seconds to wait.
Outcome = tuple[str, str]


class LoginThrottle:
    """A token bucket per key (an address, an account): `burst` attempts at once, then one more
    every `refill` seconds. Every attempt takes a token when it is submitted (`take`) and a
    right password gives it back (`refund`), so only failures cost in the end; an empty bucket
    refuses the attempt before any password is checked (so a flood costs no hashing either)."""

    def __init__(self, burst: int, refill: float) -> None:
        self.burst = float(burst)
        self.refill = refill
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _level(self, key: str, now: float) -> float:
        found = self.buckets.get(key)
        if found is None:
            return self.burst
        tokens, at = found
        return min(self.burst, tokens + max(0.0, now - at) / self.refill)

    def wait(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds until every key has a token again (0: allowed now)."""
        return max((1 - self._level(k, now)) * self.refill for k in keys) if keys else 0.0

    def take(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            self.buckets[key] = (max(0.0, self._level(key, now) - 1), now)

    def refund(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            self.buckets[key] = (min(self.burst, self._level(key, now) + 1), now)

    def sweep(self, now: float) -> None:
        """Forget buckets that have refilled (keeps the table small)."""
        full = [k for k in self.buckets if self._level(k, now) >= self.burst]
        for key in full:
            del self.buckets[key]


class CheckGate:
    """At most one password check in flight per key (an address, an account, an operator name).

    A check whose keys are all free starts at once; the others wait, in order, and start as soon
    as their keys are free. The queue is bounded by the connections: per-client order lets each
    connection have one command waiting on a worker at most.
    """

    def __init__(self) -> None:
        self.busy: set[str] = set()
        self.waiting: deque[tuple[tuple[str, ...], Callable[[], None]]] = deque()

    def enter(self, keys: tuple[str, ...], start: Callable[[], None]) -> None:
        if any(key in self.busy for key in keys):
            self.waiting.append((keys, start))
            return
        self.busy.update(keys)
        start()

    def leave(self, keys: tuple[str, ...]) -> None:
        self.busy.difference_update(keys)
        if not self.waiting:
            return
        ready: list[Callable[[], None]] = []
        still: deque[tuple[tuple[str, ...], Callable[[], None]]] = deque()
        for entry in self.waiting:
            if any(key in self.busy for key in entry[0]):
                still.append(entry)
            else:
                self.busy.update(entry[0])
                ready.append(entry[1])
        self.waiting = still
        for start in ready:
            start()


def guarded(
    server: ChatServer,
    session: Session,
    keys: tuple[str, ...],
    fn: Callable[[AccountStore], Any],
    checked: Callable[[Any], None],
) -> None:
    """Run `fn` (a password check, a hash) on the account worker once no other check of `keys`
    is in flight, then `checked(result)` on the loop. A check whose client has gone, or that
    finds the worker's queue full when its turn comes, is answered `FAILURE` without running."""
    accounts = server.accounts

    def start() -> None:
        if session.closed or accounts.full:
            accounts.gate.leave(keys)
            checked(FAILURE)
            return

        def done(result: Any) -> None:
            accounts.gate.leave(keys)
            checked(result)

        accounts.call(fn, done)

    accounts.gate.enter(keys, start)


def login(server: ChatServer, reply: Reply, account_id: str) -> None:
    """Log the reply's user in to the account with this stable id."""
    session = reply.session
    user = session.user
    name = user.account = account_name(account_id)
    user.account_id = account_id
    mask = f"{user.nick}!{user.username or '*'}@{user.hostname}"
    reply.numeric(n.RPL_LOGGEDIN, mask, name, f"You are now logged in as {name}")
    server.counters.login_successes += 1
    log.info("%s (%s) logged in as %s", user.nick, session.host, name)
    load_metadata(server, reply, user)  # the account's metadata (hubbub.core.metadata)
    if session.phase is Phase.REGISTERED:
        notify_account(server, user)
        check_nick(server, user, reply)
        if server.cluster is not None:  # the nodes sharing a room with it follow
            server.cluster.account_changed(user)


def logout(server: ChatServer, user: User, reply: Reply | None = None) -> None:
    """Log `user` out; `reply` is the answer to that user's own command, if it is one."""
    name = user.account
    user.account = user.account_id = ""
    line = f":{server.name} {n.RPL_LOGGEDOUT} {user.nick} {user.prefix} :You are now logged out"
    if reply is not None and reply.session is user.session:
        reply.add(line)
    else:
        server.send_to(user, line)
    log.info("%s logged out of %s", user.nick, name)
    if user.session.phase is Phase.REGISTERED:
        notify_account(server, user)
        check_nick(server, user, reply)
        if server.cluster is not None:  # the nodes sharing a room with it follow
            server.cluster.account_changed(user)


def notify_account(server: ChatServer, user: User) -> None:
    """account-notify: tell the neighbours who asked for it."""
    line = f":{user.prefix} ACCOUNT {user.account or '*'}"
    watchers = [u for u in server.neighbours(user) if "account-notify" in u.session.caps]
    if watchers:
        server.fanout(watchers, line, server.stamp())
    notify_monitors(server, user, "account-notify", line)  # extended-monitor


def throttle_keys(session: Session, fold: str) -> tuple[str, ...]:
    keys = ("a:" + session.host,)
    return (*keys, "n:" + fold) if fold else keys


def check_login(
    server: ChatServer,
    reply: Reply,
    fold: str,
    lookup: Callable[[AccountStore], Outcome],
    finish: Callable[[Reply, Outcome], None],
) -> None:
    """Check a login off the loop (throttled per address and per account), then `finish`.

    A throttled attempt is answered at once (status THROTTLED) without looking at the password;
    the connection's third throttled attempt disconnects it. Otherwise the attempt takes its
    tokens now, waits for its turn (`CheckGate`), and gets them back unless the password was
    wrong; a full worker queue is answered UNAVAILABLE at once.
    """
    session = reply.session
    keys = throttle_keys(session, fold)
    if throttled(server, reply, keys, finish):
        return
    throttle = server.accounts.throttle
    if server.accounts.full:
        finish(reply, (UNAVAILABLE, ""))
        return
    throttle.take(keys, server.now)
    answer = reply.later(finish)

    def checked(result: Any) -> None:
        outcome: Outcome = (UNAVAILABLE, "") if isinstance(result, CallFailure) else result
        if outcome[0] == BAD:
            server.counters.login_failures += 1
            log.info("failed login from %s", session.host)
        else:
            throttle.refund(keys, server.now)
        answer(outcome)

    guarded(server, session, keys, lookup, checked)


def throttled(
    server: ChatServer,
    reply: Reply,
    keys: tuple[str, ...],
    finish: Callable[[Reply, Outcome], None],
) -> bool:
    """Refuse a login attempt whose address or account has no tokens left (status THROTTLED);
    the connection's third refused attempt disconnects it."""
    wait = server.accounts.throttle.wait(keys, server.now)
    if wait <= 0:
        return False
    session = reply.session
    session.auth_strikes += 1
    server.counters.login_throttles += 1
    log.info("login attempt from %s throttled (%d)", session.host, session.auth_strikes)
    finish(reply, (THROTTLED, f"{int(wait) + 1}"))
    if session.auth_strikes >= MAX_STRIKES:
        reply.flush()
        server.quit(session, "Too many failed login attempts")
    return True


def password_lookup(
    passwords: Passwords, fold: str, password: str
) -> Callable[[AccountStore], Outcome]:
    """Runs on the account worker: argon2 verification (and a re-hash when the configured cost
    changed). An unknown account costs a hash too, so timing does not tell it apart."""

    def fn(store: AccountStore) -> Outcome:
        account = store.get(fold)
        if account is None:
            passwords.waste(password)
            return BAD, ""
        if not passwords.verify(account.credentials, password):
            return BAD, ""
        if account.pending:
            return PENDING, account.stable_id
        if passwords.needs_rehash(account.credentials):
            store.set_credentials(fold, passwords.make(password))
        return OK, account.stable_id

    return fn


def cert_lookup(certfp: str) -> Callable[[AccountStore], Outcome]:
    def fn(store: AccountStore) -> Outcome:
        account = store.find_by_cert(certfp)
        if account is None:
            return BAD, ""
        return (PENDING if account.pending else OK), account.stable_id

    return fn


def failure_text(status: str, detail: str) -> str:
    if status == THROTTLED:
        return f"Too many failed login attempts; try again in {detail} seconds"
    if status == PENDING:
        return "That account awaits approval by an operator"
    if status == UNAVAILABLE:
        return "Accounts are temporarily unavailable; try again later"
    return "Invalid account name or password"
