"""Room history in the core: what gets stored, the replay a newcomer sees on JOIN, and the
IRCv3 CHATHISTORY command (https://ircv3.net/specs/extensions/chathistory).

Reads go through `HistoryService.query`, whose answer arrives later (through `Reply.later`).
While a join replay is being read, every live line for the newcomer is held (`Session.hold`;
`Channel.replaying` says whose replay of the room is being read) and written after the replay,
so history and live traffic never interleave, and live lines keep their order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hubbub.accounts.model import account_name
from hubbub.core.commands import command
from hubbub.core.edit import EDITED_TAG
from hubbub.core.messaging import fit
from hubbub.core.multiline import replay_lines
from hubbub.core.ports import FAILURE, CallFailure
from hubbub.core.privacy import (
    channel_floor,
    dm_partner_name,
    dm_read_keys,
    nick_floor,
    party,
    replay_floor,
)
from hubbub.history.record import Record, Ref, dm_parties
from hubbub.history.store import HistoryStore
from hubbub.protocol.message import format_tags
from hubbub.protocol.servertime import format_server_time, format_stamp, parse_server_time

if TYPE_CHECKING:
    from hubbub.core.model import Channel, Session, User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

log = logging.getLogger("hubbub.history")

MESSAGE_COMMANDS = frozenset({"PRIVMSG", "NOTICE"})
# Parameters of these commands end in free text, always written as a trailing parameter.
TEXT_COMMANDS = frozenset({"PRIVMSG", "NOTICE", "PART", "QUIT", "TOPIC", "KICK"})


def store_event(
    server: ChatServer,
    channel: Channel,
    user: User,
    command_name: str,
    params: tuple[str, ...],
    time_ms: int,
    msgid: str,
    source: str | None = None,
) -> None:
    """Store a membership or topic event, when the configuration asks for events."""
    if server.config.history.store_events:
        server.history.append(
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


def messages_since(floor: int) -> Keep:
    """PRIVMSG and NOTICE from `floor` (ms) on."""
    return lambda record: record.command in MESSAGE_COMMANDS and record.time_ms >= floor


def wants_events(session: Session) -> bool:
    return "draft/event-playback" in session.caps


def history_lines(
    server: ChatServer, session: Session, records: Sequence[Record], batch_ref: str | None
) -> list[tuple[str, str]]:
    """Records as (tags, line) pairs for a client with server-time (inside a batch when
    given), as `Reply.add` takes them."""
    keep = visible_to(session, {})
    out = []
    for record in records:
        if not keep(record):
            continue
        client_tags = format_tags(record.tags) if record.tags else ""
        if record.edited_ms:  # draft/message-edit: the text is the edited one; say so
            edited = f"{EDITED_TAG}={format_server_time(record.edited_ms)}"
            client_tags = f"{client_tags};{edited}" if client_tags else edited
        tags = server.tags_for(
            session.profile,
            record.time_ms,
            record.msgid,
            client_tags,
            account_name(record.account),
        )
        if record.command == "PRIVMSG" and "\n" in record.params[-1]:  # draft/multiline
            out.extend(replay_lines(server, session, record, tags, batch_ref))
            continue
        if batch_ref is not None:
            tags = f"batch={batch_ref};{tags}" if tags else f"batch={batch_ref}"
        out.append((tags, record_line(record)))
    return out


def plain_replay_lines(
    server: ChatServer, session: Session, records: Sequence[Record]
) -> list[tuple[str, str]]:
    """Records for a client without batch: messages only, outside any batch.

    Each line carries the tags the client negotiated: with server-time its original `time`,
    which such clients show in their time column (irssi 1.4, WeeChat 3.8 ask for server-time
    but not batch), with message-tags its `msgid`. Without server-time, the time is written
    at the start of the text instead.
    """
    history = server.config.history
    plain_command = history.replay_plain_command
    timed = "server-time" in session.caps
    zone = server.replay_zone
    out = []
    for record in records:
        if record.command not in MESSAGE_COMMANDS or len(record.params) < 2:
            continue
        target, text = record.params[0], record.params[-1]
        if record.edited_ms:  # draft/message-edit: the edited text, marked for every client
            text += " (edited)"
        cmd = "NOTICE" if record.command == "NOTICE" else plain_command
        head = f":{record.source} {cmd} {target} :"
        # The tags the client negotiated, as on a live line: time, msgid, account.
        client_tags = format_tags(record.tags) if record.tags else ""
        tags = server.tags_for(
            session.profile,
            record.time_ms,
            record.msgid,
            client_tags,
            account_name(record.account),
        )
        # A multiline message (draft/multiline) is replayed as its non-blank lines, the msgid
        # on the first only.
        parts = [part for part in text.split("\n") if part] if "\n" in text else [text]
        for index, text in enumerate(parts):
            if index == 1:
                tags = server.tags_for(session.profile, record.time_ms, None, "", record.account)
            if timed:
                line = head + fit(text, len(head.encode()))
            else:
                stamp = format_stamp(record.time_ms, server.now, zone)
                if text.startswith("\x01ACTION "):
                    text = f"\x01ACTION {stamp} {text[8:]}"
                else:
                    text = f"{stamp} {text}"
                # The time prefix makes the line longer than it was relayed: cut it to 512.
                line = head + fit(text, len(head.encode()))
            out.append((tags, line))
    return out


def start_replay(server: ChatServer, reply: Reply, channel: Channel, user: User) -> None:
    """Ask for the newcomer's replay of the room's latest messages, written after its JOIN
    reply (a follower of it); meanwhile the room's lines for it are held."""
    count = server.config.history.replay_on_join
    session = user.session
    # A chathistory client asks for exactly what it wants itself; replaying too would duplicate.
    if count <= 0 or "draft/chathistory" in session.caps:
        return
    # History access (hubbub.core.privacy): under since_join nothing predates the JOIN, under
    # registered nothing is for a user without an account, and never what a room of the same
    # name said before this one was created.
    floor = replay_floor(server, channel, user)
    if floor is None:
        return
    replay = reply.follower()
    # The room's lines for the newcomer collect in the follower's held bytes meanwhile.
    assert replay.held is not None
    channel.replaying[user] = replay.held
    session.hold(replay.held)  # (released when the reply is written: Reply.flush)
    key = channel.fold

    def done(later: Reply, records: list[Record]) -> None:
        if channel.replaying.pop(user, None) is None:
            return  # left the room before the replay arrived (remove_member wrote the rest)
        if server.cluster is not None:  # a shared store: drop what came live meanwhile
            records = server.cluster.replayed(channel, user, records)
        caps = session.caps
        if "batch" in caps and "server-time" in caps:
            lines = history_lines(server, session, records, ref := session.next_batch_id())
            if lines:
                later.add(f":{server.name} BATCH +{ref} chathistory {channel.name}")
                for tags, line in lines:
                    later.add(line, tags)
                later.add(f":{server.name} BATCH -{ref}")
        else:
            plain = plain_replay_lines(server, session, records)
            if plain:
                first = f":{server.name} NOTICE {channel.name} :"
                later.add(f"{first}Replaying {len(plain)} messages from before you joined")
                for tags, line in plain:
                    later.add(line, tags)
                later.add(f"{first}End of replay")

    if "batch" in session.caps and "server-time" in session.caps:
        keep = visible_to(session, {key: floor})
    else:
        keep = messages_since(floor)  # the plain form shows messages only

    # The latest `count` records the newcomer is shown (events it is not shown do not count).
    call = build_query("LATEST", [key], [None], count, keep)
    if server.cluster is not None:  # a room just opened here: the bus's stream too
        server.cluster.room_history(channel, call, count, keep, True, replay.later(done))
    else:
        server.history.query(call, replay.later(done))


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
Keep = Callable[[Record], bool]
# How many stored records one request may read to find `limit` that the client is shown
# (events it does not see, records under a floor): the bound on a request's work.
MAX_SCAN = 10_000


@command("CHATHISTORY", 1)
def handle_chathistory(server: ChatServer, reply: Reply, msg: Message) -> None:
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
    maximum = server.config.history.chathistory_max
    limit = min(int(limit_text), maximum) if maximum else int(limit_text)

    if sub == "TARGETS":
        start, end = parse_ref(params[1]), parse_ref(params[2])
        if start is None or end is None or start.time_ms is None or end.time_ms is None:
            invalid("TARGETS takes two timestamps", params[1])
            return
        targets_query(server, reply, start.time_ms, end.time_ms, limit)
        return

    target = params[1]
    found = history_key(server, user, target)
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
    keep = visible_to(session, found)
    call = build_query(sub, list(found), refs, limit, keep)
    room = None
    if sub == "LATEST" and refs[0] is None and server.cluster is not None:
        # A room this node just opened: its latest events from the bus's stream too
        # (hubbub.core.cluster_replay), as for a join replay.
        room = server.channels.get(server.fold(target)) if target.startswith("#") else None
    send_history(server, reply, sub, target, call, room, limit, keep)


def history_key(server: ChatServer, user: User, target: str) -> dict[str, int] | None:
    """{store key: oldest readable time in ms, 0 for no limit} of a target the user may read,
    or None (see hubbub.core.privacy). A private conversation may live under several keys
    (by account, by nick, or one of each), each with its own floor."""
    fold = server.fold(target)
    if target.startswith("#"):
        channel = server.channels.get(fold)
        if channel is None:
            return None
        floor = channel_floor(server, channel, user)
        return None if floor is None else {fold: floor}
    if not server.valid_nick(target) or not server.config.history.store_private:
        return None
    since = nick_floor(user)
    return {
        key: 0 if by_account else since for key, by_account in dm_read_keys(server, user, target)
    }


def visible_to(session: Session, floors: dict[str, int]) -> Keep:
    """Which records this client is shown: PRIVMSG and NOTICE, and with draft/event-playback
    the other events too (TAGMSG only with message-tags); none older than its key's floor."""
    events = wants_events(session)
    tags = "message-tags" in session.caps

    def keep(record: Record) -> bool:
        if record.time_ms < floors.get(record.target, 0):
            return False
        if record.command in MESSAGE_COMMANDS:
            return True
        return events and (tags or record.command != "TAGMSG")

    return keep


def gather(
    fetch: Callable[[str, int], list[Record]],
    keys: list[str],
    keep: Keep,
    limit: int,
    newest: bool,
) -> list[Record]:
    """Up to `limit` records that `keep` accepts, the ones closest to a reference, oldest first.

    `fetch(key, n)` reads the n records of `key` closest to the reference (oldest first);
    `newest` says the closest are the newest (LATEST, BEFORE). The store knows nothing of
    what a client is shown, so when some records are not shown it reads further, by steps,
    up to MAX_SCAN records.
    """
    if limit <= 0:
        return []
    size = limit
    while True:
        got: list[Record] = []
        exhausted = True
        for key in keys:
            part = fetch(key, size)
            exhausted = exhausted and len(part) < size
            got.extend(part)
        if len(keys) > 1:
            got.sort(key=lambda record: record.time_ms)
        kept = [record for record in got if keep(record)]
        if len(kept) >= limit or exhausted or size >= MAX_SCAN:
            return kept[-limit:] if newest else kept[:limit]
        size = min(size * 4, MAX_SCAN)


def build_query(sub: str, keys: list[str], refs: list[Ref | None], limit: int, keep: Keep) -> Query:
    if sub == "LATEST":
        after = refs[0]
        return lambda store: gather(
            lambda key, n: store.latest(key, n, after), keys, keep, limit, newest=True
        )
    ref = refs[0]
    assert ref is not None
    if sub == "BEFORE":
        return lambda store: gather(
            lambda key, n: store.before(key, ref, n), keys, keep, limit, newest=True
        )
    if sub == "AFTER":
        return lambda store: gather(
            lambda key, n: store.after(key, ref, n), keys, keep, limit, newest=False
        )
    if sub == "AROUND":
        return lambda store: around(store, keys, ref, limit, keep)
    end = refs[1]
    assert end is not None

    def between(store: HistoryStore) -> list[Record]:
        return gather(
            lambda key, n: store.between(key, ref, end, n),
            keys,
            keep,
            limit,
            newest=backwards(store, keys, ref, end),
        )

    return between


def backwards(store: HistoryStore, keys: list[str], start: Ref, end: Ref) -> bool:
    """Whether BETWEEN start and end runs back in time, as the store sees it: its record
    closest to `start` is then the one just before `start`. (Comparing times is not enough:
    messages of the same millisecond are ordered by the store alone.)"""
    for key in keys:
        probe = store.between(key, start, end, 1)
        if probe:
            previous = store.before(key, start, 1)
            return bool(previous) and previous[0].msgid == probe[0].msgid
    return False


def around(store: HistoryStore, keys: list[str], ref: Ref, limit: int, keep: Keep) -> list[Record]:
    """CHATHISTORY AROUND: the reference message (when it is one the client is shown; for a
    timestamp, the messages stamped then) in the middle, as many shown messages before it as
    after it; when one side runs short, the other fills the rest of `limit`."""
    centre: list[Record] = []
    if ref.msgid is not None:
        for key in keys:
            record = store.find(key, ref.msgid)
            if record is not None:
                centre = [record] if keep(record) else []
                break
        else:
            return []
    else:
        # A timestamp names the messages stamped at that very millisecond: they are the
        # centre (BEFORE and AFTER exclude the reference, so they are read apart).
        assert ref.time_ms is not None
        low, high = Ref(time_ms=ref.time_ms - 1), Ref(time_ms=ref.time_ms + 1)
        centre = gather(
            lambda key, n: store.between(key, low, high, n), keys, keep, limit, newest=False
        )
    room = limit - len(centre)
    if room <= 0:
        return centre[:limit]
    before = gather(lambda key, n: store.before(key, ref, n), keys, keep, room, newest=True)
    after = gather(lambda key, n: store.after(key, ref, n), keys, keep, room, newest=False)
    n_after = min(len(after), room - room // 2)
    n_before = min(len(before), room - n_after)
    n_after = min(len(after), room - n_before)
    return before[len(before) - n_before :] + centre + after[:n_after]


def send_history(
    server: ChatServer,
    reply: Reply,
    sub: str,
    target: str,
    call: Query,
    room: Channel | None = None,
    limit: int = 0,
    keep: Keep | None = None,
) -> None:
    """Run `call` and answer its records (`room`, `limit`, `keep`: a LATEST of a room in
    cluster mode, merged with the bus's stream while the room is new here)."""
    session = reply.session

    def guarded(store: HistoryStore) -> list[Record] | CallFailure:
        # A store that cannot read now (PostgreSQL restarting, a damaged file) is a clear
        # answer for the client, not an empty history (on the history worker's thread).
        try:
            return call(store)
        except Exception as exc:
            log.error("CHATHISTORY %s %s: the history store failed: %s", sub, target, exc)
            return FAILURE

    def done(later: Reply, records: list[Record] | CallFailure) -> None:
        if isinstance(records, CallFailure):
            later.fail(
                "CHATHISTORY",
                "MESSAGE_ERROR",
                sub,
                target,
                text="Messages could not be retrieved, try again later",
            )
            return
        if "batch" in session.caps:
            ref = session.next_batch_id()
            later.add(f":{server.name} BATCH +{ref} chathistory {target}")
            for tags, line in history_lines(server, session, records, ref):
                later.add(line, tags)
            later.add(f":{server.name} BATCH -{ref}")
        else:
            for tags, line in history_lines(server, session, records, None):
                later.add(line, tags)

    if room is not None and keep is not None and server.cluster is not None:
        server.cluster.room_history(room, guarded, limit, keep, False, reply.later(done))
    else:
        server.history.query(guarded, reply.later(done))


def targets_query(server: ChatServer, reply: Reply, start: int, end: int, limit: int) -> None:
    session = reply.session
    user = session.user
    # Rooms whose history this member may read, with the oldest time it may read.
    floors = {
        fold: floor
        for fold, channel in user.channels.items()
        if (floor := channel_floor(server, channel, user)) is not None
    }
    channel_names = {fold: user.channels[fold].name for fold in floors}
    me = user.fold
    mine = (me, party(server, user.account_id)) if user.account_id else (me,)

    since = nick_floor(user)  # nick-keyed conversations: since this user took its nick

    def readable(key: str, latest: int) -> bool:
        parties = dm_parties(key)
        if parties is None:
            return latest >= floors.get(key, 0)  # since_join: nothing new since joining
        by_account = len(mine) > 1 and mine[1] in parties
        return by_account or latest >= since

    def call(store: HistoryStore) -> list[tuple[str, int]]:
        # Candidates beyond `limit`: some may not be readable, and one correspondent may have
        # several keys (by account and by nick); the limit applies to what is listed.
        found = store.targets(start, end, MAX_SCAN, list(channel_names), me)
        if len(mine) > 1:  # conversations kept by account (hubbub.core.privacy)
            found += store.targets(start, end, MAX_SCAN, [], mine[1])
            found.sort(key=lambda pair: pair[1], reverse=start > end)
        return [(key, latest) for key, latest in found if readable(key, latest)]

    def done(later: Reply, found: Any) -> None:
        ref = session.next_batch_id()
        batch = "batch" in session.caps
        if batch:
            later.add(f":{server.name} BATCH +{ref} draft/chathistory-targets")
        # One line per target: a correspondent may have several keys (by account, by nick);
        # it is listed once, with its latest activity.
        latest_by_name: dict[str, tuple[str, int]] = {}
        for key, latest in found:
            if dm_parties(key) is None:
                name = channel_names.get(key, key)
            else:
                partner = dm_partner_name(server, key, mine)
                if partner is None:
                    continue
                name = partner
            fold = server.fold(name)
            if fold not in latest_by_name or latest > latest_by_name[fold][1]:
                latest_by_name[fold] = (name, latest)
        targets = sorted(latest_by_name.values(), key=lambda pair: pair[1], reverse=start > end)
        for name, latest in targets[:limit]:
            later.add(
                f":{server.name} CHATHISTORY TARGETS {name} timestamp={format_server_time(latest)}",
                f"batch={ref}" if batch else "",
            )
        if batch:
            later.add(f":{server.name} BATCH -{ref}")

    server.history.query(call, reply.later(done))
