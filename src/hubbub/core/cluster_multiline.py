"""Multiline messages (`draft/multiline` batches) across nodes: one sequenced event each.

A client's closed multiline batch (hubbub.core.multiline) to a room, or to a user of another
node, is not delivered where it was sent: it is sequenced once, as one event carrying the
whole message — its msgid, its lines exactly as composed (each with its concat flag), its
client-only tags and the sender's prefix and account — in the room (`mlmsg`), or in the
recipient's node's inbox room (`mldm`, as a private message travels: hubbub.core.network).
Every node that applies it delivers it to its own members with the single-node path
(`multiline.Outgoing`: the same BATCH, with the bus's time and the one msgid, to the clients
with the capability; the fallback lines to the others; formatted once per profile and kind)
and stores it as the single-node server does, one record whose text is the combined message,
so CHATHISTORY on any node replays the same batch. The store's writes are idempotent by msgid,
so the nodes of a room writing the same record store it once.

The sender's echo (as a batch, or its fallback lines) comes when the event is back from the
bus, as for a single-line message; refused by the bus: `FAIL BATCH TEMPORARILY_UNAVAILABLE`,
nothing delivered anywhere.

Size: the bus has no event size limit of its own (a payload is one Redis bulk string, 512 MB at
most, and one pub/sub message); a multiline message within the server's limits
(`limits.multiline_max_bytes`, at most 65,536 bytes, and `limits.multiline_max_lines`) is at
most about six times its bytes as JSON (a control character is escaped as six bytes), under
400 kB: far below Redis's default pub/sub output buffer limits (8 MB sustained for 60 s,
32 MB at once) for one event, so nothing within the limits is refused for its size. The
room's stream keeps `cluster.stream_length` events whatever their size, so a room flooded
with maximal multiline messages holds that many of them in Redis's memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubbub.core.cluster_fields import UNAVAILABLE, local
from hubbub.core.cluster_propose import ClusterPropose
from hubbub.core.messaging import refuse_unstorable
from hubbub.core.multiline import Outgoing, combine
from hubbub.core.ports import inbox
from hubbub.core.privacy import side
from hubbub.core.redact import remember_sent
from hubbub.history.policy import stored_tags
from hubbub.history.record import Record, dm_key
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubbub.core.model import Channel, User
    from hubbub.core.reply import Reply

#: A multiline message's lines: (text, joined to the previous line without a line feed).
Lines = list[tuple[str, bool]]


class ClusterMultiline(ClusterPropose):
    """Sequences multiline messages and applies them on every node."""

    def multiline(
        self,
        reply: Reply,
        channel: Channel,
        sender: User,
        lines: Lines,
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> None:
        """A multiline message to a room, checked here (hubbub.core.multiline.deliver)."""
        event = self._event("mlmsg", sender, channel.name, lines, client_tags, stored)
        name = channel.name

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("BATCH", "TEMPORARILY_UNAVAILABLE", name, text=UNAVAILABLE)
                return
            time_ms, sent = result
            if sent.get("refused"):  # by the room as it was at its place in the sequence
                later.numeric(n.ERR_CANNOTSENDTOCHAN, name, "Cannot send to channel")
                return
            self._echo(later, sent, time_ms)

        self.submit(reply, channel.fold, event, done)

    def multiline_direct(
        self,
        reply: Reply,
        sender: User,
        recipient: User,
        lines: Lines,
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> None:
        """A multiline message to a known user of another node (one sharing a room here)."""
        home = self.homes.get(recipient, "")
        target = (recipient.nick, recipient.fold, home, side(self.server, recipient))
        self._send_direct_multiline(reply, sender, target, lines, client_tags, stored)

    def multiline_to_unknown(
        self,
        reply: Reply,
        sender: User,
        nick: str,
        lines: Lines,
        client_tags: str,
        tags: dict[str, str],
    ) -> None:
        """A multiline message to a nick nobody here has: its claim says its node (401 when
        nobody has it), as for a single-line private message."""
        server = self.server
        fold = server.fold(nick)
        history = server.config.history
        stored = stored_tags(history, "PRIVMSG", tags) if history.store_private else None
        if stored is not None and not server.history.available:
            refuse_unstorable(reply, "PRIVMSG", nick, True)
            return

        def located(later: Reply, found: Any) -> None:
            home, away, theirs = found if found is not None else (None, "", fold)
            if home is None:
                later.fail("BATCH", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
            elif not home or home == self.node:  # nobody, or one of ours that just left
                later.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
            else:  # its side of the key: its account when the directory says it has one
                if away:
                    later.numeric(n.RPL_AWAY, nick, away)
                target = (nick, fold, home, theirs)
                self._send_direct_multiline(later, sender, target, lines, client_tags, stored)

        # The directory's `find_home` (hubbub.core.cluster_directory) also says its away text
        # and account.
        self.find_home(fold, reply.later(located))

    def _event(
        self,
        kind: str,
        sender: User,
        name: str,
        lines: Lines,
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> dict[str, Any]:
        return {
            "t": kind,
            "f": sender.fold,
            "id": sender.network_id,
            "nm": name,
            "ln": [[text, concat] for text, concat in lines],
            "ct": client_tags,
            "a": sender.account,
            "i": sender.account_id,
            "p": sender.prefix,
            "m": self.server.next_msgid(),
            "st": stored,
        }

    def _send_direct_multiline(
        self,
        reply: Reply,
        sender: User,
        target: tuple[str, str, str, str],
        lines: Lines,
        client_tags: str,
        stored: dict[str, str] | None,
    ) -> None:
        """Through the recipient's node's inbox room; both nodes store it under the same key
        (idempotent); the sender's node echoes it once it is sequenced."""
        server = self.server
        nick, fold, home, theirs = target
        event = self._event("mldm", sender, nick, lines, client_tags, stored)
        event["to"] = fold
        event["key"] = dm_key(side(server, sender), theirs)

        def done(later: Reply, result: Any) -> None:
            if result is None:
                later.fail("BATCH", "TEMPORARILY_UNAVAILABLE", nick, text=UNAVAILABLE)
                return
            time_ms, sent = result
            self._store(sent["key"], sent, time_ms)
            self._echo(later, sent, time_ms)

        self.submit(reply, inbox(home), event, done, answered_when_sequenced=True)

    def _echo(self, reply: Reply, event: dict[str, Any], time_ms: int) -> None:
        """The sender's side once the message is sequenced: its echo (echo-message), and
        the right to REDACT it from this connection when it has no account."""
        session = reply.session
        if event["st"] is not None and not session.user.account:
            remember_sent(session, event["m"])
        if "echo-message" in session.caps:
            message = self._outgoing(event, time_ms)
            for tags, line in message.lines_for(session, _lines(event)):
                reply.add(line, tags)

    def _outgoing(self, event: dict[str, Any], time_ms: int) -> Outgoing:
        return Outgoing(
            self.server, event["p"], event["nm"], event["m"], time_ms, event["ct"], event["a"]
        )

    def _store(self, key: str, event: dict[str, Any], time_ms: int) -> None:
        record = multiline_record(key, event["nm"], event, time_ms)
        if record is not None:
            self.server.history.append(record)

    def _deliver(
        self,
        recipients: Iterable[User],
        event: dict[str, Any],
        time_ms: int,
        sender: User | None,
    ) -> None:
        """This node's users among `recipients` get the message, formatted once per profile
        and kind (batch or fallback); members whose join replay is being read have it held
        (Session.hold), those shown it already (`ChatServer.heard`) get nothing."""
        heard = self.server.heard
        if heard:
            recipients = [user for user in recipients if user not in heard]
        self._outgoing(event, time_ms).send_to(recipients, _lines(event), sender)

    def _apply_multiline(
        self, channel: Channel, event: dict[str, Any], time_ms: int, mine: bool
    ) -> None:
        user = self.event_sender(channel, event)
        if self.refused_in_sequence(channel, event, user, mine):
            return
        sender = local(user)
        event["nm"] = channel.name  # as the room is called here when it comes back
        self._deliver(channel.members, event, time_ms, sender)
        self._store(channel.fold, event, time_ms)

    def _apply_direct_multiline(self, event: dict[str, Any], time_ms: int, mine: bool) -> None:
        recipient = self.server.users.get(event["to"])
        if recipient is None or recipient.session.remote:
            return  # gone meanwhile, as if it had quit just before
        self._store(event["key"], event, time_ms)
        self._deliver((recipient,), event, time_ms, None)


def _lines(event: dict[str, Any]) -> Lines:
    return [(str(text), bool(concat)) for text, concat in event["ln"]]


def multiline_record(key: str, name: str, event: dict[str, Any], time_ms: int) -> Record | None:
    """The one history record a node stores for a multiline message event (None: it stores
    none), under `key` with `name` as its target: the combined message, as on one server. The
    join replay of a room just opened builds it from the bus's stream too
    (hubbub.core.cluster_replay), so both give the same message."""
    stored = event["st"]
    if stored is None:
        return None
    params = (name, combine(_lines(event)))
    return Record(key, event["m"], time_ms, event["p"], "PRIVMSG", params, stored, event["i"])


#: Room events, by kind (hubbub.core.cluster_apply's APPLIERS).
MULTILINE_APPLIERS = {"mlmsg": ClusterMultiline._apply_multiline}

#: Events applied outside any channel (a node's inbox), by kind.
MULTILINE_EVENTS = {"mldm": ClusterMultiline._apply_direct_multiline}
