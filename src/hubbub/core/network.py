"""Cluster mode in the core: room events sequenced network-wide, applied in sequence order.

With a `Network` port (hubbub.core.ports; hubbub.cluster.node implements it over the Redis
bus), several hubbub nodes are one network. A room event — PRIVMSG / NOTICE / TAGMSG to a
channel, JOIN, PART, QUIT, NICK, TOPIC, KICK — is not applied where it is said: the handler
checks it against this node's view of the room, hands a payload to `Network.sequence`, and the
command's reply waits (`Reply.later`, so the client's later commands wait behind it, in order).
The bus numbers the event for its room and gives it back to every node that has members there;
`ChatServer.apply_sequenced` then applies it — room state, delivery to local members, history —
in the same order everywhere. The sender's own echo and labeled response come then too. Refused
by the bus (unavailable): `FAIL <command> TEMPORARILY_UNAVAILABLE`, nothing accepted.

Remote users. A member on another node is a `User` whose session's link is `model.NOWHERE`:
it is in `channel.members` and `server.users` (NAMES, WHO, WHOIS, LIST counts, nick lookups see
it) but never in `server.sessions` (nothing counts it as local), and the fan-out groups skip it
(its own node delivers to it). A node knows the users of the rooms it is subscribed to: the
room's state fields (`m:<fold>` and `s:<fold>` per member, `topic`, `modes`, `room`,
`meta:<key>`), kept by the bus
atomically with the sequence numbers, rebuild them when a node opens a room. MONITOR watchers
here hear a remote user come online and go offline through the network room
(hubbub.core.cluster_directory), whatever rooms this node follows with it.

A local user who quits stays in its rooms without a connection (its link becomes NOWHERE) until
its QUIT comes back from each of them; its nick claim is released by the bus with its last
QUIT, atomically, so the nick is free on every node by the time anyone sees it quit, and every
node applies its QUITs before any event of whoever takes the nick next.

Nicks are unique network-wide through the bus's claims (`nick:<fold>`): registration and NICK
wait for the claim. msgids are made here (the per-process random prefix and a counter are unique
network-wide already); the time of a sequenced event is the bus's (`time_ms`), which never goes
backwards within a room.

History: a room message is written to the store (PostgreSQL in a cluster, where the writes are
idempotent by (target, msgid)) by the node that sent it; the other nodes hold it until its node
says it is committed, and write it themselves before anything else they write in the room,
before a read, and when its node's users are QUIT by the janitor (hubbub.core.cluster_history).
So the store's append order is the room's sequence order, CHATHISTORY answers the same, in the
live order, on every node, and an event is missing from history only if every node in its room
died before writing it (see docs/cluster.md, "History").

Channel MODE is worked out on a copy of the room (the numerics for what is refused come at once)
and sequenced as the changes that take effect, with the room's whole mode state as a field.

Private messages to a user of another node go through that node's inbox room (`ports.inbox`).

AWAY and user modes, INVITE and KILL of users of other nodes, and server bans (K-/D-lines)
travel as hubbub.core.cluster_users says. Users and rooms this node does not follow are
asked about in the network directory (WHOIS, WHO of a nick, MONITOR, LIST), and MONITOR's
online/offline, SETNAME and WALLOPS of other nodes' users travel as
hubbub.core.cluster_directory says.

Accounts (hubbub.core.cluster_accounts): every node follows one more room, `~accounts`, where
registrations and drops are announced; a login or logout is sequenced in the user's rooms.

Where it lives: `ClusterState` (this module) is the one object the ChatServer holds, built
in layers, each its own module with one job —
* hubbub.core.cluster_fields: payloads and room state fields (pure encoding);
* hubbub.core.cluster_rooms: the rooms and remote users this node follows, and `submit`;
* hubbub.core.cluster_history: which node writes which room message to the shared history;
* hubbub.core.cluster_apply: applying sequenced events (and the QUITs of users gone);
* hubbub.core.cluster_propose: each command's events handed to the bus;
* hubbub.core.cluster_users: users' away state and modes, INVITE, KILL, server bans;
* hubbub.core.cluster_directory: the network directory (WHOIS, WHO, MONITOR, LIST of what
  this node does not follow), SETNAME, WALLOPS;
* hubbub.core.cluster_accounts: account registrations, drops and logins announced;
* hubbub.core.cluster_registry: ChanServ registrations announced, known on every node, and a
  registered room's saved state when it is created anew;
* hubbub.core.cluster_messages: REDACT and EDIT in rooms, METADATA, read markers;
* hubbub.core.cluster_multiline: multiline (draft/multiline) messages, one event each;
* hubbub.core.cluster_rename: RENAME of a room, sequenced in its order, the state moved.
* hubbub.core.cluster_private: private messages to a logged-in user of another node
  stored under its account (the directory entry follows logins);
* hubbub.core.cluster_replay: the join replay and CHATHISTORY LATEST of a room this node just
  opened, from the store and the bus's stream of the room.
`ClusterState` itself adds the outermost `submit`: what must go to the bus before any event
of a user (its NICK a room refused and keeps) goes there first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_accounts import ACCOUNT_APPLIERS, ACCOUNT_EVENTS, ClusterAccounts
from hubbub.core.cluster_apply import APPLIERS
from hubbub.core.cluster_directory import DIRECTORY_APPLIERS, DIRECTORY_EVENTS, ClusterDirectory
from hubbub.core.cluster_fields import (
    BURIAL_PASSES,
    NODE_LOST_REASON,
    asks_of_burial,
    buried_payload,
    member_field,
    member_field_names,
    member_homes,
    member_leaves,
    nick_key,
    offline_payload,
    quit_payload,
    quits_of_lost_node,
    user_key,
)
from hubbub.core.cluster_messages import MESSAGE_APPLIERS, MESSAGE_EVENTS, ClusterMessages
from hubbub.core.cluster_multiline import MULTILINE_APPLIERS, MULTILINE_EVENTS, ClusterMultiline
from hubbub.core.cluster_private import ClusterPrivate
from hubbub.core.cluster_registry import REGISTRY_EVENTS
from hubbub.core.cluster_rename import RENAME_APPLIERS, RENAME_EVENTS, ClusterRename
from hubbub.core.cluster_replay import REPLAY_EVENTS, ClusterReplay
from hubbub.core.cluster_resync import RESYNC_EVENTS
from hubbub.core.cluster_users import USER_APPLIERS, USER_EVENTS

if TYPE_CHECKING:
    from hubbub.core.reply import Reply

__all__ = [
    "BURIAL_PASSES",
    "NODE_LOST_REASON",
    "ClusterState",
    "asks_of_burial",
    "buried_payload",
    "member_field",
    "member_field_names",
    "member_homes",
    "member_leaves",
    "nick_key",
    "offline_payload",
    "quit_payload",
    "quits_of_lost_node",
    "user_key",
]


class ClusterState(
    ClusterRename,
    ClusterMultiline,
    ClusterReplay,
    ClusterMessages,
    ClusterPrivate,
    ClusterAccounts,
    ClusterDirectory,
):
    """The core's side of the cluster: what waits on the bus, and applying what it sends."""

    # Later tables win: a layer that extends an applier of a layer below registers its own.
    appliers = {
        **APPLIERS,
        **USER_APPLIERS,
        **DIRECTORY_APPLIERS,
        **ACCOUNT_APPLIERS,
        **MESSAGE_APPLIERS,
        **MULTILINE_APPLIERS,
        **RENAME_APPLIERS,
    }
    roomless = {
        **USER_EVENTS,
        **DIRECTORY_EVENTS,
        **ACCOUNT_EVENTS,
        **REGISTRY_EVENTS,
        **REPLAY_EVENTS,
        **MESSAGE_EVENTS,
        **MULTILINE_EVENTS,
        **RENAME_EVENTS,
        **RESYNC_EVENTS,
    }

    def submit(
        self, reply: Reply | None, room: str, event: dict[str, Any], *rest: Any, **named: Any
    ) -> None:
        """Hand one room event to the bus (hubbub.core.cluster_rooms `submit`, where the
        other arguments are): after its local sender's NICK that the room refused and keeps,
        if any (`nicks_first`). Done here, before every layer's `submit`, because
        hubbub.core.cluster_rename numbers the event ahead of the layers below it: a NICK sent
        from further down would take its number."""
        if self.unsent_nicks:
            identity = event.get("id")
            if identity:
                self.nicks_first(str(identity), room)
        super().submit(reply, room, event, *rest, **named)
