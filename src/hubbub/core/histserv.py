"""HistServ: an account exports or deletes its own history.

* `/msg HistServ EXPORT [count]` sends back the newest `count` (default and at most
  `EXPORT_MAX`) messages the account sent — in every channel and private conversation, oldest
  first — as NOTICEs from HistServ, one message per line with its UTC time and where it was
  said. Nothing is written to disk. With labeled-response the export comes as one batch.
* `/msg HistServ DELETE` asks for a confirmation; `/msg HistServ DELETE CONFIRM <code>` (within
  `CONFIRM_SECONDS`, from any connection logged in to the same account) then deletes, from the
  store, every message the account sent. Messages others sent to it stay: they are theirs.
  The answer waits until the deletion is committed, and the store remembers the msgids, so a
  late copy is ignored; in a cluster every node deletes them again after what it wrote and
  holds, and no join replay merges them back from a room's stream (hubbub.core.cluster_replay).

Both need a logged-in user: history is attributed to accounts (`Record.account`: the account's
stable id, so an account that re-uses a dropped name gets none of its predecessor's messages);
what was said without an account belongs to nobody who could prove it.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from hubbub.core.messaging import fit
from hubbub.core.services import ServiceTable
from hubbub.history.record import Record, dm_parties
from hubbub.protocol.servertime import format_utc

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.history.store import HistoryStore

log = logging.getLogger("hubbub.histserv")

EXPORT_MAX = 500
CONFIRM_SECONDS = 300.0

HISTSERV = ServiceTable(
    "HistServ",
    "History services",
    "HistServ: your own history. Commands (logged in):",
    "You must be logged in: history is kept by account",
)


class HistServ:
    """HistServ's pending deletions (`server.histserv`)."""

    def __init__(self) -> None:
        # Casefolded account -> (confirmation code, deadline).
        self.pending: dict[str, tuple[str, float]] = {}


def say(server: ChatServer, reply: Reply, text: str) -> None:
    HISTSERV.say(server, reply, text)


# -- EXPORT ----------------------------------------------------------------------------------


@HISTSERV.command(
    "EXPORT",
    "[count]",
    f"the newest messages you sent (at most {EXPORT_MAX}), as notices",
    logged_in=True,
)
def export(server: ChatServer, reply: Reply, args: list[str]) -> None:
    account = reply.session.user.account
    account_id = reply.session.user.account_id  # what records are attributed to
    count = EXPORT_MAX
    if args:
        if not args[0].isdecimal() or int(args[0]) < 1:
            say(server, reply, "Syntax: EXPORT [count]")
            return
        count = min(int(args[0]), EXPORT_MAX)

    def fn(store: HistoryStore) -> list[Record]:
        return store.by_account(account_id, count)

    def done(later: Reply, records: Any) -> None:
        found: list[Record] = records if isinstance(records, list) else []
        say(server, later, f"Your {len(found)} newest messages, oldest first (UTC):")
        for record in found:
            say_fitted(server, later, export_line(record))
        say(server, later, "End of export")
        log.info("account %s exported %d messages", account, len(found))

    server.history.query(fn, reply.later(done))


def export_line(record: Record) -> str:
    stamp = format_utc(record.time_ms / 1000, "%Y-%m-%d %H:%M:%S")
    target = record.params[0] if record.params else record.target
    where = f"to {target}" if dm_parties(record.target) is not None else target
    if record.command == "TAGMSG":
        text = "(a TAGMSG)"
    else:
        text = record.params[-1] if len(record.params) > 1 else ""
    kind = "" if record.command == "PRIVMSG" else f" {record.command}"
    return f"[{stamp}] {where}{kind}: {text}"


def say_fitted(server: ChatServer, reply: Reply, text: str) -> None:
    head = f":{HISTSERV.prefix(server)} NOTICE {reply.session.user.nick} :"
    reply.add(head + fit(text, len(head.encode())))


# -- DELETE ----------------------------------------------------------------------------------


@HISTSERV.command(
    "DELETE",
    "",
    "delete every message you sent, everywhere (asks for a confirmation first)",
    logged_in=True,
)
def delete(server: ChatServer, reply: Reply, args: list[str]) -> None:
    account = reply.session.user.account
    account_id = reply.session.user.account_id
    state = server.histserv
    fold = server.fold(account)
    now = server.now
    state.pending = {k: v for k, v in state.pending.items() if v[1] > now}
    if not args:
        code = server.randomness.token_hex(4)
        state.pending[fold] = (code, now + CONFIRM_SECONDS)
        say(
            server,
            reply,
            f"This deletes every message you sent as {account}, in every channel and private "
            "conversation, for good.",
        )
        say(
            server,
            reply,
            f"To confirm within {CONFIRM_SECONDS / 60:g} minutes: "
            f"/msg {HISTSERV.nick} DELETE CONFIRM {code}",
        )
        return
    pending = state.pending.get(fold)
    if len(args) != 2 or args[0].upper() != "CONFIRM" or pending is None:
        say(server, reply, "Send DELETE first, then DELETE CONFIRM <code>")
        return
    if not hmac.compare_digest(args[1].lower().encode(), pending[0].encode()):
        say(server, reply, "That is not the confirmation code; send DELETE again for a new one")
        return
    del state.pending[fold]

    def deleted(later: Reply, result: Any) -> None:
        if not isinstance(result, int):  # the store failed (logged by the history service)
            say(server, later, "History is unavailable right now; nothing was deleted")
            return
        log.info("account %s deleted its history (%d messages)", account, result)
        # Its answer is its acknowledgement: written once the deletion is committed.
        server.history.acknowledge_after_commit(later.session.link)
        say(server, later, f"Deleted {result} messages")
        if server.cluster is not None:  # every node's late copies and streams too
            server.cluster.history_deleted(account_id)

    server.history.change(lambda store: store.delete_by_account(account_id), reply.later(deleted))
