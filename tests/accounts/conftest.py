"""Fixtures of the account tests: every back-end behind the same `store` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.accounts.store import AccountStore
from support.postgres_server import shared_server


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    made: AccountStore
    if request.param == "memory":
        made = MemoryAccountStore()
    elif request.param == "sqlite":
        made = SqliteAccountStore(tmp_path / "db")
    else:
        from hubbub.accounts.postgres import PostgresAccountStore

        made = PostgresAccountStore(shared_server().new_schema_url())
    yield made
    made.close()
