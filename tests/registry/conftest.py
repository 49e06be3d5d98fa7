"""Fixtures of the registry tests: every back-end behind the same `store` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.registry.memory import MemoryRegistryStore
from hubbub.registry.sqlite import SqliteRegistryStore
from hubbub.registry.store import RegistryStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    made: RegistryStore = (
        MemoryRegistryStore() if request.param == "memory" else SqliteRegistryStore(tmp_path / "db")
    )
    yield made
    made.close()
