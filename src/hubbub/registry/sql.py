"""What the SQL registry stores (SQLite and PostgreSQL) share, whatever the dialect: the columns
of a registered channel and of a server ban, a channel turned into a row and back, a ban row
read back, and the UPDATEs that save a channel's registration and its state.

Both databases hold the same rows, so `hubbub migrate` copies them unchanged. The two drivers
differ in how a statement names its parameters (`?` for sqlite3, `%s` for psycopg), so the
statements built here take that placeholder; SQL that really differs per dialect (the schema,
ON CONFLICT, collations) stays in each store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from hubbub.registry.model import REGISTRATION, ChannelBan, RegisteredChannel, ServerBan

__all__ = [
    "BAN_COLUMNS",
    "CHANNEL_COLUMNS",
    "ban_insert",
    "ban_of",
    "ban_replacement",
    "ban_row",
    "change_registration",
    "channel_of",
    "channel_row",
    "expire",
    "registration_update",
    "rename",
    "replace_metadata",
    "replaced",
    "state_update",
    "write_state",
]

#: A registered channel's columns, in the order of `channel_row` and `channel_of` (fold first).
CHANNEL_COLUMNS = (
    "fold, name, owner, registered_ms, created, ops, topic, topic_setter, topic_time, flags,"
    " chan_key, chan_limit, bans, history_access, flood, state_ms, state_seq"
)
#: The columns of a channel's state (topic, modes, lists), with the version saying which.
STATE_COLUMNS = (
    "created", "topic", "topic_setter", "topic_time", "flags", "chan_key", "chan_limit",
    "bans", "flood", "state_ms", "state_seq",
)  # fmt: skip
#: A server ban's columns, in the order of `ban_row` and `ban_of`.
BAN_COLUMNS = "kind, mask, reason, setter, set_ms, expires_ms, removed"


def channel_row(channel: RegisteredChannel) -> tuple[Any, ...]:
    """The values of `channel` for `CHANNEL_COLUMNS`."""
    return (
        channel.fold,
        channel.name,
        channel.owner,
        channel.registered_ms,
        channel.created,
        json.dumps(list(channel.ops)),
        channel.topic,
        channel.topic_setter,
        channel.topic_time,
        channel.flags,
        channel.key,
        channel.limit,
        _lists_json(channel),
        channel.history_access,
        channel.flood,
        channel.state_ms,
        channel.state_seq,
    )


def _lists_json(channel: RegisteredChannel) -> str:
    """The +b, +e and +I lists in the one `bans` column: +b entries as [mask, setter, set_at]
    (as before there were other lists, so older rows read unchanged), the others with their
    mode letter as a fourth element."""
    entries: list[list[Any]] = [[b.mask, b.setter, b.set_at] for b in channel.bans]
    entries += [[e.mask, e.setter, e.set_at, "e"] for e in channel.excepts]
    entries += [[i.mask, i.setter, i.set_at, "I"] for i in channel.invex]
    return json.dumps(entries)


def _list(entries: list[list[Any]], mode: str) -> tuple[ChannelBan, ...]:
    return tuple(
        ChannelBan(entry[0], entry[1], int(entry[2]))
        for entry in entries
        if (entry[3] if len(entry) > 3 else "b") == mode
    )


def channel_of(row: Sequence[Any]) -> RegisteredChannel:
    """The channel a row read with `CHANNEL_COLUMNS` holds."""
    (fold, name, owner, registered_ms, created, ops, topic, setter, topic_time, flags, key,
     limit, bans, access, flood, state_ms, state_seq) = row  # fmt: skip
    entries = json.loads(bans)
    return RegisteredChannel(
        name=name,
        fold=fold,
        owner=owner,
        registered_ms=registered_ms,
        created=created,
        ops=tuple(json.loads(ops)),
        topic=topic,
        topic_setter=setter,
        topic_time=topic_time,
        flags=flags,
        key=key,
        limit=limit,
        bans=_list(entries, "b"),
        history_access=access,
        flood=flood,
        excepts=_list(entries, "e"),
        invex=_list(entries, "I"),
        state_ms=int(state_ms),
        state_seq=int(state_seq),
    )


def ban_row(ban: ServerBan) -> tuple[Any, ...]:
    """The values of `ban` (or of the record of a removal) for `BAN_COLUMNS`."""
    return (ban.kind, ban.mask, ban.reason, ban.setter, ban.set_ms, ban.expires_ms, ban.removed)


def ban_insert(placeholder: str) -> str:
    """The INSERT of one `ban_row`."""
    marks = ", ".join([placeholder] * len(BAN_COLUMNS.split(", ")))
    return f"INSERT INTO server_bans ({BAN_COLUMNS}) VALUES ({marks})"


def ban_replacement(
    kind: str, mask: str, expected: ServerBan | None, ban: ServerBan | None, placeholder: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements of `replace_ban`, in order: the first's row count says whether what
    was stored was `expected` (a DELETE of exactly that row, a ban or the record of its
    removal; with nothing expected, an INSERT that does nothing if a row of that kind and
    mask is stored), the rest run only if so."""
    p = placeholder
    insert = ban_insert(p)
    values = ban_row(ban) if ban else ()
    if expected is None:
        return [(insert + " ON CONFLICT (kind, mask) DO NOTHING", values)] if ban else []
    delete = (
        f"DELETE FROM server_bans WHERE kind = {p} AND mask = {p} AND reason = {p}"
        f" AND setter = {p} AND set_ms = {p} AND expires_ms = {p} AND removed = {p}"
    )
    was = (kind, mask, *ban_row(expected)[2:])
    return [(delete, was), *([(insert, values)] if ban else [])]


def write_state(
    db: Any, channel: RegisteredChannel, metadata: Mapping[str, str] | None, placeholder: str
) -> bool:
    """`save_state` on `db` (inside the caller's transaction): the state unless the saved one
    is newer, and then, given, the metadata whole. Whether it wrote them."""
    if db.execute(*state_update(channel, placeholder)).rowcount == 0:
        return False
    if metadata is not None:
        replace_metadata(db, channel.fold, metadata, placeholder)
    return True


def replace_metadata(db: Any, fold: str, metadata: Mapping[str, str], placeholder: str) -> None:
    """Make `metadata` a channel's metadata whole, on `db` (inside the caller's
    transaction)."""
    p = placeholder
    db.execute(f"DELETE FROM channel_metadata WHERE fold = {p}", (fold,))
    for key, value in sorted(metadata.items()):
        db.execute(
            f"INSERT INTO channel_metadata (fold, key, value) VALUES ({p}, {p}, {p})",
            (fold, key, value),
        )


def rename(db: Any, fold: str, new_name: str, new_fold: str, placeholder: str) -> bool:
    """`rename_channel` on `db` (inside the caller's transaction; the primary key refuses a
    `new_fold` that is another registered channel): its metadata goes with it (keys left
    under the new name by nobody's channel are not its own), and its state's version starts
    again, as the renamed room's sequence does. Whether it was registered."""
    p = placeholder
    renamed: int = db.execute(
        f"UPDATE channels SET fold = {p}, name = {p}, state_ms = 0, state_seq = 0 WHERE fold = {p}",
        (new_fold, new_name, fold),
    ).rowcount
    if renamed and new_fold != fold:
        db.execute(f"DELETE FROM channel_metadata WHERE fold = {p}", (new_fold,))
        db.execute(f"UPDATE channel_metadata SET fold = {p} WHERE fold = {p}", (new_fold, fold))
    return renamed > 0


def expire(db: Any, now_ms: int, placeholder: str) -> int:
    """`expire_bans` on `db` (inside the caller's transaction): how many bans went (the
    records of removals expired go too, uncounted)."""
    due = f"expires_ms != 0 AND expires_ms <= {placeholder}"
    gone: int = db.execute(
        f"DELETE FROM server_bans WHERE {due} AND NOT removed", (now_ms,)
    ).rowcount
    db.execute(f"DELETE FROM server_bans WHERE {due}", (now_ms,))
    return gone


def replaced(db: Any, statements: list[tuple[str, tuple[Any, ...]]]) -> bool:
    """Run `ban_replacement`'s statements on `db` (an sqlite3 or psycopg connection, inside
    the caller's transaction): the rest only if the first changed a row. Whether they ran."""
    if not statements:
        return False
    (first, args), *rest = statements
    if db.execute(first, args).rowcount == 0:
        return False
    for statement, values in rest:
        db.execute(statement, values)
    return True


def ban_of(row: Sequence[Any]) -> ServerBan:
    """The server ban a row read with `BAN_COLUMNS` holds."""
    kind, mask, reason, setter, set_ms, expires_ms, removed = row
    return ServerBan(kind, mask, reason, setter, int(set_ms), int(expires_ms), bool(removed))


def _assignments(
    channel: RegisteredChannel, columns: tuple[str, ...], placeholder: str
) -> tuple[str, tuple[Any, ...]]:
    values = dict(zip(CHANNEL_COLUMNS.split(", "), channel_row(channel), strict=True))
    assignments = ", ".join(f"{column} = {placeholder}" for column in columns)
    return assignments, tuple(values[column] for column in columns)


def change_registration(
    db: Any,
    fold: str,
    change: Callable[[RegisteredChannel], RegisteredChannel],
    placeholder: str,
    locking: str = "",
) -> RegisteredChannel | None:
    """`change_registration` on `db` (inside the caller's transaction, which holds the lock
    that keeps another change from reading the registration until this one commits; `locking`
    ends the read, `FOR UPDATE` in PostgreSQL): the registration `change` makes of the one
    saved, written whatever else `change` returns. The channel as written; None if it is not
    registered."""
    p = placeholder
    row = db.execute(
        f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE fold = {p}{locking}", (fold,)
    ).fetchone()
    if row is None:
        return None
    saved = channel_of(row)
    made = change(saved)
    changed = replace(saved, **{name: getattr(made, name) for name in REGISTRATION})
    db.execute(*registration_update(changed, p))
    return changed


def registration_update(
    channel: RegisteredChannel, placeholder: str
) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE (and its arguments) that saves `channel`'s registration, its state kept.
    `placeholder`: the driver's parameter marker."""
    assignments, values = _assignments(channel, REGISTRATION, placeholder)
    return f"UPDATE channels SET {assignments} WHERE fold = {placeholder}", (*values, channel.fold)


def state_update(channel: RegisteredChannel, placeholder: str) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE (and its arguments) that saves `channel`'s state, its registration kept,
    unless the saved state is newer (`RegisteredChannel.replaces_state_of`): no row changed
    then."""
    p = placeholder
    assignments, values = _assignments(channel, STATE_COLUMNS, p)
    sql = f"UPDATE channels SET {assignments} WHERE fold = {p}"
    if channel.state_version == (0, 0):
        return sql, (*values, channel.fold)
    newer = f" AND (state_ms < {p} OR (state_ms = {p} AND state_seq <= {p}))"
    version = (channel.state_ms, channel.state_ms, channel.state_seq)
    return sql + newer, (*values, channel.fold, *version)
