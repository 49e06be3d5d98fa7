"""Opening the account store that goes with the configured history back-end.

Accounts live "in the same embedded database as the history": the SQLite history file gets the
account tables too; a memory history means memory accounts (nothing survives a restart); a
PostgreSQL history means accounts in the same PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

from hubbub.accounts.store import AccountStore

__all__ = ["open_account_store"]


def open_account_store(backend: str, path: Path, url: str = "") -> AccountStore:
    """Call it on the thread that will use the store."""
    if backend == "memory":
        from hubbub.accounts.memory import MemoryAccountStore

        return MemoryAccountStore()
    if backend == "sqlite":
        from hubbub.accounts.sqlite import SqliteAccountStore

        return SqliteAccountStore(path)
    if backend == "postgres":
        from hubbub.accounts.postgres import PostgresAccountStore

        return PostgresAccountStore(url)
    raise ValueError(f"unknown account backend {backend!r}")
