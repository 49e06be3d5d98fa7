"""MARKREAD: read markers shared by an account's connections (IRCv3 draft/read-marker,
https://ircv3.net/specs/extensions/read-marker).

A read marker is the time (server-time, in ms) of the last message the user read in one target
(a channel or a nick). It belongs to the account: the account store keeps it (durable, gone
with the account; a history retention never prunes it), keyed by the casefolded account and
target. It only ever moves forward, and never beyond the server's present (a client cannot pin
it in the future). Connections without an account cannot use it (`FAIL MARKREAD
ACCOUNT_REQUIRED`): there is nobody to share the marker with, and nothing to keep it under.

* `MARKREAD <target>` asks: answered `MARKREAD <target> timestamp=…` (or `*` when unset).
* `MARKREAD <target> timestamp=…` sets: the requester is answered with the marker as stored
  (the older one when the given time is older), and when it moved every other connection of the
  account that negotiated `draft/read-marker` gets it too.
* On JOIN, a connection with the capability and an account gets the room's marker after the JOIN
  and before RPL_ENDOFNAMES (`on_join`; the join reply waits for the account worker).

The store is read and written on the account worker; answers come back through `Reply.later`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubbub.core.commands import command
from hubbub.core.ports import CallFailure
from hubbub.protocol import numerics as n
from hubbub.protocol.servertime import format_server_time, parse_server_time

if TYPE_CHECKING:
    from hubbub.accounts.store import AccountStore
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

CAP = "draft/read-marker"


def marker_param(time_ms: int | None) -> str:
    """The MARKREAD timestamp parameter: `timestamp=…`, or `*` when there is no marker."""
    return "*" if time_ms is None else "timestamp=" + format_server_time(time_ms)


@command("MARKREAD")
def handle_markread(server: ChatServer, reply: Reply, msg: Message) -> None:
    params = msg.params
    if not params or not params[0]:
        reply.fail("MARKREAD", "NEED_MORE_PARAMS", text="Missing parameters")
        return
    target = params[0]
    user = reply.session.user
    if not (server.valid_channel(target) or server.valid_nick(target)):
        reply.fail("MARKREAD", "INVALID_PARAMS", target, text="Invalid target")
        return
    if not user.account:
        reply.fail(
            "MARKREAD", "ACCOUNT_REQUIRED", target, text="You must be logged in to use read markers"
        )
        return
    account = server.fold(user.account)
    key = server.fold(target)
    if len(params) < 2:

        def ask(later: Reply, result: Any) -> None:
            if isinstance(result, CallFailure):
                later.fail("MARKREAD", "INTERNAL_ERROR", target, text="Read markers unavailable")
                return
            later.add(f":{server.name} MARKREAD {target} {marker_param(result)}")

        server.accounts.call(lambda store: store.read_marker(account, key), reply.later(ask))
        return
    given = params[1]
    time_ms = parse_server_time(given[10:]) if given.startswith("timestamp=") else None
    if time_ms is None:
        reply.fail(
            "MARKREAD", "INVALID_PARAMS", target, given, text="Timestamp must be timestamp=<time>"
        )
        return
    time_ms = min(time_ms, server.stamp())  # never in the future: it could never move again

    def store_marker(store: AccountStore) -> int | None:
        return store.set_read_marker(account, key, time_ms)

    def stored(later: Reply, result: Any) -> None:
        if isinstance(result, CallFailure) or result is None:
            later.fail("MARKREAD", "INTERNAL_ERROR", target, text="Read markers unavailable")
            return
        line = f":{server.name} MARKREAD {target} {marker_param(result)}"
        later.add(line)
        if result == time_ms:  # it moved (or stayed at exactly this time): tell the others
            others = [
                other
                for session in server.sessions
                if (other := session.user) is not user
                and other.account
                and CAP in session.caps
                and server.fold(other.account) == account
            ]
            if others:
                server.fanout(others, line, server.stamp())
            if server.cluster is not None:  # and its connections on the other nodes
                server.cluster.read_marker(account, target, time_ms)

    server.accounts.call(store_marker, reply.later(stored))


def on_join(server: ChatServer, reply: Reply, name: str, end_names: bool = True) -> bool:
    """After a JOIN's names and before its RPL_ENDOFNAMES: the room's read marker, for a client
    that negotiated the capability and is logged in. True when this function ends the names
    (it then writes the 366 itself, once the marker is read); False: the caller does.
    `end_names` False: there are no names to end (no-implicit-names), only the marker."""
    session = reply.session
    user = session.user
    if CAP not in session.caps or not user.account:
        return False
    account = server.fold(user.account)
    key = server.fold(name)
    # A slot in the reply, filled when the store answers: a JOIN of several channels adds more
    # lines behind it meanwhile, and the marker must stay in front of its own 366.
    slot = ("", "")
    reply.lines.append(slot)

    def done(later: Reply, result: Any) -> None:
        marker = None if isinstance(result, CallFailure) else result
        lines = [("", f":{server.name} MARKREAD {name} {marker_param(marker)}")]
        if end_names:
            later.numeric(n.RPL_ENDOFNAMES, name, "End of /NAMES list")
            lines.append(later.lines.pop())
        for index, line in enumerate(later.lines):
            if line is slot:
                later.lines[index : index + 1] = lines
                break

    server.accounts.call(lambda store: store.read_marker(account, key), reply.later(done))
    return True
