"""The core's account bookkeeping, and the checks an account or TLS puts before the welcome.

Everything that touches the account store or hashes a password goes through the
`AccountService` (`server.accounts.service`) and answers through `Reply.later`, like a history read.
The commands live beside their concern: logging in (`hubbub.core.login`, `hubbub.core.sasl`),
registering (`hubbub.core.register`), NickServ (`hubbub.core.nickserv`), nick ownership
(`hubbub.core.ownership`).

Nick ownership needs to know, synchronously, whether a nick is registered: `AccountState.names`
holds every account's casefolded name (loaded from the store when the server starts, kept up to
date by REGISTER and DROP). It is the only account state the core keeps in memory; passwords,
pending flags and certificates are read from the store each time.

Every call the core makes to the account worker goes through `AccountState.call`, which counts
the calls not yet answered: at `accounts.max_queued_calls` the state is `full`, and commands that
would hash a password answer "temporarily unavailable" at once instead of queueing more work
(so the worker's queue never holds more than that, and a flood of logins cannot delay the
others for long).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.accounts.store import AccountStore
from hubbub.core.login import CheckGate, LoginThrottle
from hubbub.core.ownership import nick_refused
from hubbub.core.ports import AccountService, CallFailure, PasswordsFactory
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.config import AccountsSection
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.accounts")


class AccountState:
    """The core's account bookkeeping, one per ChatServer (`server.accounts`)."""

    def __init__(
        self, settings: AccountsSection, service: AccountService, passwords: PasswordsFactory
    ) -> None:
        self.service = service
        self.make_passwords = passwords
        self.passwords = passwords(settings)
        self.names: set[str] = set()  # casefolded names of every account, pending included
        # Every account's stable id by casefolded name (hubbub.accounts.model): the private
        # history of an account that is not online is found under it (hubbub.core.privacy).
        self.ids: dict[str, str] = {}
        self.deadlines: dict[User, float] = {}  # users on a nick they do not own (grace)
        self.throttle = LoginThrottle(settings.login_attempts, settings.login_refill_seconds)
        # REGISTER per address: a token per account creation submitted.
        self.registrations = LoginThrottle(
            settings.register_attempts, settings.register_refill_seconds
        )
        self.gate = CheckGate()  # one password check in flight per address and account
        self.max_queued = settings.max_queued_calls
        self.queued = 0  # calls handed to the worker and not answered yet
        self.last_sweep = 0.0
        service.call(lambda store: store.ids(), self._loaded)

    @property
    def full(self) -> bool:
        """The worker has `accounts.max_queued_calls` calls to answer: ask for no more now."""
        return self.queued >= self.max_queued

    def call(self, fn: Callable[[AccountStore], Any], done: Callable[[Any], None]) -> None:
        """`service.call`, counted (see `full`)."""
        self.queued += 1

        def answered(result: Any) -> None:
            self.queued -= 1
            done(result)

        self.service.call(fn, answered)

    def configure(self, settings: AccountsSection) -> None:
        """New `[accounts]` settings (REHASH): hashing costs and throttle."""
        self.passwords = self.make_passwords(settings)
        self.throttle.burst = float(settings.login_attempts)
        self.throttle.refill = settings.login_refill_seconds
        self.registrations.burst = float(settings.register_attempts)
        self.registrations.refill = settings.register_refill_seconds
        self.max_queued = settings.max_queued_calls

    def _loaded(self, ids: Any) -> None:
        if isinstance(ids, CallFailure):
            log.error("could not load the account names: nick ownership is not enforced")
            return
        self.names.update(ids)
        self.ids.update(ids)


def hold_registration(server: ChatServer, reply: Reply) -> bool:
    """Checks just before the welcome. True: the welcome must not go out now (the nick is
    refused, or the connection was refused and closed)."""
    session = reply.session
    user = session.user
    tls = server.config.tls
    if tls.require_tls and not session.secure and not is_loopback(session.host):
        port = tls.port
        reply.notice(f"*** This server requires TLS: reconnect to port {port} with TLS")
        reply.flush()
        server.quit(session, f"TLS required (port {port})")
        return True
    if session.sasl is not None:  # CAP END in the middle of an exchange aborts it
        session.sasl = None
        reply.numeric(n.ERR_SASLABORTED, "SASL authentication aborted")
    if nick_refused(server, reply, user.nick, user.fold):
        if server.users.get(user.fold) is user:
            del server.users[user.fold]
        user.nick, user.fold = "*", ""
        return True
    return False


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
