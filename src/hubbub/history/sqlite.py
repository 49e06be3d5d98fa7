"""The SQLite history back-end: the embedded default, one file, stdlib `sqlite3`.

One connection, created by and used only on the thread that constructed the store (the
`HistoryWorker` thread in the server). WAL journal with `synchronous=NORMAL`: a committed
transaction survives a killed process (it may not survive a power cut, which we do not promise).
`append` only inserts, inside an open transaction; `commit` makes the batch durable. The
connection sees its own uncommitted rows, so reads need no commit first.

Every query is one indexed SQL statement with a LIMIT; no query loads a whole target.
A record whose (target, msgid) is already stored is ignored.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from hubbub.history.base import PlannedStore, Select, window
from hubbub.history.record import Edit, Record
from hubbub.history.sql import (
    COLUMNS,
    NO_TIME_BOUND,
    edited_params,
    later_aside_statement,
    record_of,
    record_values,
    row_of,
    select_statement,
)
from hubbub.history.store import Renamed, StoreUnwritable, aside_key, late_key, placed
from hubbub.sqlitedb import open_database

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

# 2: message edits (draft/message-edit): records.edited_ms and the edits table.
# 3: moved_msgids, the records a RENAME moved (a late copy under the old name is ignored).
# 4: set_aside, where a late record of an earlier room of a RENAME's new name goes.
# 5: moved_away, where a late record of a renamed room under its old name goes.
# 6: deleted_accounts, the bound up to which an account's history was deleted (HistServ).
SCHEMA_VERSION = 6

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq      INTEGER PRIMARY KEY,  -- append order
    target   TEXT NOT NULL,        -- casefolded channel, or dm_key(a, b)
    msgid    TEXT NOT NULL,
    time_ms  INTEGER NOT NULL,
    source   TEXT NOT NULL,
    command  TEXT NOT NULL,
    params   TEXT NOT NULL,        -- JSON array of strings
    tags     TEXT NOT NULL,        -- JSON object of client-only tags
    account  TEXT NOT NULL,
    party_a  TEXT,                 -- the two nicks of a private conversation, else NULL
    party_b  TEXT,
    edited_ms INTEGER NOT NULL DEFAULT 0  -- time of the last edit, 0: never edited
);
CREATE INDEX IF NOT EXISTS records_target_seq ON records (target, seq);
CREATE UNIQUE INDEX IF NOT EXISTS records_target_msgid ON records (target, msgid);
CREATE INDEX IF NOT EXISTS records_target_time ON records (target, time_ms);
CREATE INDEX IF NOT EXISTS records_party_a ON records (party_a, target) WHERE party_a IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_party_b ON records (party_b, target) WHERE party_b IS NOT NULL;
CREATE TABLE IF NOT EXISTS edits (
    seq        INTEGER PRIMARY KEY,  -- edit order
    target     TEXT NOT NULL,        -- the edited record's target and msgid
    msgid      TEXT NOT NULL,
    edit_msgid TEXT NOT NULL,        -- the edit event's own msgid
    time_ms    INTEGER NOT NULL,
    text       TEXT NOT NULL,        -- the text after this edit
    previous   TEXT NOT NULL,        -- the text before it
    account    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS edits_record ON edits (target, msgid, seq);
CREATE TABLE IF NOT EXISTS moved_msgids (
    msgid    TEXT PRIMARY KEY,     -- moved by rename_target, deleted by redact, void or
                                   -- delete_by_account
    time_ms  INTEGER NOT NULL      -- its time, for retention
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS set_aside (
    target    TEXT NOT NULL,       -- a RENAME's new name, whose earlier records went aside
    before_ms INTEGER NOT NULL,    -- those older than this (the rename's time)
    aside     TEXT NOT NULL,       -- under this key (rename_target's `aside`)
    PRIMARY KEY (target, before_ms, aside)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS moved_away (
    target     TEXT NOT NULL,      -- a RENAME's old name
    through_ms INTEGER NOT NULL,   -- its records up to this time (the rename's) moved
    moved_to   TEXT NOT NULL,      -- to this name (rename_target's `new`)
    undone     INTEGER NOT NULL DEFAULT 0,  -- 1: moved back (kept: the move is not made again)
    PRIMARY KEY (target, through_ms, moved_to)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deleted_accounts (
    account   TEXT PRIMARY KEY,    -- an account whose history was deleted up to a time
    before_ms INTEGER NOT NULL     -- its records older than this are not written again
) WITHOUT ROWID;
"""

# Which of a batch's msgids (a JSON array) a rename moved: those records are stored already.
_MOVED_AMONG = "SELECT msgid FROM moved_msgids WHERE msgid IN (SELECT value FROM json_each(?))"

# The deletion bounds of a batch's accounts (a JSON array; delete_by_account).
_DELETED_AMONG = (
    "SELECT account, before_ms FROM deleted_accounts"
    " WHERE account IN (SELECT value FROM json_each(?))"
)

# The moves (kind 0) and set-asides (kind 1) of some names (a JSON array), in order of time.
_RENAMED_AMONG = (
    "SELECT 0, target, through_ms, moved_to FROM moved_away"
    " WHERE target IN (SELECT value FROM json_each(?1)) AND undone = 0"
    " UNION ALL SELECT 1, target, before_ms, aside FROM set_aside"
    " WHERE target IN (SELECT value FROM json_each(?1)) ORDER BY 2, 3"
)

_ACCOUNT_INDEX = (
    "CREATE INDEX IF NOT EXISTS records_account ON records (account, seq) WHERE account != ''"
)

# An account's history deleted up to a time: the highest bound is kept.
_DELETED_UP_TO = (
    "INSERT INTO deleted_accounts (account, before_ms) VALUES (?, ?)"
    " ON CONFLICT (account) DO UPDATE SET before_ms = max(before_ms, excluded.before_ms)"
)

# Edits whose message is gone (redacted, pruned, deleted) go too.
_ORPHAN_EDITS = """
DELETE FROM edits WHERE NOT EXISTS (
    SELECT 1 FROM records AS r WHERE r.target = edits.target AND r.msgid = edits.msgid
)
"""

# A private conversation's record binds its two parties; a channel's binds none (they stay
# NULL): binding None is not free, the sqlite3 module looks for an adapter on every bind.
_PRIVATE_COLUMNS = (
    "target, msgid, time_ms, source, command, params, tags, account, party_a, party_b"
)
_ROOM_COLUMNS = "target, msgid, time_ms, source, command, params, tags, account"
_COLUMNS_OF_WIDTH = {10: _PRIVATE_COLUMNS, 8: _ROOM_COLUMNS}
#: Records inserted by one statement at most. `executemany` runs one statement per record, and
#: the sqlite3 module releases the GIL around every step and must win it back after each: with
#: the threads engine's thousand connection threads (and its 50 ms switch interval) each win
#: could take milliseconds, so a 2,000-record batch took over a second, the writer fell
#: `history.max_pending` behind and the core refused every sender's next messages. One
#: multi-row statement per this many records asks for the GIL once per chunk instead.
_ROWS_PER_INSERT = 1024


@functools.lru_cache(maxsize=64)  # the full chunk's statement, and the common short ones
def _insert_sql(width: int, rows: int) -> str:
    """One INSERT of `rows` rows of `width` values (VALUES rows are inserted in order: `seq`
    keeps append order)."""
    marks = "(" + ", ".join("?" * width) + ")"
    return f"INSERT OR IGNORE INTO records ({_COLUMNS_OF_WIDTH[width]}) VALUES " + ", ".join(
        [marks] * rows
    )


def _stored_row(record: Record) -> tuple[Any, ...]:
    """The values `append` binds: a channel's record without its (NULL) parties."""
    return row_of(record) if record.target.startswith("dm:") else record_values(record)


# Newest time of a candidate target inside the window (an index seek per target), for TARGETS.
_TARGETS = """
WITH candidates(target) AS (
    SELECT value FROM json_each(:channels)
    UNION SELECT target FROM records WHERE party_a = :nick
    UNION SELECT target FROM records WHERE party_b = :nick
), newest(target, t) AS (
    SELECT c.target, (SELECT max(r.time_ms) FROM records AS r
                      WHERE r.target = c.target AND r.time_ms > :low AND r.time_ms < :high)
    FROM candidates AS c
)
SELECT target, t FROM newest WHERE t IS NOT NULL
"""


# Per sending account, its private records beyond the newest N (one pass over the DM index).
_PRUNE_PRIVATE = """
DELETE FROM records WHERE seq IN (
    SELECT seq FROM (
        SELECT seq, row_number() OVER (PARTITION BY account ORDER BY seq DESC) AS newer
        FROM records WHERE party_a IS NOT NULL AND account != ''
    ) WHERE newer > ?
)
"""


# The edits of the records of `new` older than a time: set aside with them (rename_target).
_ASIDE_EDITS = (
    "UPDATE edits SET target = ? WHERE target = ? AND msgid IN"
    " (SELECT msgid FROM records WHERE target = ? AND time_ms < ?)"
)

# The edits of the records of `old` up to a time: they move with them (rename_target).
_MOVED_EDITS = (
    "UPDATE edits SET target = ? WHERE target = ? AND msgid IN"
    " (SELECT msgid FROM records WHERE target = ? AND time_ms <= ?)"
)

# Where a move finds the renamed room's records if a later set-aside was made first.
_LATER_ASIDE = later_aside_statement("?")

# The records of a target that rename_target moves, remembered (with a condition on time_ms
# appended where only some move): a late copy of one is ignored (HistoryStore.append).
_REMEMBER_MOVED = (
    "INSERT OR IGNORE INTO moved_msgids (msgid, time_ms) SELECT msgid, time_ms FROM records"
    " WHERE target = ?"
)


class SqliteStore(PlannedStore):
    """A `HistoryStore` in one SQLite file (created, with its directory, if absent)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = open_database(self.path, self._setup)
        except sqlite3.DatabaseError as exc:
            # Not writable (read-only, full, not a database): say which file, in one line.
            raise StoreUnwritable(
                f"{self.path}: the history database cannot be written ({exc}); check that"
                " this user may write the file and its directory, that the file system is"
                " not read-only and that the disk has room"
            ) from exc
        # An SQLite built with a low bound on bound parameters (999 before 3.32) gets smaller
        # chunks.
        # How many values one statement may bind in this SQLite build (chunks fit it).
        self._variables = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def _setup(self, db: sqlite3.Connection) -> None:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: history schema version {version} is newer than this"
                f" hubbub understands ({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            if version == 1:  # the records table is there: it gains the edit time
                db.execute("ALTER TABLE records ADD COLUMN edited_ms INTEGER NOT NULL DEFAULT 0")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.commit()
        # HistServ EXPORT / DELETE look records up by account. Added without a schema version
        # of its own: an index changes no row, and older versions simply ignore it.
        db.execute(_ACCOUNT_INDEX)
        db.commit()
        self._prove_writable(db)

    @staticmethod
    def _prove_writable(db: sqlite3.Connection) -> None:
        """Write once now: SQLite opens a file it may not write read-only without a word, and
        only the first write fails (root is refused too when the file is immutable or the file
        system read-only). Rewriting the schema version is such a write. A file another
        connection is writing right now (busy) is writable: not waited for."""
        (wait_ms,) = db.execute("PRAGMA busy_timeout").fetchone()
        db.execute("PRAGMA busy_timeout=0")
        try:
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.commit()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") not in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise
            db.rollback()
        finally:
            db.execute(f"PRAGMA busy_timeout={int(wait_ms)}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- writing ---------------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        # (A query per batch for each of the two, not one per record: this thread is the
        # file's only writer, so nothing is moved or set aside between them and the insert.
        # A record sent on by a rename needs a query for the names it goes through.)
        moved = {
            msgid
            for (msgid,) in self._db.execute(
                _MOVED_AMONG, (json.dumps([r.msgid for r in records]),)
            )
        }
        if moved:
            records = [r for r in records if r.msgid not in moved]
        accounts = {r.account for r in records if r.account}
        if accounts:
            deleted = dict(self._db.execute(_DELETED_AMONG, (json.dumps(sorted(accounts)),)))
            if deleted:
                records = [r for r in records if r.time_ms >= deleted.get(r.account, 0)]
        renamed = self._renamed_among({r.target for r in records})
        if any(renamed.values()):

            def renamed_of(name: str) -> Renamed | None:
                if name not in renamed:
                    renamed.update(self._renamed_among({name}))
                return renamed[name]

            records = [placed(r, renamed_of) for r in records]
        # Runs of one kind (channel or private rows), in order, since seq is the append order;
        # each run in multi-row statements of a chunk (see _ROWS_PER_INSERT).
        rows = [_stored_row(r) for r in records]
        start = 0
        while start < len(rows):
            width = len(rows[start])
            end = start + 1
            while end < len(rows) and len(rows[end]) == width:
                end += 1
            self._insert_run(rows[start:end], width)
            start = end

    def _renamed_among(self, names: Collection[str]) -> dict[str, Renamed | None]:
        """What rename_target left for each of these names (None: nothing)."""
        moved: dict[str, list[tuple[int, str]]] = {}
        asides: dict[str, list[tuple[int, str]]] = {}
        for kind, target, time_ms, key in self._db.execute(
            _RENAMED_AMONG, (json.dumps(sorted(names)),)
        ):
            (asides if kind else moved).setdefault(target, []).append((time_ms, key))
        return {
            name: Renamed(moved.get(name, ()), asides.get(name, ()))
            if name in moved or name in asides
            else None
            for name in names
        }

    def _insert_run(self, rows: Sequence[tuple[Any, ...]], width: int) -> None:
        db = self._db
        chunk = max(1, min(_ROWS_PER_INSERT, self._variables // width))
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            db.execute(_insert_sql(width, len(part)), [value for row in part for value in row])

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        try:
            self._db.commit()
        finally:
            self._db.close()

    def prune(self, now_ms: int, max_count: int, max_age_ms: int) -> int:
        db = self._db
        dropped = 0
        if max_age_ms > 0:
            cur = db.execute("DELETE FROM records WHERE time_ms < ?", (now_ms - max_age_ms,))
            dropped += cur.rowcount
            db.execute("DELETE FROM moved_msgids WHERE time_ms < ?", (now_ms - max_age_ms,))
            db.execute("DELETE FROM set_aside WHERE before_ms < ?", (now_ms - max_age_ms,))
            db.execute("DELETE FROM moved_away WHERE through_ms < ?", (now_ms - max_age_ms,))
            db.execute("DELETE FROM deleted_accounts WHERE before_ms < ?", (now_ms - max_age_ms,))
        if max_count > 0:
            targets = [t for (t,) in db.execute("SELECT DISTINCT target FROM records")]
            for target in targets:
                row = db.execute(
                    "SELECT seq FROM records WHERE target = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                    (target, max_count),
                ).fetchone()
                if row is not None:
                    cur = db.execute(
                        "DELETE FROM records WHERE target = ? AND seq <= ?", (target, row[0])
                    )
                    dropped += cur.rowcount
        if dropped:
            db.execute(_ORPHAN_EDITS)
        return dropped

    def prune_private(self, max_per_account: int) -> int:
        if max_per_account <= 0:
            return 0
        cur = self._db.execute(_PRUNE_PRIVATE, (max_per_account,))
        if cur.rowcount:
            self._db.execute(_ORPHAN_EDITS)
        return cur.rowcount

    def _where(self, target: str, msgid: str) -> str | None:
        """The key the record with this msgid of `target` is under: `target`, or where a
        rename moved it since (HistoryStore.edit, `late_key` from the time remembered for the
        msgid); None if it is in neither."""
        select = "SELECT 1 FROM records WHERE target = ? AND msgid = ?"
        if self._db.execute(select, (target, msgid)).fetchone() is not None:
            return target
        moved = self._db.execute(
            "SELECT time_ms FROM moved_msgids WHERE msgid = ?", (msgid,)
        ).fetchone()
        if moved is None:
            return None

        def renamed_of(name: str) -> Renamed | None:
            return self._renamed_among({name})[name]

        key = late_key(target, int(moved[0]), renamed_of)
        if key == target or self._db.execute(select, (key, msgid)).fetchone() is None:
            return None
        return key

    def redact(self, target: str, msgid: str) -> bool:
        target = self._where(target, msgid) or target
        # Remembered first (as a rename's moves are): a late copy is ignored, HistoryStore.redact.
        self._db.execute(_REMEMBER_MOVED + " AND msgid = ?", (target, msgid))
        cur = self._db.execute(
            "DELETE FROM records WHERE target = ? AND msgid = ?", (target, msgid)
        )
        self._db.execute("DELETE FROM edits WHERE target = ? AND msgid = ?", (target, msgid))
        return cur.rowcount > 0

    def void(self, target: str, msgid: str, time_ms: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO moved_msgids (msgid, time_ms) VALUES (?, ?)", (msgid, time_ms)
        )
        self.redact(target, msgid)

    def rename_target(
        self,
        old: str,
        new: str,
        before_ms: int | None = None,
        aside: str | None = None,
        through_ms: int | None = None,
    ) -> int:
        db = self._db
        if through_ms is not None:
            remembered = db.execute(
                "INSERT OR IGNORE INTO moved_away (target, through_ms, moved_to) VALUES (?, ?, ?)",
                (old, through_ms, new),
            )
            if not remembered.rowcount:
                return 0  # (made already: every node that applies a rename asks for it)
        else:  # (Undone: a late record of `new` from before stays there, where the room is.)
            db.execute(
                "UPDATE moved_away SET undone = 1 WHERE target = ? AND moved_to = ?", (new, old)
            )
        db.execute("DELETE FROM set_aside WHERE aside = ?", (old,))  # (moved back: undone)
        if before_ms is not None and before_ms > 0 and aside is not None:
            db.execute(
                "INSERT OR IGNORE INTO set_aside (target, before_ms, aside) VALUES (?, ?, ?)",
                (new, before_ms, aside),
            )
        if db.execute("SELECT 1 FROM records WHERE target = ? LIMIT 1", (new,)).fetchone():
            if aside is None:
                newest = db.execute("SELECT max(seq) FROM records").fetchone()[0] or 0
                aside = aside_key(new, newest)
            if before_ms is None:
                db.execute(_REMEMBER_MOVED, (new,))
                db.execute("UPDATE records SET target = ? WHERE target = ?", (aside, new))
                db.execute("UPDATE edits SET target = ? WHERE target = ?", (aside, new))
            else:  # the edits first, while their records are still found under `new`
                db.execute(_ASIDE_EDITS, (aside, new, new, before_ms))
                db.execute(_REMEMBER_MOVED + " AND time_ms < ?", (new, before_ms))
                db.execute(
                    "UPDATE records SET target = ? WHERE target = ? AND time_ms < ?",
                    (aside, new, before_ms),
                )
        if through_ms is None:
            db.execute(_REMEMBER_MOVED, (old,))
            cur = db.execute("UPDATE records SET target = ? WHERE target = ?", (new, old))
            db.execute("UPDATE edits SET target = ? WHERE target = ?", (new, old))  # edits follow
            return cur.rowcount
        # (Under `old`, or under the key a later set-aside of `old`, made first, took them to.)
        later_aside = db.execute(_LATER_ASIDE, (old, through_ms)).fetchone()
        source = old if later_aside is None else later_aside[0]
        db.execute(_MOVED_EDITS, (new, source, source, through_ms))  # (first, as above)
        db.execute(_REMEMBER_MOVED + " AND time_ms <= ?", (source, through_ms))
        cur = db.execute(
            "UPDATE records SET target = ? WHERE target = ? AND time_ms <= ?",
            (new, source, through_ms),
        )
        return cur.rowcount

    def delete_by_account(self, account: str, before_ms: int | None = None) -> int:
        if not account:
            return 0
        bound = (account, NO_TIME_BOUND if before_ms is None else before_ms)
        if before_ms is not None:  # (a later record of the account older than it: ignored)
            self._db.execute(_DELETED_UP_TO, bound)
        # Remembered first (as a REDACT's): a late copy is ignored, HistoryStore.
        self._db.execute(
            "INSERT OR IGNORE INTO moved_msgids (msgid, time_ms) SELECT msgid, time_ms"
            " FROM records WHERE account = ? AND account != '' AND time_ms < ?",
            bound,
        )
        cur = self._db.execute(
            "DELETE FROM records WHERE account = ? AND account != '' AND time_ms < ?", bound
        )
        if cur.rowcount:
            self._db.execute(_ORPHAN_EDITS)
        return cur.rowcount

    def taken_away(self, msgids: Collection[str]) -> set[str]:
        if not msgids:
            return set()
        rows = self._db.execute(_MOVED_AMONG, (json.dumps(list(msgids)),))
        return {msgid for (msgid,) in rows}

    def edit(self, target: str, msgid: str, edit: Edit) -> bool:
        key = self._where(target, msgid)
        if key is None:
            return False
        target = key
        row = self._db.execute(
            "SELECT seq, params FROM records WHERE target = ? AND msgid = ?", (target, msgid)
        ).fetchone()
        seq = row[0]
        params, previous = edited_params(row[1], edit.text)
        self._db.execute(
            "UPDATE records SET params = ?, edited_ms = ? WHERE seq = ?",
            (params, edit.time_ms, seq),
        )
        self._db.execute(
            "INSERT INTO edits (target, msgid, edit_msgid, time_ms, text, previous, account)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (target, msgid, edit.msgid, edit.time_ms, edit.text, previous, edit.account),
        )
        return True

    def edits(self, target: str, msgid: str) -> list[Edit]:
        rows = self._db.execute(
            "SELECT edit_msgid, time_ms, text, previous, account FROM edits"
            " WHERE target = ? AND msgid = ? ORDER BY seq",
            (target, msgid),
        )
        return [Edit(*row) for row in rows]

    # -- reading ---------------------------------------------------------------------------------

    def by_account(self, account: str, limit: int) -> list[Record]:
        if limit <= 0 or not account:
            return []
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM records WHERE account = ? AND account != ''"
            " ORDER BY seq DESC LIMIT ?",
            (account, limit),
        ).fetchall()
        return [record_of(row)[1] for row in reversed(rows)]

    def find(self, target: str, msgid: str) -> Record | None:
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM records WHERE target = ? AND msgid = ?", (target, msgid)
        ).fetchone()
        return record_of(row)[1] if row is not None else None

    def _position(self, target: str, msgid: str) -> tuple[int, int] | None:
        row = self._db.execute(
            "SELECT seq, time_ms FROM records WHERE target = ? AND msgid = ?", (target, msgid)
        ).fetchone()
        return (row[0], row[1]) if row is not None else None

    def _select(self, target: str, sel: Select) -> list[tuple[int, Record]]:
        if sel.limit <= 0:
            return []
        sql, args = select_statement(target, sel, "?")
        found = [record_of(row) for row in self._db.execute(sql, args)]
        found.sort(key=lambda pair: pair[0])
        return found

    def targets(
        self, start_ms: int, end_ms: int, limit: int, channels: Collection[str], nick: str
    ) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        low, high, newest_first = window(start_ms, end_ms)
        direction = "DESC" if newest_first else "ASC"
        sql = f"{_TARGETS} ORDER BY t {direction}, target {direction} LIMIT :limit"
        params = {
            "channels": json.dumps(list(channels)),
            "nick": nick,
            "low": low,
            "high": high,
            "limit": limit,
        }
        return [(target, t) for target, t in self._db.execute(sql, params)]

    def explain(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[str]:
        """The query plan of `sql` (for tests and tuning)."""
        return [row[-1] for row in self._db.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
