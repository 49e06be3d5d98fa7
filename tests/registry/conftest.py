"""Fixtures of the registry tests: every back-end behind the same `store` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.registry.memory import MemoryRegistryStore
from hubbub.registry.sqlite import SqliteRegistryStore
from hubbub.registry.store import RegistryStore
from support.postgres_server import shared_server


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    made: RegistryStore
    if request.param == "memory":
        made = MemoryRegistryStore()
    elif request.param == "sqlite":
        made = SqliteRegistryStore(tmp_path / "db")
    else:
        from hubbub.registry.postgres import PostgresRegistryStore

        made = PostgresRegistryStore(shared_server().new_schema_url())
    yield made
    made.close()
