"""Fixtures of the account tests: every back-end behind the same `store` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.accounts.memory import MemoryAccountStore
from hubbub.accounts.sqlite import SqliteAccountStore
from hubbub.accounts.store import AccountStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    made: AccountStore = (
        MemoryAccountStore() if request.param == "memory" else SqliteAccountStore(tmp_path / "db")
    )
    yield made
    made.close()
