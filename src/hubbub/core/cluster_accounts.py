"""Accounts network-wide: registrations, drops and logins announced to the other nodes.

Two kinds of announcement, routed differently because they concern different nodes:

* **Which account names exist** concerns every node (nick ownership, REGISTER before
  connecting, the private-history key of an offline party), whether or not it shares a room
  with anyone involved. Every node follows one bus room, `ACCOUNTS_ROOM`, from its start: a
  registration (`account`) or a drop (`dropped`) is sequenced there once, after the store
  committed it, and every node adds the name to (or takes it from) `server.accounts.names` /
  `ids` when it comes back. The room is an ordinary sequenced room to the bus (in order, gaps
  filled from its stream), so nothing new is needed from the bus. A node whose announcement
  was refused (the bus unavailable) asks every node to read the names from the store again
  when the bus is back (`reload`), as does a node that lost the bus itself (its stream may have
  been lost with a restarted Redis).
* **Who is logged in as what** concerns the nodes that know the user: those sharing a room with
  it. A login or logout (SASL, NickServ IDENTIFY, LOGOUT, a dropped account) is sequenced in
  each of the user's rooms (`login`), with the user's member field rewritten atomically, so a
  node that opens the room later reads the current account too. The first of those events a
  node applies changes its copy of the user (WHOIS 330, WHOX, account-tag, extended-join facts)
  and sends account-notify to its own users sharing a room; the others find it done. Each
  carries the user's change number (`v`) from its home node, so the events of two quick
  changes, applied room by room in whatever interleaving, never set the older one last.

See hubbub.core.network for the rest of the cluster's core.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_apply import ClusterApply
from hubbub.core.cluster_fields import ACCOUNT_VERSION
from hubbub.core.cluster_versions import ChangeNumbers
from hubbub.core.login import logout, notify_account
from hubbub.core.model import Channel, User
from hubbub.core.ownership import check_nick
from hubbub.core.ports import CallFailure

if TYPE_CHECKING:
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.accounts")

#: The bus room every node follows for account registrations and drops.
ACCOUNTS_ROOM = "~accounts"


class ClusterAccounts(ClusterApply):
    """Announces account registrations, drops and logins, and applies the others' nodes'."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # The change number of the last login/logout applied here, per remote user.
        self.account_versions = ChangeNumbers()
        # This node's change numbers (per node: a user's changes all come from its home).
        self.account_serial = 0
        # Local users whose login/logout could not be sequenced: sent again when the bus is.
        self.account_unsent: dict[User, None] = {}  # (ordered: sent again as they came)
        # Local users who logged in or out while a NICK of theirs was on its way: sent once
        # it has settled (`_nick_settled`).
        self.account_after_nick: dict[User, None] = {}
        self.after_nick_by_kind["login"] = self.account_after_nick
        # Per local user, the number of its last login or logout (`_own_join_back`).
        self.account_changes: dict[User, int] = {}
        # The bus refused an announcement of ours: every node reloads the names when it is back.
        self.accounts_stale = False
        # While a reload from the store is on its way: the names announced meanwhile (their
        # id, or None for a drop), which win over what the store answers.
        self.announced_during_reload: dict[str, str | None] | None = None
        self.accounts_followed = False
        network.open(ACCOUNTS_ROOM, self._accounts_opened)

    def _accounts_opened(self, fields: Any, seq: int) -> None:
        # Refused (the bus unavailable): opened again when it is back (set_available).
        self.accounts_followed = fields is not None

    # ------------------------------------------------------------------ announcing

    def account_registered(self, fold: str, account_id: str) -> None:
        """An account was created in the store here: every node learns its name."""
        self._announce_account({"t": "account", "n": fold, "i": account_id})

    def account_dropped(self, fold: str) -> None:
        """An account was deleted from the store here: every node forgets its name, and the
        nodes with users logged in to it log them out."""
        self._announce_account({"t": "dropped", "n": fold})

    def _announce_account(self, event: dict[str, Any]) -> None:
        def refused(_room: str) -> None:
            log.warning("account %s could not be announced; the nodes reload names later", event)
            self.accounts_stale = True

        self.submit(None, ACCOUNTS_ROOM, event, None, refused=refused)

    def account_changed(self, user: User) -> None:
        """A local user logged in or out: the nodes sharing a room with it follow."""
        if user.session.remote:
            return
        # (Numbered even in no room: the facts its JOINs carry from now on are newer.)
        self.account_serial += 1
        self.account_changes[user] = self.account_serial
        if not user.channels:
            return
        if self._renaming(user):
            # (Sent now, it named a nick the other nodes may not know yet: as a change of its
            # away state or metadata.)
            self.account_after_nick[user] = None
            return
        for channel in list(user.channels.values()):
            self._send_login(user, channel)

    def _send_login(self, user: User, channel: Channel) -> None:
        """A local user's account as it is now, numbered with its last change, to one room."""
        event = {
            "t": "login",
            "f": user.fold,
            "id": user.network_id,
            "a": user.account,
            "ai": user.account_id,
            "v": self.account_changes[user],
        }
        # Its member field only if it is a member there still when the event is sequenced
        # (written unconditionally, a KICK or PART sequenced just before it had the field
        # back: a cluster fuzz finding, seed 6676345).
        self.submit_user_state(user, channel, event, self.account_unsent)

    def _nick_settled(self, user: User) -> None:
        super()._nick_settled(user)
        if user in self.account_after_nick:
            del self.account_after_nick[user]
            if not user.session.closed:
                self.account_changed(user)

    def own_facts(self, user: User) -> dict[str, Any]:
        facts = super().own_facts(user)
        facts[ACCOUNT_VERSION] = self.account_serial
        return facts

    # ------------------------------------------------------------------ applying

    def _state_from_facts(self, user: User, facts: Mapping[str, Any], time_ms: int) -> None:
        """A remote user's account from facts its node made (a JOIN's, a member field's, a
        sync's) where they are newer than the login events applied here: a login whose
        events Redis lost after some nodes had read them reaches the others only so."""
        super()._state_from_facts(user, facts, time_ms)
        version = int(facts.get(ACCOUNT_VERSION) or 0)
        if version and self.account_versions.take(user, version, self.server.users):
            self._load_account(user, str(facts.get("a") or ""), str(facts.get("ai") or ""))

    def _load_account(self, user: User, account: str, account_id: str) -> None:
        if (user.account, user.account_id) == (account, account_id):
            return
        user.account, user.account_id = account, account_id
        notify_account(self.server, user)  # account-notify to the users here sharing a room

    def _apply_registered(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        accounts = self.server.accounts
        fold = event["n"]
        accounts.names.add(fold)
        accounts.ids[fold] = event["i"]
        if self.announced_during_reload is not None:
            self.announced_during_reload[fold] = event["i"]
        holder = self.server.users.get(fold)
        if holder is not None and not holder.session.remote and holder.session.registered:
            # Someone here is on a nick that just became an account's: the usual ownership
            # rules start now (a warning and a deadline, hubbub.core.ownership).
            check_nick(self.server, holder)

    def _apply_dropped(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        server = self.server
        fold = event["n"]
        server.accounts.names.discard(fold)
        server.accounts.ids.pop(fold, None)
        if self.announced_during_reload is not None:
            self.announced_during_reload[fold] = None
        if mine:
            return  # its users were logged out where it was dropped (hubbub.core.nickserv)
        for user in list(server.registered_users()):
            if user.account and server.fold(user.account) == fold and not user.session.remote:
                logout(server, user)

    def _apply_reload(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        self.reload_account_names()

    def reload_account_names(self) -> None:
        """Read every account name from the store again (an announcement may be lost)."""
        if self.announced_during_reload is not None:
            return  # one is on its way: it answers with what the store holds then
        self.announced_during_reload = {}
        accounts = self.server.accounts

        def loaded(ids: Any) -> None:
            announced, self.announced_during_reload = self.announced_during_reload or {}, None
            if isinstance(ids, CallFailure):
                log.error("could not reload the account names from the store")
                return
            # What the store holds, then what was announced while it was being read.
            current = dict(ids)
            for fold, account_id in announced.items():
                if account_id is None:
                    current.pop(fold, None)
                else:
                    current[fold] = account_id
            accounts.names = set(current)
            accounts.ids = current

        accounts.call(lambda store: store.ids(), loaded)

    def _apply_login(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        server = self.server
        # (By its network id too, as a user's metadata: the nick may be another user's here.)
        user = self.event_sender(channel, event)
        if mine or user is None or not user.session.remote:
            return  # ours: changed and told here when it happened
        if self.account_versions.take(user, int(event["v"]), server.users):
            self._load_account(user, event["a"], event["ai"])

    def _own_join_back(self, user: User, channel: Channel, facts: Mapping[str, Any]) -> None:
        super()._own_join_back(user, channel, facts)
        # Logged in or out after its JOIN's facts were made (another user dropped its
        # account, a moment after the JOIN was sent): the room hears it now, behind the JOIN.
        # (Its member field kept the old account for good: a cluster fuzz finding, seed
        # 6676723.)
        if int(facts.get(ACCOUNT_VERSION) or 0) < self.account_changes.get(user, 0):
            self._send_login(user, channel)

    def _forget(self, user: User) -> None:
        self.account_versions.forget(user)
        self.account_changes.pop(user, None)
        self.account_unsent.pop(user, None)
        self.account_after_nick.pop(user, None)
        super()._forget(user)

    def _restored(self, fold: str) -> None:
        super()._restored(fold)
        # (A login refused while the room was not written back after Redis lost its data: the
        # bus was there all along, so no `set_available` sent it again, and the other nodes
        # showed the user logged out until the next outage: a cluster fuzz finding, seed
        # 6675642.)
        self.send_again_in(fold, self.account_unsent, self.account_changed)

    # ------------------------------------------------------------------ the bus comes back

    def set_available(self, available: bool) -> None:
        super().set_available(available)
        if not available:
            return
        if not self.accounts_followed:
            self.network.open(ACCOUNTS_ROOM, self._accounts_opened)
        # Events sequenced while this node was away come from the room's stream, unless a
        # restarted Redis lost them: the store says which accounts exist.
        self.reload_account_names()
        if self.accounts_stale:
            self.accounts_stale = False
            self._announce_account({"t": "reload"})
        unsent, self.account_unsent = self.account_unsent, {}
        for user in unsent:
            if not user.session.closed:
                self.account_changed(user)
        for user in list(self.account_after_nick):  # a NICK given up on the return
            if not self._renaming(user):
                self._nick_settled(user)


#: Events applied outside any channel (in ACCOUNTS_ROOM), by kind.
ACCOUNT_EVENTS = {
    "account": ClusterAccounts._apply_registered,
    "dropped": ClusterAccounts._apply_dropped,
    "reload": ClusterAccounts._apply_reload,
}

#: Room events, by kind (hubbub.core.cluster_apply's APPLIERS).
ACCOUNT_APPLIERS = {"login": ClusterAccounts._apply_login}
