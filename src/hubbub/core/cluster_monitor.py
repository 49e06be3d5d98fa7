"""MONITOR across the nodes of a cluster: what each watcher on this node was told of each nick.

On one server a watcher hears `730` when a nick it monitors comes online and `731` when it goes
(hubbub.core.monitor). In a cluster the news comes from several places, in no set order: the
node's own users (at once), `online` / `offline` events of other nodes' users in the network
room, the status answer to a `MONITOR +` or `MONITOR S` (from the node's copy of a user, or
from the network directory, which takes a round trip), and a lost node's burial. Told as each
came, a watcher's last word could be false for good: told online from a copy or a directory
entry after the `offline` event had been applied here, told offline by a QUIT whose nick
another node's user had taken since, or never told offline at all when a node died before
announcing a NICK or QUIT of its user (cluster fuzz findings, thirty-sixth session).

So `ClusterMonitor` keeps, per nick (folded), the watchers here that were told it is online
and who they were told holds it (`Holder`: the user's network id, its node, its prefix), and
every piece of news goes through `online` and `offline`:

* `online` tells the watchers not told yet (730), and records the holder; a user holds one
  nick at a time, so the nick it was recorded holding before is offline (its `offline` may
  be lost with the NICK, when Redis loses events some nodes had read). The bus numbers the
  nodes' claims of nicks in the order it takes them, and an `online` carries its claim's
  number: one of a claim taken before the recorded holder's is an earlier holder's, late,
  and tells nobody.
* `offline` of a holder other than the one recorded is stale (the QUIT of a nick's earlier
  holder, applied after the new holder's `online`) and tells nobody; otherwise it tells the
  watchers told online (731).
* A status answer waits for the directory; whatever news comes meanwhile about the nicks it
  asked about (`asking`), those this node knew included, is newer and is what it tells. A
  nick it could not ask about (the bus unavailable) is told offline and asked again when the
  bus is back (`ask_again`).
* After Redis lost data every node announces its users online again and the nicks they
  gave up lately offline again (hubbub.core.cluster_directory `resync`): news some nodes
  never read.
* A lost node's burial ends with `buried`: every nick whose recorded holder lived on that
  node goes offline (`node_buried`), whatever events that node never got to send.

Its memory is bounded by the watchers' lists (`limits.monitor_entries` each): a nick is
recorded only while a watcher here was told it is online.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from hubbub.core.cluster_fields import facts_prefix, of_buried, user_key
from hubbub.core.monitor import chunks
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

__all__ = ["ClusterMonitor", "Holder", "Lookup"]

#: The directory's lookup (hubbub.core.ports `Network.lookup`): entries, or None if the bus
#: could not be asked.
Lookup = Callable[[list[str], Callable[[list[str | None] | None], None]], None]


class Holder(NamedTuple):
    """Who holds a nick, as this node was told: the user's network id ("" from a node of an
    older version, which sends none), its node, its nick!user@host, and the number the bus
    gave its node's claim of the nick (0 unknown: a directory entry, an older node)."""

    id: str
    node: str
    prefix: str
    claim: int = 0

    @property
    def nick(self) -> str:
        return self.prefix.partition("!")[0]


class Gone(NamedTuple):
    """Offline news: the network id of the user that left the nick ("": whoever held it)."""

    id: str


def holder_of(entry: str | None) -> Holder | None:
    """The holder a directory entry names (None: no entry, nobody holds the nick)."""
    if entry is None:
        return None
    facts = json.loads(entry)
    claim = facts.get("cn")
    return Holder(
        str(facts.get("id", "")),
        str(facts.get("node", "")),
        facts_prefix(facts),
        claim if type(claim) is int else 0,
    )


class ClusterMonitor:
    """The watchers of this node and what they were told (the module docstring)."""

    def __init__(self, server: ChatServer, lookup: Lookup) -> None:
        self.server = server
        self.lookup = lookup
        # Per nick (folded), the watchers here told it is online, and who holds it as they
        # were told (kept together: a nick with no watcher told has no holder recorded).
        self.told_online: dict[str, set[User]] = {}
        self.holders: dict[str, Holder] = {}
        # The same, by the holder's network id: a user holds one nick at a time.
        self.held_by: dict[str, str] = {}
        # Nicks recorded whose watchers ask the directory who holds them once the recorded
        # holder goes (`offline`): an `online` taken for an earlier holder's came since
        # (`online`), or the holder, this node's user, lost the nick to another node's
        # user and is still leaving (`ask_watchers`), or was announced holding it while
        # this node's user held it (`ask_when_left`).
        self.ask_when_gone: set[str] = set()
        # (watcher, nick) whose status is being asked: None, or the news that came meanwhile
        # (a Holder: online; Gone: offline), which the answer weighs (`_resolved`).
        self.asking: dict[tuple[User, str], Holder | Gone | None] = {}
        # Per such question, the `buried` events of the nodes whose burial ended meanwhile:
        # an answer naming a user of one of them is stale (its entry read before the burial
        # took it away), unless the user is its successor's (`of_buried`).
        self.buried_meanwhile: dict[tuple[User, str], list[Mapping[str, Any]]] = {}
        # Per watcher, the nicks whose status the directory could not be asked (told
        # offline then, asked again when the bus is back).
        self.unasked: dict[User, set[str]] = {}

    # ------------------------------------------------------------------ news

    def online(self, fold: str, holder: Holder, time_ms: int) -> None:
        """`holder` has the nick now: the watchers not told so yet hear it (730). Unless the
        holder recorded took the nick after it (their claims' numbers say so): then this is
        an earlier holder's news, sequenced late (its node's `online` waited for the bus while
        its user left the nick and another node's user took it: a cluster fuzz finding, seed
        6708361), and its `offline`, still to come, is stale too (`offline`)."""
        recorded = self.holders.get(fold)
        if recorded is not None and _claimed_before(holder, recorded):
            # Unless the recorded holder's claim was one Redis lost, and this one held
            # again (its number kept): asked again when the recorded holder goes (`offline`).
            self.ask_when_gone.add(fold)
            return
        moved_from = self.held_by.get(holder.id) if holder.id else None
        if moved_from is not None and moved_from != fold:
            # The user holds another nick now: the one it held is free, whether or not its
            # `offline` came (Redis may have lost it, with the NICK a node had read).
            self.offline(moved_from, holder.id, self.holders[moved_from].nick, time_ms)
        watchers = self.server.monitor.of(fold)
        if not watchers:
            return
        told = self.told_online.setdefault(fold, set())
        fresh = [w for w in watchers if w not in told and not self._heard(w, fold, holder)]
        told.update(fresh)
        if told:
            self._record(fold, holder)
        else:
            del self.told_online[fold]
        if fresh:
            line = f":{self.server.name} {n.RPL_MONONLINE} * :{holder.prefix}"
            self.server.fanout(fresh, line, time_ms)

    def offline(self, fold: str, holder_id: str, nick: str, time_ms: int) -> None:
        """The user `holder_id` ("": whoever) left the nick: the watchers told it is online
        hear it (731), unless they were told of another holder since (then this is stale)."""
        recorded = self.holders.get(fold)
        if not _other(recorded, holder_id):
            ask = fold in self.ask_when_gone
            told = self.told_online.pop(fold, set())
            self._forget(fold)
            gone = [watcher for watcher in self.server.monitor.of(fold) if watcher in told]
            if gone:
                line = f":{self.server.name} {n.RPL_MONOFFLINE} * :{nick}"
                self.server.fanout(gone, line, time_ms)
            if ask:
                # An `online` taken for an earlier holder's came meanwhile: it may hold the
                # nick after all (a claim Redis lost, held again under its old number), so
                # the directory says (a cluster fuzz finding, seed 6182459). Likewise when
                # the holder was this node's user, who lost the nick to another node's
                # (`ask_watchers`).
                self.ask_watchers(fold)
        if self.asking:
            for watcher in self.server.monitor.of(fold):
                key = (watcher, fold)
                if key in self.asking:
                    news = self.asking[key]
                    if not (isinstance(news, Holder) and _other(news, holder_id)):
                        self.asking[key] = Gone(holder_id)

    def node_buried(self, event: Mapping[str, Any], time_ms: int) -> None:
        """A lost node's burial is over (its `buried` `event`): the nicks its users held, as
        told here, are offline (a NICK or QUIT it never announced included); not those of
        its successor's users (`of_buried`)."""
        dead = str(event["d"])
        for fold, holder in list(self.holders.items()):
            if holder.node == dead and of_buried(holder.id, event):
                self.offline(fold, holder.id, holder.nick, time_ms)
        for key, news in self.asking.items():
            if isinstance(news, Holder) and news.node == dead and of_buried(news.id, event):
                self.asking[key] = Gone(news.id)
            self.buried_meanwhile.setdefault(key, []).append(event)

    def _record(self, fold: str, holder: Holder) -> None:
        self._forget(fold)
        self.holders[fold] = holder
        if holder.id:
            self.held_by[holder.id] = fold

    def _forget(self, fold: str) -> None:
        self.ask_when_gone.discard(fold)
        gone = self.holders.pop(fold, None)
        if gone is not None and self.held_by.get(gone.id) == fold:
            del self.held_by[gone.id]

    def _resolved(self, watcher: User, fold: str, read: Holder | None) -> Holder | None:
        """A question answered: who holds `fold` for `watcher`, from the news that came
        meanwhile and what was `read` (the directory's entry, or this node's copy when
        asked). Online news is the newest, unless its claim of the nick was taken before the
        read holder's (an earlier holder's `online`, sequenced late); an `offline` of another
        holder than the one read is stale (the QUIT of an earlier holder); a holder on a node
        buried meanwhile is gone (its entry read before the burial took it away)."""
        key = (watcher, fold)
        news = self.asking.pop(key, None)
        burials = self.buried_meanwhile.pop(key, [])
        holder = news if isinstance(news, Holder) else read
        if isinstance(news, Holder) and read is not None and _claimed_before(news, read):
            holder = read  # (the news is an earlier holder's, sequenced late: `online`)
        if isinstance(news, Gone) and not (holder is not None and _other(holder, news.id)):
            holder = None
        if holder is not None and any(
            holder.node == burial["d"] and of_buried(holder.id, burial) for burial in burials
        ):
            holder = None
        return holder

    def _heard(self, watcher: User, fold: str, news: Holder) -> bool:
        """Online news about `fold` while `watcher`'s status of it is being asked: kept for
        the answer (True), which tells it."""
        if (watcher, fold) not in self.asking:
            return False
        self.asking[(watcher, fold)] = news
        return True

    # ------------------------------------------------------------------ watchers

    def status(
        self, reply: Reply, targets: list[str], known: Callable[[str], Holder | None]
    ) -> None:
        """The 730/731 of `targets` for the watcher of `reply`: those `known` here (this
        node's copy, as it is when asked) and, through the directory, the others."""
        server = self.server
        watcher = reply.session.user
        folds = [server.fold(target) for target in targets]
        found = {fold: known(target) for target, fold in zip(targets, folds, strict=True)}
        unknown = [fold for fold in dict.fromkeys(folds) if found[fold] is None]
        if not unknown:
            self._tell(reply, watcher, [(target, found[server.fold(target)]) for target in targets])
            return

        def answered(later: Reply, entries: list[str | None] | None) -> None:
            if entries is None and not later.session.closed:  # not asked: again when back
                self.unasked.setdefault(watcher, set()).update(unknown)
            read = dict(zip(unknown, entries or [None] * len(unknown), strict=True))
            results: list[tuple[str, Holder | None]] = []
            for target, fold in zip(targets, folds, strict=True):
                # (Known here when asked: as it was then, news of any change since coming.)
                known_then = holder_of(read[fold]) if fold in read else found[fold]
                results.append((target, self._resolved(watcher, fold, known_then)))
            self._tell(later, watcher, results)

        for fold in folds:
            self.asking[(watcher, fold)] = None
        self.lookup([user_key(fold) for fold in unknown], reply.later(answered))

    def _tell(
        self, reply: Reply, watcher: User, results: Iterable[tuple[str, Holder | None]]
    ) -> None:
        """A status answer, and what its watcher was told (a holder recorded from events is
        kept: the events go on from it)."""
        online: list[str] = []
        offline: list[str] = []
        for target, holder in results:
            fold = self.server.fold(target)
            if holder is None:
                self._untold(watcher, fold)
                offline.append(target)
            else:
                self._told(watcher, fold, holder)
                online.append(holder.prefix)
        for line in chunks(online):
            reply.numeric(n.RPL_MONONLINE, line)
        for line in chunks(offline):
            reply.numeric(n.RPL_MONOFFLINE, line)

    def _told(self, watcher: User, fold: str, holder: Holder) -> None:
        """`watcher` was told `holder` has `fold` (a holder recorded from events is kept: the
        events go on from it)."""
        self.told_online.setdefault(fold, set()).add(watcher)
        if fold not in self.holders:
            self._record(fold, holder)

    def _untold(self, watcher: User, fold: str) -> None:
        told = self.told_online.get(fold)
        if told is not None:
            told.discard(watcher)
            if not told:
                del self.told_online[fold]
                self._forget(fold)

    def watcher_left(self, watcher: User, folds: Iterable[str]) -> None:
        """A watcher quit: it is told nothing more (`folds`: its list)."""
        for key in [key for key in self.asking if key[0] is watcher]:
            del self.asking[key]
            self.buried_meanwhile.pop(key, None)
        self.unasked.pop(watcher, None)
        for fold in folds:
            self._untold(watcher, fold)

    def ask_again(self) -> None:
        """The bus is back: the nicks the directory could not be asked about, still listed
        and not told online since, are asked again, and those found online told (730)."""
        unasked, self.unasked = self.unasked, {}
        for watcher, folds in unasked.items():
            listed = self.server.monitor.lists.get(watcher, {})
            wanted = [
                fold
                for fold in sorted(folds)
                if fold in listed and watcher not in self.told_online.get(fold, ())
            ]
            if wanted and not watcher.session.closed:
                self._ask_again(watcher, wanted)

    def ask_watchers(self, fold: str) -> None:
        """Another node's user holds `fold` now, this node's holder having lost it to them
        (hubbub.core.cluster_propose `_reclaimed`): its watchers here, told it went offline,
        are told who holds it from the directory. (Its `online` came while this node's user
        still held it, and looked like news of an earlier holder: a cluster fuzz finding,
        seed 6706940.) Those still told this node's user holds it are asked once its
        `offline` came: it leaves after its claim's release, a bus round trip later
        (hubbub.core.server `quit`), and an answer before then would be overtaken by it (seed
        6783824)."""
        self.ask_when_left(fold)  # (those told its user holds it)
        told = self.told_online.get(fold, ())
        watchers = self.server.monitor.watchers.get(fold, set())
        for watcher in sorted(watchers, key=lambda user: user.fold):
            if not watcher.session.closed and watcher not in told:
                self._ask_again(watcher, [fold])

    def ask_when_left(self, fold: str) -> None:
        """Another node's user was announced holding `fold` while this node's user holds it
        (hubbub.core.cluster_directory `_held_here`): the watchers told this node's user
        holds it ask the directory once it leaves the nick (`offline`). The news is an
        earlier holder's, applied late, or that of a user whose node took the claim after
        Redis lost it, before this node learned its user lost the nick (`ask_watchers`,
        which the user's QUIT or NICK may come before: a cluster fuzz finding, fifty-third
        session)."""
        if self.told_online.get(fold):
            self.ask_when_gone.add(fold)

    def _ask_again(self, watcher: User, wanted: list[str]) -> None:
        for fold in wanted:
            self.asking[(watcher, fold)] = None

        def answered(entries: list[str | None] | None) -> None:
            if watcher.session.closed:
                return
            if entries is None:  # gone again: asked when it is back
                self.unasked.setdefault(watcher, set()).update(wanted)
            online: list[str] = []
            for fold, entry in zip(wanted, entries or [None] * len(wanted), strict=True):
                holder = self._resolved(watcher, fold, holder_of(entry))
                if holder is not None and watcher not in self.told_online.get(fold, ()):
                    self._told(watcher, fold, holder)
                    online.append(holder.prefix)
            server = self.server
            for line in chunks(online):
                status = f":{server.name} {n.RPL_MONONLINE} * :{line}"
                server.fanout([watcher], status, server.stamp())

        self.lookup([user_key(fold) for fold in wanted], answered)


def _claimed_before(news: Holder, known: Holder) -> bool:
    """Whether `news` is of another user than `known`, whose node's claim of the nick the bus
    took before `known`'s (both numbered): news of an earlier holder."""
    return 0 < news.claim < known.claim and _other(known, news.id)


def _other(recorded: Holder | None, holder_id: str) -> bool:
    """Whether `recorded` is known to be another user than `holder_id` (either unknown: no)."""
    return (
        recorded is not None and bool(recorded.id) and bool(holder_id) and recorded.id != holder_id
    )
