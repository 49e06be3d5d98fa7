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
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from hubbub.core.login import LoginThrottle
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
        self.deadlines: dict[User, float] = {}  # users on a nick they do not own (grace)
        self.throttle = LoginThrottle(settings.login_attempts, settings.login_refill_seconds)
        self.last_sweep = 0.0
        service.call(lambda store: store.names(), self._loaded)

    def configure(self, settings: AccountsSection) -> None:
        """New `[accounts]` settings (REHASH): hashing costs and throttle."""
        self.passwords = self.make_passwords(settings)
        self.throttle.burst = float(settings.login_attempts)
        self.throttle.refill = settings.login_refill_seconds

    def _loaded(self, names: Any) -> None:
        if isinstance(names, CallFailure):
            log.error("could not load the account names: nick ownership is not enforced")
            return
        self.names.update(names)


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
