"""Shared fixtures of the history tests: every back-end behind the same store fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.history.memory import MemoryStore
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import HistoryStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    made: HistoryStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "history.db")
    )
    yield made
    made.close()
