"""The registry in PostgreSQL: the same tables as the SQLite store (`hubbub.registry.sqlite`),
in the database the history uses, over their own connection on the registry worker's thread.

Every call is one transaction, committed when it returns. PostgreSQL unreachable or restarted:
the call raises `DatabaseUnavailable` and the next one reconnects. The schema is versioned in
`hubbub_schema` (component "registry"). Rows are (de)serialised exactly as the SQLite store does
(`hubbub.registry.sql`), so `hubbub migrate` copies them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import psycopg

from hubbub.pg.component import ComponentStore
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

__all__ = ["SCHEMA_VERSION", "PostgresRegistryStore"]

COMPONENT = "registry"
# 2: channels.state_ms and state_seq, which state a node saved (kept if newer), and
#    server_bans.removed, the record of a removal a node keeps in a ban's place.
SCHEMA_VERSION = 2
# The SQL that takes a version-v schema to v + 1 (hubbub.pg.database.migrate_component).
_UPGRADES = {
    1: "ALTER TABLE channels ADD COLUMN IF NOT EXISTS state_ms BIGINT NOT NULL DEFAULT 0,"
    " ADD COLUMN IF NOT EXISTS state_seq BIGINT NOT NULL DEFAULT 0;"
    " ALTER TABLE server_bans ADD COLUMN IF NOT EXISTS removed BOOLEAN NOT NULL DEFAULT FALSE",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    fold           TEXT PRIMARY KEY,   -- casefolded name
    name           TEXT NOT NULL,
    owner          TEXT NOT NULL,      -- account name as registered
    registered_ms  BIGINT NOT NULL,
    created        BIGINT NOT NULL,
    ops            TEXT NOT NULL,      -- JSON array of account names
    topic          TEXT NOT NULL,
    topic_setter   TEXT NOT NULL,
    topic_time     BIGINT NOT NULL,
    flags          TEXT NOT NULL,      -- flag modes that are on, such as "nt"
    chan_key       TEXT NOT NULL,
    chan_limit     BIGINT NOT NULL,
    bans           TEXT NOT NULL,      -- JSON array of [mask, setter, set_at(, mode)]
    history_access TEXT NOT NULL,
    flood          TEXT NOT NULL DEFAULT '',  -- +f "<messages>:<seconds>", or ""
    state_ms       BIGINT NOT NULL DEFAULT 0,  -- which state: its last event's bus time
    state_seq      BIGINT NOT NULL DEFAULT 0   -- and place in the room's sequence
);
CREATE TABLE IF NOT EXISTS server_bans (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- order of (re)placing
    kind       TEXT NOT NULL,          -- K (user@host) or D (address / CIDR)
    mask       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    setter     TEXT NOT NULL,
    set_ms     BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,        -- 0: never
    removed    BOOLEAN NOT NULL DEFAULT FALSE,  -- the record of a removal, not a ban
    UNIQUE (kind, mask)
);
CREATE TABLE IF NOT EXISTS channel_metadata (
    fold  TEXT NOT NULL,                -- a registered channel's casefolded name
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (fold, key)
);
"""


class PostgresRegistryStore(ComponentStore):
    """A `RegistryStore` in a PostgreSQL database (tables created if absent)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            url, COMPONENT, SCHEMA_VERSION, _SCHEMA, autocommit=True, upgrades=_UPGRADES
        )

    # -- channels --------------------------------------------------------------------------------

    def create_channel(self, channel: RegisteredChannel) -> bool:
        row = channel_row(channel)
        marks = ", ".join(["%s"] * len(row))
        return self._write(
            f"INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ({marks})"
            " ON CONFLICT (fold) DO NOTHING",
            channel_row(channel),
        )

    def save_channel(self, channel: RegisteredChannel) -> bool:
        with self._db.step(write=True) as db:
            if db.execute(*registration_update(channel, "%s")).rowcount == 0:
                return False
            write_state(db, channel, None, "%s")
            return True

    def save_state(
        self, channel: RegisteredChannel, metadata: Mapping[str, str] | None = None
    ) -> bool:
        with self._db.step(write=True) as db:
            return write_state(db, channel, metadata, "%s")

    def change_registration(
        self, fold: str, change: Callable[[RegisteredChannel], RegisteredChannel]
    ) -> RegisteredChannel | None:
        with self._db.step(write=True) as db:
            # The row locked until the change commits: another node's waits, then reads it.
            return change_registration(db, fold, change, "%s", " FOR UPDATE")

    def get_channel(self, fold: str) -> RegisteredChannel | None:
        with self._db.step() as db:
            row = db.execute(
                f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE fold = %s", (fold,)
            ).fetchone()
        return channel_of(row) if row is not None else None

    def channels(self) -> list[RegisteredChannel]:
        with self._db.step() as db:
            rows = db.execute(
                f'SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY fold COLLATE "C"'
            ).fetchall()
        return [channel_of(row) for row in rows]

    def rename_channel(self, fold: str, new_name: str, new_fold: str) -> bool:
        try:
            with self._db.step(write=True) as db:
                return rename(db, fold, new_name, new_fold, "%s")
        except psycopg.IntegrityError:
            return False

    def delete_channel(self, fold: str) -> bool:
        with self._db.step(write=True) as db:
            # The channel first: its row lock waits for a metadata change of it in progress,
            # so the keys that change wrote are there to delete next.
            deleted = db.execute("DELETE FROM channels WHERE fold = %s", (fold,)).rowcount > 0
            db.execute("DELETE FROM channel_metadata WHERE fold = %s", (fold,))
            return deleted

    def channel_metadata(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        with self._db.step() as db:
            rows = db.execute(
                'SELECT fold, key, value FROM channel_metadata ORDER BY fold COLLATE "C",'
                ' key COLLATE "C"'
            ).fetchall()
        for fold, key, value in rows:
            found.setdefault(fold, {})[key] = value
        return found

    def change_channel_metadata(self, fold: str, changes: Sequence[tuple[str, str | None]]) -> bool:
        with self._db.step(write=True) as db:
            # FOR SHARE: two nodes changing keys of one channel do not wait for each other,
            # and a concurrent delete_channel waits for this change (then removes its keys).
            found = db.execute("SELECT 1 FROM channels WHERE fold = %s FOR SHARE", (fold,))
            if found.fetchone() is None:
                return False
            for key, value in changes:
                if value is None:
                    db.execute(
                        "DELETE FROM channel_metadata WHERE fold = %s AND key = %s", (fold, key)
                    )
                else:
                    db.execute(
                        "INSERT INTO channel_metadata (fold, key, value) VALUES (%s, %s, %s)"
                        " ON CONFLICT (fold, key) DO UPDATE SET value = excluded.value",
                        (fold, key, value),
                    )
        return True

    def channels_of(self, owner: str) -> list[RegisteredChannel]:
        wanted = owner.casefold()
        return [c for c in self.channels() if c.owner.casefold() == wanted]

    # -- server bans -----------------------------------------------------------------------------

    def add_ban(self, ban: ServerBan) -> bool:
        with self._db.step(write=True) as db:
            existed = db.execute(
                "DELETE FROM server_bans WHERE kind = %s AND mask = %s AND NOT removed",
                (ban.kind, ban.mask),
            ).rowcount
            db.execute(  # (the record of its removal, if that is what was there)
                "DELETE FROM server_bans WHERE kind = %s AND mask = %s", (ban.kind, ban.mask)
            )
            # Another node may place the same ban at the same moment: the later one wins.
            db.execute(
                ban_insert("%s") + " ON CONFLICT (kind, mask) DO UPDATE SET"
                " reason = excluded.reason, setter = excluded.setter, set_ms = excluded.set_ms,"
                " expires_ms = excluded.expires_ms, removed = excluded.removed",
                ban_row(ban),
            )
        return not existed

    def remove_ban(self, kind: str, mask: str, removed: ServerBan | None = None) -> bool:
        with self._db.step(write=True) as db:
            existed = db.execute(
                "DELETE FROM server_bans WHERE kind = %s AND mask = %s AND NOT removed",
                (kind, mask),
            ).rowcount
            if removed is not None:
                db.execute(
                    ban_insert("%s") + " ON CONFLICT (kind, mask) DO UPDATE SET"
                    " reason = excluded.reason, setter = excluded.setter,"
                    " set_ms = excluded.set_ms, expires_ms = excluded.expires_ms,"
                    " removed = excluded.removed",
                    ban_row(removed),
                )
        return existed > 0

    def replace_ban(
        self, kind: str, mask: str, expected: ServerBan | None, ban: ServerBan | None
    ) -> bool:
        # (One transaction: the DELETE of the expected row locks it against another node's.)
        with self._db.step(write=True) as db:
            return replaced(db, ban_replacement(kind, mask, expected, ban, "%s"))

    def bans(self) -> list[ServerBan]:
        with self._db.step() as db:
            rows = db.execute(
                f"SELECT {BAN_COLUMNS} FROM server_bans WHERE NOT removed ORDER BY seq"
            ).fetchall()
        return [ban_of(row) for row in rows]

    def expire_bans(self, now_ms: int) -> int:
        with self._db.step(write=True) as db:
            return expire(db, now_ms, "%s")

    def close(self) -> None:
        self._db.close()
