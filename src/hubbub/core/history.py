"""Room history in the core: what gets stored, the replay a newcomer sees on JOIN, and the
IRCv3 CHATHISTORY command (https://ircv3.net/specs/extensions/chathistory).

Reads go through `HistoryService.query`, whose answer arrives later (through `Reply.later`).
While a join replay is being read, the room's live lines for the newcomer are held
(`Channel.replaying`) and written after the replay, so history and live traffic never
interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hubbub.core.commands import command
from hubbub.core.messaging import fit
from hubbub.core.privacy import channel_floor, dm_partner_name, dm_read_key, party
from hubbub.history.record import Record, Ref, dm_parties
from hubbub.history.store import HistoryStore
from hubbub.protocol.message import format_tags
from hubbub.protocol.servertime import format_server_time, format_utc, parse_server_time

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
    than a day. In UTC: the text must not depend on the server's time zone."""
    seconds = time_ms / 1000
    if now - seconds > 86_400:
        return format_utc(seconds, "[%Y-%m-%d %H:%M]")
    return format_utc(seconds, "[%H:%M]")


def wants_events(session: Session) -> bool:
    return "draft/event-playback" in session.caps


def history_lines(
    srv: ChatServer, session: Session, records: Sequence[Record], batch_ref: str | None
) -> list[tuple[str, str]]:
    """Records as (tags, line) pairs for a client with server-time (inside a batch when
    given), as `Reply.add` takes them."""
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
        out.append((tags, record_line(record)))
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
        out.append(head + fit(text, len(head.encode())))
    return out


def start_replay(srv: ChatServer, reply: Reply, channel: Channel, user: User) -> None:
    """Ask for the newcomer's replay of the room's latest messages, written after its JOIN
    reply (a follower of it); meanwhile the room's lines for it are held."""
    count = srv.config.history.replay_on_join
    session = user.session
    # A chathistory client asks for exactly what it wants itself; replaying too would duplicate.
    if count <= 0 or "draft/chathistory" in session.caps:
        return
    # History access (hubbub.core.privacy): under since_join nothing predates the JOIN, under
    # registered nothing is for a user without an account.
    if channel_floor(srv, channel, user) != 0:
        return
    replay = reply.follower()
    # The room's lines for the newcomer collect in the follower's held bytes meanwhile.
    assert replay.held is not None
    channel.replaying[user] = replay.held
    key = channel.fold

    def done(later: Reply, records: list[Record]) -> None:
        if channel.replaying.pop(user, None) is None:
            return  # left the room before the replay arrived (remove_member wrote the rest)
        caps = session.caps
        if "batch" in caps and "server-time" in caps:
            lines = history_lines(srv, session, records, ref := session.next_batch_id())
            if lines:
                later.add(f":{srv.name} BATCH +{ref} chathistory {channel.name}")
                for tags, line in lines:
                    later.add(line, tags)
                later.add(f":{srv.name} BATCH -{ref}")
        else:
            plain = plain_replay_lines(srv, records)
            if plain:
                first = f":{srv.name} NOTICE {channel.name} :"
                later.add(f"{first}Replaying {len(plain)} messages from before you joined")
                for line in plain:
                    later.add(line)
                later.add(f"{first}End of replay")

    srv.history.query(lambda store: store.latest(key, count), replay.later(done))


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

    if sub == "TARGETS":
        start, end = parse_ref(params[1]), parse_ref(params[2])
        if start is None or end is None or start.time_ms is None or end.time_ms is None:
            invalid("TARGETS takes two timestamps", params[1])
            return
        targets_query(srv, reply, start.time_ms, end.time_ms, limit)
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
    send_history(srv, reply, target, call)


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
    return key, 0 if by_account else signon_floor(user.session)


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


def signon_floor(session: Session) -> int:
    """Nick-keyed private history is limited to what this connection itself took part in: a
    nick alone is no identity, and whoever takes a nick next must not read the private
    messages of the person who had it before (hubbub.core.privacy)."""
    return max(1, int(session.signon * 1000))


def since(call: Query, floor: int) -> Query:
    """A query's answer without the records older than `floor` (ms)."""
    return lambda store: [r for r in call(store) if r.time_ms >= floor]


def send_history(srv: ChatServer, reply: Reply, target: str, call: Query) -> None:
    session = reply.session

    def done(later: Reply, records: list[Record]) -> None:
        if "batch" in session.caps:
            ref = session.next_batch_id()
            later.add(f":{srv.name} BATCH +{ref} chathistory {target}")
            for tags, line in history_lines(srv, session, records, ref):
                later.add(line, tags)
            later.add(f":{srv.name} BATCH -{ref}")
        else:
            for tags, line in history_lines(srv, session, records, None):
                later.add(line, tags)

    srv.history.query(call, reply.later(done))


def targets_query(srv: ChatServer, reply: Reply, start: int, end: int, limit: int) -> None:
    session = reply.session
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

    def done(later: Reply, found: Any) -> None:
        ref = session.next_batch_id()
        batch = "batch" in session.caps
        if batch:
            later.add(f":{srv.name} BATCH +{ref} draft/chathistory-targets")
        floor = signon_floor(session)
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
            later.add(
                f":{srv.name} CHATHISTORY TARGETS {name} timestamp={format_server_time(latest)}",
                f"batch={ref}" if batch else "",
            )
        if batch:
            later.add(f":{srv.name} BATCH -{ref}")

    srv.history.query(call, reply.later(done))
