"""HistServ: an account exports or deletes its own history.

* `/msg HistServ EXPORT [count]` sends back the newest `count` (default and at most
  `EXPORT_MAX`) messages the account sent — in every channel and private conversation, oldest
  first — as NOTICEs from HistServ, one message per line with its UTC time and where it was
  said. Nothing is written to disk. With labeled-response the export comes as one batch.
* `/msg HistServ DELETE` asks for a confirmation; `/msg HistServ DELETE CONFIRM <code>` (within
  `CONFIRM_SECONDS`, from any connection logged in to the same account) then deletes, from the
  store, every message the account sent. Messages others sent to it stay: they are theirs.

Both need a logged-in user: history is attributed to accounts (`Record.account`); what was said
without an account belongs to nobody who could prove it.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from hubbub.core.accounts import _service_user
from hubbub.core.messaging import fit
from hubbub.core.reply import Reply
from hubbub.history.record import Record, dm_parties

if TYPE_CHECKING:
    from hubbub.core.server import ChatServer
    from hubbub.history.store import HistoryStore

log = logging.getLogger("hubbub.histserv")

SERVICE_NICK = "HistServ"
EXPORT_MAX = 500
CONFIRM_SECONDS = 300.0

HISTSERV_HELP = (
    "HistServ: your own history. Commands (logged in):",
    f"EXPORT [count] - the newest messages you sent (at most {EXPORT_MAX}), as notices",
    "DELETE - delete every message you sent, everywhere (asks for a confirmation first)",
)


class HistServ:
    """The HistServ pseudo-user and its pending deletions (`srv.hist`)."""

    def __init__(self, srv: ChatServer) -> None:
        self.srv = srv
        self.user = _service_user(srv, SERVICE_NICK, "History services", self.handle)
        srv.acc.services[self.user.fold] = self.user
        # Casefolded account -> (confirmation code, deadline).
        self.pending: dict[str, tuple[str, float]] = {}

    def say(self, reply: Reply, text: str) -> None:
        reply.add(f":{self.user.prefix} NOTICE {reply.session.user.nick} :{text}")

    def handle(self, srv: ChatServer, reply: Reply, text: str) -> None:
        self.user.last_active = srv.now
        words = text.split()
        sub = words[0].upper() if words else "HELP"
        args = words[1:]
        if sub == "HELP":
            for line in HISTSERV_HELP:
                self.say(reply, line)
            return
        if sub not in ("EXPORT", "DELETE"):
            self.say(reply, f"Unknown command {sub}; try HELP")
            return
        account = reply.session.user.account
        if not account:
            self.say(reply, "You must be logged in: history is kept by account")
            return
        if sub == "EXPORT":
            self.export(reply, account, args)
        else:
            self.delete(reply, account, args)

    # -- EXPORT ------------------------------------------------------------------------------

    def export(self, reply: Reply, account: str, args: list[str]) -> None:
        srv = self.srv
        count = EXPORT_MAX
        if args:
            if not args[0].isdecimal() or int(args[0]) < 1:
                self.say(reply, "Syntax: EXPORT [count]")
                return
            count = min(int(args[0]), EXPORT_MAX)
        session = reply.session
        label = reply.label
        reply.label = None

        def fn(store: HistoryStore) -> list[Record]:
            return store.by_account(account, count)

        def done(records: Any) -> None:
            if session.closed:
                return
            later = Reply(session, srv.name, label)
            found: list[Record] = records if isinstance(records, list) else []
            self.say(later, f"Your {len(found)} newest messages, oldest first (UTC):")
            for record in found:
                self.say_fitted(later, self.export_line(record))
            self.say(later, "End of export")
            later.flush()
            log.info("account %s exported %d messages", account, len(found))

        srv.deferred.append(lambda: srv.history.query(fn, done))

    def export_line(self, record: Record) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.time_ms / 1000))
        target = record.params[0] if record.params else record.target
        where = f"to {target}" if dm_parties(record.target) is not None else target
        if record.command == "TAGMSG":
            text = "(a TAGMSG)"
        else:
            text = record.params[-1] if len(record.params) > 1 else ""
        kind = "" if record.command == "PRIVMSG" else f" {record.command}"
        return f"[{stamp}] {where}{kind}: {text}"

    def say_fitted(self, reply: Reply, text: str) -> None:
        head = f":{self.user.prefix} NOTICE {reply.session.user.nick} :"
        reply.add(head + fit(text, len(head.encode())))

    # -- DELETE ------------------------------------------------------------------------------

    def delete(self, reply: Reply, account: str, args: list[str]) -> None:
        srv = self.srv
        fold = srv.fold(account)
        now = srv.now
        self.pending = {k: v for k, v in self.pending.items() if v[1] > now}
        if not args:
            code = secrets.token_hex(4)
            self.pending[fold] = (code, now + CONFIRM_SECONDS)
            self.say(
                reply,
                f"This deletes every message you sent as {account}, in every channel and private "
                "conversation, for good.",
            )
            self.say(
                reply,
                f"To confirm within {CONFIRM_SECONDS / 60:g} minutes: "
                f"/msg {SERVICE_NICK} DELETE CONFIRM {code}",
            )
            return
        pending = self.pending.get(fold)
        if len(args) != 2 or args[0].upper() != "CONFIRM" or pending is None:
            self.say(reply, "Send DELETE first, then DELETE CONFIRM <code>")
            return
        if not secrets.compare_digest(args[1].lower(), pending[0]):
            self.say(reply, "That is not the confirmation code; send DELETE again for a new one")
            return
        del self.pending[fold]
        session = reply.session
        label = reply.label
        reply.label = None

        def done(result: Any) -> None:
            deleted = result if isinstance(result, int) else 0
            log.info("account %s deleted its history (%d messages)", account, deleted)
            if session.closed:
                return
            later = Reply(session, srv.name, label)
            self.say(later, f"Deleted {deleted} messages")
            later.flush()

        srv.deferred.append(
            lambda: srv.history.query(lambda store: store.delete_by_account(account), done)
        )
