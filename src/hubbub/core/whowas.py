"""WHOWAS: the nicks no longer in use, and who had them.

RFC 2812, 3.6.3: WHOWAS "asks for information about a nickname which no longer exists.
This may either be due to a nickname change or the user leaving IRC". So an entry is kept
when a user of this server quits and when one changes its nick (not its case). On one
server the entries are the server's own (`ChatServer.whowas`, newest first,
`limits.whowas_entries` of them). In a cluster the user's node also hands each entry to the
network (`Network.departed`), which keeps the newest `limits.whowas_entries` of the whole
network, so WHOWAS on any node finds who left from another; the node whose janitor buries a
dead node hands in its users' (hubbub.cluster.node). WHOWAS there reads the network's
entries, with this node's own that may not have reached them yet; when the network cannot be
asked, this node's own alone, with a FAIL saying so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hubbub.core.commands import command
from hubbub.core.model import User, WhowasEntry
from hubbub.protocol import numerics as n
from hubbub.protocol.servertime import format_utc

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message


def remember(server: ChatServer, user: User, nick: str) -> None:
    """`nick`, which this server's `user` had, is no longer in use (a QUIT or a new nick)."""
    entry = WhowasEntry(
        nick, user.username, user.hostname, user.realname, int(server.now), server.name
    )
    server.whowas.appendleft(entry)
    keep = server.config.limits.whowas_entries
    if server.cluster is not None and keep:
        server.cluster.network.departed(encode(entry), keep)


def encode(entry: WhowasEntry) -> str:
    """An entry as the network keeps it (JSON; hubbub.cluster.node writes a dead node's too)."""
    facts = {
        "n": entry.nick,
        "u": entry.username,
        "h": entry.hostname,
        "r": entry.realname,
        "t": entry.left_at,
        "s": entry.server,
    }
    return json.dumps(facts, separators=(",", ":"))


def decode(text: str) -> WhowasEntry | None:
    """An entry the network kept, or None if it is not one (written by a newer version)."""
    try:
        facts: Any = json.loads(text)
        return WhowasEntry(
            str(facts["n"]),
            str(facts["u"]),
            str(facts["h"]),
            str(facts["r"]),
            int(facts["t"]),
            str(facts["s"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


@command("WHOWAS", 1)
def handle_whowas(server: ChatServer, reply: Reply, msg: Message) -> None:
    nick = msg.params[0]
    # "If given, <count> SHOULD be a positive number. Otherwise, a full search is done."
    count = int(msg.params[1]) if len(msg.params) > 1 and msg.params[1].isdecimal() else 0
    if server.cluster is None:
        answer(server, reply, nick, count, server.whowas)
        return

    def answered(later: Reply, texts: list[str] | None) -> None:
        if texts is None:
            text = "Only this server's departures are searched: the network cannot be asked now"
            later.fail("WHOWAS", "TEMPORARILY_UNAVAILABLE", text=text)
            texts = []
        network = [entry for text in texts if (entry := decode(text)) is not None]
        # This node's own, some of which may not have reached the network's list yet.
        known = set(network)
        own = [entry for entry in server.whowas if entry not in known]
        newest_first = sorted([*network, *own], key=lambda entry: -entry.left_at)
        answer(server, later, nick, count, newest_first)

    server.cluster.network.departures(reply.later(answered))


def answer(
    server: ChatServer, reply: Reply, nick: str, count: int, entries: Iterable[WhowasEntry]
) -> None:
    """The entries for `nick` (newest first, at most `count` if it is not 0), or 406."""
    fold = server.fold(nick)
    found = 0
    for entry in entries:
        if server.fold(entry.nick) != fold:
            continue
        reply.numeric(
            n.RPL_WHOWASUSER, entry.nick, entry.username, entry.hostname, "*", entry.realname
        )
        left = format_utc(entry.left_at, "%Y-%m-%d %H:%M:%S UTC")
        reply.numeric(n.RPL_WHOISSERVER, entry.nick, entry.server, left)
        found += 1
        if count and found >= count:
            break
    if not found:
        reply.numeric(n.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    reply.numeric(n.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")
