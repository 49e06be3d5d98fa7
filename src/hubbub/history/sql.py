"""What the SQL history stores (SQLite and PostgreSQL) share, whatever the dialect: the columns
a record is read with, a record turned into a row to insert and back, and the SELECT that reads
one CHATHISTORY selection.

The two databases differ only in how a statement names its parameters (`?` for sqlite3, `%s`
for psycopg), so the builders take that placeholder. SQL that really differs per dialect (the
schema, upserts, TARGETS, pruning) stays in each store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hubbub.history.base import Select
from hubbub.history.record import Record, compact_json, dm_parties, params_json, tags_json

__all__ = [
    "COLUMNS",
    "NO_TIME_BOUND",
    "edited_params",
    "later_aside_statement",
    "record_of",
    "record_values",
    "row_of",
    "select_statement",
]

#: The columns every read of whole records selects, in the order `record_of` expects.
COLUMNS = "seq, target, msgid, time_ms, source, command, params, tags, account, edited_ms"

#: A `time_ms < ?` bound every record is below (the largest 64-bit integer both databases hold):
#: a statement that may be bounded by time takes it when it is not.
NO_TIME_BOUND = 2**63 - 1


def record_values(record: Record) -> tuple[Any, ...]:
    """The values to insert for `record` but its parties: target, msgid, time_ms, source,
    command, params, tags, account (a channel's whole row where a store leaves the parties
    NULL)."""
    return (
        record.target,
        record.msgid,
        record.time_ms,
        record.source,
        record.command,
        # ASCII-only JSON keeps lone surrogates (surrogate-escaped bytes) storable.
        params_json(record.params),
        tags_json(record.tags),
        record.account,
    )


def row_of(record: Record) -> tuple[Any, ...]:
    """The values to insert for `record`: `record_values`, then party_a, party_b (None for a
    channel's record)."""
    parties = dm_parties(record.target)
    return (*record_values(record), *(parties if parties else (None, None)))


def record_of(row: Sequence[Any]) -> tuple[int, Record]:
    """A row read with `COLUMNS` as (seq, record)."""
    seq, target, msgid, time_ms, source, command, params, tags, account, edited_ms = row
    # int(): a driver may hand back BIGINT columns as another integer type.
    return int(seq), Record(
        target=target,
        msgid=msgid,
        time_ms=int(time_ms),
        source=source,
        command=command,
        params=tuple(json.loads(params)),
        tags=json.loads(tags),
        account=account,
        edited_ms=int(edited_ms),
    )


def edited_params(stored_params: str, text: str) -> tuple[str, str]:
    """A stored record's params (JSON) with its text, the last param, replaced by `text`, as
    (the params to store, the text before the edit)."""
    params = json.loads(stored_params)
    previous = params[-1] if params else ""
    params[-1:] = [text]
    return compact_json(params), previous


def select_statement(target: str, selection: Select, placeholder: str) -> tuple[str, list[Any]]:
    """The SELECT (and its arguments) reading `selection` of `target`'s records with `COLUMNS`,
    in the selection's order, at most its limit. `placeholder`: the driver's parameter marker."""
    where = [f"target = {placeholder}"]
    args: list[Any] = [target]
    for column, op, value in (
        ("seq", ">", selection.seq_lo),
        ("seq", "<", selection.seq_hi),
        ("time_ms", ">", selection.t_lo),
        ("time_ms", "<", selection.t_hi),
    ):
        if value is not None:
            where.append(f"{column} {op} {placeholder}")
            args.append(value)
    direction = "DESC" if selection.desc else "ASC"
    order = f"time_ms {direction}, seq {direction}" if selection.by_time else f"seq {direction}"
    args.append(selection.limit)
    sql = (
        f"SELECT {COLUMNS} FROM records WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT {placeholder}"
    )
    return sql, args


def later_aside_statement(placeholder: str) -> str:
    """The SELECT of the key where a rename's move finds the renamed room's records when a
    set-aside of its old name later than its time was made first (renames of two rooms apply
    in either order): the first such set-aside's (HistoryStore.rename_target). Binds the old
    name and the move's time (`placeholder`: the driver's parameter marker)."""
    return (
        f"SELECT aside FROM set_aside WHERE target = {placeholder} AND before_ms > {placeholder}"
        " ORDER BY before_ms LIMIT 1"
    )
