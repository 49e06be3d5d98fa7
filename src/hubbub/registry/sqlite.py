"""The registry in SQLite: its own tables in the history database file, its own connection.

Like the account store (`hubbub.accounts.sqlite`): WAL, `busy_timeout` for the moments the
history, account and registry connections write together, a schema version in `hubbub_schema`
(component "registry"), and every write committed at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hubbub.registry.model import RegisteredChannel, ServerBan
from hubbub.registry.sql import (
    BAN_COLUMNS,
    CHANNEL_COLUMNS,
    ban_insert,
    ban_of,
    ban_replacement,
    ban_row,
    change_registration,
    channel_of,
    channel_row,
    expire,
    registration_update,
    rename,
    replaced,
    write_state,
)
from hubbub.sqlitedb import component_version, migrate_component, open_database

__all__ = ["SCHEMA_VERSION", "SqliteRegistryStore"]

# 2: channels.flood (+f); 3: channel metadata (a new table only, which the schema creates);
# 4: channels.state_ms and state_seq, which state a cluster node saved (kept if newer), and
# server_bans.removed, the record of a removal a cluster node keeps in a ban's place.
SCHEMA_VERSION = 4
# The SQL that takes a version-v schema to v + 1 (hubbub.sqlitedb.migrate_component).
_UPGRADES = {
    1: "ALTER TABLE channels ADD COLUMN flood TEXT NOT NULL DEFAULT '';",
    2: "",
    3: "ALTER TABLE channels ADD COLUMN state_ms INTEGER NOT NULL DEFAULT 0;"
    " ALTER TABLE channels ADD COLUMN state_seq INTEGER NOT NULL DEFAULT 0;"
    " ALTER TABLE server_bans ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;",
}
COMPONENT = "registry"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hubbub_schema (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    fold           TEXT PRIMARY KEY,   -- casefolded name
    name           TEXT NOT NULL,
    owner          TEXT NOT NULL,      -- account name as registered
    registered_ms  INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    ops            TEXT NOT NULL,      -- JSON array of account names
    topic          TEXT NOT NULL,
    topic_setter   TEXT NOT NULL,
    topic_time     INTEGER NOT NULL,
    flags          TEXT NOT NULL,      -- flag modes that are on, such as "nt"
    chan_key       TEXT NOT NULL,
    chan_limit     INTEGER NOT NULL,
    bans           TEXT NOT NULL,      -- JSON array of [mask, setter, set_at(, mode)]
    history_access TEXT NOT NULL,
    flood          TEXT NOT NULL DEFAULT '',  -- +f "<messages>:<seconds>", or ""
    state_ms       INTEGER NOT NULL DEFAULT 0,  -- which state: its last event's bus time
    state_seq      INTEGER NOT NULL DEFAULT 0   -- and place in the room's sequence (cluster)
);
CREATE TABLE IF NOT EXISTS server_bans (
    seq        INTEGER PRIMARY KEY,    -- order of (re)placing
    kind       TEXT NOT NULL,          -- K (user@host) or D (address / CIDR)
    mask       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    setter     TEXT NOT NULL,
    set_ms     INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,       -- 0: never
    removed    INTEGER NOT NULL DEFAULT 0,  -- 1: the record of a removal, not a ban
    UNIQUE (kind, mask)
);
CREATE TABLE IF NOT EXISTS channel_metadata (
    fold  TEXT NOT NULL,                -- a registered channel's casefolded name
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (fold, key)
);
"""


class SqliteRegistryStore:
    """A `RegistryStore` in one SQLite file (created, with its directory, if absent)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_database(self.path, self._setup)

    def _setup(self, db: sqlite3.Connection) -> None:
        migrate_component(db, self.path, COMPONENT, SCHEMA_VERSION, _SCHEMA, _UPGRADES)

    @property
    def schema_version(self) -> int:
        return component_version(self._db, COMPONENT)

    def _write(self, sql: str, args: tuple[Any, ...]) -> bool:
        try:
            with self._db as db:
                return db.execute(sql, args).rowcount > 0
        except sqlite3.IntegrityError:
            return False

    # -- channels --------------------------------------------------------------------------------

    def create_channel(self, channel: RegisteredChannel) -> bool:
        row = channel_row(channel)
        marks = ", ".join("?" * len(row))
        return self._write(
            f"INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ({marks})", channel_row(channel)
        )

    def save_channel(self, channel: RegisteredChannel) -> bool:
        with self._db as db:
            if db.execute(*registration_update(channel, "?")).rowcount == 0:
                return False
            write_state(db, channel, None, "?")
            return True

    def save_state(
        self, channel: RegisteredChannel, metadata: Mapping[str, str] | None = None
    ) -> bool:
        with self._db as db:
            return write_state(db, channel, metadata, "?")

    def change_registration(
        self, fold: str, change: Callable[[RegisteredChannel], RegisteredChannel]
    ) -> RegisteredChannel | None:
        with self._db as db:
            db.execute("BEGIN IMMEDIATE")  # the database locked from the read on
            return change_registration(db, fold, change, "?")

    def get_channel(self, fold: str) -> RegisteredChannel | None:
        row = self._db.execute(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE fold = ?", (fold,)
        ).fetchone()
        return channel_of(row) if row is not None else None

    def channels(self) -> list[RegisteredChannel]:
        rows = self._db.execute(f"SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY fold")
        return [channel_of(row) for row in rows]

    def rename_channel(self, fold: str, new_name: str, new_fold: str) -> bool:
        try:
            with self._db as db:
                return rename(db, fold, new_name, new_fold, "?")
        except sqlite3.IntegrityError:
            return False

    def delete_channel(self, fold: str) -> bool:
        with self._db as db:
            db.execute("DELETE FROM channel_metadata WHERE fold = ?", (fold,))
            return db.execute("DELETE FROM channels WHERE fold = ?", (fold,)).rowcount > 0

    def channel_metadata(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        rows = self._db.execute("SELECT fold, key, value FROM channel_metadata ORDER BY fold, key")
        for fold, key, value in rows:
            found.setdefault(fold, {})[key] = value
        return found

    def change_channel_metadata(self, fold: str, changes: Sequence[tuple[str, str | None]]) -> bool:
        with self._db as db:
            if db.execute("SELECT 1 FROM channels WHERE fold = ?", (fold,)).fetchone() is None:
                return False
            for key, value in changes:
                if value is None:
                    db.execute(
                        "DELETE FROM channel_metadata WHERE fold = ? AND key = ?", (fold, key)
                    )
                else:
                    db.execute(
                        "INSERT INTO channel_metadata (fold, key, value) VALUES (?, ?, ?)"
                        " ON CONFLICT (fold, key) DO UPDATE SET value = excluded.value",
                        (fold, key, value),
                    )
        return True

    def channels_of(self, owner: str) -> list[RegisteredChannel]:
        wanted = owner.casefold()
        return [c for c in self.channels() if c.owner.casefold() == wanted]

    # -- server bans -----------------------------------------------------------------------------

    def add_ban(self, ban: ServerBan) -> bool:
        with self._db as db:
            existed = db.execute(
                "DELETE FROM server_bans WHERE kind = ? AND mask = ? AND NOT removed",
                (ban.kind, ban.mask),
            ).rowcount
            db.execute(  # (the record of its removal, if that is what was there)
                "DELETE FROM server_bans WHERE kind = ? AND mask = ?", (ban.kind, ban.mask)
            )
            db.execute(ban_insert("?"), ban_row(ban))
        return not existed

    def remove_ban(self, kind: str, mask: str, removed: ServerBan | None = None) -> bool:
        with self._db as db:
            existed = db.execute(
                "DELETE FROM server_bans WHERE kind = ? AND mask = ? AND NOT removed",
                (kind, mask),
            ).rowcount
            if removed is not None:
                db.execute("DELETE FROM server_bans WHERE kind = ? AND mask = ?", (kind, mask))
                db.execute(ban_insert("?"), ban_row(removed))
        return existed > 0

    def replace_ban(
        self, kind: str, mask: str, expected: ServerBan | None, ban: ServerBan | None
    ) -> bool:
        with self._db as db:
            return replaced(db, ban_replacement(kind, mask, expected, ban, "?"))

    def bans(self) -> list[ServerBan]:
        rows = self._db.execute(
            f"SELECT {BAN_COLUMNS} FROM server_bans WHERE NOT removed ORDER BY seq"
        )
        return [ban_of(row) for row in rows]

    def expire_bans(self, now_ms: int) -> int:
        with self._db as db:
            return expire(db, now_ms, "?")

    def close(self) -> None:
        self._db.close()
