"""History privacy: who may read which history.

* **Rooms.** Each room has a history access (`Channel.history_access`, or
  `history.default_access` when the room has not chosen): `everyone` who joins reads it all;
  `since_join` reads only what was said after its JOIN (no join replay; CHATHISTORY is clipped
  to records after the membership began); `registered` reads only when logged in to an account.
  A room's operators choose with `/msg ChanServ SET #room HISTORY …` (hubbub.core.chanserv).
* **Re-created rooms.** History outlives a room (it is durable and keyed by name), an
  unregistered room's modes and ops do not. So nobody reads, and no op redacts, what a room said
  before it was last created (`Channel.history_since_ms`): once a room empties, or the server
  restarts, whoever creates it anew gets a room without a past. A registered room (ChanServ)
  is not re-created: it stays when empty and is restored at start-up with its saved creation
  time, so its history stays readable under its saved rules.
* **Private messages** are read only by their two parties. Between two logged-in users the
  conversation is keyed by their *accounts' stable ids* (`dm_key("~alice!3f…", "~bob!9c…")`:
  "~" is not a nick character, so the key never meets a nick key; an account made before ids
  existed has its bare name as id), so it survives reconnects and nick changes and is readable
  by whoever logs in to one of the two accounts, and by nobody else — not by whoever registers
  a name again after its account was dropped: that is a new account with a new id. A side that is
  not logged in is keyed by its nick (`dm_key("~alice", "bob")` when only alice is logged in,
  `dm_key("alice", "bob")` when neither is), and a user reads what is keyed by its nick only
  since it *took its current nick* (registered with it, or changed to it): whoever takes a nick
  next must not read its predecessor's messages, even on a connection that signed on long
  before. The account side reads all of it.

Everything here is a pure decision on the loop; the store does not know about access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.accounts.model import account_name
from hubbub.history.record import dm_key, dm_parties

if TYPE_CHECKING:
    from hubbub.core.model import Channel, User
    from hubbub.core.server import ChatServer

EVERYONE, SINCE_JOIN, REGISTERED = "everyone", "since_join", "registered"
ACCOUNT_PARTY = "~"


def access_of(server: ChatServer, channel: Channel) -> str:
    return channel.history_access or server.config.history.default_access


def channel_floor(server: ChatServer, channel: Channel, user: User) -> int | None:
    """The oldest time (ms) of the room's history this member may read: 0 for all of it, None
    for none (not a member, or not logged in under `registered`). Never older than the room's
    own creation (see "Re-created rooms" above)."""
    standing = channel.members.get(user)
    if standing is None:
        return None
    access = access_of(server, channel)
    if access == REGISTERED and not user.account:
        return None
    if access == SINCE_JOIN:
        return max(1, standing.joined_ms, channel.history_since_ms)
    return channel.history_since_ms


def replay_floor(server: ChatServer, channel: Channel, user: User) -> int | None:
    """The oldest time (ms) a newcomer's join replay may show, or None for no replay (no
    access, or `since_join`: nothing predates the JOIN)."""
    if access_of(server, channel) == SINCE_JOIN:
        return None
    return channel_floor(server, channel, user)


def nick_floor(user: User) -> int:
    """The oldest time (ms) of nick-keyed private history `user` may read: when it took its
    nick (`User.nick_since_ms`). A nick alone is no identity; the connection's sign-on time is
    not a floor either, as a connection may take a nick freed long after it signed on."""
    return max(1, user.nick_since_ms)


def party(server: ChatServer, account_id: str) -> str:
    """An account (its stable id) as one party of a private-conversation key."""
    return ACCOUNT_PARTY + server.fold(account_id)


def dm_store_key(server: ChatServer, sender: User, recipient: User) -> str:
    """The key a private message between these two is stored under: each side by its account
    when it has one, else by its nick (so a logged-in user keeps its conversations with
    users who are not logged in, from any later connection)."""
    return dm_key(side(server, sender), side(server, recipient))


def side(server: ChatServer, user: User) -> str:
    return party(server, user.account_id) if user.account_id else user.fold


def dm_read_keys(server: ChatServer, user: User, target: str) -> list[tuple[str, bool]]:
    """Every (key, by_account) the conversation of `user` with `target` may be stored under.

    by_account True: `user`'s side is its account, so all of it is `user`'s to read. False:
    `user`'s side is its nick, which the caller clips to this connection (since it signed
    on). The other side: the account of the user online under `target`, or when nobody is,
    the account named `target` if there is one; and the nick `target`, for messages
    exchanged while that side was not logged in.
    """
    fold = server.fold(target)
    others = [fold]
    online = server.users.get(fold)
    if online is not None and online.session.registered:
        if online.account_id:
            others.append(party(server, online.account_id))
    elif fold in server.accounts.ids:
        others.append(party(server, server.accounts.ids[fold]))
    if server.cluster is not None:  # a user of another node written to (cluster_private)
        remembered = server.cluster.remote_side(fold)
        if remembered and remembered not in others:
            others.append(remembered)
    mine = [(user.fold, False)]
    if user.account_id:
        mine.insert(0, (party(server, user.account_id), True))
    return [(dm_key(me, other), by_account) for me, by_account in mine for other in others]


def dm_read_key(server: ChatServer, user: User, target: str) -> tuple[str, bool]:
    """(key, by_account): the private conversation with `target` as `user` reads it.

    A logged-in user reads by account when the other side is logged in too, or is not online
    and `target` names a registered account. by_account False means nick-keyed: the caller
    must clip it to when the user took its nick (`nick_floor`).
    """
    fold = server.fold(target)
    if user.account_id:
        me = party(server, user.account_id)
        other = server.users.get(fold)
        if other is not None and other.session.registered:
            if other.account_id:
                return dm_key(me, party(server, other.account_id)), True
            return dm_key(me, fold), True
        elif fold in server.accounts.ids:
            return dm_key(me, party(server, server.accounts.ids[fold])), True
        return dm_key(me, fold), True
    return dm_key(user.fold, fold), False


def dm_partner_name(server: ChatServer, key: str, me: tuple[str, ...]) -> str | None:
    """The name under which `key`'s other party is shown (CHATHISTORY TARGETS): an online
    user's nick (for an account party: someone logged in to it), or the casefolded name. None
    if `key` is not a private conversation of one of `me` (my nick fold, my account party)."""
    parties = dm_parties(key)
    if parties is None:
        return None
    if parties[0] in me:
        other = parties[1]
    elif parties[1] in me:
        other = parties[0]
    else:
        return None
    if other.startswith(ACCOUNT_PARTY):
        account_id = other[1:]
        for someone in server.registered_users():
            if someone.account_id and server.fold(someone.account_id) == account_id:
                return someone.nick
        return account_name(account_id)
    online = server.users.get(other)
    return online.nick if online is not None else other
