"""Fixtures of the registry tests: every back-end behind the same `store` fixture."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.registry.memory import MemoryRegistryStore
from hubbub.registry.sqlite import SqliteRegistryStore
from hubbub.registry.store import RegistryStore
from support.postgres_server import shared_server


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    with opened(request.param, tmp_path, 1) as (made,):
        yield made


@pytest.fixture(params=["sqlite", "postgres"])
def store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RegistryStore, RegistryStore]]:
    """Two stores (two connections) on one database, as two nodes (or processes) have."""
    with opened(request.param, tmp_path, 2) as (first, second):
        yield first, second


@contextlib.contextmanager
def opened(backend: str, tmp_path: Path, count: int) -> Iterator[list[RegistryStore]]:
    """`count` stores of `backend` on one database, closed on the way out."""
    made: list[RegistryStore] = []
    if backend == "memory":
        made.append(MemoryRegistryStore())
    elif backend == "sqlite":
        made.extend(SqliteRegistryStore(tmp_path / "db") for _ in range(count))
    else:
        from hubbub.registry.postgres import PostgresRegistryStore

        url = shared_server().new_schema_url()
        made.extend(PostgresRegistryStore(url) for _ in range(count))
    try:
        yield made
    finally:
        for one in made:
            one.close()
