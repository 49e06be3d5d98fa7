"""Room history in the core: what gets stored, the replay a newcomer sees on JOIN, and the
IRCv3 CHATHISTORY command (https://ircv3.net/specs/extensions/chathistory).

Reads go through `HistoryService.query`, whose answer arrives later. While a join replay is
being read, the room's live lines for the newcomer are held (`Channel.replaying`) and written
after the replay, so history and live traffic never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hubbub.core.commands import command
from hubbub.core.messaging import fit
from hubbub.core.privacy import (
    channel_floor,
    dm_partner_name,
    dm_read_key,
    nick_floor,
    party,
    replay_floor,
)
from hubbub.core.reply import clip
from hubbub.history.record import Record, Ref, dm_parties
from hubbub.history.store import HistoryStore
from hubbub.protocol.message import escape_tag_value, format_tags
from hubbub.protocol.servertime import format_server_time, parse_server_time

if TYPE_CHECKING:
    from hubbub.core.model import Channel, Session, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

MESSAGE_COMMANDS = frozenset({"PRIVMSG", "NOTICE"})
# Parameters of these commands end in free text, always written as a trailing parameter.
TEXT_COMMANDS = frozenset({"PRIVMSG", "NOTICE", "PART", "QUIT", "TOPIC", "KICK"})


def store_event(
    srv: ChatServer,
    channel: Channel,
    user: User,
    command_name: str,
    params: tuple[str, ...],
    time_ms: int,
    msgid: str,
    source: str | None = None,
) -> None:
    """Store a membership or topic event, when the configuration asks for events."""
    if srv.config.history.store_events:
        srv.history.append(
            Record(channel.fold, msgid, time_ms, source or user.prefix, command_name, params)
        )


def record_line(record: Record) -> str:
    """The IRC line (without tags) a stored record is replayed as."""
    params = record.params
    if not params:
        return f":{record.source} {record.command}"
    if record.command in TEXT_COMMANDS or params[-1] == "" or " " in params[-1]:
        head = " ".join(params[:-1])
        middle = f" {head}" if head else ""
        return f":{record.source} {record.command}{middle} :{params[-1]}"
    return f":{record.source} {record.command} {' '.join(params)}"


def plain_time(time_ms: int, now: float) -> str:
    """The time prefix a client without server-time sees: [HH:MM], with the date when older
    than a day. Server local time, as a classic bouncer shows it."""
    seconds = time_ms / 1000
    if now - seconds > 86_400:
        return time.strftime("[%Y-%m-%d %H:%M]", time.localtime(seconds))
    return time.strftime("[%H:%M]", time.localtime(seconds))


def wants_events(session: Session) -> bool:
    return "draft/event-playback" in session.caps


def history_lines(
    srv: ChatServer, session: Session, records: Sequence[Record], batch_ref: str | None
) -> list[str]:
    """Records as tagged lines for a client with server-time (inside a batch when given)."""
    tagged = "message-tags" in session.caps
    events = wants_events(session)
    out = []
    for record in records:
        if record.command == "TAGMSG" and not tagged:
            continue
        if record.command not in MESSAGE_COMMANDS and record.command != "TAGMSG" and not events:
            continue
        client_tags = format_tags(record.tags) if record.tags else ""
        tags = srv.tags_for(
            session.profile, record.time_ms, record.msgid, client_tags, record.account
        )
        if batch_ref is not None:
            tags = f"batch={batch_ref};{tags}" if tags else f"batch={batch_ref}"
        line = clip(record_line(record))
        out.append(f"@{tags} {line}\r\n" if tags else line + "\r\n")
    return out


def plain_replay_lines(srv: ChatServer, records: Sequence[Record]) -> list[str]:
    """Records for a client without batch/server-time: messages only, time in the text."""
    plain_command = srv.config.history.replay_plain_command
    out = []
    for record in records:
        if record.command not in MESSAGE_COMMANDS or len(record.params) < 2:
            continue
        target, text = record.params[0], record.params[-1]
        stamp = plain_time(record.time_ms, srv.now)
        if text.startswith("\x01ACTION "):
            text = f"\x01ACTION {stamp} {text[8:]}"
        else:
            text = f"{stamp} {text}"
        cmd = "NOTICE" if record.command == "NOTICE" else plain_command
        head = f":{record.source} {cmd} {target} :"
        # The time prefix makes the line longer than it was relayed: cut it to 512 again.
        out.append(head + fit(text, len(head.encode())) + "\r\n")
    return out


def start_replay(srv: ChatServer, channel: Channel, user: User) -> None:
    """Queue the newcomer's replay of the room's latest messages (after its JOIN reply)."""
    count = srv.config.history.replay_on_join
    session = user.session
    # A chathistory client asks for exactly what it wants itself; replaying too would duplicate.
    if count <= 0 or "draft/chathistory" in session.caps:
        return
    # History access (hubbub.core.privacy): under since_join nothing predates the JOIN, under
    # registered nothing is for a user without an account, and never what a room of the same
    # name said before this one was created.
    floor = replay_floor(srv, channel, user)
    if floor is None:
        return
    channel.replaying[user] = []
    key = channel.fold

    def done(records: list[Record]) -> None:
        held = channel.replaying.pop(user, None)
        if held is None or session.closed:
            return  # left the room (or the network) before the replay arrived
        caps = session.caps
        if "batch" in caps and "server-time" in caps:
            ref = session.next_batch_id()
            lines = history_lines(srv, session, records, ref)
            if lines:
                lines.insert(0, f":{srv.name} BATCH +{ref} chathistory {channel.name}\r\n")
                lines.append(f":{srv.name} BATCH -{ref}\r\n")
        else:
            lines = plain_replay_lines(srv, records)
            if lines:
                first = f":{srv.name} NOTICE {channel.name} :"
                count_text = f"Replaying {len(lines)} messages from before you joined"
                lines.insert(0, f"{first}{count_text}\r\n")
                lines.append(f"{first}End of replay\r\n")
        session.output_lines += len(lines)  # flood cost (hubbub.core.budget)
        data = "".join(lines).encode("utf-8", "replace")
        if held:
            data += b"".join(held)
        if data:
            session.link.write(data)

    def query() -> None:
        srv.history.query(
            lambda store: [r for r in store.latest(key, count) if r.time_ms >= floor], done
        )

    srv.deferred.append(query)


# ---------------------------------------------------------------------- CHATHISTORY


def parse_ref(text: str) -> Ref | None:
    kind, _, value = text.partition("=")
    if kind == "msgid" and value:
        return Ref(msgid=value)
    if kind == "timestamp":
        stamp = parse_server_time(value)
        if stamp is not None:
            return Ref(time_ms=stamp)
    return None


Query = Callable[[HistoryStore], list[Record]]


@command("CHATHISTORY", 1)
def handle_chathistory(srv: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    user = session.user
    params = msg.params
    sub = params[0].upper()

    def invalid(text: str, *context: str) -> None:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", sub, *context, text=text)

    needed = {"LATEST": 4, "BEFORE": 4, "AFTER": 4, "AROUND": 4, "BETWEEN": 5, "TARGETS": 4}
    if sub not in needed:
        reply.fail("CHATHISTORY", "INVALID_PARAMS", sub, text="Unknown subcommand")
        return
    if len(params) < needed[sub]:
        reply.fail("CHATHISTORY", "NEED_MORE_PARAMS", sub, text="Missing parameters")
        return
    limit_text = params[needed[sub] - 1]
    if not limit_text.isdecimal():
        invalid("Invalid limit", limit_text)
        return
    maximum = srv.config.history.chathistory_max
    limit = min(int(limit_text), maximum) if maximum else int(limit_text)
    # Once the query is under way, the label goes on the batch written when the store answers
    # (and not on an ACK now); failures before that are answered with the label at once.
    label = reply.label

    if sub == "TARGETS":
        start, end = parse_ref(params[1]), parse_ref(params[2])
        if start is None or end is None or start.time_ms is None or end.time_ms is None:
            invalid("TARGETS takes two timestamps", params[1])
            return
        reply.label = None
        targets_query(srv, session, start.time_ms, end.time_ms, limit, label)
        return

    target = params[1]
    found = history_key(srv, user, target)
    if found is None:
        reply.fail(
            "CHATHISTORY",
            "INVALID_TARGET",
            sub,
            target,
            text="You cannot read the history of that target",
        )
        return
    refs: list[Ref | None] = []
    for text in params[2 : needed[sub] - 1]:
        if sub == "LATEST" and text == "*":
            refs.append(None)
            continue
        ref = parse_ref(text)
        if ref is None:
            invalid("Invalid message reference", text)
            return
        refs.append(ref)
    key, floor = found
    call = build_query(sub, key, refs, limit)
    if floor:
        call = since(call, floor)
    reply.label = None
    send_history(srv, session, target, call, label)


def history_key(srv: ChatServer, user: User, target: str) -> tuple[str, int] | None:
    """(store key, oldest readable time in ms, 0 for no limit) of a target the user may read,
    or None (see hubbub.core.privacy)."""
    fold = srv.fold(target)
    if target.startswith("#"):
        channel = srv.channels.get(fold)
        if channel is None:
            return None
        floor = channel_floor(srv, channel, user)
        return None if floor is None else (fold, floor)
    if not srv.valid_nick(target) or not srv.config.history.store_private:
        return None
    key, by_account = dm_read_key(srv, user, target)
    return key, 0 if by_account else nick_floor(user)


def build_query(sub: str, key: str, refs: list[Ref | None], limit: int) -> Query:
    if sub == "LATEST":
        after = refs[0]
        return lambda store: store.latest(key, limit, after)
    ref = refs[0]
    assert ref is not None
    if sub == "BEFORE":
        return lambda store: store.before(key, ref, limit)
    if sub == "AFTER":
        return lambda store: store.after(key, ref, limit)
    if sub == "AROUND":
        return lambda store: store.around(key, ref, limit)
    end = refs[1]
    assert end is not None
    return lambda store: store.between(key, ref, end, limit)


def labelled(label: str | None, session: Session) -> str:
    if label is not None and "labeled-response" in session.caps:
        return f"@label={escape_tag_value(label)} "
    return ""


def since(call: Query, floor: int) -> Query:
    """A query's answer without the records older than `floor` (ms)."""
    return lambda store: [r for r in call(store) if r.time_ms >= floor]


def send_history(
    srv: ChatServer, session: Session, target: str, call: Query, label: str | None
) -> None:
    def done(records: list[Record]) -> None:
        if session.closed:
            return
        if "batch" in session.caps:
            ref = session.next_batch_id()
            lines = history_lines(srv, session, records, ref)
            head = f"{labelled(label, session)}:{srv.name} BATCH +{ref} chathistory {target}\r\n"
            lines.insert(0, head)
            lines.append(f":{srv.name} BATCH -{ref}\r\n")
        else:
            lines = history_lines(srv, session, records, None)
        session.output_lines += len(lines)  # flood cost (hubbub.core.budget)
        if lines:  # nothing found, and no batch to say so: no (empty) write
            session.link.write("".join(lines).encode("utf-8", "replace"))

    srv.deferred.append(lambda: srv.history.query(call, done))


def targets_query(
    srv: ChatServer, session: Session, start: int, end: int, limit: int, label: str | None
) -> None:
    user = session.user
    # Rooms whose history this member may read, with the oldest time it may read.
    floors = {
        fold: floor
        for fold, channel in user.channels.items()
        if (floor := channel_floor(srv, channel, user)) is not None
    }
    channel_names = {fold: user.channels[fold].name for fold in floors}
    me = user.fold
    mine = (me, party(srv, user.account)) if user.account else (me,)

    def call(store: HistoryStore) -> list[tuple[str, int]]:
        found = store.targets(start, end, limit, list(channel_names), me)
        if len(mine) > 1:  # conversations kept by account (hubbub.core.privacy)
            found += store.targets(start, end, limit, [], mine[1])
            found.sort(key=lambda pair: pair[1], reverse=start > end)
        return found[:limit]

    def done(found: list[tuple[str, int]]) -> None:
        if session.closed:
            return
        ref = session.next_batch_id()
        batch = "batch" in session.caps
        lines = []
        if batch:
            lines.append(
                f"{labelled(label, session)}:{srv.name} BATCH +{ref} draft/chathistory-targets\r\n"
            )
        floor = nick_floor(user)
        for key, latest in found:
            parties = dm_parties(key)
            if parties is None:
                if latest < floors.get(key, 0):
                    continue  # since_join: nothing new since this member joined
                name = channel_names.get(key, key)
            else:
                by_account = len(mine) > 1 and mine[1] in parties
                if not by_account and latest < floor:
                    continue
                partner = dm_partner_name(srv, key, mine)
                if partner is None:
                    continue
                name = partner
            tag = f"@batch={ref} " if batch else ""
            lines.append(
                f"{tag}:{srv.name} CHATHISTORY TARGETS {name} "
                f"timestamp={format_server_time(latest)}\r\n"
            )
        if batch:
            lines.append(f":{srv.name} BATCH -{ref}\r\n")
        session.output_lines += len(lines)  # flood cost (hubbub.core.budget)
        if lines:
            session.link.write("".join(lines).encode("utf-8", "replace"))

    srv.deferred.append(lambda: srv.history.query(call, done))
