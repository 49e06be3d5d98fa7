"""NickServ: accounts by private message (REGISTER, IDENTIFY, LOGOUT, SET PASSWORD, CERT, DROP).

A PRIVMSG to NickServ is never stored, echoed or logged (it carries passwords). Commands that
need the store answer through `Reply.later` (hubbub.core.reply).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubbub.accounts.model import Account
from hubbub.accounts.store import AccountStore
from hubbub.core.login import (
    OK,
    UNAVAILABLE,
    Outcome,
    check_login,
    failure_text,
    guarded,
    login,
    logout,
    password_lookup,
    throttle_keys,
)
from hubbub.core.register import MAX_PASSWORD, Answer, register
from hubbub.core.services import ServiceTable

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.accounts")

NICKSERV = ServiceTable(
    "NickServ",
    "Account services",
    "NickServ keeps accounts. Commands:",
    "You must be logged in for that",
)
NICKSERV.footer = ("Clients with SASL can log in while connecting instead.",)


def say(server: ChatServer, reply: Reply, text: str) -> None:
    NICKSERV.say(server, reply, text)


@NICKSERV.command(
    "REGISTER", "<password> [email]", "register your current nick as an account", min_args=1
)
def ns_register(server: ChatServer, reply: Reply, args: list[str]) -> None:
    email = args[1] if len(args) > 1 else ""
    register(server, reply, reply.session.user.nick, email, args[0], Answer(server, True))


@NICKSERV.command("IDENTIFY", "[account] <password>", "log in", min_args=1, aliases=("LOGIN",))
def ns_identify(server: ChatServer, reply: Reply, args: list[str]) -> None:
    user = reply.session.user
    if user.account:
        say(server, reply, f"You are already logged in as {user.account}")
        return
    if len(args) == 1:
        name, password = user.nick, args[0]
    elif len(args) == 2:
        name, password = args
    else:
        say(server, reply, "Syntax: IDENTIFY [account] <password>")
        return
    fold = server.fold(name)

    def finish(later: Reply, outcome: Outcome) -> None:
        status, detail = outcome
        if status == OK and not user.account:
            login(server, later, detail)
            say(server, later, f"You are now logged in as {user.account}")
        else:
            say(server, later, failure_text(status, detail))

    lookup = password_lookup(server.accounts.passwords, fold, password)
    check_login(server, reply, fold, lookup, finish)


@NICKSERV.command("LOGOUT", "", "log out")
def ns_logout(server: ChatServer, reply: Reply, args: list[str]) -> None:
    user = reply.session.user
    if not user.account:
        say(server, reply, "You are not logged in")
        return
    # The confirmation first: a warning about the nick (hubbub.core.ownership) follows it.
    say(server, reply, "You are now logged out")
    logout(server, user, reply)


@NICKSERV.command(
    "SET",
    "PASSWORD <new password>",
    "change your password (logged in)",
    min_args=2,
    logged_in=True,
)
def ns_set(server: ChatServer, reply: Reply, args: list[str]) -> None:
    if len(args) != 2 or args[0].upper() != "PASSWORD":
        say(server, reply, "Syntax: SET PASSWORD <new password>")
        return
    account = reply.session.user.account
    password = args[1]
    minimum = server.config.accounts.min_password_length
    if len(password) < minimum or len(password) > MAX_PASSWORD:
        say(server, reply, f"Choose a password of at least {minimum} characters")
        return
    fold = server.fold(account)
    passwords = server.accounts.passwords
    if server.accounts.full:
        say(server, reply, failure_text(UNAVAILABLE, ""))
        return

    def fn(store: AccountStore) -> bool:
        return store.set_credentials(fold, passwords.make(password))

    def done(later: Reply, changed: Any) -> None:
        if changed is True:
            log.info("password of account %s changed", account)
            say(server, later, "Password changed")
        else:
            say(server, later, "The password could not be changed")

    # A hash like a login's: one in flight per address and per account.
    keys = throttle_keys(reply.session, fold)
    guarded(server, reply.session, keys, fn, reply.later(done))


def normalize_fingerprint(text: str) -> str | None:
    fp = text.replace(":", "").lower()
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        return None
    return fp


@NICKSERV.command(
    "CERT",
    "ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST",
    "TLS client certificates for SASL EXTERNAL (ADD without a fingerprint: the one you are "
    "connected with)",
    logged_in=True,
)
def ns_cert(server: ChatServer, reply: Reply, args: list[str]) -> None:
    account = reply.session.user.account
    fold = server.fold(account)
    sub = args[0].upper() if args else "LIST"
    session = reply.session
    if sub == "LIST":

        def listed(later: Reply, found: Any) -> None:
            if not isinstance(found, Account) or not found.certfps:
                say(server, later, "No certificates are linked to your account")
                return
            for fp in found.certfps:
                say(server, later, f"Certificate: {fp}")

        server.accounts.call(lambda store: store.get(fold), reply.later(listed))
        return
    if sub not in ("ADD", "DEL"):
        say(server, reply, "Syntax: CERT ADD [fingerprint] | CERT DEL <fp> | CERT LIST")
        return
    add = sub == "ADD"
    given = args[1] if len(args) > 1 else ((session.certfp or "") if add else "")
    fp = normalize_fingerprint(given)
    if fp is None:
        say(
            server,
            reply,
            "Give a SHA-256 fingerprint (64 hex digits), or connect with a certificate",
        )
        return
    verb = "added" if add else "removed"

    def changed(later: Reply, ok: Any) -> None:
        if ok is True:
            log.info("certificate %s %s account %s", fp, verb, account)
            say(server, later, f"Certificate {fp} {verb}")
        else:
            say(server, later, f"Certificate {fp} could not be {verb}")

    if add:
        server.accounts.call(lambda store: store.add_cert(fold, fp), reply.later(changed))
    else:
        server.accounts.call(lambda store: store.remove_cert(fold, fp), reply.later(changed))


@NICKSERV.command("DROP", "<password>", "delete your account", min_args=1, logged_in=True)
def ns_drop(server: ChatServer, reply: Reply, args: list[str]) -> None:
    account = reply.session.user.account
    if len(args) != 1:
        say(server, reply, "Syntax: DROP <password> (this deletes your account)")
        return
    fold = server.fold(account)
    verify = password_lookup(server.accounts.passwords, fold, args[0])

    def fn(store: AccountStore) -> Outcome:
        outcome = verify(store)
        if outcome[0] == OK:
            store.delete(fold)
        return outcome

    def finish(later: Reply, outcome: Outcome) -> None:
        if outcome[0] != OK:
            say(server, later, failure_text(*outcome))
            return
        server.accounts.names.discard(fold)
        server.accounts.ids.pop(fold, None)
        if server.cluster is not None:  # every node forgets it, and logs its users out
            server.cluster.account_dropped(fold)
        log.info("account %s dropped", account)
        say(server, later, f"Account {account} deleted")
        for other in list(server.registered_users()):
            if other.account and server.fold(other.account) == fold:
                logout(server, other, later)

    check_login(server, reply, fold, fn, finish)
