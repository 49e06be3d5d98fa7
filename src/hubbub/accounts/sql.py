"""What the SQL account stores (SQLite and PostgreSQL) share, whatever the dialect: the columns
of an account, an account turned into a row and back, and a password's credential values.

The statements themselves stay in each store: beyond the parameter marker (`?` or `%s`) they
differ in what each dialect needs (booleans, collations, ON CONFLICT, cert order by rowid or
seq), and an account's certificates are read in the store's own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hubbub.accounts.model import Account, Credentials

__all__ = ["COLUMNS", "account_of", "account_row", "credentials_row"]

#: An account's columns, in the order of `account_row` and `account_of` (fold first).
COLUMNS = (
    "fold, name, email, created_ms, pending, password_hash, scram_salt, scram_iterations,"
    " stored_key, server_key, id"
)


def credentials_row(credentials: Credentials) -> tuple[Any, ...]:
    """password_hash, scram_salt, scram_iterations, stored_key, server_key."""
    return (
        credentials.password_hash,
        credentials.scram_salt,
        credentials.scram_iterations,
        credentials.stored_key,
        credentials.server_key,
    )


def account_row(account: Account) -> tuple[Any, ...]:
    """The values of `account` for `COLUMNS`. `pending` is a bool: PostgreSQL's BOOLEAN takes
    it as it is, and sqlite3 stores it as the integer 1 or 0 (bool is an int)."""
    return (
        account.fold,
        account.name,
        account.email,
        account.created_ms,
        account.pending,
        *credentials_row(account.credentials),
        account.stable_id,
    )


def account_of(row: Sequence[Any], certfps: tuple[str, ...]) -> Account:
    """The account a row read with `COLUMNS` holds, with its certificates' fingerprints."""
    fold, name, email, created_ms, pending, phc, salt, iterations, stored, server, key = row
    # bytes(): the drivers hand back BLOB / BYTEA as bytes or memoryview.
    return Account(
        name=name,
        fold=fold,
        credentials=Credentials(phc, bytes(salt), iterations, bytes(stored), bytes(server)),
        email=email,
        created_ms=int(created_ms),
        pending=bool(pending),
        certfps=certfps,
        id=key,
    )
