"""MONITOR (https://ircv3.net/specs/extensions/monitor) and extended-monitor
(https://ircv3.net/specs/extensions/extended-monitor): who is online, told as it changes.

The index maps a casefolded nick to the users watching it, so an event about one user (it
registers, changes nick, quits, goes away) costs a dictionary lookup and a walk over that
nick's watchers only, never a scan of every user. Each watcher's own list (casefolded nick ->
the spelling it asked for) lives in the same index, bounded by `limits.monitor_entries`
(advertised as MONITOR=<n>).

Notifications use "*" for the addressee, which the spec allows "to send the exact same message
to all clients monitoring a certain target": they go through fan-out, formatted once per tag
profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.core.commands import command
from hubbub.core.model import User
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

# Room for the targets in one 730-732 line (512 bytes, less the server name and numeric).
TARGETS_BUDGET = 380


class MonitorIndex:
    """Casefolded nick -> its watchers, and watcher -> what it monitors."""

    __slots__ = ("lists", "watchers")

    def __init__(self) -> None:
        self.watchers: dict[str, set[User]] = {}
        self.lists: dict[User, dict[str, str]] = {}

    def add(self, user: User, fold: str, nick: str) -> None:
        self.lists.setdefault(user, {})[fold] = nick
        self.watchers.setdefault(fold, set()).add(user)

    def remove(self, user: User, fold: str) -> None:
        entries = self.lists.get(user)
        if entries is None or entries.pop(fold, None) is None:
            return
        if not entries:
            del self.lists[user]
        watching = self.watchers.get(fold)
        if watching is not None:
            watching.discard(user)
            if not watching:
                del self.watchers[fold]

    def forget(self, user: User) -> None:
        """The watcher leaves: its list goes with it."""
        for fold in list(self.lists.get(user, ())):
            self.remove(user, fold)

    def of(self, fold: str) -> set[User]:
        return self.watchers.get(fold, _NOBODY)


_NOBODY: set[User] = set()


def chunks(items: Iterable[str]) -> list[str]:
    """Comma-separated lists, each short enough for one line."""
    out: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + len(item) + 1 > TARGETS_BUDGET:
            out.append(current)
            current = item
        else:
            current = f"{current},{item}" if current else item
    if current:
        out.append(current)
    return out


@command("MONITOR", 1)
def handle_monitor(server: ChatServer, reply: Reply, msg: Message) -> None:
    user = reply.session.user
    index = server.monitor
    modifier = msg.params[0]
    targets = [t for t in msg.params[1].split(",") if t] if len(msg.params) > 1 else []
    if modifier == "+":
        if not targets:
            reply.numeric(n.ERR_NEEDMOREPARAMS, "MONITOR", "Not enough parameters")
            return
        add_targets(server, reply, targets)
    elif modifier == "-":
        for target in targets:
            index.remove(user, server.fold(target))
    elif modifier.upper() == "C":
        index.forget(user)
    elif modifier.upper() == "L":
        for line in chunks(index.lists.get(user, {}).values()):
            reply.numeric(n.RPL_MONLIST, line)
        reply.numeric(n.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif modifier.upper() == "S":
        status(server, reply, list(index.lists.get(user, {}).values()))


def add_targets(server: ChatServer, reply: Reply, targets: list[str]) -> None:
    user = reply.session.user
    index = server.monitor
    limit = server.config.limits.monitor_entries
    entries = index.lists.get(user, {})
    added: list[str] = []
    refused: list[str] = []
    for target in targets:
        if not server.valid_nick(target):
            continue  # "'target' MUST be a valid nick"
        fold = server.fold(target)
        if fold in entries:
            continue  # "Targets already in the list MUST NOT be added again."
        if len(entries) >= limit:
            refused.append(target)
            continue
        index.add(user, fold, target)
        entries = index.lists[user]
        added.append(target)
    if refused:
        reply.numeric(n.ERR_MONLISTFULL, str(limit), ",".join(refused), "Monitor list is full.")
    status(server, reply, added)


def status(server: ChatServer, reply: Reply, targets: list[str]) -> None:
    if server.cluster is not None:  # users of other nodes too (hubbub.core.cluster_directory)
        server.cluster.monitor_status(reply, targets)
        return
    online: list[str] = []
    offline: list[str] = []
    for target in targets:
        found = server.find_user(target)
        if found is None:
            offline.append(target)
        else:
            online.append(found.prefix)
    for line in chunks(online):
        reply.numeric(n.RPL_MONONLINE, line)
    for line in chunks(offline):
        reply.numeric(n.RPL_MONOFFLINE, line)


# ---------------------------------------------------------------------- events


def came_online(server: ChatServer, user: User) -> None:
    """`user` registered, or took a new nick: its watchers get RPL_MONONLINE. (A user of
    another cluster node: its node tells every node, hubbub.core.cluster_directory; in a
    cluster, what each watcher was told is kept, hubbub.core.cluster_monitor.)"""
    if user.session.remote:
        return
    if server.cluster is not None:
        server.cluster.local_online(user)
        return
    nick_online(server, user.fold, user.prefix)


def nick_online(server: ChatServer, fold: str, prefix: str) -> None:
    watchers = server.monitor.of(fold)
    if watchers:
        line = f":{server.name} {n.RPL_MONONLINE} * :{prefix}"
        server.fanout(tuple(watchers), line, server.stamp())


def went_offline(server: ChatServer, nick: str, fold: str, holder: str = "") -> None:
    """A nick left the network (QUIT, or a nick change away from it); `holder`: the network
    id of the user that held it (in a cluster)."""
    if server.cluster is not None:
        server.cluster.local_offline(fold, nick, holder)
        return
    nick_offline(server, fold, nick)


def nick_offline(server: ChatServer, fold: str, nick: str) -> None:
    watchers = server.monitor.of(fold)
    if watchers:
        line = f":{server.name} {n.RPL_MONOFFLINE} * :{nick}"
        server.fanout(tuple(watchers), line, server.stamp())


def changed_nick(server: ChatServer, user: User, old_nick: str, old_fold: str, line: str) -> None:
    """A nick change: 731 for the old nick, 730 for the new one (a change of case only is
    neither), and, for extended-monitor watchers of the old nick who share no channel with
    the user (they saw nothing), the NICK line itself, so they can follow the person."""
    if old_fold == user.fold:
        return
    if user.session.remote:
        return  # its node tells every node: the NICK line, offline, online (cluster_directory)
    extended = extended_watchers(server, user, None, fold=old_fold)
    if extended:
        server.fanout(extended, line, server.stamp(), account=user.account)
    if server.cluster is not None:
        server.cluster.watched(user, "", line, old_fold)
    went_offline(server, old_nick, old_fold, user.network_id)
    came_online(server, user)


def extended_watchers(
    server: ChatServer, user: User, cap: str | None, *, fold: str | None = None
) -> list[User]:
    """Watchers of `user` with extended-monitor (and `cap`, the notification's own
    capability) who share no channel with it: those already told, as neighbours, are left
    out so nobody gets a line twice."""
    watchers = server.monitor.of(user.fold if fold is None else fold)
    if not watchers:
        return []
    channels = user.channels
    return [
        watcher
        for watcher in watchers
        if watcher is not user
        and "extended-monitor" in watcher.session.caps
        and (cap is None or cap in watcher.session.caps)
        and not any(name in channels for name in watcher.channels)
    ]


def notify(server: ChatServer, user: User, cap: str, line: str) -> None:
    """extended-monitor: an AWAY, ACCOUNT or SETNAME change of a monitored user, for the
    watchers that negotiated `cap` as well. In a cluster, the watchers of every node hear it
    from the user's own node, through the network room (hubbub.core.cluster_directory), so a
    user of another node is told about here by that event only."""
    if server.cluster is not None:
        if user.session.remote:
            return
        server.cluster.watched(user, cap, line)
    watchers = extended_watchers(server, user, cap)
    if watchers:
        server.fanout(watchers, line, server.stamp(), account=user.account)
