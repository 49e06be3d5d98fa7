"""Registering an account: REGISTER / VERIFY (IRCv3 draft/account-registration) and NickServ's
REGISTER, which share one path and differ only in how they answer.

The credentials are made (argon2: CPU-heavy) and the account created on the account worker; the
answer comes through `Reply.later`. Registrations are limited per address
(`accounts.register_attempts` at once, one more every `accounts.register_refill_seconds`: a token
taken when the REGISTER is submitted, given back if no account was made), hash one at a time
per address (`hubbub.core.login.CheckGate`), and are refused "temporarily unavailable" while
the account worker's queue is full.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubbub.accounts.model import Account, new_account_id
from hubbub.accounts.store import AccountStore
from hubbub.core.cluster_fields import nick_key
from hubbub.core.commands import command
from hubbub.core.login import guarded, login
from hubbub.core.model import Phase
from hubbub.core.ports import CallFailure
from hubbub.core.reply import safe_param
from hubbub.core.services import RESERVED

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.accounts")

MAX_PASSWORD = 300


class Answer:
    """How a registration is answered: IRCv3 REGISTER replies, or NickServ notices."""

    def __init__(self, server: ChatServer, nickserv: bool) -> None:
        self.server = server
        self.nickserv = nickserv

    def _notice(self, reply: Reply, text: str) -> None:
        reply.add(f":{self.server.nickserv.prefix} NOTICE {reply.session.user.nick} :{text}")

    def success(self, reply: Reply, name: str, text: str) -> None:
        if self.nickserv:
            self._notice(reply, text)
        else:
            reply.add(f":{self.server.name} REGISTER SUCCESS {name} :{text}")

    def pending(self, reply: Reply, name: str, text: str) -> None:
        if self.nickserv:
            self._notice(reply, text)
        else:
            reply.add(f":{self.server.name} REGISTER VERIFICATION_REQUIRED {name} :{text}")

    def fail(self, reply: Reply, code: str, name: str, text: str) -> None:
        if self.nickserv:
            self._notice(reply, text)
        else:
            reply.fail("REGISTER", code, name or "*", text=text)


def register(
    server: ChatServer, reply: Reply, name: str, email: str, password: str, answer: Answer
) -> None:
    session = reply.session
    user = session.user
    config = server.config.accounts
    accounts = server.accounts
    fold = server.fold(name)
    if config.registration == "closed":
        answer.fail(reply, "TEMPORARILY_UNAVAILABLE", name, "Registration is closed here")
        return
    if user.account:
        answer.fail(reply, "ALREADY_AUTHENTICATED", name, f"You are logged in as {user.account}")
        return
    if not server.valid_nick(name) or fold in RESERVED:
        answer.fail(reply, "BAD_ACCOUNT_NAME", name, "That is not a valid account name")
        return
    holder = server.users.get(fold) or server.services.get(fold)
    if fold in accounts.names:
        answer.fail(reply, "ACCOUNT_EXISTS", name, "That account already exists")
        return
    if holder is not None and holder is not user:
        answer.fail(reply, "BAD_ACCOUNT_NAME", name, "That nick is in use by someone else")
        return
    if server.cluster is not None and holder is None and fold != user.fold:
        # Cluster mode: the nick may be held by a user of another node (its claim says so).

        def located(later: Reply, node: Any) -> None:
            if node is None:
                text = "Accounts are temporarily unavailable; try again later"
                answer.fail(later, "TEMPORARILY_UNAVAILABLE", name, text)
            elif node:
                answer.fail(later, "BAD_ACCOUNT_NAME", name, "That nick is in use by someone else")
            else:
                checked(server, later, name, fold, email, password, answer)

        server.cluster.network.locate(nick_key(fold), reply.later(located))
        return
    checked(server, reply, name, fold, email, password, answer)


def checked(
    server: ChatServer,
    reply: Reply,
    name: str,
    fold: str,
    email: str,
    password: str,
    answer: Answer,
) -> None:
    """The rest of `register`, once the name is known to be nobody else's nick."""
    session = reply.session
    user = session.user
    config = server.config.accounts
    accounts = server.accounts
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
    if config.email_required and not email:
        answer.fail(reply, "INVALID_EMAIL", name, "This server needs an e-mail address")
        return
    limit_keys = ("r:" + session.host,)
    wait = accounts.registrations.wait(limit_keys, server.now)
    if wait > 0:
        log.info("registration from %s refused: too many", session.host)
        text = f"Too many registrations from your address; try again in {int(wait) + 1} seconds"
        answer.fail(reply, "TEMPORARILY_UNAVAILABLE", name, text)
        return
    if accounts.full:
        text = "Accounts are temporarily unavailable; try again later"
        answer.fail(reply, "TEMPORARILY_UNAVAILABLE", name, text)
        return
    accounts.registrations.take(limit_keys, server.now)
    pending = config.registration == "approval"
    passwords = accounts.passwords
    created_ms = int(server.now * 1000)
    # A new id even for a name used before: history is attributed to it (issue 11 #4).
    account_id = new_account_id(name, server.randomness.token_hex(8))

    def fn(store: AccountStore) -> bool:
        credentials = passwords.make(password)
        account = Account(name, fold, credentials, email, created_ms, pending, id=account_id)
        return store.create(account)

    def done(later: Reply, created: Any) -> None:
        if isinstance(created, CallFailure):
            text = "Accounts are temporarily unavailable; try again later"
            answer.fail(later, "TEMPORARILY_UNAVAILABLE", name, text)
            return
        if not created:
            answer.fail(later, "ACCOUNT_EXISTS", name, "That account already exists")
            return
        if pending:
            log.info("account %s registered from %s, awaiting approval", name, session.host)
            answer.pending(
                later, name, f"Account {name} created; it awaits approval by an operator"
            )
            return
        log.info("account %s registered from %s", name, session.host)
        answer.success(later, name, f"Account {name} created")
        if not user.account:
            login(server, later, account_id)

    answer_later = reply.later(done)

    def created(result: Any) -> None:
        # The name is taken whether or not the client is still there to hear it.
        if result is True:
            accounts.names.add(fold)
            accounts.ids[fold] = account_id
            if server.cluster is not None:  # every node learns the name
                server.cluster.account_registered(fold, account_id)
        else:
            accounts.registrations.refund(limit_keys, server.now)
        answer_later(result)

    guarded(server, session, ("a:" + session.host,), fn, created)


@command("REGISTER", 3, before_registration=True)
def handle_register(server: ChatServer, reply: Reply, msg: Message) -> None:
    account, email, password = msg.params[:3]
    user = reply.session.user
    if reply.session.phase is not Phase.REGISTERED and not config_allows_early(server):
        reply.fail(
            "REGISTER",
            "COMPLETE_CONNECTION_REQUIRED",
            safe_param(account),
            text="Finish connecting before you register",
        )
        return
    if account == "*":
        wanted = reply.session.wanted_nick
        if not user.fold and wanted and server.fold(wanted) in server.accounts.names:
            # The nick it asked for is an account (its owner holds the nick): that account
            # exists, which tells the client more than "choose a nick".
            reply.fail("REGISTER", "ACCOUNT_EXISTS", wanted, text="That account already exists")
            return
        if not user.fold:
            reply.fail("REGISTER", "NEED_NICK", "*", text="Choose a nick first")
            return
        account = user.nick
    register(server, reply, account, "" if email == "*" else email, password, Answer(server, False))


def config_allows_early(server: ChatServer) -> bool:
    return server.config.accounts.register_before_connect


@command("VERIFY", 2, before_registration=True)
def handle_verify(server: ChatServer, reply: Reply, msg: Message) -> None:
    reply.fail(
        "VERIFY",
        "INVALID_CODE",
        msg.params[0],
        text="This server sends no verification codes: an operator approves accounts",
    )
