"""Shared fixtures of the history tests: every back-end behind the same store fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.history.memory import MemoryStore
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import HistoryStore
from support.postgres_server import shared_server


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    made: HistoryStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "history.db")
    else:
        from hubbub.history.postgres import PostgresStore

        made = PostgresStore(shared_server().new_schema_url())
    yield made
    made.close()
