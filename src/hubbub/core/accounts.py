"""Accounts in the core: REGISTER / VERIFY (IRCv3 draft/account-registration), the NickServ
pseudo-user, logging in and out, nick ownership, login throttling, and WHOX.

Everything that touches the account store or hashes a password goes through the
`AccountService` (`srv.acc.service`): `call` hands a function to it, and its answer arrives later
as a plain call on the loop, exactly like a history read (`hubbub.core.history`). The answer
carries the command's label, so labeled-response works for these commands too. While a login is
being checked (`session.auth_pending`) the welcome waits: a client that sends CAP END right
after its last AUTHENTICATE is registered once the answer is in.

Nick ownership needs to know, synchronously, whether a nick is registered: `AccountState.names`
holds every account's casefolded name (loaded from the store when the server starts, kept up to
date by REGISTER and DROP). It is the only account state the core keeps in memory; passwords,
pending flags and certificates are read from the store each time.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.accounts.model import Account
from hubbub.accounts.passwords import Hasher
from hubbub.accounts.service import AccountFailure, SyncAccountService
from hubbub.accounts.store import AccountStore
from hubbub.core.commands import command
from hubbub.core.history import store_event
from hubbub.core.model import Phase, Session, User
from hubbub.core.ports import AccountService
from hubbub.core.reply import Reply
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import Channel
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.accounts")

SERVICE_NICK = "NickServ"
# Names nobody may register or use as an account (casefolded: rfc1459 and ascii agree here).
RESERVED = frozenset({"nickserv", "chanserv", "histserv", "operserv", "memoserv", "hostserv"})
# Throttled login attempts one connection may make before it is disconnected.
MAX_STRIKES = 3
MAX_PASSWORD = 300

# Login outcomes, as the account worker reports them.
OK, PENDING, BAD, THROTTLED, UNAVAILABLE = "ok", "pending", "bad", "throttled", "unavailable"
Outcome = tuple[str, str]  # (status, account name as registered)


class LoginThrottle:
    """A token bucket per key (an address, an account): `burst` failed logins at once, then
    one more every `refill` seconds. Only failures take tokens; an empty bucket refuses the
    attempt before any password is checked (so a flood costs no hashing either)."""

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

    def fail(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            self.buckets[key] = (max(0.0, self._level(key, now) - 1), now)

    def sweep(self, now: float) -> None:
        """Forget buckets that have refilled (keeps the table small)."""
        full = [k for k in self.buckets if self._level(k, now) >= self.burst]
        for key in full:
            del self.buckets[key]


class _NullLink:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class AccountState:
    """The core's account bookkeeping, one per ChatServer (`srv.acc`)."""

    def __init__(self, srv: ChatServer, service: AccountService | None) -> None:
        config = srv.config.accounts
        if service is None:
            from hubbub.accounts.memory import MemoryAccountStore

            service = SyncAccountService(MemoryAccountStore())
        self.service: AccountService = service
        self.names: set[str] = set()  # casefolded names of every account, pending included
        self.deadlines: dict[User, float] = {}  # users on a nick they do not own (grace)
        self.hasher = Hasher(
            time_cost=config.hash_time_cost,
            memory_kib=config.hash_memory_kib,
            scram_iterations=config.scram_iterations,
        )
        self.throttle = LoginThrottle(config.login_attempts, config.login_refill_seconds)
        self.random = random.Random()
        self.last_sweep = 0.0
        # Pseudo-users, by casefolded nick: found by find_user (WHOIS, PRIVMSG), never in
        # srv.users or srv.sessions (they have no connection).
        self.services: dict[str, User] = {}
        self.nickserv = _service_user(srv, SERVICE_NICK, "Account services", nickserv)
        self.services[self.nickserv.fold] = self.nickserv
        service.call(lambda store: store.names(), self._loaded)

    def _loaded(self, names: Any) -> None:
        if isinstance(names, AccountFailure):
            log.error("could not load the account names: nick ownership is not enforced")
            return
        self.names.update(names)


def _service_user(
    srv: ChatServer, nick: str, realname: str, handler: Callable[[ChatServer, Reply, str], None]
) -> User:
    session = Session(_NullLink(), srv.name, 0, srv.now, False)
    session.phase = Phase.REGISTERED
    user = session.user
    user.nick, user.fold = nick, srv.fold(nick)
    user.username = nick
    user.hostname = srv.name
    user.realname = realname
    user.service = handler
    return user


# ---------------------------------------------------------------------- calls to the store


def call(
    srv: ChatServer,
    reply: Reply,
    fn: Callable[[AccountStore], Any],
    done: Callable[[Reply, Any], None],
) -> None:
    """Run `fn(store)` off the loop after this command's reply; then `done(reply, result)` with
    a fresh reply for the same client (carrying the command's label), written when it returns.
    `done` is skipped if the client has gone meanwhile."""
    session = reply.session
    label = reply.label
    reply.label = None  # the answer carries the label, not an ACK now

    def finish(result: Any) -> None:
        if session.closed:
            return
        later = Reply(session, srv.name, label)
        done(later, result)
        if not session.closed:
            later.flush()
        while srv.deferred:
            pending, srv.deferred = srv.deferred, []
            for action in pending:
                action()

    srv.deferred.append(lambda: srv.acc.service.call(fn, finish))


def service_notice(srv: ChatServer, reply: Reply, text: str) -> None:
    nickserv = srv.acc.nickserv
    reply.add(f":{nickserv.prefix} NOTICE {reply.session.user.nick} :{text}")


def notice_to(srv: ChatServer, user: User, text: str) -> None:
    line = f":{srv.acc.nickserv.prefix} NOTICE {user.nick} :{text}\r\n"
    user.session.link.write(line.encode("utf-8", "replace"))


# ---------------------------------------------------------------------- logging in and out


def owns_nick(srv: ChatServer, user: User) -> bool:
    return bool(user.account) and srv.fold(user.account) == user.fold


def login(srv: ChatServer, reply: Reply, name: str) -> None:
    session = reply.session
    user = session.user
    user.account = name
    mask = f"{user.nick}!{user.username or '*'}@{user.hostname}"
    reply.numeric(n.RPL_LOGGEDIN, mask, name, f"You are now logged in as {name}")
    log.info("%s (%s) logged in as %s", user.nick, session.host, name)
    if session.phase is Phase.REGISTERED:
        notify_account(srv, user)
        check_nick(srv, user)


def logout(srv: ChatServer, user: User, reply: Reply | None = None) -> None:
    name = user.account
    user.account = ""
    if reply is not None:
        reply.numeric(n.RPL_LOGGEDOUT, user.prefix, "You are now logged out")
    else:
        line = f":{srv.name} {n.RPL_LOGGEDOUT} {user.nick} {user.prefix} :You are now logged out"
        user.session.link.write(line.encode("utf-8", "replace") + b"\r\n")
    log.info("%s logged out of %s", user.nick, name)
    if user.session.phase is Phase.REGISTERED:
        notify_account(srv, user)
        check_nick(srv, user)


def notify_account(srv: ChatServer, user: User) -> None:
    """account-notify: tell the neighbours who asked for it."""
    watchers = [u for u in srv.neighbours(user) if "account-notify" in u.session.caps]
    if watchers:
        srv.fanout(watchers, f":{user.prefix} ACCOUNT {user.account or '*'}", srv.stamp())


def throttle_keys(session: Session, fold: str) -> tuple[str, ...]:
    keys = ("a:" + session.host,)
    return (*keys, "n:" + fold) if fold else keys


def check_login(
    srv: ChatServer,
    reply: Reply,
    fold: str,
    lookup: Callable[[AccountStore], Outcome],
    finish: Callable[[Reply, Outcome], None],
) -> None:
    """Check a login off the loop (throttled per address and per account), then `finish`.

    A throttled attempt is answered at once (status THROTTLED) without looking at the password;
    the connection's third throttled attempt disconnects it.
    """
    session = reply.session
    acc = srv.acc
    keys = throttle_keys(session, fold)
    if throttled(srv, reply, keys, finish):
        return
    session.auth_pending = True

    def done(later: Reply, result: Any) -> None:
        session.auth_pending = False
        outcome: Outcome = (UNAVAILABLE, "") if isinstance(result, AccountFailure) else result
        if outcome[0] == BAD:
            acc.throttle.fail(keys, srv.now)
            log.info("failed login from %s", session.host)
        finish(later, outcome)
        resume_registration(srv, later)

    call(srv, reply, lookup, done)


def throttled(
    srv: ChatServer, reply: Reply, keys: tuple[str, ...], finish: Callable[[Reply, Outcome], None]
) -> bool:
    """Refuse a login attempt whose address or account has no tokens left (status THROTTLED);
    the connection's third refused attempt disconnects it."""
    wait = srv.acc.throttle.wait(keys, srv.now)
    if wait <= 0:
        return False
    session = reply.session
    session.auth_strikes += 1
    log.info("login attempt from %s throttled (%d)", session.host, session.auth_strikes)
    finish(reply, (THROTTLED, f"{int(wait) + 1}"))
    if session.auth_strikes >= MAX_STRIKES:
        reply.flush()
        srv.quit(session, "Too many failed login attempts")
    return True


def resume_registration(srv: ChatServer, reply: Reply) -> None:
    """A held welcome may go out now (the login it waited for is decided)."""
    session = reply.session
    if session.phase is Phase.UNREGISTERED and not session.closed:
        from hubbub.core.registration import try_register

        try_register(srv, reply)


def password_lookup(hasher: Hasher, fold: str, password: str) -> Callable[[AccountStore], Outcome]:
    """Runs on the account worker: argon2 verification (and a re-hash when the configured cost
    changed). An unknown account costs a hash too, so timing does not tell it apart."""

    def fn(store: AccountStore) -> Outcome:
        account = store.get(fold)
        if account is None:
            hasher.waste(password)
            return BAD, ""
        if not hasher.verify(account.credentials, password):
            return BAD, ""
        if account.pending:
            return PENDING, account.name
        if hasher.needs_rehash(account.credentials):
            store.set_credentials(fold, hasher.make(password))
        return OK, account.name

    return fn


def cert_lookup(certfp: str) -> Callable[[AccountStore], Outcome]:
    def fn(store: AccountStore) -> Outcome:
        account = store.find_by_cert(certfp)
        if account is None:
            return BAD, ""
        return (PENDING if account.pending else OK), account.name

    return fn


def failure_text(status: str, detail: str) -> str:
    if status == THROTTLED:
        return f"Too many failed login attempts; try again in {detail} seconds"
    if status == PENDING:
        return "That account awaits approval by an operator"
    if status == UNAVAILABLE:
        return "Accounts are temporarily unavailable; try again later"
    return "Invalid account name or password"


# ---------------------------------------------------------------------- nick ownership


def check_nick(srv: ChatServer, user: User) -> None:
    """After registration, a nick change, a login or a logout: is the user on a registered nick
    it does not own? Under "grace" (and "reject", for someone already on the nick) it gets a
    NickServ notice and `accounts.grace_seconds` to log in; `tick` renames it after that."""
    acc = srv.acc
    mode = srv.config.accounts.nick_enforcement
    if mode == "none" or user.fold not in acc.names or owns_nick(srv, user) or user.service:
        acc.deadlines.pop(user, None)
        return
    if user in acc.deadlines:
        return
    grace = srv.config.accounts.grace_seconds
    acc.deadlines[user] = srv.now + grace
    notice_to(
        srv,
        user,
        f"The nick {user.nick} is registered. Log in within {grace:g} seconds "
        f"(/msg {SERVICE_NICK} IDENTIFY <password>) or your nick will be changed.",
    )


def nick_refused(srv: ChatServer, reply: Reply, nick: str, fold: str) -> bool:
    """Under "reject": a registered nick is refused (433) to anyone not logged in to it."""
    user = reply.session.user
    if srv.config.accounts.nick_enforcement != "reject" or fold not in srv.acc.names:
        return False
    if user.account and srv.fold(user.account) == fold:
        return False
    reply.numeric(
        n.ERR_NICKNAMEINUSE, nick, "Nickname is registered to an account; log in to use it"
    )
    return True


def hold_registration(srv: ChatServer, reply: Reply) -> bool:
    """Checks just before the welcome. True: the welcome must not go out now (a login is being
    checked, the nick is refused, or the connection was refused and closed)."""
    session = reply.session
    user = session.user
    if session.auth_pending:
        return True
    tls = srv.config.tls
    if tls.require_tls and not session.secure and not is_loopback(session.host):
        port = tls.port
        reply.add(
            f":{srv.name} NOTICE {user.nick} :*** This server requires TLS: reconnect to "
            f"port {port} with TLS"
        )
        reply.flush()
        srv.quit(session, f"TLS required (port {port})")
        return True
    if session.sasl is not None:  # CAP END in the middle of an exchange aborts it
        session.sasl = None
        reply.numeric(n.ERR_SASLABORTED, "SASL authentication aborted")
    if nick_refused(srv, reply, user.nick, user.fold):
        if srv.users.get(user.fold) is user:
            del srv.users[user.fold]
        user.nick, user.fold = "*", ""
        return True
    return False


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tick(srv: ChatServer, now: float) -> None:
    """Time passes (called by the transport's periodic sweep): rename users whose grace period
    ran out, forget refilled throttle buckets."""
    acc = srv.acc
    if acc.deadlines:
        expired = [u for u, at in acc.deadlines.items() if at <= now]
        for user in expired:
            del acc.deadlines[user]
            if user.session.closed or owns_nick(srv, user) or user.fold not in acc.names:
                continue
            srv.now = max(srv.now, now)
            rename_to_guest(srv, user)
    if now - acc.last_sweep >= 60:
        acc.last_sweep = now
        acc.throttle.sweep(now)


def rename_to_guest(srv: ChatServer, user: User) -> None:
    acc = srv.acc
    while True:
        nick = f"Guest{acc.random.randrange(10000, 100000)}"
        fold = srv.fold(nick)
        if fold not in srv.users and fold not in acc.names and fold not in acc.services:
            break
    notice_to(srv, user, f"You did not log in in time; your nick is now {nick}.")
    old_prefix = user.prefix
    time_ms = srv.stamp()
    msgid = srv.next_msgid()
    line = f":{old_prefix} NICK :{nick}"
    srv.fanout([user, *srv.neighbours(user)], line, time_ms, msgid)
    for channel in user.channels.values():
        store_event(srv, channel, user, "NICK", (nick,), time_ms, msgid, source=old_prefix)
    if srv.users.get(user.fold) is user:
        del srv.users[user.fold]
    log.info("%s did not log in in time: renamed to %s", old_prefix, nick)
    user.nick, user.fold = nick, fold
    user.nick_since_ms = time_ms
    srv.users[fold] = user


# ---------------------------------------------------------------------- extended-join, WHOX


def join_fanout(
    srv: ChatServer, channel: Channel, user: User, line: str, time_ms: int, msgid: str
) -> None:
    """The JOIN to the room; extended-join members get `JOIN #chan account :realname`."""
    members = channel.members
    account = user.account
    extended = [m for m in members if "extended-join" in m.session.caps]
    if not extended:
        srv.fanout(members, line, time_ms, msgid, channel=channel, account=account)
        return
    plain = [m for m in members if "extended-join" not in m.session.caps]
    srv.fanout(plain, line, time_ms, msgid, channel=channel, account=account)
    srv.fanout(
        extended, extended_join(user, line), time_ms, msgid, channel=channel, account=account
    )


def extended_join(user: User, line: str) -> str:
    return f"{line} {user.account or '*'} :{user.realname}"


def join_line_for(session: Session, user: User, line: str) -> str:
    return extended_join(user, line) if "extended-join" in session.caps else line


WHOX_ORDER = "tcuihsnfdlaor"


def parse_whox(param: str) -> tuple[str, str] | None:
    """`%fields[,token]` of `WHO <mask> %fields,token`, or None for a plain WHO."""
    if not param.startswith("%"):
        return None
    fields, _, token = param[1:].partition(",")
    return fields, token[:3] if token.isdecimal() else ""


def whox_line(
    srv: ChatServer,
    reply: Reply,
    user: User,
    channel_name: str,
    flags: str,
    whox: tuple[str, str],
) -> None:
    fields, token = whox
    me = reply.session.user
    out: list[str] = []
    for field in WHOX_ORDER:
        if field not in fields:
            continue
        if field == "t":
            out.append(token or "0")
        elif field == "c":
            out.append(channel_name)
        elif field == "u":
            out.append(user.username or "*")
        elif field == "i":
            out.append(user.session.host if user is me else "255.255.255.255")
        elif field == "h":
            out.append(user.hostname)
        elif field == "s":
            out.append(srv.name)
        elif field == "n":
            out.append(user.nick)
        elif field == "f":
            out.append(flags)
        elif field == "d":
            out.append("0")
        elif field == "l":
            out.append(str(max(0, int(srv.now - user.last_active))))
        elif field == "a":
            out.append(user.account or "0")
        elif field == "o":
            out.append("0")
        elif field == "r":
            out.append(user.realname)
    if not out:
        return
    if "r" not in fields:
        out.append(out.pop())  # the last one is sent as trailing anyway
    reply.numeric(n.RPL_WHOSPCRPL, *out)


# ---------------------------------------------------------------------- registering


class _Answer:
    """How a registration is answered: IRCv3 REGISTER replies, or NickServ notices."""

    def __init__(self, srv: ChatServer, nickserv: bool) -> None:
        self.srv = srv
        self.nickserv = nickserv

    def success(self, reply: Reply, name: str, text: str) -> None:
        if self.nickserv:
            service_notice(self.srv, reply, text)
        else:
            reply.add(f":{self.srv.name} REGISTER SUCCESS {name} :{text}")

    def pending(self, reply: Reply, name: str, text: str) -> None:
        if self.nickserv:
            service_notice(self.srv, reply, text)
        else:
            reply.add(f":{self.srv.name} REGISTER VERIFICATION_REQUIRED {name} :{text}")

    def fail(self, reply: Reply, code: str, name: str, text: str) -> None:
        if self.nickserv:
            service_notice(self.srv, reply, text)
        else:
            reply.fail("REGISTER", code, name or "*", text=text)


def register(
    srv: ChatServer, reply: Reply, name: str, email: str, password: str, answer: _Answer
) -> None:
    session = reply.session
    user = session.user
    config = srv.config.accounts
    fold = srv.fold(name)
    if config.registration == "closed":
        answer.fail(reply, "TEMPORARILY_UNAVAILABLE", name, "Registration is closed here")
        return
    if user.account:
        answer.fail(reply, "ALREADY_AUTHENTICATED", name, f"You are logged in as {user.account}")
        return
    if not srv.valid_nick(name) or fold in RESERVED:
        answer.fail(reply, "BAD_ACCOUNT_NAME", name, "That is not a valid account name")
        return
    holder = srv.users.get(fold) or srv.acc.services.get(fold)
    if fold in srv.acc.names:
        answer.fail(reply, "ACCOUNT_EXISTS", name, "That account already exists")
        return
    if holder is not None and holder is not user:
        answer.fail(reply, "BAD_ACCOUNT_NAME", name, "That nick is in use by someone else")
        return
    if len(password) < config.min_password_length or password.casefold() == name.casefold():
        answer.fail(
            reply,
            "WEAK_PASSWORD",
            name,
            f"Choose a password of at least {config.min_password_length} characters, "
            "not your account name",
        )
        return
    if len(password) > MAX_PASSWORD or not password.isprintable():
        answer.fail(reply, "UNACCEPTABLE_PASSWORD", name, "That password is not acceptable")
        return
    if email and ("@" not in email or " " in email):
        if not answer.nickserv:
            answer.fail(reply, "INVALID_EMAIL", name, "That is not an e-mail address")
            return
        email = ""
    pending = config.registration == "approval"
    hasher = srv.acc.hasher
    created_ms = int(srv.now * 1000)

    def fn(store: AccountStore) -> bool:
        credentials = hasher.make(password)
        return store.create(Account(name, fold, credentials, email, created_ms, pending))

    def done(later: Reply, created: Any) -> None:
        if isinstance(created, AccountFailure):
            text = "Accounts are temporarily unavailable; try again later"
            answer.fail(later, "TEMPORARILY_UNAVAILABLE", name, text)
            return
        if not created:
            answer.fail(later, "ACCOUNT_EXISTS", name, "That account already exists")
            return
        srv.acc.names.add(fold)
        if pending:
            log.info("account %s registered from %s, awaiting approval", name, session.host)
            answer.pending(
                later, name, f"Account {name} created; it awaits approval by an operator"
            )
            return
        log.info("account %s registered from %s", name, session.host)
        answer.success(later, name, f"Account {name} created")
        if not user.account:
            login(srv, later, name)

    call(srv, reply, fn, done)


@command("REGISTER", 3, before_registration=True)
def handle_register(srv: ChatServer, reply: Reply, msg: Message) -> None:
    account, email, password = msg.params[:3]
    user = reply.session.user
    if account == "*":
        if not user.fold:
            reply.fail("REGISTER", "NEED_NICK", "*", text="Choose a nick first")
            return
        account = user.nick
    register(srv, reply, account, "" if email == "*" else email, password, _Answer(srv, False))


@command("VERIFY", 2, before_registration=True)
def handle_verify(srv: ChatServer, reply: Reply, msg: Message) -> None:
    reply.fail(
        "VERIFY",
        "INVALID_CODE",
        msg.params[0],
        text="This server sends no verification codes: an operator approves accounts",
    )


# ---------------------------------------------------------------------- NickServ

NICKSERV_HELP = (
    "NickServ keeps accounts. Commands:",
    "REGISTER <password> [email] - register your current nick as an account",
    "IDENTIFY [account] <password> - log in",
    "LOGOUT - log out",
    "SET PASSWORD <new password> - change your password (logged in)",
    "CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST - TLS client certificates "
    "for SASL EXTERNAL (ADD without a fingerprint: the one you are connected with)",
    "DROP <password> - delete your account",
    "Clients with SASL can log in while connecting instead.",
)


def nickserv(srv: ChatServer, reply: Reply, text: str) -> None:
    """A PRIVMSG to NickServ. Never stored, echoed or logged (it carries passwords)."""
    srv.acc.nickserv.last_active = srv.now
    words = text.split()
    sub = words[0].upper() if words else "HELP"
    args = words[1:]
    user = reply.session.user

    def say(line: str) -> None:
        service_notice(srv, reply, line)

    if sub == "HELP":
        for line in NICKSERV_HELP:
            say(line)
    elif sub == "REGISTER":
        if not args:
            say("Syntax: REGISTER <password> [email]")
            return
        email = args[1] if len(args) > 1 else ""
        register(srv, reply, user.nick, email, args[0], _Answer(srv, True))
    elif sub in ("IDENTIFY", "LOGIN"):
        identify(srv, reply, args)
    elif sub == "LOGOUT":
        if not user.account:
            say("You are not logged in")
        else:
            logout(srv, user, reply)
            say("You are now logged out")
    elif sub == "SET" and len(args) == 2 and args[0].upper() == "PASSWORD":
        set_password(srv, reply, args[1])
    elif sub == "CERT":
        cert(srv, reply, args)
    elif sub == "DROP":
        drop(srv, reply, args)
    else:
        say(f"Unknown command {sub}; try HELP")


def identify(srv: ChatServer, reply: Reply, args: list[str]) -> None:
    user = reply.session.user
    if user.account:
        service_notice(srv, reply, f"You are already logged in as {user.account}")
        return
    if len(args) == 1:
        name, password = user.nick, args[0]
    elif len(args) == 2:
        name, password = args
    else:
        service_notice(srv, reply, "Syntax: IDENTIFY [account] <password>")
        return
    fold = srv.fold(name)

    def finish(later: Reply, outcome: Outcome) -> None:
        status, account = outcome
        if status == OK and not user.account:
            login(srv, later, account)
            service_notice(srv, later, f"You are now logged in as {account}")
        else:
            service_notice(srv, later, failure_text(status, account))

    check_login(srv, reply, fold, password_lookup(srv.acc.hasher, fold, password), finish)


def _need_login(srv: ChatServer, reply: Reply) -> str | None:
    account = reply.session.user.account
    if not account:
        service_notice(srv, reply, "You must be logged in for that")
        return None
    return account


def set_password(srv: ChatServer, reply: Reply, password: str) -> None:
    account = _need_login(srv, reply)
    if account is None:
        return
    minimum = srv.config.accounts.min_password_length
    if len(password) < minimum or len(password) > MAX_PASSWORD:
        service_notice(srv, reply, f"Choose a password of at least {minimum} characters")
        return
    fold = srv.fold(account)
    hasher = srv.acc.hasher

    def fn(store: AccountStore) -> bool:
        return store.set_credentials(fold, hasher.make(password))

    def done(later: Reply, changed: Any) -> None:
        if changed is True:
            log.info("password of account %s changed", account)
            service_notice(srv, later, "Password changed")
        else:
            service_notice(srv, later, "The password could not be changed")

    call(srv, reply, fn, done)


def normalize_fingerprint(text: str) -> str | None:
    fp = text.replace(":", "").lower()
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        return None
    return fp


def cert(srv: ChatServer, reply: Reply, args: list[str]) -> None:
    account = _need_login(srv, reply)
    if account is None:
        return
    fold = srv.fold(account)
    sub = args[0].upper() if args else "LIST"
    session = reply.session
    if sub == "LIST":

        def listed(later: Reply, found: Any) -> None:
            if not isinstance(found, Account) or not found.certfps:
                service_notice(srv, later, "No certificates are linked to your account")
                return
            for fp in found.certfps:
                service_notice(srv, later, f"Certificate: {fp}")

        call(srv, reply, lambda store: store.get(fold), listed)
        return
    if sub not in ("ADD", "DEL"):
        service_notice(srv, reply, "Syntax: CERT ADD [fingerprint] | CERT DEL <fp> | CERT LIST")
        return
    add = sub == "ADD"
    given = args[1] if len(args) > 1 else ((session.certfp or "") if add else "")
    fp = normalize_fingerprint(given)
    if fp is None:
        service_notice(
            srv, reply, "Give a SHA-256 fingerprint (64 hex digits), or connect with a certificate"
        )
        return

    verb = "added" if add else "removed"

    def changed(later: Reply, ok: Any) -> None:
        if ok is True:
            log.info("certificate %s %s account %s", fp, verb, account)
            service_notice(srv, later, f"Certificate {fp} {verb}")
        else:
            service_notice(srv, later, f"Certificate {fp} could not be {verb}")

    if add:
        call(srv, reply, lambda store: store.add_cert(fold, fp), changed)
    else:
        call(srv, reply, lambda store: store.remove_cert(fold, fp), changed)


def drop(srv: ChatServer, reply: Reply, args: list[str]) -> None:
    account = _need_login(srv, reply)
    if account is None:
        return
    if len(args) != 1:
        service_notice(srv, reply, "Syntax: DROP <password> (this deletes your account)")
        return
    fold = srv.fold(account)
    verify = password_lookup(srv.acc.hasher, fold, args[0])

    def fn(store: AccountStore) -> Outcome:
        outcome = verify(store)
        if outcome[0] == OK:
            store.delete(fold)
        return outcome

    def finish(later: Reply, outcome: Outcome) -> None:
        if outcome[0] != OK:
            service_notice(srv, later, failure_text(*outcome))
            return
        srv.acc.names.discard(fold)
        log.info("account %s dropped", account)
        service_notice(srv, later, f"Account {account} deleted")
        for other in list(srv.registered_users()):
            if other.account and srv.fold(other.account) == fold:
                logout(srv, other, later if other is later.session.user else None)

    check_login(srv, reply, fold, fn, finish)
