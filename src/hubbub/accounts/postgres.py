"""Accounts in PostgreSQL: the same tables as the SQLite store (`hubbub.accounts.sqlite`), in
the database the history uses, over their own connection on the account worker's thread.

Every call is one transaction, committed when it returns (account changes are rare and must
survive a crash). PostgreSQL unreachable or restarted: the call raises `DatabaseUnavailable`
(the caller answers "temporarily unavailable") and the next one reconnects. The schema is
versioned in `hubbub_schema` (component "accounts").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from hubbub.accounts.model import Account, Credentials
from hubbub.accounts.sql import COLUMNS, account_of, account_row, credentials_row
from hubbub.pg.component import ComponentStore
from hubbub.pg.database import Connection

__all__ = ["SCHEMA_VERSION", "PostgresAccountStore"]

COMPONENT = "accounts"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    fold             TEXT PRIMARY KEY,   -- casefolded name
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    pending          BOOLEAN NOT NULL,   -- true until an operator approves it
    password_hash    TEXT NOT NULL,      -- argon2id PHC string
    scram_salt       BYTEA NOT NULL,
    scram_iterations INTEGER NOT NULL,
    stored_key       BYTEA NOT NULL,
    server_key       BYTEA NOT NULL,
    id               TEXT NOT NULL UNIQUE  -- stable id: history is attributed to it
);
CREATE TABLE IF NOT EXISTS account_certs (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY,  -- linking order
    certfp TEXT PRIMARY KEY,             -- lower-case hex SHA-256 of the DER certificate
    fold   TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS account_certs_fold ON account_certs (fold);
CREATE TABLE IF NOT EXISTS read_markers (
    fold    TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE ON UPDATE CASCADE,
    target  TEXT NOT NULL,               -- casefolded channel or nick
    time_ms BIGINT NOT NULL,
    PRIMARY KEY (fold, target)
);
CREATE TABLE IF NOT EXISTS account_metadata (
    fold  TEXT NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE ON UPDATE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (fold, key)
);
"""


class PostgresAccountStore(ComponentStore):
    """An `AccountStore` in a PostgreSQL database (tables created if absent)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, COMPONENT, SCHEMA_VERSION, _SCHEMA, autocommit=True)

    # -- reading ---------------------------------------------------------------------------------

    @staticmethod
    def _account(db: Connection, row: Sequence[Any] | None) -> Account | None:
        if row is None:
            return None
        fold = row[0]  # COLUMNS starts with the fold
        certfps = tuple(
            fp
            for (fp,) in db.execute(
                "SELECT certfp FROM account_certs WHERE fold = %s ORDER BY seq", (fold,)
            ).fetchall()
        )
        return account_of(row, certfps)

    def get(self, fold: str) -> Account | None:
        with self._db.step() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM accounts WHERE fold = %s", (fold,))
            return self._account(db, row.fetchone())

    def find_by_cert(self, certfp: str) -> Account | None:
        with self._db.step() as db:
            found = db.execute(
                "SELECT fold FROM account_certs WHERE certfp = %s", (certfp,)
            ).fetchone()
        return self.get(found[0]) if found is not None else None

    def names(self) -> list[str]:
        with self._db.step() as db:
            rows = db.execute('SELECT fold FROM accounts ORDER BY fold COLLATE "C"').fetchall()
        return [fold for (fold,) in rows]

    def ids(self) -> dict[str, str]:
        with self._db.step() as db:
            rows = db.execute("SELECT fold, id FROM accounts").fetchall()
        return {fold: key for fold, key in rows}

    def accounts(self, pending_only: bool = False) -> list[Account]:
        where = " WHERE pending" if pending_only else ""
        with self._db.step() as db:
            rows = db.execute(
                f'SELECT {COLUMNS} FROM accounts{where} ORDER BY fold COLLATE "C"'
            ).fetchall()
            return [a for a in (self._account(db, row) for row in rows) if a is not None]

    # -- writing ---------------------------------------------------------------------------------

    def create(self, account: Account) -> bool:
        try:
            with self._db.step(write=True) as db:
                db.execute(
                    f"INSERT INTO accounts ({COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    account_row(account),
                )
                with db.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO account_certs (certfp, fold) VALUES (%s, %s)",
                        [(fp, account.fold) for fp in account.certfps],
                    )
        except psycopg.IntegrityError:
            return False
        return True

    def set_credentials(self, fold: str, credentials: Credentials) -> bool:
        return self._write(
            "UPDATE accounts SET password_hash = %s, scram_salt = %s, scram_iterations = %s,"
            " stored_key = %s, server_key = %s WHERE fold = %s",
            (*credentials_row(credentials), fold),
        )

    def approve(self, fold: str) -> bool:
        return self._write(
            "UPDATE accounts SET pending = false WHERE fold = %s AND pending", (fold,)
        )

    def delete(self, fold: str) -> bool:
        return self._write("DELETE FROM accounts WHERE fold = %s", (fold,))

    def add_cert(self, fold: str, certfp: str) -> bool:
        return self._write(
            "INSERT INTO account_certs (certfp, fold) SELECT %s, fold FROM accounts"
            " WHERE fold = %s ON CONFLICT (certfp) DO NOTHING",
            (certfp, fold),
        )

    def remove_cert(self, fold: str, certfp: str) -> bool:
        return self._write(
            "DELETE FROM account_certs WHERE certfp = %s AND fold = %s", (certfp, fold)
        )

    def read_marker(self, fold: str, target: str) -> int | None:
        with self._db.step() as db:
            row = db.execute(
                "SELECT time_ms FROM read_markers WHERE fold = %s AND target = %s", (fold, target)
            ).fetchone()
        return int(row[0]) if row is not None else None

    def set_read_marker(self, fold: str, target: str, time_ms: int) -> int | None:
        with self._db.step(write=True) as db:
            # Only forward: the upsert keeps the larger time (one statement, no read first).
            db.execute(
                "INSERT INTO read_markers (fold, target, time_ms)"
                " SELECT fold, %s, %s FROM accounts WHERE fold = %s"
                " ON CONFLICT (fold, target)"
                " DO UPDATE SET time_ms = greatest(read_markers.time_ms, excluded.time_ms)",
                (target, time_ms, fold),
            )
        return self.read_marker(fold, target)

    def metadata(self, fold: str) -> dict[str, str]:
        with self._db.step() as db:
            rows = db.execute(
                'SELECT key, value FROM account_metadata WHERE fold = %s ORDER BY key COLLATE "C"',
                (fold,),
            ).fetchall()
        return {key: value for key, value in rows}

    def save_metadata(self, fold: str, values: dict[str, str]) -> bool:
        with self._db.step(write=True) as db:
            found = db.execute("SELECT 1 FROM accounts WHERE fold = %s FOR UPDATE", (fold,))
            if found.fetchone() is None:
                return False
            db.execute("DELETE FROM account_metadata WHERE fold = %s", (fold,))
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO account_metadata (fold, key, value) VALUES (%s, %s, %s)",
                    [(fold, key, value) for key, value in values.items()],
                )
        return True

    def close(self) -> None:
        self._db.close()
