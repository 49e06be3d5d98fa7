"""The PostgreSQL history back-end: for several hubbub nodes sharing one history.

Same tables and queries as the SQLite store (`hubbub.history.sqlite`), in PostgreSQL's dialect,
over one `hubbub.pg.database.Database` connection on the history worker's thread. `append` only
inserts, in the worker's open transaction (one `executemany` inside a savepoint, all sent in
one round trip: `Database.write_many`); `commit` makes the batch durable. The connection sees
its own uncommitted rows, so reads need no commit first.

Idempotent writes: `UNIQUE (target, msgid)` with `ON CONFLICT DO NOTHING`, so a batch written
again after a lost connection (the worker keeps every uncommitted record and appends it again
when it retries) stores nothing twice. msgids are unique network-wide, so this is the msgid's
uniqueness; the target is in the key because the contract lets two targets hold the same msgid.

Changes that delete or move records (a REDACT, a void, a rename's move) remember the msgids
they took away, and an insert of one of them (a late copy from another node) is ignored. But
an insert reads what is remembered as the statement begins: one that waited on a row such a
change was deleting or moving (its conflict waits for that change's commit) went in once it
was gone, a redacted message back in history, a moved one left under the old name too. So the
nodes' writes and those changes exclude each other: every history transaction takes a shared
advisory lock with its first insert (in the same round trip), and such a change commits what
its own transaction holds, takes the lock exclusively (waiting for every open history
transaction of every node to commit), and commits at once. Its own transaction's writes
committed first: it would otherwise wait for another node's writer waiting for its rows, a
deadlock. Changes are rare; while one waits, the nodes' history writes wait (not their chat).

PostgreSQL unreachable or restarted: `DatabaseUnavailable` (an OSError), which the worker treats
as a store failure (records kept, new messages refused while it lasts, retried with back-off);
reads fail with it meanwhile. The schema is versioned in `hubbub_schema` (component "history").
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hubbub.history.base import PlannedStore, Select, window
from hubbub.history.record import Edit, Record
from hubbub.history.sql import (
    COLUMNS,
    NO_TIME_BOUND,
    edited_params,
    later_aside_statement,
    record_of,
    row_of,
    select_statement,
)
from hubbub.history.store import aside_key
from hubbub.pg.component import ComponentStore
from hubbub.pg.database import DatabaseUnavailable

if TYPE_CHECKING:
    from hubbub.pg.database import Connection

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

COMPONENT = "history"
# 2: moved_msgids, the records a RENAME moved (a late copy under the old name is ignored).
# 3: set_aside, where a late record of an earlier room of a RENAME's new name goes.
# 4: moved_away, where a late record of a renamed room under its old name goes; and
#    hubbub_history_key, which follows both.
# 5: deleted_accounts, the bound up to which an account's history was deleted (HistServ).
SCHEMA_VERSION = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- append order
    target    TEXT NOT NULL,        -- casefolded channel, or dm_key(a, b)
    msgid     TEXT NOT NULL,
    time_ms   BIGINT NOT NULL,
    source    TEXT NOT NULL,
    command   TEXT NOT NULL,
    params    TEXT NOT NULL,        -- JSON array of strings (text: keeps escapes as written)
    tags      TEXT NOT NULL,        -- JSON object of client-only tags
    account   TEXT NOT NULL,
    party_a   TEXT,                 -- the two nicks of a private conversation, else NULL
    party_b   TEXT,
    edited_ms BIGINT NOT NULL DEFAULT 0,
    UNIQUE (target, msgid)
);
CREATE INDEX IF NOT EXISTS records_target_seq ON records (target, seq);
CREATE INDEX IF NOT EXISTS records_target_time ON records (target, time_ms);
CREATE INDEX IF NOT EXISTS records_party_a ON records (party_a, target) WHERE party_a IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_party_b ON records (party_b, target) WHERE party_b IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_account ON records (account, seq) WHERE account != '';
CREATE TABLE IF NOT EXISTS edits (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- edit order
    target     TEXT NOT NULL,       -- the edited record's target and msgid
    msgid      TEXT NOT NULL,
    edit_msgid TEXT NOT NULL,       -- the edit event's own msgid
    time_ms    BIGINT NOT NULL,
    text       TEXT NOT NULL,       -- the text after this edit
    previous   TEXT NOT NULL,       -- the text before it
    account    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS edits_record ON edits (target, msgid, seq);
CREATE TABLE IF NOT EXISTS moved_msgids (
    msgid    TEXT PRIMARY KEY,      -- moved by rename_target, deleted by redact, void or
                                    -- delete_by_account
    time_ms  BIGINT NOT NULL        -- its time, for retention
);
CREATE TABLE IF NOT EXISTS set_aside (
    target    TEXT NOT NULL,        -- a RENAME's new name, whose earlier records went aside
    before_ms BIGINT NOT NULL,      -- those older than this (the rename's time)
    aside     TEXT NOT NULL,        -- under this key (rename_target's `aside`)
    PRIMARY KEY (target, before_ms, aside)
);
CREATE TABLE IF NOT EXISTS moved_away (
    target     TEXT NOT NULL,       -- a RENAME's old name
    through_ms BIGINT NOT NULL,     -- its records up to this time (the rename's) moved
    moved_to   TEXT NOT NULL,       -- to this name (rename_target's `new`)
    undone     BOOLEAN NOT NULL DEFAULT FALSE,  -- moved back (kept: the move is not made again)
    PRIMARY KEY (target, through_ms, moved_to)
);
CREATE TABLE IF NOT EXISTS deleted_accounts (
    account   TEXT PRIMARY KEY,     -- an account whose history was deleted up to a time
    before_ms BIGINT NOT NULL       -- its records older than this are not written again
);
-- Where a record of a target at a time, written now, belongs: hubbub.history.store.late_key,
-- the same steps in the insert's own statement (so one round trip still writes a batch).
CREATE OR REPLACE FUNCTION hubbub_history_key(written_under TEXT, written_at BIGINT)
RETURNS TEXT LANGUAGE plpgsql STABLE AS $$
DECLARE
    name_now TEXT := written_under;
    followed BIGINT;  -- the time of the rename followed last (none yet: NULL)
    move_time BIGINT;
    move_to TEXT;
    aside_time BIGINT;
    aside_to TEXT;
BEGIN
    FOR hop IN 1..16 LOOP  -- hubbub.history.store.MAX_RENAMES_FOLLOWED
        SELECT through_ms, moved_to INTO move_time, move_to FROM moved_away
            WHERE target = name_now AND NOT undone AND through_ms >= written_at
            AND (followed IS NULL OR through_ms >= followed)
            ORDER BY through_ms LIMIT 1;
        SELECT before_ms, aside INTO aside_time, aside_to FROM set_aside
            WHERE target = name_now AND before_ms > written_at
            AND (followed IS NULL OR before_ms > followed)
            ORDER BY before_ms LIMIT 1;
        IF move_to IS NOT NULL AND (aside_to IS NULL OR move_time <= aside_time) THEN
            name_now := move_to;
            followed := move_time;
        ELSIF aside_to IS NOT NULL THEN
            RETURN aside_to;
        ELSE
            RETURN name_now;
        END IF;
    END LOOP;
    RETURN name_now;
END
$$;
"""

_ORPHAN_EDITS = """
DELETE FROM edits WHERE NOT EXISTS (
    SELECT 1 FROM records AS r WHERE r.target = edits.target AND r.msgid = edits.msgid
)
"""

# The row (`row_of`) goes in unless its msgid is among those a rename moved (stored already,
# where the move put it: this row is a late copy under the name it had), under the key where
# the renames since its time sent the name's records, if any (a late record of a renamed room,
# or of an earlier room of a RENAME's new name: hubbub_history_key). The function is called
# only for a name some rename left something for (an index probe in each table first): called
# for every row, it cost about 6 µs more a record. Nor does a row of an account whose history
# was deleted up to a later time (delete_by_account). HistoryStore.append.
_INSERT = (
    "INSERT INTO records (target, msgid, time_ms, source, command, params, tags, account,"
    " party_a, party_b)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM moved_away AS m WHERE m.target = r.target"
    " AND NOT m.undone)"
    " OR EXISTS (SELECT 1 FROM set_aside AS s WHERE s.target = r.target)"
    " THEN hubbub_history_key(r.target, r.time_ms) ELSE r.target END,"
    " r.msgid, r.time_ms, r.source, r.command, r.params, r.tags, r.account, r.party_a, r.party_b"
    " FROM (VALUES (%s, %s, %s::bigint, %s, %s, %s, %s, %s, %s, %s)) AS r(target, msgid,"
    " time_ms, source, command, params, tags, account, party_a, party_b)"
    " WHERE NOT EXISTS (SELECT 1 FROM moved_msgids AS d WHERE d.msgid = r.msgid)"
    " AND NOT EXISTS (SELECT 1 FROM deleted_accounts AS a WHERE a.account = r.account"
    " AND r.time_ms < a.before_ms)"
    " ON CONFLICT (target, msgid) DO NOTHING"
)


# A record deleted (REDACT) and its msgid remembered, in one statement; how many went (0 or 1).
_REDACT_REMEMBERED = (
    "WITH gone AS (DELETE FROM records WHERE target = %s AND msgid = %s"
    " RETURNING msgid, time_ms), remembered AS (INSERT INTO moved_msgids (msgid, time_ms)"
    " SELECT msgid, time_ms FROM gone ON CONFLICT (msgid) DO NOTHING)"
    " SELECT count(*) FROM gone"
)


# An account's history deleted up to a time: the highest bound is kept.
_DELETED_UP_TO = (
    "INSERT INTO deleted_accounts (account, before_ms) VALUES (%s, %s) ON CONFLICT (account)"
    " DO UPDATE SET before_ms = GREATEST(deleted_accounts.before_ms, EXCLUDED.before_ms)"
)

_DELETE_ACCOUNT_REMEMBERED = (
    "WITH gone AS (DELETE FROM records WHERE account = %s AND account != '' AND time_ms < %s"
    " RETURNING msgid, time_ms), remembered AS (INSERT INTO moved_msgids (msgid, time_ms)"
    " SELECT msgid, time_ms FROM gone ON CONFLICT (msgid) DO NOTHING)"
    " SELECT count(*) FROM gone"
)


def _where(db: Connection, target: str, msgid: str) -> str | None:
    """The key the record with this msgid of `target` is under: `target`, or where a rename
    moved it since (HistoryStore.edit: `hubbub_history_key` from the time remembered for the
    msgid); None if it is in neither."""
    select = "SELECT 1 FROM records WHERE target = %s AND msgid = %s"
    if db.execute(select, (target, msgid)).fetchone() is not None:
        return target
    moved = db.execute(
        "SELECT hubbub_history_key(%s, time_ms) FROM moved_msgids WHERE msgid = %s",
        (target, msgid),
    ).fetchone()
    key = str(moved[0]) if moved is not None else target
    if key == target or db.execute(select, (key, msgid)).fetchone() is None:
        return None
    return key


def _redact(db: Connection, target: str, msgid: str) -> bool:
    """Delete one record and its edits, its msgid remembered (in the caller's transaction);
    whether there was one. One a rename moved since is deleted where it went (`_where`)."""
    target = _where(db, target, msgid) or target
    gone = db.execute(_REDACT_REMEMBERED, (target, msgid)).fetchone()
    db.execute("DELETE FROM edits WHERE target = %s AND msgid = %s", (target, msgid))
    return bool(gone and gone[0])


def _move_remembered(condition: str = "") -> str:
    """Move a target's records (those matching `condition` too, when given) to another one and
    remember their msgids (HistoryStore.append), in one statement, so that a record another
    node commits meanwhile is either moved and remembered or neither; how many moved. Binds
    the new target, the old one, then the condition's values."""
    return (
        "WITH moved AS (UPDATE records SET target = %s WHERE target = %s"
        + condition
        + " RETURNING msgid, time_ms), remembered AS (INSERT INTO moved_msgids (msgid, time_ms)"
        " SELECT msgid, time_ms FROM moved ON CONFLICT (msgid) DO NOTHING)"
        " SELECT count(*) FROM moved"
    )


_TARGETS = """
WITH candidates(target) AS (
    SELECT unnest(%(channels)s::text[])
    UNION SELECT target FROM records WHERE party_a = %(nick)s
    UNION SELECT target FROM records WHERE party_b = %(nick)s
), newest(target, t) AS (
    SELECT c.target, (SELECT max(r.time_ms) FROM records AS r
                      WHERE r.target = c.target AND r.time_ms > %(low)s AND r.time_ms < %(high)s)
    FROM candidates AS c
)
SELECT target, t FROM newest WHERE t IS NOT NULL
"""

_PRUNE_PRIVATE = """
DELETE FROM records WHERE seq IN (
    SELECT seq FROM (
        SELECT seq, row_number() OVER (PARTITION BY account ORDER BY seq DESC) AS newer
        FROM records WHERE party_a IS NOT NULL AND account != ''
    ) AS ranked WHERE newer > %s
)
"""

_PRUNE_COUNT = """
DELETE FROM records WHERE seq IN (
    SELECT seq FROM (
        SELECT seq, row_number() OVER (PARTITION BY target ORDER BY seq DESC) AS newer
        FROM records
    ) AS ranked WHERE newer > %s
)
"""


# The edits of the records of `new` older than a time: set aside with them (rename_target).
_ASIDE_EDITS = (
    "UPDATE edits SET target = %s WHERE target = %s AND msgid IN"
    " (SELECT msgid FROM records WHERE target = %s AND time_ms < %s)"
)

# The edits of the records of `old` up to a time: they move with them (rename_target).
_MOVED_EDITS = (
    "UPDATE edits SET target = %s WHERE target = %s AND msgid IN"
    " (SELECT msgid FROM records WHERE target = %s AND time_ms <= %s)"
)

# Where a move finds the renamed room's records if a later set-aside was made first.
_LATER_ASIDE = later_aside_statement("%s")


# The lock of the module docstring: any constant of our own (`_MIGRATION_LOCK` is "hubb").
_CHANGES_LOCK = 0x68756263  # "hubc"
_WRITING = f"SELECT pg_advisory_xact_lock_shared({_CHANGES_LOCK})"
_CHANGING = f"SELECT pg_advisory_xact_lock({_CHANGES_LOCK})"


class PostgresStore(PlannedStore, ComponentStore):
    """A `HistoryStore` in a PostgreSQL database (tables created if absent)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, COMPONENT, SCHEMA_VERSION, _SCHEMA, autocommit=False)

    # -- writing ---------------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        self._db.write_many(_INSERT, [row_of(r) for r in records], first=_WRITING)

    def commit(self) -> None:
        self._db.commit()

    @contextmanager
    def _alone(self) -> Iterator[Connection]:
        """A step that deletes or moves records, alone against every node's history writes
        (the module docstring), committed at once."""
        self._commit_open()
        with self._db.step(write=True) as db:
            db.execute(_CHANGING)
            yield db
        self._commit_open()

    def _commit_open(self) -> None:
        """Commit the open transaction on the way to a change; failed, its writer (the
        history worker) hears of it at its own next commit, and writes its batch again."""
        try:
            self._db.commit()
        except DatabaseUnavailable:
            self._db.writes_lost()
            raise

    def close(self) -> None:
        self._db.close()

    def prune(self, now_ms: int, max_count: int, max_age_ms: int) -> int:
        dropped = 0
        with self._db.step(write=True) as db:
            if max_age_ms > 0:
                cursor = db.execute(
                    "DELETE FROM records WHERE time_ms < %s", (now_ms - max_age_ms,)
                )
                dropped += cursor.rowcount
                db.execute("DELETE FROM moved_msgids WHERE time_ms < %s", (now_ms - max_age_ms,))
                db.execute("DELETE FROM set_aside WHERE before_ms < %s", (now_ms - max_age_ms,))
                db.execute("DELETE FROM moved_away WHERE through_ms < %s", (now_ms - max_age_ms,))
                db.execute(
                    "DELETE FROM deleted_accounts WHERE before_ms < %s", (now_ms - max_age_ms,)
                )
            if max_count > 0:
                dropped += db.execute(_PRUNE_COUNT, (max_count,)).rowcount
            if dropped:
                db.execute(_ORPHAN_EDITS)
        return dropped

    def prune_private(self, max_per_account: int) -> int:
        if max_per_account <= 0:
            return 0
        with self._db.step(write=True) as db:
            dropped = db.execute(_PRUNE_PRIVATE, (max_per_account,)).rowcount
            if dropped:
                db.execute(_ORPHAN_EDITS)
        return dropped

    def redact(self, target: str, msgid: str) -> bool:
        with self._alone() as db:
            # Deleted and remembered in one statement (a late copy is ignored:
            # HistoryStore.redact), as a rename's moves are.
            return _redact(db, target, msgid)

    def void(self, target: str, msgid: str, time_ms: int) -> None:
        with self._alone() as db:
            db.execute(
                "INSERT INTO moved_msgids (msgid, time_ms) VALUES (%s, %s)"
                " ON CONFLICT (msgid) DO NOTHING",
                (msgid, time_ms),
            )
            _redact(db, target, msgid)

    def rename_target(
        self,
        old: str,
        new: str,
        before_ms: int | None = None,
        aside: str | None = None,
        through_ms: int | None = None,
    ) -> int:
        with self._alone() as db:
            if through_ms is not None:
                # First: nodes applying the rename at once wait here for the first one's
                # commit, and find its row then (ON CONFLICT waits for it).
                remembered = db.execute(
                    "INSERT INTO moved_away (target, through_ms, moved_to) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING 1",
                    (old, through_ms, new),
                ).fetchone()
                if remembered is None:
                    return 0  # (made already: every node that applies a rename asks for it)
            else:  # (Undone: a late record of `new` from before stays there, where the room is.)
                db.execute(
                    "UPDATE moved_away SET undone = TRUE WHERE target = %s AND moved_to = %s",
                    (new, old),
                )
            db.execute("DELETE FROM set_aside WHERE aside = %s", (old,))  # (moved back: undone)
            if before_ms is not None and before_ms > 0 and aside is not None:
                db.execute(
                    "INSERT INTO set_aside (target, before_ms, aside) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (new, before_ms, aside),
                )
            taken = db.execute("SELECT 1 FROM records WHERE target = %s LIMIT 1", (new,))
            if taken.fetchone() is not None:
                if aside is None:
                    newest = db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()
                    aside = aside_key(new, int(newest[0]) if newest else 0)
                if before_ms is None:
                    db.execute(_move_remembered(), (aside, new))
                    db.execute("UPDATE edits SET target = %s WHERE target = %s", (aside, new))
                else:  # the edits first, while their records are still found under `new`
                    db.execute(_ASIDE_EDITS, (aside, new, new, before_ms))
                    db.execute(_move_remembered(" AND time_ms < %s"), (aside, new, before_ms))
            if through_ms is None:
                row = db.execute(_move_remembered(), (new, old)).fetchone()
                db.execute("UPDATE edits SET target = %s WHERE target = %s", (new, old))
            else:  # (the edits first, as above)
                # (Under `old`, or under the key a later set-aside, made first, took them to.)
                later_aside = db.execute(_LATER_ASIDE, (old, through_ms)).fetchone()
                source = old if later_aside is None else str(later_aside[0])
                db.execute(_MOVED_EDITS, (new, source, source, through_ms))
                row = db.execute(
                    _move_remembered(" AND time_ms <= %s"), (new, source, through_ms)
                ).fetchone()
        return int(row[0]) if row else 0

    def delete_by_account(self, account: str, before_ms: int | None = None) -> int:
        if not account:
            return 0
        bound = (account, NO_TIME_BOUND if before_ms is None else before_ms)
        with self._alone() as db:
            if before_ms is not None:  # (a later record of the account older than it: ignored)
                db.execute(_DELETED_UP_TO, bound)
            # Deleted and remembered in one statement, as a REDACT's record (a late copy,
            # another node's write, is ignored: HistoryStore.delete_by_account).
            row = db.execute(_DELETE_ACCOUNT_REMEMBERED, bound).fetchone()
            dropped = int(row[0]) if row else 0
            if dropped:
                db.execute(_ORPHAN_EDITS)
        return dropped

    def taken_away(self, msgids: Collection[str]) -> set[str]:
        if not msgids:
            return set()
        with self._db.step() as db:
            rows = db.execute(
                "SELECT msgid FROM moved_msgids WHERE msgid = ANY(%s)", (list(msgids),)
            ).fetchall()
        return {str(msgid) for (msgid,) in rows}

    def edit(self, target: str, msgid: str, edit: Edit) -> bool:
        with self._db.step(write=True) as db:
            key = _where(db, target, msgid)
            if key is None:
                return False
            target = key
            row = db.execute(
                "SELECT seq, params FROM records WHERE target = %s AND msgid = %s FOR UPDATE",
                (target, msgid),
            ).fetchone()
            if row is None:
                return False
            seq = row[0]
            params, previous = edited_params(row[1], edit.text)
            db.execute(
                "UPDATE records SET params = %s, edited_ms = %s WHERE seq = %s",
                (params, edit.time_ms, seq),
            )
            db.execute(
                "INSERT INTO edits (target, msgid, edit_msgid, time_ms, text, previous, account)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (target, msgid, edit.msgid, edit.time_ms, edit.text, previous, edit.account),
            )
        return True

    def edits(self, target: str, msgid: str) -> list[Edit]:
        with self._db.step() as db:
            rows = db.execute(
                "SELECT edit_msgid, time_ms, text, previous, account FROM edits"
                " WHERE target = %s AND msgid = %s ORDER BY seq",
                (target, msgid),
            ).fetchall()
        return [Edit(m, int(t), text, previous, account) for m, t, text, previous, account in rows]

    # -- reading ---------------------------------------------------------------------------------

    def by_account(self, account: str, limit: int) -> list[Record]:
        if limit <= 0 or not account:
            return []
        with self._db.step() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM records WHERE account = %s AND account != ''"
                " ORDER BY seq DESC LIMIT %s",
                (account, limit),
            ).fetchall()
        return [record_of(row)[1] for row in reversed(rows)]

    def find(self, target: str, msgid: str) -> Record | None:
        with self._db.step() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM records WHERE target = %s AND msgid = %s",
                (target, msgid),
            ).fetchone()
        return record_of(row)[1] if row is not None else None

    def _position(self, target: str, msgid: str) -> tuple[int, int] | None:
        with self._db.step() as db:
            row = db.execute(
                "SELECT seq, time_ms FROM records WHERE target = %s AND msgid = %s",
                (target, msgid),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row is not None else None

    def _select(self, target: str, sel: Select) -> list[tuple[int, Record]]:
        if sel.limit <= 0:
            return []
        sql, args = select_statement(target, sel, "%s")
        with self._db.step() as db:
            found = [record_of(row) for row in db.execute(sql, args).fetchall()]
        found.sort(key=lambda pair: pair[0])
        return found

    def targets(
        self, start_ms: int, end_ms: int, limit: int, channels: Collection[str], nick: str
    ) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        low, high, newest_first = window(start_ms, end_ms)
        direction = "DESC" if newest_first else "ASC"
        sql = f'{_TARGETS} ORDER BY t {direction}, target COLLATE "C" {direction} LIMIT %(limit)s'
        params = {
            "channels": list(channels),
            "nick": nick,
            "low": low,
            "high": high,
            "limit": limit,
        }
        with self._db.step() as db:
            rows = db.execute(sql, params).fetchall()
        return [(target, int(t)) for target, t in rows]
