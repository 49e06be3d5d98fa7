"""Accounts in SQLite: their own tables in the history database file, their own connection.

The history store and this one share one file (the "same embedded database"), each with its own
connection on its own thread; WAL lets them work side by side, and `busy_timeout` covers the
moments both write. The history schema is versioned with `PRAGMA user_version`, so this one
keeps its version in a table of its own (`hubbub_schema`, one row per component).

Every write commits at once: account changes are rare and must survive a crash.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from hubbub.accounts.model import Account, Credentials
from hubbub.accounts.sql import COLUMNS, account_of, account_row, credentials_row
from hubbub.sqlitedb import component_version, migrate_component, open_database

__all__ = ["SCHEMA_VERSION", "SqliteAccountStore"]

# 2: accounts have a stable id (hubbub.accounts.model); accounts of version 1 get their name.
# 3: read markers (draft/read-marker) and metadata: new tables only, which the schema creates.
SCHEMA_VERSION = 3
COMPONENT = "accounts"

_UPGRADES = {
    1: """
ALTER TABLE accounts ADD COLUMN id TEXT NOT NULL DEFAULT '';
UPDATE accounts SET id = name WHERE id = '';
""",
    2: "",  # version 3 only adds tables
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hubbub_schema (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    fold             TEXT PRIMARY KEY,   -- casefolded name
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    pending          INTEGER NOT NULL,   -- 1 until an operator approves it
    password_hash    TEXT NOT NULL,      -- argon2id PHC string
    scram_salt       BLOB NOT NULL,
    scram_iterations INTEGER NOT NULL,
    stored_key       BLOB NOT NULL,
    server_key       BLOB NOT NULL,
    id               TEXT NOT NULL DEFAULT ''  -- stable id: history is attributed to it
);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_id ON accounts (id);
CREATE TABLE IF NOT EXISTS account_certs (
    certfp TEXT PRIMARY KEY,             -- lower-case hex SHA-256 of the DER certificate
    fold   TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS account_certs_fold ON account_certs (fold);
CREATE TABLE IF NOT EXISTS read_markers (
    fold    TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE,
    target  TEXT NOT NULL,               -- casefolded channel or nick
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (fold, target)
);
CREATE TABLE IF NOT EXISTS account_metadata (
    fold  TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (fold, key)
);
"""


class SqliteAccountStore:
    """An `AccountStore` in one SQLite file (created, with its directory, if absent)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_database(self.path, self._setup)

    def _setup(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA foreign_keys=ON")
        migrate_component(db, self.path, COMPONENT, SCHEMA_VERSION, _SCHEMA, _UPGRADES)

    @property
    def schema_version(self) -> int:
        return component_version(self._db, COMPONENT)

    # -- reading ---------------------------------------------------------------------------------

    def _account(self, row: tuple[Any, ...] | None) -> Account | None:
        if row is None:
            return None
        fold = row[0]  # COLUMNS starts with the fold
        certfps = tuple(
            fp
            for (fp,) in self._db.execute(
                "SELECT certfp FROM account_certs WHERE fold = ? ORDER BY rowid", (fold,)
            )
        )
        return account_of(row, certfps)

    def get(self, fold: str) -> Account | None:
        row = self._db.execute(f"SELECT {COLUMNS} FROM accounts WHERE fold = ?", (fold,))
        return self._account(row.fetchone())

    def find_by_cert(self, certfp: str) -> Account | None:
        row = self._db.execute("SELECT fold FROM account_certs WHERE certfp = ?", (certfp,))
        found = row.fetchone()
        return self.get(found[0]) if found is not None else None

    def names(self) -> list[str]:
        return [fold for (fold,) in self._db.execute("SELECT fold FROM accounts ORDER BY fold")]

    def ids(self) -> dict[str, str]:
        rows = self._db.execute("SELECT fold, id FROM accounts")
        return {fold: key for fold, key in rows}

    def accounts(self, pending_only: bool = False) -> list[Account]:
        where = " WHERE pending = 1" if pending_only else ""
        rows = self._db.execute(f"SELECT {COLUMNS} FROM accounts{where} ORDER BY fold").fetchall()
        return [a for a in map(self._account, rows) if a is not None]

    # -- writing ---------------------------------------------------------------------------------

    def create(self, account: Account) -> bool:
        try:
            with self._db as db:
                db.execute(
                    f"INSERT INTO accounts ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    account_row(account),
                )
                db.executemany(
                    "INSERT INTO account_certs (certfp, fold) VALUES (?, ?)",
                    [(fp, account.fold) for fp in account.certfps],
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def _write(self, sql: str, args: tuple[Any, ...]) -> bool:
        try:
            with self._db as db:
                return db.execute(sql, args).rowcount > 0
        except sqlite3.IntegrityError:
            return False

    def set_credentials(self, fold: str, credentials: Credentials) -> bool:
        return self._write(
            "UPDATE accounts SET password_hash = ?, scram_salt = ?, scram_iterations = ?,"
            " stored_key = ?, server_key = ? WHERE fold = ?",
            (*credentials_row(credentials), fold),
        )

    def approve(self, fold: str) -> bool:
        return self._write(
            "UPDATE accounts SET pending = 0 WHERE fold = ? AND pending = 1", (fold,)
        )

    def delete(self, fold: str) -> bool:
        return self._write("DELETE FROM accounts WHERE fold = ?", (fold,))

    def add_cert(self, fold: str, certfp: str) -> bool:
        return self._write(
            "INSERT INTO account_certs (certfp, fold) SELECT ?, fold FROM accounts WHERE fold = ?",
            (certfp, fold),
        )

    def remove_cert(self, fold: str, certfp: str) -> bool:
        return self._write(
            "DELETE FROM account_certs WHERE certfp = ? AND fold = ?", (certfp, fold)
        )

    def read_marker(self, fold: str, target: str) -> int | None:
        row = self._db.execute(
            "SELECT time_ms FROM read_markers WHERE fold = ? AND target = ?", (fold, target)
        ).fetchone()
        return int(row[0]) if row is not None else None

    def set_read_marker(self, fold: str, target: str, time_ms: int) -> int | None:
        with self._db as db:
            # Only forward: the upsert keeps the larger time (one statement, no read first).
            db.execute(
                "INSERT INTO read_markers (fold, target, time_ms)"
                " SELECT fold, ?, ? FROM accounts WHERE fold = ?"
                " ON CONFLICT (fold, target)"
                " DO UPDATE SET time_ms = max(time_ms, excluded.time_ms)",
                (target, time_ms, fold),
            )
        return self.read_marker(fold, target)

    def metadata(self, fold: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT key, value FROM account_metadata WHERE fold = ? ORDER BY key", (fold,)
        )
        return {key: value for key, value in rows}

    def save_metadata(self, fold: str, values: dict[str, str]) -> bool:
        with self._db as db:
            if db.execute("SELECT 1 FROM accounts WHERE fold = ?", (fold,)).fetchone() is None:
                return False
            db.execute("DELETE FROM account_metadata WHERE fold = ?", (fold,))
            db.executemany(
                "INSERT INTO account_metadata (fold, key, value) VALUES (?, ?, ?)",
                [(fold, key, value) for key, value in values.items()],
            )
        return True

    def close(self) -> None:
        self._db.close()
